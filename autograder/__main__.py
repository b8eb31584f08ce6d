"""Command line: ``python -m autograder release`` and ``python -m autograder grade ...`` (also
installed as ``cnn-autograder``). Grading needs Linux: student code runs in a bubblewrap sandbox."""

import argparse
import importlib.metadata
import logging
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from traitlets import TraitError

from autograder import (cgroups, course, course_files, escape, feedback, gradebook, handed_in, pipeline, report,
                        sandbox, settings, template_cache)
from autograder.sandbox import Limits

log = logging.getLogger("autograder")

GRADE_EXAMPLES = """examples (run in the course folder, the one with nbgrader_config.py):
  python -m autograder grade a1_conv_forward            grade submitted/*/a1_conv_forward
  python -m autograder grade all --jobs 2               every assignment, two workers
  python -m autograder grade a2_conv_backward --student alice --student bob
  python -m autograder grade all --course ~/cnn-backprop --submitted ~/downloads/submitted
  python -m autograder grade all --scheduler tcp://10.0.0.5:8786   on a Dask cluster

Results go where nbgrader puts its own: the autograded notebooks and timestamps into
autograded/<student>/<assignment>/, the scores, submission times and late penalties into the
course's gradebook (CourseDirectory.db_url). Then nbgrader's formgrader, generate_feedback,
release_feedback and export work as after `nbgrader autograde`. Also written: REPORTS/grades.csv
(one row per graded cell, with flags), histograms, feedback/<student>.html and logs/.

settings read from nbgrader_config.py (the options above override them):
"""


class GradingError(Exception):
    """A mistake in the command or the course: reported in one line, exit status 2."""


def _release(args):
    written = course.release(args.course)
    for path, grade_ids in written.items():
        log.info("recorded what %s grade or show in %s", ", ".join(grade_ids), path)
    log.info("lessons/ regenerated from solutions/ in %s", args.course)


def _course(path):
    path = Path(path).resolve()
    if not (path / course.CONFIG).is_file():
        raise GradingError(f"{path} is not a course folder: it has no {course.CONFIG} "
                           "(run in the course folder or give --course DIR)")
    return path


def _submissions(plans, submitted, students):
    if not submitted.is_dir():
        raise GradingError(f"no submissions folder {submitted} (nbgrader collect puts submissions "
                           "in the course's submitted/; give another with --submitted DIR)")
    found = pipeline.submissions(plans, submitted, students)
    if not found:
        who = f" of {', '.join(students)}" if students else ""
        raise GradingError(f"no submissions{who} of {', '.join(plans)} in {submitted} "
                           "(expected DIR/<student>/<assignment>/<notebook>.ipynb)")
    missing = set(students or ()) - {s.student for s in found}
    if missing:
        raise GradingError(f"no submission of {', '.join(sorted(missing))} in {submitted}")
    return found


def _limits(options, unsafe, remote):
    """The limits of student code; GradingError where it would run here without a sandbox
    (``remote``: it runs on a Dask cluster's workers, which check for themselves)."""
    limits = Limits(options.cell_timeout, options.notebook_timeout, options.memory, sandbox=not unsafe)
    why = sandbox.unavailable() if limits.sandbox and not remote else None
    if why:
        raise GradingError(f"cannot grade: student code must run in a sandbox, and {why}.\n"
                           "To grade without one (student code can then read and change what you can), "
                           "pass --unsafe-no-sandbox: every row of grades.csv is then flagged 'unsandboxed'.")
    if limits.sandbox and not remote and (no_cgroups := cgroups.unavailable()):
        log.warning("no cgroup per sandbox here (%s): each student process has its own limits, but not "
                    "a sandbox as a whole (rows say 'no-cgroup'); grade as root on cgroup v1 for them", no_cgroups)
    if not limits.sandbox:
        log.warning("grading WITHOUT a sandbox (--unsafe-no-sandbox): every row is flagged '%s'",
                    sandbox.UNSAFE_FLAG)
    return limits


def _grade(args):
    home = _course(args.course)
    try:
        options, config = settings.load(home, {"jobs": args.jobs, "cell_timeout": args.cell_timeout,
                                               "notebook_timeout": args.notebook_timeout,
                                               "memory": args.memory})
    except TraitError as error:
        raise GradingError(f"{home / course.CONFIG}: {error}") from None
    source = course.source_directory(home, config)
    if not source.is_dir():
        raise GradingError(f"{home} has no source folder {source.name}/ with the assignments")
    known = course.assignments(source)
    names = known if args.assignment == "all" else [args.assignment]
    if set(names) - set(known):
        raise GradingError(f"unknown assignment {args.assignment!r}; known: {', '.join(known)}")
    limits = _limits(options, args.unsafe_no_sandbox, remote=bool(args.scheduler))
    submitted = Path(args.submitted or home / config.CourseDirectory.get("submitted_directory", "submitted"))
    reports = Path(args.out or home / options.reports_directory)
    url = args.db or config.CourseDirectory.get("db_url") or f"sqlite:///{home / 'gradebook.db'}"
    start = time.monotonic()
    plans = pipeline.plan(names, source)
    found = _submissions(plans, submitted, args.student)
    graded = sorted({s.assignment for s in found})  # only what was handed in gets a template
    log.info("grading %d notebooks of %d students with %d job(s)", len(found),
             len({s.student for s in found}), options.jobs)
    # in /tmp, not $TMPDIR: the kernels' Unix socket paths must stay under 108 characters
    with tempfile.TemporaryDirectory(prefix="ag-", dir="/tmp") as scratch:
        try:
            template = template_cache.template(graded, home)
        except OSError as error:   # no cache folder to write: made here, as before the cache
            log.warning("no template cache (%s): generating the assignments for this command", error)
            template = course.make_template(Path(scratch) / "template", graded, home)
        workers = time.monotonic()
        where = args.scheduler or args.cluster
        if where:
            results = _grade_on_cluster(where, found, plans, template, limits, options.jobs, scratch, not args.quiet)
        else:
            results = pipeline.grade_all(found, plans, template, limits, scratch, jobs=options.jobs,
                                         progress=not args.quiet)
        workers = time.monotonic() - workers
        cgroups.sweep()
        if not args.dry_run:
            count = gradebook.merge(results, url, graded, template, home, config, options.due_dates)
            folders, left_out = course_files.write(results, home, config)
            log.info("gradebook: %s (%d grades); autograded/: %d submissions", url, count, folders)
            for student in left_out:
                log.warning("%r is not a plain file name: graded and in the gradebook, but not in "
                            "autograded/ (nbgrader reads student ids as glob patterns)", student)
        else:
            handed_in.mark_unknown(results, options.due_dates)
        for result in results:
            if handed_in.UNKNOWN_TIME in result.flags:
                log.warning("%s/%s/%s: its timestamp.txt is missing or unreadable, so it counts as late (%s)",
                            result.student, result.assignment, result.notebook, handed_in.UNKNOWN_TIME)
    _write_reports(results, reports, args.quiet, merge=bool(args.student))
    how = f"on the Dask cluster at {args.scheduler}" if args.scheduler else f"with {options.jobs} job(s)"
    print(f"graded {len(results)} notebooks in {time.monotonic() - start:.1f} s {how} (workers {workers:.1f} s)")


def _grade_on_cluster(scheduler, found, plans, template, limits, jobs, scratch, progress):
    """Results graded on the Dask cluster at ``scheduler`` (an address, or "local": one of ``jobs``
    workers here, whose courses go in ``scratch``)."""
    try:
        from autograder import cluster
    except ImportError as error:
        raise GradingError(f"grading on a Dask cluster needs the cluster extra "
                           f"(pip install 'cnn_utils[cluster]'): {error}") from None
    try:
        client, local = cluster.connect(scheduler, jobs)
    except (OSError, TimeoutError, TypeError, ValueError) as error:   # TypeError: tls:// without certificates
        raise GradingError(f"cannot reach the Dask scheduler at {scheduler}: {error}") from None
    try:
        return cluster.grade_all(found, plans, template, limits, client, scratch if local else "/tmp", progress)
    except cluster.ClusterError as error:
        raise GradingError(str(error)) from None
    finally:
        client.close()
        if local is not None:
            local.close()


def _write_reports(results, reports, quiet, merge=False):
    """``merge``: only some students were graded; grades.csv keeps the rows of the others."""
    reports.mkdir(parents=True, exist_ok=True)
    report.write_csv(results, reports / "grades.csv", keep_others=merge)
    pictures = report.histograms(results, reports)
    pages = feedback.write(results, reports)
    for result in results:
        if result.log:
            student = Path(feedback.file_name(result.student)).stem
            path = reports / "logs" / f"{student}_{result.assignment}_{result.notebook}.log"
            path.parent.mkdir(exist_ok=True)
            path.write_text(result.log, encoding="utf-8")
            log.warning("%s/%s: nbgrader could not grade it (%s); its log: %s", result.student,
                        result.assignment, ";".join(result.flags), path)
    if not quiet:
        print(report.table(results))
    log.info("grades:    %s", reports / "grades.csv")
    log.info("feedback:  %s/<student>.html", pages)
    for picture in pictures:
        log.info("histogram: %s", picture)


def _settings_help():
    return "\n".join(f"  c.Autograder.{name} = {trait.default()!r}\n" + textwrap.fill(
        trait.help, 96, initial_indent=" " * 6, subsequent_indent=" " * 6)
        for name, trait in sorted(settings.Autograder.class_traits(config=True).items()))


def _version():
    try:
        return importlib.metadata.version("cnn_utils")
    except importlib.metadata.PackageNotFoundError:   # run from a copy of the sources (the hub's runtime)
        return "(from sources, not installed)"


def parser():
    called = Path(sys.argv[0]).name
    main = argparse.ArgumentParser(prog="python -m autograder" if called == "__main__.py" else called,
                                   description=__doc__)
    main.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    main.add_argument("-v", "--verbose", action="store_true", help="log each graded notebook and nbgrader's steps")
    commands = main.add_subparsers(dest="command", required=True)
    release = commands.add_parser("release", help="record what each test cell grades and regenerate "
                                                  "lessons/ from solutions/ (as `make lessons`)")
    release.add_argument("--course", type=Path, default=Path.cwd(),
                         help="course folder with nbgrader_config.py and solutions/ (default: here)")
    release.set_defaults(run=_release)
    grade = commands.add_parser("grade", help="autograde submissions in parallel, with the re-check",
                                epilog=GRADE_EXAMPLES + _settings_help(),
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    grade.add_argument("assignment", help="an assignment name, or 'all'")
    grade.add_argument("--course", type=Path, default=Path.cwd(),
                       help="course folder with nbgrader_config.py (default: here, as nbgrader)")
    grade.add_argument("--student", action="append", help="grade only this student (repeatable)")
    grade.add_argument("--submitted", type=Path,
                       help="DIR/<student>/<assignment>/<notebook>.ipynb (default: the course's submitted/)")
    grade.add_argument("--out", type=Path, help="folder of the reports (default: Autograder.reports_directory)")
    grade.add_argument("--db", help="gradebook URL (default: the course's CourseDirectory.db_url)")
    grade.add_argument("--dry-run", action="store_true",
                       help="write only the reports: leave the course's gradebook and autograded/ alone")
    grade.add_argument("--jobs", type=int, help="worker processes (Autograder.jobs)")
    where = grade.add_mutually_exclusive_group()
    where.add_argument("--scheduler", metavar="ADDRESS",
                       help="grade on the Dask cluster of this scheduler (tcp://HOST:8786); its workers "
                            "need this package, bubblewrap and --nthreads 1")
    where.add_argument("--cluster", choices=["local"],
                       help="grade on a local Dask cluster of --jobs single-threaded workers")
    grade.add_argument("--cell-timeout", type=float, help="seconds per cell (Autograder.cell_timeout)")
    grade.add_argument("--notebook-timeout", type=float, help="seconds per notebook (Autograder.notebook_timeout)")
    grade.add_argument("--memory", type=int, help="MB of address space per kernel (Autograder.memory)")
    grade.add_argument("--unsafe-no-sandbox", action="store_true",
                       help="run student code without the bubblewrap sandbox (rlimits only); "
                            "every row is flagged 'unsandboxed'")
    grade.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                       help="log each graded notebook and nbgrader's steps")
    grade.add_argument("-q", "--quiet", action="store_true", help="no progress bar, no table, warnings only")
    grade.set_defaults(run=_grade)
    return main


class TerminalFormatter(logging.Formatter):
    """Log lines with their control characters shown escaped (a student id can hold any)."""

    def format(self, record):
        return escape.terminal(super().format(record))


def main(argv=None):
    args = parser().parse_args(argv)
    handler = logging.StreamHandler()
    handler.setFormatter(TerminalFormatter("%(asctime)s %(levelname)s %(message)s" if args.verbose else "%(message)s"))
    log.addHandler(handler)
    log.propagate = False
    log.setLevel(logging.DEBUG if args.verbose else logging.WARNING if getattr(args, "quiet", False) else logging.INFO)
    if args.verbose:   # nbgrader's own steps too
        steps = logging.StreamHandler()
        steps.setFormatter(TerminalFormatter("%(asctime)s %(name)s %(message)s"))
        logging.basicConfig(level=logging.INFO, handlers=[steps])
    try:
        args.run(args)
    except GradingError as error:
        log.error("error: %s", error)
        sys.exit(2)


if __name__ == "__main__":
    main()

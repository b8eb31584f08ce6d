"""Command line: ``python -m autograder release``, ``grade ...``, ``extend ...`` and
``extensions`` (also installed as ``cnn-autograder``), over ``autograder.app``. Grading needs
Linux: student code runs in a bubblewrap sandbox."""

import argparse
import importlib.metadata
import logging
import sys
import textwrap
from pathlib import Path

from autograder import app, escape, report, settings
from autograder.app import GradingError

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


def _release(args):
    written = app.release(args.course)
    for path, cells in written.items():
        log.info("recorded what %s grade or show in %s", ", ".join(cells), path)
    log.info("lessons/ regenerated from solutions/ in %s", args.course)


def _extend(args):
    granted = app.extend(args.course, args.student, args.assignment, until=None if args.remove else args.until)
    done = "no longer has an extension" if args.remove else f"has until {args.until}"
    print(escape.terminal(f"{args.student} {done} for {args.assignment} (from the next grading of it)"))
    _print_extensions(granted)


def _extensions(args):
    _print_extensions(app.extensions_granted(args.course))


def _print_extensions(granted):
    lines = [f"{assignment:<24} {student:<24} until {until}" for assignment, students in sorted(granted.items())
             for student, until in sorted(students.items())]
    print(escape.terminal("\n".join(lines) if lines else "no extensions"))


def grade_options(args):
    """app.grade_course's keywords from the parsed ``grade`` command line."""
    return {"students": args.student, "submitted": args.submitted, "out": args.out, "db": args.db,
            "dry_run": args.dry_run, "jobs": args.jobs, "cell_timeout": args.cell_timeout,
            "notebook_timeout": args.notebook_timeout, "memory": args.memory,
            "sandboxed": not args.unsafe_no_sandbox, "scheduler": args.scheduler or args.cluster,
            "progress": not args.quiet}


def summary(graded, quiet=False):
    """What the command prints once grading is done: the table of scores (not when ``quiet``),
    then a line with the count and the time."""
    if not quiet:
        print(report.table(graded.results))
    print(f"graded {len(graded.results)} notebooks in {graded.seconds:.1f} s {graded.where} "
          f"(workers {graded.grading_seconds:.1f} s)")


def _grade(args):
    summary(app.grade_course(args.course, args.assignment, **grade_options(args)), args.quiet)


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
    extend = commands.add_parser("extend", help="give one student a later due date for one assignment",
                                 description="Kept in the course's extensions.json; the next grading of the "
                                             "student's submission gives it nbgrader's extension in the gradebook, "
                                             "so the late penalty counts from the new date.")
    extend.add_argument("student")
    extend.add_argument("assignment")
    until = extend.add_mutually_exclusive_group(required=True)
    until.add_argument("--until", metavar="DATE", help="the student's due date: '2027-01-20 17:00:00 Europe/Berlin'")
    until.add_argument("--remove", action="store_true", help="take the student's extension back")
    extend.add_argument("--course", type=Path, default=Path.cwd(), help="course folder (default: here)")
    extend.set_defaults(run=_extend)
    listing = commands.add_parser("extensions", help="list the extensions granted")
    listing.add_argument("--course", type=Path, default=Path.cwd(), help="course folder (default: here)")
    listing.set_defaults(run=_extensions)
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


def log_to_terminal(verbose=False, quiet=False):
    """The grader's log lines on stderr (``verbose``: with times, and nbgrader's steps too;
    ``quiet``: warnings only), with control characters escaped."""
    handler = logging.StreamHandler()
    handler.setFormatter(TerminalFormatter("%(asctime)s %(levelname)s %(message)s" if verbose else "%(message)s"))
    log.addHandler(handler)
    log.propagate = False
    log.setLevel(logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO)
    if verbose:   # nbgrader's own steps too
        steps = logging.StreamHandler()
        steps.setFormatter(TerminalFormatter("%(asctime)s %(name)s %(message)s"))
        logging.basicConfig(level=logging.INFO, handlers=[steps])


def main(argv=None):
    args = parser().parse_args(argv)
    log_to_terminal(args.verbose, getattr(args, "quiet", False))
    try:
        args.run(args)
    except GradingError as error:
        log.error("error: %s", error)
        sys.exit(2)


if __name__ == "__main__":
    main()

"""The grader as a library: ``release`` regenerates the lessons, ``grade_course`` grades a course.

    from autograder import app
    graded = app.grade_course("~/cnn-backprop", ["a1_conv_forward"], students=["alice"], jobs=2)
    graded.results[0].cells[0].score

``python -m autograder`` (``__main__``) is the command line over these two; the demo, the Slurm
script and the tests call them too. Mistakes in the call or the course raise GradingError with
one line that names the problem; a bad submission only costs its author points.
"""

import logging
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from traitlets import TraitError

from autograder import (cgroups, class_report, course, course_files, extensions, feedback, gradebook, handed_in,
                        pipeline, report, sandbox, settings, template_cache)
from autograder.grade import NotebookResult
from autograder.sandbox import Limits

log = logging.getLogger("autograder")


class GradingError(Exception):
    """A mistake in the call or the course, said in one line (the command exits with status 2)."""


@dataclass(frozen=True)
class Graded:
    """What ``grade_course`` did: a result per notebook, where the reports went, and its times."""

    results: list[NotebookResult]
    reports: Path
    seconds: float
    grading_seconds: float        # the workers' part of ``seconds``
    where: str                    # "with 2 job(s)", "on the Dask cluster at tcp://..."


def release(course_dir: Path | str) -> dict[Path, list[str]]:
    """Record what each test cell grades (and each showcase) in ``course_dir``/solutions, then
    regenerate ``course_dir``/lessons with nbgrader; {notebook: cells whose metadata was written}."""
    return course.release(Path(course_dir))


def extend(course_dir: Path | str, student: str, assignment: str, *, until: str | None) -> dict[str, dict[str, str]]:
    """Give ``student`` until ``until`` ('2027-01-20 17:00:00 Europe/Berlin') for ``assignment``,
    or take their extension back (``until`` None); it applies from the next grading of their
    submission. Returns every extension of the course, {assignment: {student: date}}."""
    from nbgrader.utils import parse_utc

    home = _course(course_dir)
    options, config = _settings(home, {})
    _assignments([assignment], course.assignments(course.source_directory(home, config)))
    due = options.due_dates.get(assignment)
    try:
        return extensions.grant(home, student, assignment, until, parse_utc(due) if due else None)
    except extensions.ExtensionError as error:
        raise GradingError(str(error)) from None


def extensions_granted(course_dir: Path | str) -> dict[str, dict[str, str]]:
    """The course's extensions, {assignment: {student: date}}."""
    try:
        return extensions.load(_course(course_dir))
    except extensions.ExtensionError as error:
        raise GradingError(str(error)) from None


def grade_course(course_dir: Path | str, assignments: str | Sequence[str] = "all", *,
                 students: Sequence[str] | None = None, submitted: Path | str | None = None,
                 out: Path | str | None = None, db: str | None = None, dry_run: bool = False,
                 jobs: int | None = None, cell_timeout: float | None = None,
                 notebook_timeout: float | None = None, memory: int | None = None,
                 sandboxed: bool = True, scheduler: str | None = None, progress: bool = True) -> Graded:
    """Grade the submissions of ``assignments`` ("all" or names) in the nbgrader course at
    ``course_dir``, into its gradebook (``db``, default the course's) and autograded/ (not with
    ``dry_run``), and write the reports into ``out`` (default Autograder.reports_directory).

    ``students``: only these (the reports keep the others' rows); ``submitted``: another folder
    of DIR/<student>/<assignment>/<notebook>.ipynb; ``jobs``, ``cell_timeout``,
    ``notebook_timeout``, ``memory``: override the course's Autograder settings; ``scheduler``: a
    Dask scheduler's address, or "local" for a local cluster of ``jobs`` workers; ``sandboxed``
    False runs student code without the sandbox (every row is flagged)."""
    start = time.monotonic()
    home = _course(course_dir)
    options, config = _settings(home, {"jobs": jobs, "cell_timeout": cell_timeout,
                                       "notebook_timeout": notebook_timeout, "memory": memory})
    source = course.source_directory(home, config)
    if not source.is_dir():
        raise GradingError(f"{home} has no source folder {source.name}/ with the assignments")
    names = _assignments(assignments, course.assignments(source))
    granted = extensions_granted(home)
    remote = scheduler is not None and scheduler != "local"
    limits = _limits(options, sandboxed, remote)
    submitted = Path(submitted or home / config.CourseDirectory.get("submitted_directory", "submitted"))
    reports = Path(out or home / options.reports_directory)
    url = db or config.CourseDirectory.get("db_url") or f"sqlite:///{home / 'gradebook.db'}"
    plans = pipeline.plan(names, source)
    found = _submissions(plans, submitted, students)
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
        if scheduler:
            results = _grade_on_cluster(scheduler, found, plans, template, limits, options.jobs, scratch, progress)
        else:
            results = pipeline.grade_all(found, plans, template, limits, scratch, jobs=options.jobs,
                                         progress=progress)
        workers = time.monotonic() - workers
        cgroups.sweep()
        if dry_run:
            handed_in.mark_unknown(results, options.due_dates)
        else:
            _record(results, url, graded, template, home, config, options.due_dates, granted)
    for result in results:
        if handed_in.UNKNOWN_TIME in result.flags:
            log.warning("%s/%s/%s: its timestamp.txt is missing or unreadable, so it counts as late (%s)",
                        result.student, result.assignment, result.notebook, handed_in.UNKNOWN_TIME)
    write_reports(results, reports, merge=bool(students))
    where = f"on the Dask cluster at {scheduler}" if remote else f"with {options.jobs} job(s)"
    return Graded(results, reports, time.monotonic() - start, workers, where)


def write_reports(results: list[NotebookResult], reports: Path, merge: bool = False) -> None:
    """grades.csv, the feedback pages and nbgrader's logs of ``results`` in ``reports``, and the
    histograms and class pages of the whole grades.csv; ``merge``: only some students were graded,
    grades.csv keeps the others' rows."""
    reports.mkdir(parents=True, exist_ok=True)
    report.write_csv(results, reports / "grades.csv", keep_others=merge)
    report.write_csv(results, reports / "totals.csv", keep_others=merge, columns=report.TOTAL_COLUMNS,
                     make_rows=report.total_rows)
    everyone = report.read_csv(reports / "grades.csv")
    pictures = report.histograms(everyone, reports)
    classes = class_report.write(everyone, reports)
    pages = feedback.write(results, reports)
    for result in results:
        if result.log:
            student = Path(feedback.file_name(result.student)).stem
            path = reports / "logs" / f"{student}_{result.assignment}_{result.notebook}.log"
            path.parent.mkdir(exist_ok=True)
            path.write_text(result.log, encoding="utf-8")
            log.warning("%s/%s: nbgrader could not grade it (%s); its log: %s", result.student,
                        result.assignment, ";".join(result.flags), path)
    log.info("grades:    %s (totals, late penalties: %s)", reports / "grades.csv", reports / "totals.csv")
    log.info("feedback:  %s/<student>.html", pages)
    for picture in pictures:
        log.info("histogram: %s", picture)
    for path in classes:
        log.info("class:     %s", path)


def _course(path):
    path = Path(path).expanduser().resolve()
    if not (path / course.CONFIG).is_file():
        raise GradingError(f"{path} is not a course folder: it has no {course.CONFIG} "
                           "(run in the course folder or give --course DIR)")
    return path


def _settings(home, overrides):
    try:
        return settings.load(home, overrides)
    except TraitError as error:
        raise GradingError(f"{home / course.CONFIG}: {error}") from None


def _assignments(asked, known):
    names = known if asked == "all" else [asked] if isinstance(asked, str) else list(asked)
    unknown = [name for name in names if name not in known]
    if unknown or not names:
        raise GradingError(f"unknown assignment {', '.join(map(repr, unknown)) or 'list (empty)'}; "
                           f"known: {', '.join(known)}")
    return names


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


def _limits(options, sandboxed, remote):
    """The limits of student code; GradingError where it would run here without a sandbox
    (``remote``: it runs on a Dask cluster's workers, which check for themselves)."""
    limits = Limits(options.cell_timeout, options.notebook_timeout, options.memory, sandbox=sandboxed)
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


def _record(results, url, graded, template, home, config, due_dates, granted):
    """The results into the gradebook at ``url`` and the course's autograded/, as nbgrader's own."""
    count = gradebook.merge(results, url, graded, template, home, config, due_dates, granted)
    folders, left_out = course_files.write(results, home, config)
    log.info("gradebook: %s (%d grades); autograded/: %d submissions", url, count, folders)
    for student in left_out:
        log.warning("%r is not a plain file name: graded and in the gradebook, but not in "
                    "autograded/ (nbgrader reads student ids as glob patterns)", student)

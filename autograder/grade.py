"""One grading worker: nbgrader autograde of one submission at a time in a private course.

Each worker process copies the template course (release notebooks and a
gradebook holding the assignments, no solutions) into its own temporary folder,
so its SQLite gradebook has one writer: itself. A submission is copied in (the
original is only read) under an internal student id (nbgrader reads ids as glob
patterns and file names), autograded through nbgrader's API with the kernel in
the sandbox, re-checked by ``integrity``, and deleted again; the worker returns
plain data, with the autograded notebook as the course will keep it (``feedback.annotate``).
Scores: nbgrader's, never above the re-check's (where the kernel died before grading a
cell, the re-check's alone); feedback: the re-check's, so nothing the kernel printed (it
can read the reference) reaches a student.
"""

import copy
import dataclasses
import itertools
import os
import shutil
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from autograder import cgroups, feedback, integrity, kernel, sandbox, structure
from autograder.course import COURSE_ID, load_config, nbgrader_meta, quiet_nbgrader, read_notebook
from autograder.escape import terminal
from autograder.named_mistakes import BLANK_TEXT

TIMEOUT_ERRORS = {"CellTimeoutError"}   # what nbgrader adds to a cell stopped by Execute.timeout
OUT_OF_TIME = "The notebook did not finish within the time limit; no cell was graded."
LOG_CHARS = 2**20   # of nbgrader's log of a failed autograde, kept for the instructor


MANUAL = "needs-manual-grading"   # the flag of a written answer waiting for the formgrader
MANUAL_TEXT = "A written answer: the instructor grades it by hand; its points are not counted yet."


@dataclass
class CellResult:
    grade_id: str
    score: float                    # None: a written answer that waits for manual grading
    max_score: float
    flags: list = field(default_factory=list)
    feedback: str = ""
    manual: bool = False            # a written answer, graded by hand in the formgrader


@dataclass
class NotebookResult:
    student: str
    assignment: str
    notebook: str
    cells: list
    flags: list = field(default_factory=list)   # flags of the whole notebook
    files: dict = field(default_factory=dict)   # the submission's timestamp.txt and secret
    autograded: str = None    # the autograded notebook (JSON) for the course's autograded/
    log: str = None           # nbgrader's log, when its autograde failed
    defences: list = field(default_factory=list)   # what confined its code (``sandbox.defences``)
    seconds_late: float = 0.0        # past the student's due date (extension included), from the gradebook
    late_penalty: float = None       # points the course's late plugin took; None: none, or not known (dry run)


def _error_names(nb):
    return {o.ename for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
            if o.output_type == "error"}


def _text_of(nb):
    return "\n".join(o.get("text", "") + o.get("evalue", "") for c in nb.cells if c.cell_type == "code"
                     for o in c.get("outputs", []))


def _failure(outcome, watchdog_fired):
    """The flag of a notebook nbgrader could not finish."""
    text = (outcome.get("error") or "") + outcome.get("log", "")
    if watchdog_fired or "UnresponsiveKernelError" in text or "kernel became unresponsive" in text:
        return "timeout"
    return "kernel-died" if "DeadKernelError" in text else "autograde-failed"


class Worker:
    """A private nbgrader course in a temporary folder under ``scratch``; grades Submissions one by one."""

    def __init__(self, template, plans, limits, scratch):
        self.plans, self.limits = plans, limits
        self.tmp = Path(tempfile.mkdtemp(prefix="worker-", dir=scratch))
        self.course = self.tmp / "course"
        shutil.copytree(template, self.course, ignore=shutil.ignore_patterns("gradebook.db"))
        private = self.tmp / "private"   # not in the course folder
        private.mkdir()
        shutil.copy(Path(template) / "gradebook.db", private / "gradebook.db")
        self.db = f"sqlite:///{private / 'gradebook.db'}"
        self.marker = str(private)  # unique per worker: finds this worker's kernel processes
        self.private = private
        self.runtime = self.tmp / "rt"    # the kernel's connection file and sockets: a short path
        self.runtime.mkdir(mode=0o700)
        settings = {"lib": integrity.copy_library(private / "kernel-lib", instructor=True),
                    "runtime": str(self.runtime)}
        # the process's environment while this worker grades (set again for each notebook: a Dask
        # worker process may hold the courses of two runs)
        self.env = {"JUPYTER_RUNTIME_DIR": str(self.runtime),
                    "JUPYTER_PATH": sandbox.install_kernelspec(private / "jupyter", self.marker, settings),
                    sandbox.FONTS_ENV: sandbox.prepare_fonts(private / "fonts"), sandbox.LIMITS_ENV: limits.to_env()}
        os.environ.update(self.env)
        os.environ.update(sandbox.student_env(limits))
        self.ids = (f"s{n:06d}" for n in itertools.count())
        self.defences = [*sandbox.defences(limits), "recheck"]
        self.api = self._api()

    def _api(self):
        from nbgrader.apps import NbGraderAPI
        from nbgrader.converters import Autograde

        quiet_nbgrader()
        config = load_config(self.course)
        config.CourseDirectory.root = str(self.course)
        config.CourseDirectory.course_id = COURSE_ID
        config.CourseDirectory.db_url = self.db
        config.Execute.timeout = int(self.limits.cell_seconds)
        config.Execute.kernel_name = sandbox.KERNEL_NAME
        config.Execute.interrupt_on_timeout = True
        config.Execute.startup_timeout = 120
        config.Execute.shutdown_kernel = "immediate"   # its outputs are in: no 0.3 s of goodbyes
        # nbgrader's own sanitizing, never the course's door to this grader (autograder/nbgrader_door.py)
        config.Autograde.sanitize_preprocessors = Autograde.class_traits()["sanitize_preprocessors"].default()
        config.Autograde.autograde_preprocessors = kernel.autograde_preprocessors()
        return NbGraderAPI(config=config)

    def grade(self, submission):
        """The NotebookResult of a Submission; a submission that breaks the grader scores 0 and is
        flagged ``grader-error`` (the traceback goes to stderr and to the result's log, which the
        command writes to reports/logs/), but for its written answers, which still go to manual
        grading."""
        cells = self.plans[submission.assignment][submission.notebook]
        flags = list(submission.flags) + ([] if self.limits.sandbox else [sandbox.UNSAFE_FLAG])
        detail = None
        if submission.path is not None:
            student = next(self.ids)
            try:
                result = self._grade(submission, student, cells, flags)
                result.defences = self.defences
                return result
            except Exception:  # noqa: BLE001 - one submission's failure never stops the batch
                detail = traceback.format_exc()
                print(terminal(f"autograder: {submission.student}/{submission.assignment}/{submission.notebook} "
                               f"could not be graded:\n{detail}"), file=sys.stderr)
                flags.append("grader-error")
            finally:
                for folder in ("submitted", "autograded"):
                    shutil.rmtree(self.course / folder / student, ignore_errors=True)
                cgroups.sweep()
        result = failed(submission, cells, flags, self.course)
        result.log, result.defences = detail, self.defences
        return result

    def _grade(self, sub, student, cells, flags):
        os.environ.update(self.env)
        release = read_notebook(self.course / "lessons" / sub.assignment / f"{sub.notebook}.ipynb")
        submitted = read_notebook(sub.path)
        flags += structure.changes(release, submitted)
        submitted = structure.repair(release, submitted)
        target = self.course / "submitted" / student / sub.assignment / f"{sub.notebook}.ipynb"
        target.parent.mkdir(parents=True)
        nbformat.write(submitted, str(target))
        started = time.monotonic()
        with sandbox.Watchdog(self.marker, self.limits.notebook_seconds) as watchdog:
            outcome = self.api.autograde(sub.assignment, student, force=True, create=True)
        kernel.reset_runtime(self.runtime)
        # the re-check gets what is left of the notebook's time (at least one cell's): a slow
        # notebook holds a worker for about one notebook time limit, not two
        left = max(self.limits.cell_seconds, self.limits.notebook_seconds - (time.monotonic() - started))
        graded_path = self.course / "autograded" / student / sub.assignment / f"{sub.notebook}.ipynb"
        kernel_ran = outcome["success"] and graded_path.is_file() and not watchdog.fired
        scores, graded, log = None, submitted, None   # the kernel's scores and notebook, where it finished
        if not kernel_ran:
            flags.append(_failure(outcome, watchdog.fired))
            log = ((outcome.get("error") or "") + "\n" + outcome.get("log", ""))[-LOG_CHARS:]
        else:
            scores = self._scores(sub, student)
            graded = read_notebook(graded_path)
            if _error_names(graded) & TIMEOUT_ERRORS:
                flags.append("timeout")
            if "MemoryError" in _text_of(graded):
                flags.append("memory")
        if watchdog.fired:  # a notebook out of time scores 0: its code is not run a second time
            results = [_written(c, release, submitted) if c.manual else
                       CellResult(c.grade_id, 0.0, c.points, [], OUT_OF_TIME) for c in cells]
        else:
            limits = dataclasses.replace(self.limits, notebook_seconds=left)
            libs = integrity.library_for(self.private, sub.assignment)
            checks, check_flags = integrity.check(submitted, sub.assignment, cells, limits,
                                                  self.tmp / "check", libs)
            flags += check_flags
            results = [_written(c, release, submitted) if c.manual else _combine(c, scores, checks.get(c.grade_id))
                       for c in cells]
        flags = sorted(set(flags))
        for result in results:
            result.flags = sorted(set(flags) | set(result.flags))
        autograded = nbformat.writes(feedback.annotate(graded, results, submitted.metadata))
        return NotebookResult(sub.student, sub.assignment, sub.notebook, results, flags, sub.files,
                              autograded, log)

    def _scores(self, sub, student):
        from nbgrader.api import Gradebook

        with Gradebook(self.db, course_id=COURSE_ID) as gb:
            notebook = gb.find_submission_notebook(sub.notebook, sub.assignment, student)
            return {g.name: float(g.auto_score or 0.0) for g in notebook.grades}


def failed(sub, cells, flags, course):
    """The NotebookResult of a submission that was not graded (``flags`` say why): its code scores
    0; the written answers of a notebook the grader failed on (nothing to run) still go to manual
    grading, read against the release in ``course``/lessons (0 when even they cannot be read)."""
    flags = sorted(set(flags))
    written = {}
    if sub.path is not None:
        try:
            release = read_notebook(Path(course) / "lessons" / sub.assignment / f"{sub.notebook}.ipynb")
            submitted = structure.repair(release, read_notebook(sub.path))
            written = {c.grade_id: _written(c, release, submitted) for c in cells if c.manual}
        except Exception:  # noqa: BLE001 - the notebook that broke the grader may break this too
            pass
    results = []
    for cell in cells:
        result = written.get(cell.grade_id) or CellResult(cell.grade_id, 0.0, cell.points, [], manual=cell.manual)
        result.flags = sorted(set(flags) | set(result.flags))
        results.append(result)
    return NotebookResult(sub.student, sub.assignment, sub.notebook, results, flags, sub.files)


def _written(cell, release, submitted):
    """A written answer of the (repaired) ``submitted`` notebook, scored by nbgrader's own rule
    (``determine_grade``: the cell's checksum against the release's): 0 when left as handed out
    or deleted, otherwise no score yet and the flag MANUAL, for the formgrader."""
    from nbgrader import utils

    def find(nb):
        return next((c for c in nb.cells if nbgrader_meta(c).get("grade_id") == cell.grade_id), None)

    original, mine = find(release), find(submitted)
    if original is None:
        return CellResult(cell.grade_id, 0.0, cell.points, [], BLANK_TEXT, manual=True)
    answer = copy.deepcopy(mine or original)
    answer.metadata["nbgrader"] = copy.deepcopy(original.metadata["nbgrader"])
    answer.metadata["nbgrader"].setdefault("checksum", utils.compute_checksum(original))
    if utils.determine_grade(answer)[0] is None:
        return CellResult(cell.grade_id, None, cell.points, [MANUAL], MANUAL_TEXT, manual=True)
    return CellResult(cell.grade_id, 0.0, cell.points, [], BLANK_TEXT, manual=True)


def _combine(cell, scores, check):
    """The cell's score: the re-check's (``check``), and never above the kernel's where the kernel
    graded it (``scores``: None when the kernel died before the end). A cell the re-check did not
    confirm scores 0. Feedback: the re-check's."""
    if check is None:
        return CellResult(cell.grade_id, 0.0, cell.points, ["not-rechecked"], "")
    flags, score, feedback = list(check.flags), check.score, check.feedback
    if scores is not None:
        kernel = scores.get(cell.grade_id, 0.0)
        if check.score < kernel - 1e-9 and "timeout" not in check.flags:
            flags.append("tampered")
        if kernel < check.score - 1e-9:
            feedback += (f"\nIn the notebook's own run this cell scored {kernel:g} / {cell.points:g} "
                         "(an error, a time-out or output beyond the grader's limit there); that score stands.")
        score = min(kernel, check.score)
    return CellResult(cell.grade_id, round(score, 2), cell.points, flags, feedback)

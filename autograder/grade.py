"""One grading worker: nbgrader autograde of one submission at a time in a private course.

Each worker process copies the template course (release notebooks and a
gradebook holding the assignments, no solutions) into its own temporary folder,
so its SQLite gradebook has one writer: itself. A submission is copied in (the
original is only read), autograded through nbgrader's API in the limited kernel,
read back (scores from the gradebook, feedback from the outputs), re-checked by
``integrity``, and deleted again; the worker returns plain data.
"""

import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from autograder import integrity, sandbox, structure
from autograder.course import COURSE_ID, load_config, quiet_nbgrader, read_notebook

TIMEOUT_ERRORS = {"CellTimeoutError"}   # what nbgrader adds to a cell stopped by Execute.timeout


@dataclass
class CellResult:
    grade_id: str
    score: float
    max_score: float
    flags: list = field(default_factory=list)
    feedback: str = ""


@dataclass
class NotebookResult:
    student: str
    assignment: str
    notebook: str
    cells: list
    flags: list = field(default_factory=list)   # flags of the whole notebook


def _outputs_text(cell):
    """What a graded cell showed: its printed text and the name and message of an error (never the
    traceback, which quotes the hidden test's source)."""
    parts = []
    for output in cell.get("outputs", []):
        if output.output_type == "stream":
            parts.append(output.text)
        elif output.output_type == "error":
            parts.append(f"{output.ename}: {output.evalue}")
    return "".join(parts).strip()


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
        private = self.tmp / "private"   # not in the course folder the kernel runs in
        private.mkdir()
        shutil.copy(Path(template) / "gradebook.db", private / "gradebook.db")
        self.db = f"sqlite:///{private / 'gradebook.db'}"
        self.marker = str(private)  # unique per worker: finds this worker's kernel processes
        self.lib = integrity.student_lib(private / "lib")
        os.environ["JUPYTER_PATH"] = sandbox.install_kernelspec(private / "jupyter", self.marker)
        os.environ.update(sandbox.student_env(limits))
        self.api = self._api()

    def _api(self):
        from nbgrader.apps import NbGraderAPI

        quiet_nbgrader()
        config = load_config(self.course)
        config.CourseDirectory.root = str(self.course)
        config.CourseDirectory.course_id = COURSE_ID
        config.CourseDirectory.db_url = self.db
        config.Execute.timeout = int(self.limits.cell_seconds)
        config.Execute.kernel_name = sandbox.KERNEL_NAME
        config.Execute.interrupt_on_timeout = True
        config.Execute.startup_timeout = 120
        return NbGraderAPI(config=config)

    def grade(self, submission):
        cells = self.plans[submission.assignment][submission.notebook]
        zero = [CellResult(c.grade_id, 0.0, c.points, list(submission.flags)) for c in cells]
        if submission.path is None:
            return NotebookResult(submission.student, submission.assignment, submission.notebook, zero,
                                  list(submission.flags))
        try:
            return self._grade(submission, cells)
        finally:
            for folder in ("submitted", "autograded"):
                shutil.rmtree(self.course / folder / submission.student, ignore_errors=True)

    def _grade(self, sub, cells):
        release = read_notebook(self.course / "lessons" / sub.assignment / f"{sub.notebook}.ipynb")
        submitted = read_notebook(sub.path)
        flags = list(sub.flags) + structure.changes(release, submitted)
        submitted = structure.repair(release, submitted)
        target = self.course / "submitted" / sub.student / sub.assignment / f"{sub.notebook}.ipynb"
        target.parent.mkdir(parents=True)
        nbformat.write(submitted, str(target))
        with sandbox.Watchdog(self.marker, self.limits.notebook_seconds) as watchdog:
            outcome = self.api.autograde(sub.assignment, sub.student, force=True, create=True)
        graded_path = self.course / "autograded" / sub.student / sub.assignment / f"{sub.notebook}.ipynb"
        if not outcome["success"] or not graded_path.is_file() or watchdog.fired:
            flags.append(_failure(outcome, watchdog.fired))
        scores, outputs = {}, {}
        if graded_path.is_file() and outcome["success"]:
            scores = self._scores(sub)
            graded = read_notebook(graded_path)
            outputs = {c.metadata.get("nbgrader", {}).get("grade_id"): _outputs_text(c) for c in graded.cells}
            if _error_names(graded) & TIMEOUT_ERRORS:
                flags.append("timeout")
            if "MemoryError" in _text_of(graded):
                flags.append("memory")
        checks, check_flags = integrity.check(submitted, cells, self.limits, self.tmp / "check", self.lib)
        flags += check_flags
        results = [self._combine(cell, scores, outputs, checks) for cell in cells]
        flags = sorted(set(flags))
        for result in results:
            result.flags = sorted(set(flags) | set(result.flags))
        return NotebookResult(sub.student, sub.assignment, sub.notebook, results, flags)

    def _scores(self, sub):
        from nbgrader.api import Gradebook

        with Gradebook(self.db, course_id=COURSE_ID) as gb:
            notebook = gb.find_submission_notebook(sub.notebook, sub.assignment, sub.student)
            return {g.name: float(g.auto_score or 0.0) for g in notebook.grades}

    @staticmethod
    def _combine(cell, scores, outputs, checks):
        """The cell's score: the notebook's, lowered to the re-check's where that is lower (tampered)."""
        score = scores.get(cell.grade_id, 0.0)
        feedback = outputs.get(cell.grade_id, "")
        check = checks.get(cell.grade_id)
        flags = []
        if check is not None:
            flags += check.flags
            if check.score < score - 1e-9:
                score = check.score
                feedback = check.feedback
                if "timeout" not in check.flags:
                    flags.append("tampered")
        return CellResult(cell.grade_id, round(score, 2), cell.points, flags, feedback)

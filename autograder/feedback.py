"""What a student is told, in two forms built from the same verdicts (score, flags, the re-check's
printed feedback; never the test source, never what the kernel printed):

- ``annotate``: the autograded notebook the course keeps, which nbgrader's formgrader shows and
  ``nbgrader generate_feedback`` turns into the feedback students fetch;
- ``write``: one HTML page per student under the reports folder, for a quick look.
"""

import copy
import hashlib
import re
import textwrap
from collections import defaultdict
from html import escape
from pathlib import Path

from nbformat.v4 import new_output

from autograder import metadata, report

FLAG_TEXT = {
    "timeout": "a cell or the notebook ran out of time",
    "memory": "your code ran out of memory",
    "kernel-died": "the Python kernel stopped while grading (os._exit, a crash or the memory limit)",
    "tampered": "the score in your notebook differs from a re-check outside it; the re-check's lower score stands",
    "autograde-failed": "nbgrader could not grade this notebook; the instructor has its log",
    "missing": "the notebook was not found",
    "invalid-notebook": "the file is not a readable notebook",
    "renamed": "the notebook had another name; it was graded anyway",
    "cell-deleted": "a test cell was deleted (it was put back for grading)",
    "cell-edited": "a test cell was edited (the original was used for grading)",
    "metadata-changed": "cell metadata was changed (the original was used for grading)",
    "duplicate-cells": "some cells were duplicated",
    "forbidden-import": "the code imports the instructor's reference or grading package, which is not allowed",
    "symlink": "the notebook was a link to another file; it was not graded",
    "grader-error": "the grader failed on this notebook; the instructor has been told",
    "grader-crashed": "grading this notebook stopped the grader's process twice; it was not graded",
    "not-rechecked": "this cell could not be checked outside the notebook, so it scores 0; tell the instructor",
    "unsandboxed": "graded without the sandbox (the instructor chose --unsafe-no-sandbox)",
    "needs-manual-grading": "a written answer: the instructor grades it by hand, so it has no score yet",
    "unknown-submission-time": "no submission time could be read (timestamp.txt missing or unreadable): "
                               "it counts as handed in when it was graded, after the due date",
}
VERDICT_WIDTH = 96   # nbgrader's formgrader and feedback pages show outputs unwrapped
SAFE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,99}")
STYLE = ("body{font-family:sans-serif;max-width:60em;margin:2em auto}pre{background:#f6f6f6;padding:.6em;"
         "white-space:pre-wrap}.flags{color:#a40}td,th{padding:.2em .8em;text-align:left}")


def flag_lines(flags):
    return [f"{flag}: {FLAG_TEXT.get(flag, flag)}" for flag in flags]


def _wrapped(text):
    """``text`` with every line longer than VERDICT_WIDTH broken at spaces, continued under its
    own indent plus four: a named mistake stays readable where nothing wraps it."""
    lines = []
    for line in text.splitlines():
        if len(line) <= VERDICT_WIDTH:
            lines.append(line)
            continue
        indent = " " * (len(line) - len(line.lstrip()) + 4)
        lines += textwrap.wrap(line, VERDICT_WIDTH, subsequent_indent=indent, break_long_words=False,
                               break_on_hyphens=False)
    return "\n".join(lines)


def verdict(cell):
    """The text a test cell shows in the autograded notebook: score, flags, feedback."""
    score = "needs manual grading" if cell.score is None else f"{cell.score:g}"
    lines = [f"Graded: {score} / {cell.max_score:g}", *(f"- {line}" for line in flag_lines(cell.flags))]
    return _wrapped("\n".join(lines) + "\n\n" + (cell.feedback or "(no output)")) + "\n"


NOT_RUN = "[not run while grading: worth no points; run it in your own notebook to see what it shows]\n"


def annotate(nb, cells, notebook_metadata):
    """A copy of the notebook ``nb`` that shows the verdicts of ``cells`` (CellResults): each test
    cell's output is its verdict, each visible check and showcase says that grading did not run
    it (nor took it for a check that passed); every other output is removed, and the notebook's metadata is
    ``notebook_metadata`` (the submission's), because the kernel that made them could read the reference,
    and the course's autograded notebook becomes students' feedback."""
    nb = copy.deepcopy(nb)
    nb.metadata = copy.deepcopy(notebook_metadata)
    verdicts = {c.grade_id: verdict(c) for c in cells}
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        cell.outputs, cell.execution_count = [], None
        grade_id = metadata.nbgrader_meta(cell).get("grade_id")
        if metadata.is_test_cell(cell) and grade_id in verdicts:
            cell.outputs = [new_output("stream", name="stdout", text=verdicts[grade_id])]
        elif metadata.skipped_while_grading(cell):
            cell.outputs = [new_output("stream", name="stdout", text=NOT_RUN)]
    return nb


def _cell_html(cell):
    flags = "".join(f"<li class='flags'>{escape(line)}</li>" for line in flag_lines(cell.flags))
    text = cell.feedback or "(no output)"
    score = "needs manual grading" if cell.score is None else f"{cell.score:g}"
    return (f"<h3>{escape(cell.grade_id)}: {score} / {cell.max_score:g}</h3>"
            f"{'<ul>' + flags + '</ul>' if flags else ''}<pre>{escape(text)}</pre>")


def page(student, results):
    body = [f"<h1>Feedback for {escape(student)}</h1>"]
    for result in results:
        score, most, penalty, after = report.final(result)
        waiting = sum(c.max_score for c in result.cells if c.score is None)
        later = f" ({waiting:g} more points await manual grading)" if waiting else ""
        late = (f" <span class='flags'>handed in {report.late_text(result.seconds_late)} late: {score:g} less a "
                f"late penalty of {penalty:g} = {after:g} / {most:g}</span>" if penalty is not None else "")
        body.append(f"<h2>{escape(result.assignment)} / {escape(result.notebook)}: {score:g} / {most:g}"
                    f"{later}{late}</h2>")
        body.extend(_cell_html(cell) for cell in result.cells)
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>Feedback: {escape(student)}</title>"
            f"<style>{STYLE}</style></head><body>{''.join(body)}</body></html>")


def file_name(student):
    """``student``.html, or for a name that is no safe file name (too long, or with characters
    other than letters, digits, ``.``, ``_``, ``-``) a cleaned, shortened name and a hash."""
    if SAFE_NAME.fullmatch(student):
        return f"{student}.html"
    digest = hashlib.sha256(student.encode("utf-8", "surrogateescape")).hexdigest()[:12]
    return f"{re.sub(r'[^A-Za-z0-9_-]', '_', student)[:60]}-{digest}.html"


def write(results, folder):
    """OUT/feedback/<file_name(student)> per student; returns the folder."""
    folder = Path(folder) / "feedback"
    folder.mkdir(parents=True, exist_ok=True)
    by_student = defaultdict(list)
    for result in results:
        by_student[result.student].append(result)
    for student, items in by_student.items():
        (folder / file_name(student)).write_text(page(student, items), encoding="utf-8")
    return folder

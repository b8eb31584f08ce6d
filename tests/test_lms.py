"""autograder.lms: the grade files for Canvas's and Moodle's gradebook import, from a real nbgrader gradebook.

The formats, from the import documentation and the importers' source:

Canvas, https://community.canvaslms.com/t5/Instructor-Guide/How-do-I-import-grades-in-the-Gradebook/ta-p/807
(importer: instructure/canvas-lms app/models/gradebook_importer.rb). Header row, then "Points Possible":
    Student        the student's name, "Last, First" (the nbgrader id when the names are unknown);
                   Canvas's last way to find the student
    ID             the Canvas user id (a numeric lms_user_id), else empty; Canvas's first way
    SIS User ID    empty: nbgrader does not know it
    SIS Login ID   the nbgrader student id (the Canvas login when students log in with Canvas)
    Section        empty: Canvas does not read it, but the header must name it
    <assignment>   one per nbgrader assignment, headed by its name (Canvas matches an assignment of
                   that name, or creates one); the Points Possible row holds its maximum score;
                   a student's cell holds the final score, empty when there is none to report
Moodle, https://docs.moodle.org/en/Grade_import (CSV import: Map from / Map to; importer: moodle/moodle
grade/import/csv/classes/load_data.php). Header row, then one row per student:
    Email address  the student's email, when every exported student has one (Map to: Email address)
    or Username    the nbgrader student id otherwise (Map to: Username)
    <assignment>   the final score with a decimal point; "-" when there is none to report (Moodle's
                   "no grade"; an empty cell would be 0 in a new grade item)
Final score: the submission's score minus its late-submission penalty, never below 0. None to report:
no submission, or a submission still waiting for manual grading.
"""

import csv
import logging
import subprocess
import sys
from pathlib import Path

import pytest

from autograder import course
from autograder.lms import CanvasExportPlugin, MoodleExportPlugin, plain

ROOT = Path(__file__).resolve().parents[1]
LATE = "2024-03-02 09:00:00 UTC"  # after ps2's due date

CANVAS_HEADER = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "ps1", "ps2"]
CANVAS_POINTS = ["Points Possible", "", "", "", "", "7.5", "13"]
CANVAS_STUDENTS = {  # by SIS Login ID
    "alice": ["Adams, Alice", "101", "", "alice", "", "6.5", "12"],
    "bob": ["Brown, Bob", "", "", "bob", "", "7.5", ""],       # opaque LTI lms_user_id: no ID; ps2 manual
    "carol": ["carol", "", "", "carol", "", "", "6.5"],        # no names; ps1 missing; ps2 8.5 - 2 late
    "dan": ["Dan", "", "", "dan", "", "0.0001", "0"],          # ps2 1.5 - 4 late: 0, not -2.5
}


def submit(gb, assignment, notebook, student, scores, penalty=None, **kwargs):
    """A submission whose grade cells get ``scores`` (None: waiting for manual grading)."""
    gb.add_submission(assignment, student, **kwargs)
    for cell, score in scores.items():
        grade = gb.find_grade(cell, notebook, assignment, student)
        grade.auto_score = score
        grade.needs_manual_grade = score is None
    gb.find_submission_notebook(notebook, assignment, student).late_submission_penalty = penalty
    gb.db.commit()


@pytest.fixture(scope="module")
def gradebook(tmp_path_factory):
    """The URL of a gradebook: ps1 (7.5 points), ps2 (13 points, due 2024-03-01), four students."""
    from nbgrader.api import Gradebook

    course.quiet_nbgrader()
    url = f"sqlite:///{tmp_path_factory.mktemp('lms') / 'gradebook.db'}"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PATH", course.nbgrader_env()["PATH"])  # creating a gradebook runs `alembic`
        gb = Gradebook(url, course_id=course.COURSE_ID)
    with gb:
        gb.update_or_create_assignment("ps1")
        gb.add_notebook("p1", "ps1")
        gb.add_grade_cell("q1", "p1", "ps1", max_score=5, cell_type="code")
        gb.add_grade_cell("q2", "p1", "ps1", max_score=2.5, cell_type="code")
        gb.update_or_create_assignment("ps2", duedate="2024-03-01 17:00:00 UTC")
        gb.add_notebook("p2", "ps2")
        gb.add_grade_cell("auto", "p2", "ps2", max_score=10, cell_type="code")
        gb.add_grade_cell("essay", "p2", "ps2", max_score=3, cell_type="markdown")

        gb.add_student("alice", first_name="Alice", last_name="Adams", email="alice@example.org",
                       lms_user_id="101")
        gb.add_student("bob", first_name="Bob", last_name="Brown", lms_user_id="53f2c9e1d0a8b7")
        gb.add_student("carol")
        gb.add_student("dan", first_name="Dan", email="dan@example.org")

        submit(gb, "ps1", "p1", "alice", {"q1": 5, "q2": 1.5})
        submit(gb, "ps2", "p2", "alice", {"auto": 10, "essay": 2})
        submit(gb, "ps1", "p1", "bob", {"q1": 5, "q2": 2.5})
        submit(gb, "ps2", "p2", "bob", {"auto": 8, "essay": None}, penalty=1.0, timestamp=LATE)
        submit(gb, "ps2", "p2", "carol", {"auto": 7, "essay": 1.5}, penalty=2.0, timestamp=LATE)
        submit(gb, "ps1", "p1", "dan", {"q1": 0.0001, "q2": 0})
        submit(gb, "ps2", "p2", "dan", {"auto": 1, "essay": 0.5}, penalty=4.0, timestamp=LATE)
    return url


def export(plugin_class, url, path, **traits):
    from nbgrader.api import Gradebook

    with Gradebook(url, course_id=course.COURSE_ID) as gb:
        plugin_class(to=str(path), **traits).export(gb)
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.reader(handle))


def test_canvas_file(gradebook, tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        rows = export(CanvasExportPlugin, gradebook, tmp_path / "canvas.csv")
    assert rows[0] == CANVAS_HEADER
    assert rows[1] == CANVAS_POINTS
    assert {row[3]: row for row in rows[2:]} == CANVAS_STUDENTS
    assert len(rows) == 2 + len(CANVAS_STUDENTS)
    assert "bob" in caplog.text and "ps2" in caplog.text and "manual grading" in caplog.text


def test_canvas_filters(gradebook, tmp_path):
    rows = export(CanvasExportPlugin, gradebook, tmp_path / "canvas.csv", assignment=["ps2"], student=["carol"])
    assert rows == [CANVAS_HEADER[:5] + ["ps2"], CANVAS_POINTS[:5] + ["13"], ["carol", "", "", "carol", "", "6.5"]]


def test_moodle_file_by_username(gradebook, tmp_path):
    """bob and carol have no email: every row is identified by its nbgrader id."""
    rows = export(MoodleExportPlugin, gradebook, tmp_path / "moodle.csv")
    assert rows[0] == ["Username", "ps1", "ps2"]
    assert sorted(rows[1:]) == [
        ["alice", "6.5", "12"],
        ["bob", "7.5", "-"],     # manual grading still to do
        ["carol", "-", "6.5"],   # no ps1 submission; ps2 late
        ["dan", "0.0001", "0"],  # never below 0
    ]


def test_moodle_file_by_email(gradebook, tmp_path):
    rows = export(MoodleExportPlugin, gradebook, tmp_path / "moodle.csv", student=["alice", "dan"])
    assert rows[0] == ["Email address", "ps1", "ps2"]
    assert sorted(rows[1:]) == [["alice@example.org", "6.5", "12"], ["dan@example.org", "0.0001", "0"]]


def test_default_file_names():
    assert CanvasExportPlugin().to == "canvas_grades.csv"
    assert MoodleExportPlugin().to == "moodle_grades.csv"


@pytest.mark.parametrize("number, text", [
    (7.0, "7"), (2.5, "2.5"), (0.0001, "0.0001"), (0.00001, "0.00001"), (1e6, "1000000"),
    (0.1 + 0.2, "0.3"), (0, "0"), (12.345678, "12.34568"),
])
def test_plain_numbers(number, text):
    assert plain(number) == text


def test_nbgrader_export_command(gradebook, tmp_path):
    """The real command line, from the repository (where `autograder` is importable)."""
    target = tmp_path / "canvas.csv"
    (tmp_path / "course").mkdir()
    command = [sys.executable, "-m", "nbgrader", "export", "--exporter=autograder.lms.CanvasExportPlugin",
               "--to", str(target), f"--CourseDirectory.root={tmp_path / 'course'}", f"--db={gradebook}"]
    result = subprocess.run(command, cwd=ROOT, env=course.nbgrader_env(), capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "bob" in result.stderr and "manual grading" in result.stderr
    with open(target, newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    assert rows[:2] == [CANVAS_HEADER, CANVAS_POINTS]
    assert {row[3]: row for row in rows[2:]} == CANVAS_STUDENTS

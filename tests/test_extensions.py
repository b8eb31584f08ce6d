"""Extensions and late penalties in view: `python -m autograder extend`, honoured by the penalty
in the gradebook, shown in totals.csv, the command's table and the feedback pages."""

import csv
import datetime
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from autograder import app, extensions
from conftest import require_sandbox

ROOT = Path(__file__).resolve().parents[1]
ASSIGNMENT, NOTEBOOK = "a1_conv_forward", "conv_forward"
DUE = "2027-01-10 17:00:00 UTC"
HANDED_IN = "2027-01-11 18:00:00.000000 UTC"    # 1 day 1 hour late: two started days
SETTINGS = (f"c.Autograder.due_dates = {{{ASSIGNMENT!r}: {DUE!r}}}\n"
            "c.AssignLatePenalties.plugin_class = 'autograder.late.PerDayPenalty'\n"
            "c.PerDayPenalty.fraction_per_day = 0.1\n"
            "c.Autograder.cell_timeout = 15\nc.Autograder.notebook_timeout = 60\nc.Autograder.memory = 1500\n")


@pytest.fixture
def course(tmp_path):
    shutil.copy(ROOT / "nbgrader_config.py", tmp_path)
    with open(tmp_path / "nbgrader_config.py", "a") as handle:
        handle.write(SETTINGS)
    shutil.copytree(ROOT / "solutions" / ASSIGNMENT, tmp_path / "solutions" / ASSIGNMENT)
    return tmp_path


def command(course, *args):
    return subprocess.run([sys.executable, "-m", "autograder", *args], cwd=course, capture_output=True,
                          text=True, timeout=900)


def test_an_extension_is_a_date_after_the_due_date_and_can_be_taken_back(course):
    granted = app.extend(course, "alice", ASSIGNMENT, until="2027-01-12 12:00:00 UTC")
    assert granted == {ASSIGNMENT: {"alice": "2027-01-12 12:00:00 UTC"}} == extensions.load(course)
    assert extensions.extension(granted, ASSIGNMENT, "alice", datetime.datetime(2027, 1, 10, 17)) == \
        datetime.timedelta(hours=43)
    assert extensions.extension(granted, ASSIGNMENT, "bob", datetime.datetime(2027, 1, 10, 17)) is None
    before = f"is not after {ASSIGNMENT}'s due date (2027-01-10 17:00:00 UTC)"
    for student, assignment, until, says in [
            ("bob", ASSIGNMENT, "2027-01-09 12:00:00 UTC", before),
            ("bob", ASSIGNMENT, "next friday-ish", "'next friday-ish' is not a date nbgrader reads"),
            ("bob", "a9_nothing", "2027-01-12 12:00:00 UTC", "unknown assignment 'a9_nothing'")]:
        with pytest.raises(app.GradingError, match=says.replace("(", r"\(").replace(")", r"\)")):
            app.extend(course, student, assignment, until=until)
    assert app.extend(course, "alice", ASSIGNMENT, until=None) == {} == extensions.load(course)
    (course / extensions.FILE).write_text('{"a1_conv_forward": ["alice"]}')
    with pytest.raises(app.GradingError, match="must map each assignment to"):
        app.extensions_granted(course)
    (course / extensions.FILE).write_text('{"a1_conv_forward": {"alice": "soon"}}')
    with pytest.raises(app.GradingError, match="a1_conv_forward, alice: 'soon' is not a date nbgrader reads"):
        app.grade_course(course, ASSIGNMENT)
    (course / extensions.FILE).write_text('{"a1_conv_forward": ["alice"]}')
    listed = command(course, "extensions")
    assert listed.returncode == 2 and "must map each assignment to" in listed.stderr
    assert "Traceback" not in listed.stderr


def test_an_extended_student_pays_no_penalty_where_a_classmate_as_late_pays_it(course):
    """alice and bob hand in the same notebook one day and an hour late; alice has an extension.
    The gradebook, totals.csv, the table and the feedback pages agree: bob loses 20 %, alice nothing."""
    from nbgrader.api import Gradebook

    require_sandbox()
    for student in ("alice", "bob"):
        folder = course / "submitted" / student / ASSIGNMENT
        shutil.copytree(ROOT / "autograder" / "samples" / "alice_correct" / ASSIGNMENT, folder)
        (folder / "timestamp.txt").write_text(HANDED_IN)
    extended = command(course, "extend", "alice", ASSIGNMENT, "--until", "2027-01-12 12:00:00 UTC")
    assert extended.returncode == 0 and "alice has until 2027-01-12 12:00:00 UTC" in extended.stdout, extended.stderr
    graded = command(course, "grade", ASSIGNMENT, "--jobs", "2")
    assert graded.returncode == 0, graded.stderr
    with open(course / "reports" / "totals.csv", newline="") as handle:
        totals = {row["student"]: row for row in csv.DictReader(handle)}
    assert {k: totals["alice"][k] for k in ("score", "late", "late_penalty", "final_score")} == \
        {"score": "6", "late": "", "late_penalty": "", "final_score": "6"}
    assert {k: totals["bob"][k] for k in ("score", "late", "late_penalty", "final_score")} == \
        {"score": "6", "late": "1 d 1 h", "late_penalty": "1.2", "final_score": "4.8"}
    late_lines = [line for line in graded.stdout.splitlines() if "late penalty" in line]
    assert len(late_lines) == 1 and late_lines[0].startswith("bob") and "4.8 / 6" in late_lines[0], graded.stdout
    assert "late penalty of 1.2 = 4.8 / 6" in (course / "reports" / "feedback" / "bob.html").read_text()
    assert "late penalty" not in (course / "reports" / "feedback" / "alice.html").read_text()
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", course_id="cnn-backprop") as gb:
        alice, bob = (gb.find_submission(ASSIGNMENT, s) for s in ("alice", "bob"))
        assert alice.extension == datetime.timedelta(hours=43) and alice.total_seconds_late == 0
        assert bob.extension is None and bob.late_submission_penalty == pytest.approx(1.2)
    assert json.loads((course / extensions.FILE).read_text()) == {ASSIGNMENT: {"alice": "2027-01-12 12:00:00 UTC"}}
    listed = command(course, "extensions")
    assert listed.returncode == 0 and "alice" in listed.stdout and "2027-01-12 12:00:00 UTC" in listed.stdout

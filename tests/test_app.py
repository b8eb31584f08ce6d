"""autograder.app, the grader as a library: the command line's grading without its argv."""

import csv
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from autograder import app
from conftest import require, require_sandbox

pytestmark = pytest.mark.autograder

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "autograder" / "samples"
ASSIGNMENT = "a1_conv_forward"


@pytest.fixture
def course(tmp_path):
    shutil.copy(ROOT / "nbgrader_config.py", tmp_path)
    shutil.copytree(ROOT / "solutions" / ASSIGNMENT, tmp_path / "solutions" / ASSIGNMENT)
    for student in ("alice_correct", "carol_no_bias"):
        shutil.copytree(SAMPLES / student / ASSIGNMENT, tmp_path / "submitted" / student / ASSIGNMENT)
    return tmp_path


def rows(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_a_course_graded_through_the_api_and_one_student_again(course):
    """Scores, reports, the dry run leaving the gradebook alone, and a second call for one student
    that keeps the other's rows in grades.csv."""
    require_sandbox()
    graded = app.grade_course(course, [ASSIGNMENT], dry_run=True, jobs=2, progress=False)
    scores = {r.student: sum(c.score or 0 for c in r.cells) for r in graded.results}
    assert scores["alice_correct"] == 6 and scores["carol_no_bias"] < 6, scores
    assert graded.reports == course / "reports" and graded.where == "with 2 job(s)"
    assert graded.seconds >= graded.grading_seconds > 0
    assert not (course / "gradebook.db").exists() and not (course / "autograded").exists()
    first = rows(course / "reports" / "grades.csv")
    assert {r["student"] for r in first} == {"alice_correct", "carol_no_bias"}

    again = app.grade_course(course, ASSIGNMENT, students=["carol_no_bias"], dry_run=True, progress=False)
    assert [r.student for r in again.results] == ["carol_no_bias"]
    kept = rows(course / "reports" / "grades.csv")
    assert [r for r in kept if r["student"] == "alice_correct"] == [r for r in first if r["student"] == "alice_correct"]
    assert {r["student"] for r in kept} == {"alice_correct", "carol_no_bias"}
    page = (course / "reports" / "class_a1_conv_forward.html").read_text()
    assert "1 of 2" in page and "carol_no_bias.html" in page   # the class page counts alice still


@pytest.mark.parametrize("assignments, says", [
    (["a1_conv_forward", "a9_nothing"], "unknown assignment 'a9_nothing'; known: a1_conv_forward"),
    ([], "unknown assignment list (empty)"),
])
def test_a_bad_call_is_one_grading_error_before_any_grading(course, assignments, says):
    with pytest.raises(app.GradingError, match=r"^" + says.replace("(", r"\(").replace(")", r"\)")):
        app.grade_course(course, assignments)
    assert not (course / "reports").exists()


def test_the_slurm_script_refuses_a_second_cluster_in_the_grading_arguments():
    require("dask_jobqueue", "the Slurm example (the slurm extra)")

    result = subprocess.run([sys.executable, str(ROOT / "deploy" / "dask" / "slurm_grade.py"), "--",
                             ASSIGNMENT, "--cluster", "local"], cwd=ROOT, capture_output=True, text=True,
                            timeout=120, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert result.returncode == 2 and "take no --scheduler or --cluster" in result.stderr, result.stderr

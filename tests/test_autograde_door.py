"""nbgrader's own `nbgrader autograde` in the course grades through the sandbox and the re-check.

Two copies of one course, each with an honest and a hostile submission (its solution cell imports
the reference and prints a canary file this user can read): one graded by
`python -m autograder grade`, the other by plain `nbgrader autograde`. Both give the same rows and
gradebook scores; the hostile one scores 0 and its notebook holds no canary.
"""

import csv
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import require_sandbox
from attacks import A1, lesson, with_cell, write

pytestmark = [pytest.mark.autograder, pytest.mark.sandbox]

ROOT = Path(__file__).resolve().parents[1]
ASSIGNMENT, NOTEBOOK = A1
HONEST = ROOT / "autograder" / "samples" / "alice_correct" / ASSIGNMENT / f"{NOTEBOOK}.ipynb"
CANARY_TEXT = "canary-7f3e91 the grader's secret"
HOSTILE = """\
from cnn_utils.reference import conv_forward_naive
try:
    print(open({canary!r}).read())
except OSError as error:
    print("no canary:", error)
"""
ENV = dict(os.environ, PYTHONPATH=str(ROOT), PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")


def course_copy(top, name, canary):
    """A course with a1 generated and the two submissions handed in."""
    course = top / name
    course.mkdir()
    shutil.copy(ROOT / "nbgrader_config.py", course)
    shutil.copytree(ROOT / "solutions" / ASSIGNMENT, course / "solutions" / ASSIGNMENT)
    with open(course / "nbgrader_config.py", "a") as handle:
        handle.write("c.Autograder.cell_timeout = 15\nc.Autograder.notebook_timeout = 60\n")
    nbgrader(course, "generate_assignment", ASSIGNMENT, "--force")
    submitted = course / "submitted"
    write(hostile_notebook(canary), submitted / "mallory" / ASSIGNMENT / f"{NOTEBOOK}.ipynb")
    (submitted / "alice" / ASSIGNMENT).mkdir(parents=True)
    shutil.copy(HONEST, submitted / "alice" / ASSIGNMENT / f"{NOTEBOOK}.ipynb")
    return course


def hostile_notebook(canary):
    return with_cell(lesson(*A1), "conv_forward_naive", HOSTILE.format(canary=str(canary)))


def nbgrader(course, *args):
    done = subprocess.run([sys.executable, "-m", "nbgrader", *args, f"--CourseDirectory.root={course}"],
                          cwd=course, capture_output=True, text=True, timeout=900, env=ENV)
    assert done.returncode == 0, f"nbgrader {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    return done



def grade_by_cli(course):
    """`python -m autograder grade` of the assignment in ``course``."""
    done = subprocess.run([sys.executable, "-m", "autograder", "grade", ASSIGNMENT, "--course", str(course),
                           "--quiet"], cwd=course, capture_output=True, text=True, timeout=900, env=ENV)
    assert done.returncode == 0, done.stderr


def rows(course):
    with open(course / "reports" / "grades.csv", newline="") as handle:
        return sorted((r["student"], r["grade_id"], r["score"], r["flags"]) for r in csv.DictReader(handle))


def gradebook_scores(course):
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", course_id="cnn-backprop") as gb:
        return {s: gb.find_submission(ASSIGNMENT, s).score for s in ("alice", "mallory")}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """(course graded by the CLI, course graded by `nbgrader autograde`, the canary file)."""
    require_sandbox()
    top = tmp_path_factory.mktemp("door")
    (top / "canary.txt").write_text(CANARY_TEXT)
    by_cli, by_nbgrader = course_copy(top, "cli", top / "canary.txt"), course_copy(top, "nbg", top / "canary.txt")
    grade_by_cli(by_cli)
    nbgrader(by_nbgrader, "autograde", ASSIGNMENT)
    return by_cli, by_nbgrader


def test_nbgrader_autograde_gives_the_clis_rows_and_gradebook_scores(graded):
    by_cli, by_nbgrader = graded
    assert rows(by_nbgrader) == rows(by_cli)
    assert gradebook_scores(by_nbgrader) == gradebook_scores(by_cli)


def test_the_hostile_submission_scores_0_and_reads_no_canary(graded):
    _, by_nbgrader = graded
    scores = gradebook_scores(by_nbgrader)
    assert scores["mallory"] == 0 and scores["alice"] > 0
    autograded = by_nbgrader / "autograded" / "mallory" / ASSIGNMENT / f"{NOTEBOOK}.ipynb"
    assert autograded.is_file() and CANARY_TEXT not in autograded.read_text()
    assert all(CANARY_TEXT not in p.read_text(errors="replace") for p in (by_nbgrader / "reports").rglob("*.*")
               if p.suffix in {".html", ".csv", ".log"})


def test_grading_one_student_keeps_the_others_rows(graded):
    _, by_nbgrader = graded
    before = rows(by_nbgrader)
    nbgrader(by_nbgrader, "autograde", ASSIGNMENT, "--student=alice", "--force")
    assert rows(by_nbgrader) == before
    assert {r[0] for r in before} == {"alice", "mallory"}


def test_without_a_sandbox_autograde_fails_with_one_line_saying_where_to_grade(graded, tmp_path):
    _, by_nbgrader = graded
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "bwrap").write_text("#!/bin/sh\nexit 1\n")
    (fake / "bwrap").chmod(0o755)
    done = subprocess.run([sys.executable, "-m", "nbgrader", "autograde", ASSIGNMENT, "--student=alice", "--force",
                           f"--CourseDirectory.root={by_nbgrader}"], cwd=by_nbgrader, capture_output=True,
                          text=True, timeout=900, env=dict(ENV, PATH=f"{fake}:{ENV['PATH']}"))
    assert done.returncode != 0
    assert "python -m autograder grade a1_conv_forward --student alice" in done.stdout + done.stderr

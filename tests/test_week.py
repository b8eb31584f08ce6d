"""An instructor's week, run from README.md's own command blocks on one machine.

The course is a copy of nbgrader_config.py and solutions/; nbgrader's exchange is a temporary
folder (named in a config file on JUPYTER_CONFIG_PATH, as a hub admin would). The README's
blocks run as they stand, in the course folder; the students' run in a home folder each (their
HOME: nbgrader keeps a student's submissions in a cache there), with ``--student NAME`` added
because one Unix user plays every student here. alice submits the
solution before the due date, bob a typical mistake after it. Between grading and feedback the
instructor grades alice's written answer through nbgrader's API, as the Formgrader does.
"""

import csv
import datetime
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from autograder.course import quiet_nbgrader

pytestmark = pytest.mark.autograder

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "autograder" / "samples"
ASSIGNMENT, NOTEBOOK = "a1_conv_forward", "conv_forward"
STUDENTS = {"alice": "alice_correct", "bob": "bob_mistakes"}   # id: the sample notebook handed in
CLASS_LIST = "id,first_name,last_name,email\nalice,Alice,Adams,alice@example.org\nbob,Bob,Brown,bob@example.org\n"
LIMITS = "c.Autograder.cell_timeout = 15\nc.Autograder.notebook_timeout = 60\nc.Autograder.memory = 1500\n"
BLOCK = re.compile(r"<!-- week:([\w-]+) -->\n```bash\n(.*?)```", re.S)


def readme_blocks():
    """{block name: [command lines]} of README.md's instructor's week."""
    return {name: body.strip().splitlines() for name, body in BLOCK.findall((ROOT / "README.md").read_text())}


def run(lines, cwd, env, *more):
    for line in lines:
        result = subprocess.run([*shlex.split(line), *more], cwd=cwd, env=env, capture_output=True, text=True,
                                timeout=900)
        assert result.returncode == 0, f"{line} failed:\n{result.stdout}\n{result.stderr}"


def read_csv(path):
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.reader(handle))


@pytest.fixture(scope="module")
def week(tmp_path_factory):
    """The week run to its end; returns the course, the students' homes and what the formgrader
    listed before manual grading."""
    from nbgrader.api import Gradebook
    from nbgrader.apps import NbGraderAPI
    from traitlets.config import Config

    quiet_nbgrader()
    top = tmp_path_factory.mktemp("week")
    course, exchange, config = top / "course", top / "exchange", top / "jupyter"
    for folder in (course, exchange, config):
        folder.mkdir()
    shutil.copy(ROOT / "nbgrader_config.py", course)
    shutil.copytree(ROOT / "solutions", course / "solutions")
    with open(course / "nbgrader_config.py", "a") as handle:
        handle.write(LIMITS)
    (course / "students.csv").write_text(CLASS_LIST)
    (config / "nbgrader_config.py").write_text(f"c.Exchange.root = {str(exchange)!r}\n")
    env = dict(os.environ, JUPYTER_CONFIG_PATH=str(config), JUPYTER_CONFIG_DIR=str(config),
               PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    blocks = readme_blocks()
    homes = {student: top / "home" / student for student in STUDENTS}

    run(blocks["instructor-release"], course, env)
    fetch, submit = blocks["student-submit"]
    for student, sample in STUDENTS.items():
        homes[student].mkdir(parents=True)
        run([fetch], homes[student], dict(env, HOME=str(homes[student])), f"--student={student}")
        shutil.copy(SAMPLES / sample / ASSIGNMENT / f"{NOTEBOOK}.ipynb", homes[student] / ASSIGNMENT)
        if student == "bob":   # the deadline passes between the two submissions
            time.sleep(1.2)
            due = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
            with open(course / "nbgrader_config.py", "a") as handle:
                handle.write(f"c.Autograder.due_dates = {{{ASSIGNMENT!r}: {due!r}}}\n")
            time.sleep(1.2)
        run([submit], homes[student], dict(env, HOME=str(homes[student])), f"--student={student}")

    run(blocks["instructor-grade"], course, env)
    settings = Config()
    settings.CourseDirectory.root = str(course)
    settings.CourseDirectory.course_id = "cnn-backprop"
    settings.Exchange.root = str(exchange)
    api = NbGraderAPI(config=settings)
    listed = {s["student"]: s for s in api.get_submissions(ASSIGNMENT)}
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", course_id="cnn-backprop") as gb:
        grade = gb.find_grade("q_floor_case", NOTEBOOK, ASSIGNMENT, "alice")
        grade.manual_score, grade.needs_manual_grade = 1.5, False
        gb.db.commit()
    run(blocks["instructor-feedback"], course, env)
    for student in STUDENTS:
        run(blocks["student-feedback"], homes[student], dict(env, HOME=str(homes[student])), f"--student={student}")
    return course, homes, listed


def test_the_readme_holds_the_weeks_blocks():
    assert list(readme_blocks()) == ["instructor-release", "student-submit", "instructor-grade",
                                     "instructor-feedback", "student-feedback"]


def test_the_formgrader_lists_the_graded_submissions_and_the_answer_to_grade_by_hand(week):
    _, _, listed = week
    assert set(listed) == set(STUDENTS)
    alice, bob = listed["alice"], listed["bob"]
    assert alice["autograded"] and bob["autograded"]
    assert (alice["code_score"], alice["max_code_score"]) == (6, 6) and alice["needs_manual_grade"]
    assert bob["code_score"] == pytest.approx(2.4) and not bob["needs_manual_grade"]   # left it blank: 0


def test_students_fetch_feedback_with_the_verdict_and_no_hidden_test(week):
    _, homes, _ = week
    pages = {}
    for student, home in homes.items():
        found = list((home / ASSIGNMENT / "feedback").glob(f"*/{NOTEBOOK}.html"))
        assert len(found) == 1, f"{student} fetched {found}"
        pages[student] = found[0].read_text()
        for secret in ("BEGIN HIDDEN TESTS", 'grade("', "cnn_utils.grading import"):
            assert secret not in pages[student], f"{student}'s feedback shows {secret!r}"
    assert "Graded: 6 / 6" in pages["alice"] and "Graded: 2.4 / 6" in pages["bob"]
    assert "Likely mistake" in pages["bob"]


def test_the_late_submission_costs_its_points_in_nbgraders_export(week):
    course, _, _ = week
    subprocess.run([sys.executable, "-m", "nbgrader", "export", "--to", "export.csv"], cwd=course, check=True,
                   capture_output=True, env=dict(os.environ, JUPYTER_CONFIG_PATH=str(course.parent / "jupyter"),
                                                  PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}"))
    header, *rows = read_csv(course / "export.csv")
    exported = {row[header.index("student_id")]: dict(zip(header, row, strict=True)) for row in rows}
    alice, bob = exported["alice"], exported["bob"]
    assert alice["duedate"] and alice["timestamp"] < alice["duedate"] < bob["timestamp"]
    assert (float(alice["raw_score"]), float(alice["late_submission_penalty"]), float(alice["score"])) == (7.5, 0, 7.5)
    assert float(bob["raw_score"]) == pytest.approx(2.4)
    assert float(bob["late_submission_penalty"]) == pytest.approx(2.4) and float(bob["score"]) == 0


def test_the_lms_files_carry_the_final_grades(week):
    course, _, _ = week
    canvas = read_csv(course / "canvas_grades.csv")
    assert canvas[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", ASSIGNMENT]
    assert canvas[1][0].strip() == "Points Possible" and canvas[1][-1] == "8"
    assert canvas[2:] == [["Adams, Alice", "", "", "alice", "", "7.5"], ["Brown, Bob", "", "", "bob", "", "0"]]
    moodle = read_csv(course / "moodle_grades.csv")
    assert moodle == [["Email address", ASSIGNMENT], ["alice@example.org", "7.5"], ["bob@example.org", "0"]]


def test_one_student_is_graded_again_alone(week):
    course, _, _ = week
    alice = course / "autograded" / "alice" / ASSIGNMENT / f"{NOTEBOOK}.ipynb"
    bob = course / "autograded" / "bob" / ASSIGNMENT / f"{NOTEBOOK}.ipynb"
    before = alice.stat().st_mtime_ns, bob.stat().st_mtime_ns
    alice_rows = [row for row in read_csv(course / "reports" / "grades.csv")[1:] if row[0] == "alice"]
    result = subprocess.run([sys.executable, "-m", "autograder", "grade", ASSIGNMENT, "--student", "bob", "--quiet"],
                            cwd=course, capture_output=True, text=True, timeout=600,
                            env=dict(os.environ, JUPYTER_CONFIG_PATH=str(course.parent / "jupyter")))
    assert result.returncode == 0, result.stderr
    assert alice.stat().st_mtime_ns == before[0] and bob.stat().st_mtime_ns > before[1]
    rows = read_csv(course / "reports" / "grades.csv")[1:]
    assert sorted(row[0] for row in rows) == ["alice", "alice", "bob", "bob"]   # the class's report is kept
    assert [row for row in rows if row[0] == "alice"] == alice_rows
    assert (course / "autograded" / "bob" / ASSIGNMENT / "timestamp.txt").is_file()

"""The grading command's settings and its errors: read from nbgrader_config.py, overridden on
the command line, and a mistake reported in one line with a non-zero exit, before any grading."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from autograder import settings

pytestmark = pytest.mark.autograder

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def course(tmp_path):
    shutil.copy(ROOT / "nbgrader_config.py", tmp_path)
    shutil.copytree(ROOT / "solutions" / "a1_conv_forward", tmp_path / "solutions" / "a1_conv_forward")
    return tmp_path


def grade(course, *args):
    return subprocess.run([sys.executable, "-m", "autograder", "grade", *args], cwd=course,
                          capture_output=True, text=True, timeout=120)


def test_settings_come_from_the_course_config_and_the_command_line_overrides_them(course):
    with open(course / "nbgrader_config.py", "a") as handle:
        handle.write("c.Autograder.jobs = 3\nc.Autograder.memory = 999\nc.Execute.timeout = 42\n")
    options, config = settings.load(course, {"jobs": None, "memory": 1234, "cell_timeout": None})
    assert (options.jobs, options.memory, options.cell_timeout) == (3, 1234, 42)
    assert config.CourseDirectory.source_directory == "solutions"


@pytest.mark.parametrize("line, says", [
    ("c.Autograder.jobs = 0", "Autograder.jobs must be at least 1, not 0"),
    ("c.Autograder.due_dates = {'a1_conv_forward': 'next friday-ish'}", "is not a date nbgrader reads"),
])
def test_a_bad_setting_is_named_in_one_line(course, line, says):
    with open(course / "nbgrader_config.py", "a") as handle:
        handle.write(line + "\n")
    result = grade(course, "a1_conv_forward")
    assert result.returncode == 2 and says in result.stderr and "Traceback" not in result.stderr, result.stderr


def test_missing_or_empty_folders_and_unknown_names_are_clear_errors(course, tmp_path_factory):
    empty = tmp_path_factory.mktemp("empty")
    cases = [
        ((), "no submissions folder"),                                       # the course has no submitted/
        (("--submitted", str(empty)), "no submissions of a1_conv_forward in"),
        (("--course", str(empty)), "is not a course folder"),
    ]
    for more, says in cases:
        result = grade(course, "a1_conv_forward", *more)
        assert result.returncode == 2 and says in result.stderr and "Traceback" not in result.stderr, result.stderr
    (course / "submitted" / "alice" / "a1_conv_forward").mkdir(parents=True)
    shutil.copy(ROOT / "lessons" / "a1_conv_forward" / "conv_forward.ipynb",
                course / "submitted" / "alice" / "a1_conv_forward")
    for more, says in [(("--student", "zoe"), "no submissions of zoe"),
                       (("--student", "alice", "--student", "zoe"), "no submission of zoe"),
                       (("a2_conv_backward",), "unknown assignment")]:
        args = more if more[0] == "a2_conv_backward" else ("a1_conv_forward", *more)
        result = grade(course, *args)
        assert result.returncode == 2 and says in result.stderr and "Traceback" not in result.stderr, result.stderr
    assert not (course / "reports").exists() and not (course / "gradebook.db").exists()


def test_help_shows_examples_and_the_settings():
    result = subprocess.run([sys.executable, "-m", "autograder", "grade", "--help"], capture_output=True, text=True)
    assert "examples" in result.stdout and "--student" in result.stdout
    for name in ("jobs", "cell_timeout", "due_dates", "reports_directory"):
        assert f"c.Autograder.{name}" in result.stdout


def test_settings_include_the_jupyter_config_folders_as_nbgrader_reads_them(course, tmp_path, monkeypatch):
    """A hub's shared nbgrader_config.py (on JUPYTER_CONFIG_PATH) names the gradebook; the course's
    own file wins where both set something."""
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "nbgrader_config.py").write_text("c.CourseDirectory.db_url = 'postgresql://grader@db/gradebook'\n"
                                               "c.Autograder.jobs = 5\nc.Autograder.memory = 777\n")
    with open(course / "nbgrader_config.py", "a") as handle:
        handle.write("c.Autograder.jobs = 3\n")
    monkeypatch.setenv("JUPYTER_CONFIG_PATH", str(shared))
    options, config = settings.load(course, {})
    assert config.CourseDirectory.db_url == "postgresql://grader@db/gradebook"
    assert (options.jobs, options.memory) == (3, 777)

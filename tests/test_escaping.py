"""Student ids that are spreadsheet formulas or terminal escapes, from the functions to the CSV files.

A unit test of each of autograder.escape's functions, then a course whose students are named
``=HYPERLINK(...)``, ``+1``, ``-1``, ``@SUM(...)`` and an OSC 52 / ESC [ sequence, graded by
`python -m autograder grade` and exported by `nbgrader export` (the course's plugin, Canvas,
Moodle): no CSV cell starts with a formula character, no raw control character reaches the
instructor's terminal.
"""

import csv
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from autograder.escape import FORMULA_START, cell, terminal
from conftest import require_sandbox

ROOT = Path(__file__).resolve().parents[1]
ASSIGNMENT, NOTEBOOK = "a1_conv_forward", "conv_forward"
OSC52 = "\x1b]52;c;cm0gLXJmIH4=\x07"   # sets the terminal's clipboard to "rm -rf ~"
STUDENTS = ['=HYPERLINK("evil.example","click")', "+1", "-1", "@SUM(1+1)", f"eve{OSC52}",
            "mallory\x1b[2J\x1b[31m", "\tcarol", "dave"]
LIMITS = "c.Autograder.cell_timeout = 15\nc.Autograder.notebook_timeout = 60\nc.Autograder.memory = 1500\n"


@pytest.mark.parametrize("text", ["=1+1", "+1", "-1", "@SUM(A1)", "\t=1", "\r=1", '=HYPERLINK("http://x","y")'])
def test_a_cell_that_a_spreadsheet_would_compute_becomes_text(text):
    assert cell(text) == "'" + text


@pytest.mark.parametrize("value", ["alice", "", "a=b", "'=1", "7.5", "Adams, Alice", " =1"])
def test_other_texts_stay_as_they_are(value):
    assert cell(value) == value


@pytest.mark.parametrize("value", [7, 2.5, -1, -0.5, None])
def test_numbers_stay_numbers(value):
    assert cell(value) == value


def test_terminal_shows_every_control_character_but_newline_as_an_escape():
    assert terminal(OSC52) == "\\x1b]52;c;cm0gLXJmIH4=\\x07"
    assert terminal("a\tb\rc\x00\x7f\x9b31m\x85") == "a\\x09b\\x0dc\\x00\\x7f\\x9b31m\\x85"
    assert terminal("line one\nline two: é, 中, →") == "line one\nline two: é, 中, →"
    shown = terminal("".join(map(chr, range(0x300))))
    assert not [c for c in shown if c != "\n" and (ord(c) < 0x20 or 0x7f <= ord(c) <= 0x9f)]


def run(args, cwd):
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    done = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=900, env=env)
    assert done.returncode == 0, f"{args}:\n{done.stdout}\n{done.stderr}"
    for stream in (done.stdout, done.stderr):
        raw = sorted({c for c in stream if c not in "\n" and (ord(c) < 0x20 or 0x7f <= ord(c) <= 0x9f)})
        assert not raw, f"{args} wrote the control characters {raw} to the terminal:\n{stream}"
    return done


def cells(path):
    with open(path, newline="", encoding="utf-8") as handle:
        return [value for row in csv.reader(handle) for value in row]


@pytest.mark.autograder
def test_hostile_ids_reach_no_spreadsheet_and_no_terminal(tmp_path):
    require_sandbox()
    shutil.copy(ROOT / "nbgrader_config.py", tmp_path)
    shutil.copytree(ROOT / "solutions" / ASSIGNMENT, tmp_path / "solutions" / ASSIGNMENT)
    with open(tmp_path / "nbgrader_config.py", "a") as handle:
        handle.write(LIMITS)
    for student in STUDENTS:
        folder = tmp_path / "submitted" / student / ASSIGNMENT
        folder.mkdir(parents=True)
        shutil.copy(ROOT / "lessons" / ASSIGNMENT / f"{NOTEBOOK}.ipynb", folder)
    graded = run([sys.executable, "-m", "autograder", "grade", ASSIGNMENT, "--jobs", "2"], tmp_path)
    assert "eve\\x1b]52;c;" in graded.stdout and "mallory\\x1b[2J" in graded.stdout   # shown, escaped
    files = {"grades.csv": tmp_path / "reports" / "grades.csv"}
    for exporter, name in [(None, "export.csv"), ("autograder.lms.CanvasExportPlugin", "canvas.csv"),
                           ("autograder.lms.MoodleExportPlugin", "moodle.csv")]:
        chosen = [f"--exporter={exporter}"] if exporter else []
        run([sys.executable, "-m", "nbgrader", "export", *chosen, "--to", name], tmp_path)
        files[name] = tmp_path / name
    for name, path in files.items():
        values = cells(path)
        # a lone "-" is Moodle's "no grade", a text to a spreadsheet too
        assert not [v for v in values if v.startswith(FORMULA_START) and v != "-"], (name, values)
        for student in STUDENTS[:4]:
            assert "'" + student in values, (name, student, values)   # every id is there, as text
    header, *rows = list(csv.reader(open(files["export.csv"], newline="", encoding="utf-8")))
    assert len(header) == 11 and all(len(row) == len(header) for row in rows), rows   # the comma stays in its cell
    assert sorted(row[header.index("student_id")] for row in rows) == sorted(map(cell, STUDENTS))

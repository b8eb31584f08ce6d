"""The grader's own memory and CPU under hostile notebooks (issue 22), through the real pipeline.

One ``python -m autograder grade`` run grades lesson a1 attacks beside an honest classmate: a
hundred 12 MB displays sharing one display id, forty 10 MB widgets (one holding the reference's
source), 120 raw 12 MB messages on the kernel's iopub socket, and a legal notebook of 800k empty
objects. The grading processes' peak RSS stays under RSS_MB, each attacker scores 0, the
classmate scores what it scores alone, and no widget state reaches autograded/. Below: the byte
scan, the worker's memory limit and the per-task deadline.
"""

import contextlib
import json
import multiprocessing
import os
import shutil
import threading
import time
from pathlib import Path

import pytest

import attacks
from autograder import course, discover, pipeline
from autograder.course import NOTEBOOK_CONTAINERS, NOTEBOOK_DEPTH, ROOT, too_complex
from autograder.sandbox import Limits
from conftest import require_sandbox
from test_sandbox import copy_honest, grade, rows_of, score

pytestmark = [pytest.mark.autograder, pytest.mark.sandbox]

# a grader process's peak: an honest run's is near 300 MB, these attacks' 597 MB; unbounded, each took 2.2 to 3.5 GB
RSS_MB = 1000
TWELVE_MB = 12 * 2**20
MARKER = "widget-state-marker"

DISPLAYS = f'''
from IPython.display import display
for i in range(100):
    display({{"text/plain": str(i) * {TWELVE_MB}}}, raw=True, display_id="shared")
'''

WIDGETS = f'''
import inspect
import ipywidgets
import cnn_utils.reference as reference
kept = [ipywidgets.Textarea(value="{MARKER[:7]}" "{MARKER[7:]}" + inspect.getsource(reference))]
kept += [ipywidgets.Text(value=str(i % 10) * {10 * 2**20}) for i in range(40)]
for widget in kept:
    display(widget)
'''

RAW_MESSAGES = f'''
kernel = get_ipython().kernel
for i in range(120):
    kernel.session.send(kernel.iopub_socket, "stream", {{"name": "stdout", "text": "x" * {TWELVE_MB}}},
                        parent=kernel.get_parent("shell"))
'''

KERNEL_ATTACKS = {"x_displays": DISPLAYS, "x_widgets": WIDGETS, "x_raw_messages": RAW_MESSAGES}


def empty_objects_notebook():
    """Lesson a1, a legal notebook, with 800k empty objects in its metadata (about 3 MB)."""
    nb = attacks.lesson(*attacks.A1)
    nb.metadata["x"] = [{}] * 800_000
    return json.dumps(nb, separators=(",", ":"))


def _children(pid):
    with open(f"/proc/{pid}/task/{pid}/children") as handle:
        return [int(c) for c in handle.read().split()]


def _watch(top, peaks, stop):
    """Record {pid: peak RSS in MB} (VmHWM) of the grading processes below ``top``, every 0.2 s:
    not the sandboxes (bwrap and below), whose memory is their own limit's business."""
    while not stop.wait(0.2):
        todo = _children(top)
        while todo:
            pid = todo.pop()
            with contextlib.suppress(OSError, ValueError):
                with open(f"/proc/{pid}/status") as handle:
                    status = dict(line.split(":", 1) for line in handle if ":" in line)
                if status["Name"].strip() == "bwrap":
                    continue
                peaks[pid] = max(peaks.get(pid, 0), int(status.get("VmHWM", "0 kB").split()[0]) // 1024)
                todo += _children(pid)


@pytest.fixture(scope="module")
def bounded(tmp_path_factory):
    require_sandbox()
    base = tmp_path_factory.mktemp("bounds")
    base.chmod(0o755)
    submitted, alone, course_dir = base / "submitted", base / "alone", base / "course"
    course_dir.mkdir()
    shutil.copy(ROOT / "nbgrader_config.py", course_dir)
    shutil.copytree(ROOT / "solutions", course_dir / "solutions")
    target = attacks.Target(str(ROOT), str(submitted), str(base / "out"), 9, "canary")
    notebook = Path("a1_conv_forward") / "conv_forward.ipynb"
    for name, code in KERNEL_ATTACKS.items():
        attacks.write(attacks.attack_notebook(code, target), submitted / name / notebook)
    attacks.write(empty_objects_notebook(), submitted / "x_empty_objects" / notebook)
    copy_honest("alice_correct", submitted)
    copy_honest("alice_correct", alone)
    env = dict(os.environ)
    peaks, stop = {}, threading.Event()
    watcher = threading.Thread(target=_watch, args=(os.getpid(), peaks, stop))
    watcher.start()
    try:
        grade(submitted, base / "out", env, course=course_dir)
    finally:
        stop.set()
        watcher.join()
    grade(alone, base / "alone-out", env)
    return {"rows": rows_of(base / "out"), "alone": rows_of(base / "alone-out"), "rss": max(peaks.values()),
            "autograded": course_dir / "autograded"}


def test_the_grading_processes_stay_under_a_bound(bounded):
    assert bounded["rss"] < RSS_MB, f"the grading processes peaked at {bounded['rss']} MB"


@pytest.mark.parametrize("attacker", [*KERNEL_ATTACKS, "x_empty_objects"])
def test_each_attacker_scores_0(bounded, attacker):
    assert score(bounded["rows"], attacker)[0] == 0


def test_the_too_complex_notebook_is_flagged_invalid(bounded):
    assert "invalid-notebook" in score(bounded["rows"], "x_empty_objects")[1]


def test_the_classmate_scores_what_it_scores_alone(bounded):
    assert score(bounded["rows"], "alice_correct") == score(bounded["alone"], "alice_correct")
    assert score(bounded["rows"], "alice_correct")[0] == 6.0


def test_no_widget_state_and_no_reference_in_autograded(bounded):
    notebooks = list(bounded["autograded"].rglob("*.ipynb"))
    assert any("x_widgets" in str(p) for p in notebooks)
    for path in notebooks:
        text = path.read_text()
        assert "application/vnd.jupyter.widget" not in text, path
        assert "widgets" not in json.loads(text)["metadata"], path
        assert MARKER not in text, path
    assert sum(p.stat().st_size for p in notebooks) < 10 * 2**20


# --- units -------------------------------------------------------------------------------------

def test_the_scan_ignores_brackets_in_strings():
    assert too_complex(json.dumps({"source": "[[[{{{" * 100_000 + '\\"]'}).encode()) is None


def test_the_scan_counts_objects_and_nesting():
    assert "objects and arrays" in too_complex(empty_objects_notebook().encode())
    assert "nested" in too_complex(b"[" * (NOTEBOOK_DEPTH + 1) + b"]" * (NOTEBOOK_DEPTH + 1))
    assert too_complex(b"[" * NOTEBOOK_DEPTH + b"]" * NOTEBOOK_DEPTH) is None


def test_every_lesson_and_solution_is_far_below_the_caps():
    for path in [*ROOT.glob("lessons/*/*.ipynb"), *ROOT.glob("solutions/*/*.ipynb")]:
        raw = path.read_bytes()
        assert too_complex(raw) is None
        assert raw.count(b"{") + raw.count(b"[") < NOTEBOOK_CONTAINERS // 100, path
        course.read_notebook(path)


def test_read_notebook_refuses_before_parsing(tmp_path):
    path = tmp_path / "n.ipynb"
    path.write_text(empty_objects_notebook())
    with pytest.raises(ValueError, match="objects and arrays"):
        course.read_notebook(path)
    assert "objects and arrays" in discover.readable(path)


def _allocate(size, queue):
    pipeline.bound_worker(Limits())
    try:
        bytearray(size)
        queue.put("allocated")
    except MemoryError:
        queue.put("MemoryError")


def test_a_worker_cannot_take_more_than_its_memory_limit():
    queue = multiprocessing.get_context("fork").Queue()
    for size, expected in [(3 * 2**30, "MemoryError"), (200 * 2**20, "allocated")]:
        process = multiprocessing.get_context("fork").Process(target=_allocate, args=(size, queue))
        process.start()
        process.join(60)
        assert queue.get(timeout=5) == expected


class _Sleepy:
    """A stand-in Worker: ``slow`` outlives any deadline, everyone else is graded at once."""

    def __init__(self, template, plans, limits, scratch):
        self.limits = limits

    def grade(self, submission):
        if submission.student == "slow":
            time.sleep(60)
        return pipeline.failed(submission, [], ["fast"], None)


def test_a_notebook_past_its_deadline_costs_only_that_notebook(monkeypatch, tmp_path):
    monkeypatch.setattr(pipeline, "Worker", _Sleepy)
    monkeypatch.setattr(pipeline, "deadline", lambda limits: 2)
    found = [discover.Submission(name, "a1", "nb", None, []) for name in ("ann", "slow", "zed")]
    started = time.monotonic()
    results = pipeline.grade_all(found, {"a1": {"nb": []}}, tmp_path, Limits(), tmp_path, jobs=2, progress=False)
    assert time.monotonic() - started < 30
    assert {r.student: r.flags for r in results} == {"ann": ["fast"], "slow": ["grader-crashed"], "zed": ["fast"]}


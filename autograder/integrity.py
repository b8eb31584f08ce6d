"""The re-check outside the student's kernel: a score that student code cannot forge.

Two processes, neither of them the notebook's kernel: ``student_run`` executes
the notebook's code cells (the student's and the lesson's, never the test
cells) with ``cnn_utils.reference`` and ``cnn_utils.grading`` out of reach, and
calls each graded function on the test inputs; this process, where no student code ever runs, replays what came back
(numbers only, read without pickle) through ``cnn_utils.grading.grade`` against
the reference. Monkeypatching numpy, the grading helpers or IPython in the
notebook changes nothing here. The student process has the kernel's limits:
cell_seconds per cell and per graded function, notebook_seconds in all.

Functions graded through a wrapper (assignment 5's sandwich backward and network
class) are not re-checked: their cells keep the notebook's score.
"""

import contextlib
import functools
import io
import json
import pickle
import re
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from autograder import sandbox
from autograder.course import ROOT, nbgrader_meta

STUDENT_RUN = Path(__file__).with_name("student_run.py")
REFERENCE_IMPORT = re.compile(r"cnn_utils\s*\.\s*(reference|grading)"
                              r"|from\s+cnn_utils\s+import\s+[^\n]*\b(reference|grading)\b")
IDENTIFIER = re.compile(r"^[A-Za-z_]\w*$")
STATUS_TEXT = {
    "timeout": "ran out of time in the re-check",
    "interrupted": "raised KeyboardInterrupt",
    "undefined": "was not defined when the notebook's code ran without the instructor's packages",
    "died": "stopped the Python process (a crash, os._exit, or the memory limit)",
}


@dataclass
class Check:
    """The re-checked score of one graded cell."""
    score: float
    feedback: str
    flags: list = field(default_factory=list)


class Replayed(Exception):
    """An exception the student's function raised in the student process."""


def student_lib(folder):
    """A copy of cnn_utils without reference/ and grading/ in ``folder``; returns ``folder``."""
    target = Path(folder) / "cnn_utils"
    if not target.exists():
        shutil.copytree(ROOT / "cnn_utils", target,
                        ignore=shutil.ignore_patterns("reference", "grading", "__pycache__"))
    return str(folder)


def student_sys_path(lib):
    """sys.path for the student process: the copy first, the interpreter's libraries, never the repo."""
    keep = [p for p in sys.path if p and Path(p).resolve() != ROOT and Path(p).exists()]
    return [lib, *keep]


def cells_to_run(notebook):
    """Sources of the code cells of a (repaired) submitted notebook that are no test cell: what the
    kernel ran before and between the tests, the student's code included."""
    return [cell.source for cell in notebook.cells if cell.cell_type == "code" and not
            (nbgrader_meta(cell).get("grade") or nbgrader_meta(cell).get("locked"))]


@functools.lru_cache(maxsize=None)
def _cases(name):
    from cnn_utils.grading import cases, table

    spec = table.lookup(name)
    if spec.wrap is not None:
        return None
    return [case.args for case in cases.make_cases(spec, 0, spec.count)]


def checkable(cell):
    return cell.name is not None and _cases(cell.name) is not None


def decode(description, arrays):
    if "none" in description:
        return None
    if "array" in description:
        return arrays[description["array"]]
    if "seq" in description:
        items = [decode(item, arrays) for item in description["seq"]]
        return items if description.get("list") else tuple(items)
    name = description.get("opaque", "object")
    return type(name if IDENTIFIER.match(name) else "object_", (), {})()


def replay(records, arrays):
    """A stand-in for the student's function that returns (or raises) what it did, call by call."""
    calls = iter(records)

    def student(*args):
        record = next(calls)
        if record["kind"] == "raised":
            kind = record["type"] if IDENTIFIER.match(record["type"]) else "Exception"
            raise type(kind, (Replayed,), {})(record["message"])
        return decode(record["value"], arrays)
    return student


def rescore(cell, result, arrays, timed_out=False):
    """Check of one graded cell from the student process's ``result`` (None: it never wrote one;
    ``timed_out``: the process was killed at its deadline)."""
    from cnn_utils.grading import grade

    status = ("timeout" if timed_out else "died") if result is None else result["status"]
    if status != "done" or len(result["records"]) != len(_cases(cell.name)):
        status = "died" if status == "done" else status
        text = f"{cell.name} {STATUS_TEXT[status]}.\nScore: 0 / {cell.points:g}"
        return Check(0.0, text, ["timeout"] if status == "timeout" else [])
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        score = grade(cell.name, replay(result["records"], arrays), points=cell.points)
    return Check(float(score), printed.getvalue().strip())


def check(submitted, cells, limits, workdir, lib):
    """{grade_id: Check} for the re-checkable cells of a (repaired) submitted notebook, and flags."""
    flags = []
    student_code = cells_to_run(submitted)
    if any(REFERENCE_IMPORT.search(source) for source in student_code):
        flags.append("forbidden-import")
    todo = [cell for cell in cells if checkable(cell)]
    if not todo:
        return {}, flags
    job, out = Path(workdir) / "job", Path(workdir) / "out"
    for folder in (job, out):
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
    (job / "job.json").write_text(json.dumps({
        "sys_path": student_sys_path(lib), "cells": student_code, "seconds": limits.cell_seconds,
        "functions": [{"grade_id": c.grade_id, "function": c.function} for c in todo]}))
    with open(job / "args.pkl", "wb") as handle:
        pickle.dump({c.grade_id: _cases(c.name) for c in todo}, handle)
    _, timed_out = sandbox.run_limited([sys.executable, "-I", "-S", str(STUDENT_RUN), str(job), str(out)],
                                       limits, limits.notebook_seconds, cwd=out, env=sandbox.student_env(limits))
    checks = {}
    for cell in todo:
        result, arrays = _read(out, cell.grade_id)
        checks[cell.grade_id] = rescore(cell, result, arrays, timed_out)
        if result and result.get("attempts") and "forbidden-import" not in flags:
            flags.append("forbidden-import")
    shutil.rmtree(out, ignore_errors=True)
    return checks, flags


def _read(out, grade_id):
    """(result dict, arrays) the student process wrote for ``grade_id``, or (None, {})."""
    try:
        result = json.loads((out / f"{grade_id}.json").read_text())
        with np.load(out / f"{grade_id}.npz", allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
        if not isinstance(result, dict) or not isinstance(result.get("records"), list):
            return None, {}
        return result, arrays
    except (OSError, ValueError, KeyError, TypeError):
        return None, {}

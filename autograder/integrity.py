"""The re-check outside the student's kernel: a score that student code cannot forge.

Processes other than the notebook's kernel: ``student_run`` executes the
notebook's code cells (the student's and the lesson's, never the test cells
nor the lesson's locked visible checks, which the kernel skips too) with
``cnn_utils.grading`` and every reference out of reach, and calls each graded
function on the test inputs; where the graded functions call earlier
assignments' functions in place of the student's pasted copies, the reference
answers from ``oracle_run``, a process in a sandbox of its own that student
code can call but not read; this process, where no student code ever runs,
replays what came back (numbers only, read without pickle) through
``cnn_utils.grading.grade`` against the reference. Monkeypatching numpy, the grading helpers or IPython in the
notebook changes nothing here. The student process has the kernel's limits:
cell_seconds per cell and per graded function, notebook_seconds in all.

Functions graded through a wrapper (assignment 5's sandwich backward and network
class) are called through the same wrapper (``cnn_utils.drivers``) in the student process.
The student process runs in the sandbox (``sandbox.wrap``): it sees no reference, no grading
package, no course, and shares no writable folder with the kernel's run. What it sends back is
a ``frames`` frame: plain, bounded, never unpickled or inflated.
"""

import ast
import contextlib
import functools
import io
import json
import os
import pickle
import re
import shutil
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from autograder import frames, sandbox
from cnn_utils import method
from autograder.course import ROOT, nbgrader_meta
from autograder.metadata import runs_while_grading

HERE = Path(__file__).parent
SCRIPTS = ("student_run.py", "oracle_run.py", "frames.py")   # what the sandboxes see of the grader
JOB_INSIDE = "/opt/autograder"      # where the sandboxes see SCRIPTS and the job
RESULT_BYTES = 64 * 2**20            # most the grader reads from a student process
STATUSES = ("done", "timeout", "interrupted", "undefined", "died")
PRINTED_SHOWN = 2000                 # characters of the student's own printing shown in feedback
REFERENCE_IMPORT = re.compile(r"cnn_utils\s*\.\s*(reference|grading)"
                              r"|from\s+cnn_utils\s+import\s+[^\n]*\b(reference|grading)\b")
IDENTIFIER = re.compile(r"^[A-Za-z_]\w*$")
FUNCTION_NAME = re.compile(r"^<?[A-Za-z_]\w*>?$")   # a function's co_name: f, <lambda>, <listcomp>
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
    """An exception the student's function raised in the student process; ``raised_at`` is the
    [line, function] of the student's code it came from, which the feedback names."""

    raised_at = ()


def _with_imports(modules):
    """``modules`` of cnn_utils.reference (dotted names) and the reference modules they import."""
    found, todo = set(), list(modules)
    while todo:
        module = todo.pop()
        if module not in found:
            found.add(module)
            tree = ast.parse((ROOT / (module.replace(".", "/") + ".py")).read_text())
            todo += [node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
                     and (node.module or "").startswith("cnn_utils.reference.")]
    return found


def copy_library(folder, instructor=False, prior=()):
    """A copy of cnn_utils in ``folder``, without reference/ and grading/ unless ``instructor``
    (the kernel runs the hidden tests, which need both); returns ``folder``. ``prior``: the
    modules of cnn_utils.reference (dotted names) the oracle serves functions of, copied with
    those they import into an otherwise empty reference/ (see ``table.callees``)."""
    target = Path(folder) / "cnn_utils"
    if not target.exists():
        left_out = ("__pycache__",) if instructor else ("reference", "grading", "__pycache__")
        shutil.copytree(ROOT / "cnn_utils", target, ignore=shutil.ignore_patterns(*left_out))
        if prior and not instructor:
            (target / "reference").mkdir()
            (target / "reference" / "__init__.py").write_text(
                '"""The reference functions the re-check\'s oracle serves."""\n')
            for module in sorted(_with_imports(prior)):
                shutil.copy(ROOT / (module.replace(".", "/") + ".py"), target / "reference")
    return str(folder)


def library_for(folder, assignment):
    """The re-check's copies of cnn_utils under ``folder`` (made once): (the student process's,
    holding no reference; the oracle's, holding the modules of the functions ``assignment``'s
    graded functions call as the reference, or None where they call none)."""
    from cnn_utils.grading import table

    modules = set(table.oracle_modules(assignment).values())
    oracle = copy_library(Path(folder) / f"lib-{assignment}", prior=modules) if modules else None
    return copy_library(Path(folder) / "lib-student"), oracle


def student_sys_path(lib):
    """sys.path for the student process: the copy first, the interpreter's libraries, never the repo."""
    keep = [p for p in sys.path if p and Path(p).resolve() != ROOT and Path(p).exists()]
    return [lib, *keep]


def cells_to_run(notebook):
    """Sources of the code cells of a (repaired) submitted notebook that the kernel ran before and
    between the tests (``metadata.runs_while_grading``), the student's code included."""
    return [cell.source for cell in notebook.cells if runs_while_grading(cell)]


def positions(notebook, grade_ids):
    """{grade_id: how many of ``cells_to_run`` come before that graded cell}: the re-check calls a
    graded function where the notebook's own run tests it, before a later cell rebinds a name."""
    found, count = {}, 0
    for cell in notebook.cells:
        if runs_while_grading(cell):
            count += 1
        elif nbgrader_meta(cell).get("grade_id") in grade_ids and cell.cell_type == "code":
            found.setdefault(nbgrader_meta(cell)["grade_id"], count)
    return found


def _method(name):
    """The job's entry that makes the student process measure ``name``'s method, if it is graded."""
    return {"method": True} if name in method.RULES else {}


@functools.cache
def _probes(name):
    from cnn_utils.grading import runner, table

    return runner.probe_args(table.lookup(name), method.RULES[name])


@functools.cache
def _cases(name):
    from cnn_utils.grading import cases, table

    spec = table.lookup(name)
    return [case.args for case in cases.make_cases(spec, 0, spec.count)]


def checkable(cell):
    return cell.name is not None


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
            raise type(kind, (Replayed,), {"raised_at": record.get("where") or ()})(record["message"])
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
        score = grade(cell.name, replay(result["records"], arrays), points=cell.points, wrapped=True,
                      measures=result.get("method"))
    feedback = printed.getvalue().strip()
    own = result.get("printed", "").strip()[:PRINTED_SHOWN]
    if own:
        feedback += f"\n\nYour {cell.function} printed:\n{own}"
    return Check(float(score), feedback)


def check(submitted, assignment, cells, limits, workdir, libs):
    """{grade_id: Check} for the re-checkable cells of a (repaired) submitted notebook of
    ``assignment``, and flags. ``libs``: the copies of cnn_utils from ``library_for``."""
    from cnn_utils.grading import table

    flags = []
    student_code = cells_to_run(submitted)
    if any(REFERENCE_IMPORT.search(source) for source in student_code):
        flags.append("forbidden-import")
    where = positions(submitted, {cell.grade_id for cell in cells})
    todo = sorted((cell for cell in cells if checkable(cell)),
                  key=lambda cell: where.get(cell.grade_id, len(student_code)))
    if not todo:
        return {}, flags
    functions = [{"grade_id": c.grade_id, "function": c.function, "name": c.name, "wrap": _wrap_name(c.name),
                  "forbidden": list(table.lookup(c.name).forbidden), "callees": sorted(table.callees(c.name)),
                  "after": where.get(c.grade_id, len(student_code)), **_method(c.name)} for c in todo]
    job = Path(workdir) / "job"
    arguments = {c.grade_id: _cases(c.name) for c in todo}
    arguments.update({f"{c.grade_id}:method": _probes(c.name) for c in todo if c.name in method.RULES})
    data, timed_out = run(job, student_code, functions, arguments,
                          table.oracle_modules(assignment), libs, limits)
    results = parse(data, {c.grade_id for c in todo})
    checks = {}
    for cell in todo:
        result, arrays = results.get(cell.grade_id, (None, {}))
        checks[cell.grade_id] = rescore(cell, result, arrays, timed_out)
        if result and result["attempts"] and "forbidden-import" not in flags:
            flags.append("forbidden-import")
    return checks, flags


def run(job, cells, functions, arguments, prior, libs, limits):
    """Run ``cells`` and call ``functions`` (job entries: grade_id, function, name, wrap, forbidden,
    callees: the names the oracle answers while it runs, after: how many of ``cells`` run before it
    is called; in that order) on ``arguments`` ({grade_id: [args]}) in the student process, in the
    folder ``job`` (made afresh, deleted after), with the oracle holding ``prior`` ({name: module})
    where there is one.
    ``libs``: from ``library_for``. Returns what the student process wrote and whether it ran
    out of time."""
    student_lib, oracle_lib = libs
    shutil.rmtree(job, ignore_errors=True)
    job.mkdir(parents=True)
    # per graded function, a pipe each way between the student process and the oracle
    pipes = [(os.pipe(), os.pipe()) if oracle_lib else None for _ in functions]
    functions = [dict(f, oracle=[pair[0][1], pair[1][0]] if pair else [])
                 for f, pair in zip(functions, pipes, strict=True)]
    settings = {"cells": cells, "seconds": limits.cell_seconds, "prior": prior, "functions": functions,
                "sys_path": student_sys_path(sandbox.LIB if limits.sandbox else student_lib)}
    if oracle_lib:
        settings["oracle_sys_path"] = student_sys_path(sandbox.LIB if limits.sandbox else oracle_lib)
    (job / "job.json").write_text(json.dumps(settings))
    with open(job / "args.pkl", "wb") as handle:
        pickle.dump(arguments, handle)
    try:
        with _oracle(job, oracle_lib, limits, pipes) as gate:
            return _run(job, student_lib, limits, [fd for f in functions for fd in f["oracle"]],
                        gate and (gate, [f["grade_id"] for f in functions]))
    finally:
        shutil.rmtree(job, ignore_errors=True)


def _argv(script, job, lib, limits, fds):
    """The command that runs one of SCRIPTS on ``job`` with ``fds``, in a sandbox of its own
    with ``lib`` unless the limits say otherwise."""
    if not limits.sandbox:
        return [sys.executable, "-I", "-S", str(HERE / script), str(job), *map(str, fds)]
    binds = [(HERE / name, f"{JOB_INSIDE}/{name}") for name in SCRIPTS] + [(job, f"{JOB_INSIDE}/job")]
    return sandbox.wrap([sys.executable, "-I", "-S", f"{JOB_INSIDE}/{script}", f"{JOB_INSIDE}/job", *map(str, fds)],
                        limits, lib, binds=binds)


@contextlib.contextmanager
def _oracle(job, lib, limits, pipes):
    """oracle_run serving the student process on ``pipes`` while the block runs (nothing where
    ``lib`` is None), which yields the write end of its gate (None without an oracle); killed at
    the end, with what it may have left."""
    if lib is None:
        yield None
        return
    gate_read, gate = os.pipe()
    fds = [gate_read] + [fd for request, answer in pipes for fd in (request[0], answer[1])]
    process = subprocess.Popen(_argv("oracle_run.py", job, lib, limits, fds), cwd=job,
                               env=sandbox.student_env(limits), stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, pass_fds=fds,
                               start_new_session=True,
                               preexec_fn=lambda: sandbox.apply(limits, limits.notebook_seconds))
    for fd in fds:
        os.close(fd)
    try:
        yield gate
    finally:
        os.close(gate)
        sandbox.kill_group(process.pid)
        process.wait()


def _run(job, lib, limits, oracle_fds=(), gate=None):
    """Run student_run on ``job`` (in the sandbox unless the limits say otherwise), with its ends
    of the oracle's pipes; returns the bytes it wrote to its result pipe (at most RESULT_BYTES)
    and whether it ran out of time. ``gate``: (the oracle's gate, the grade ids in order): a
    byte opens the next function's pipes once the frames of every function before it are in."""
    read_end, write_end = os.pipe()
    received = bytearray()
    arrived, parsed, opened = set(), [0], [0]

    def open_gate():
        while (offset := _frame_end(received, parsed[0])) is not None:
            arrived.add(_frame_id(received[parsed[0] + 8:offset]))
            parsed[0] = offset
        fd, order = gate
        while opened[0] + 1 < len(order) and order[opened[0]] in arrived:
            os.write(fd, b".")
            opened[0] += 1

    def drain():
        while chunk := os.read(read_end, 1 << 20):
            if len(received) <= RESULT_BYTES:
                received.extend(chunk[:RESULT_BYTES + 1 - len(received)])
                if gate:
                    open_gate()

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    argv = _argv("student_run.py", job, lib, limits, [write_end])
    try:
        _, timed_out = sandbox.run_limited(argv, limits, limits.notebook_seconds, cwd=job,
                                           env=sandbox.student_env(limits), pass_fds=(write_end, *oracle_fds))
    finally:
        reader.join(timeout=10)
        os.close(read_end)
    return bytes(received), timed_out


def _frame_end(data, offset):
    """Where the frame starting at ``offset`` of ``data`` ends, or None while it is incomplete."""
    if offset + 8 > len(data):
        return None
    end = offset + 8 + int.from_bytes(data[offset:offset + 8], "big")
    return end if end <= len(data) else None


def _frame_id(body):
    """The grade id a frame's body claims (None if it claims none)."""
    try:
        result = json.loads(frames.decode(bytes(body))["result"])
    except (ValueError, KeyError, RecursionError, AttributeError, TypeError):
        return None
    return result.get("grade_id") if isinstance(result, dict) else None


def _wrap_name(name):
    """The name in cnn_utils.drivers of the wrapper that calls a graded object, or None."""
    from cnn_utils.grading import table

    wrap = table.lookup(name).wrap
    return None if wrap is None else wrap.__name__


def parse(data, expected):
    """{grade_id: (result, arrays)} from what the student process wrote: ``frames`` frames, each
    a dict of the arrays and the JSON string ``result`` (see student_run). Anything malformed,
    duplicated, unexpected or beyond RESULT_BYTES is dropped: that function counts as one that
    never answered."""
    results, offset = {}, 0
    if len(data) > RESULT_BYTES:
        return results
    while offset + 8 <= len(data):
        size = int.from_bytes(data[offset:offset + 8], "big")
        body = data[offset + 8:offset + 8 + size]
        offset += 8 + size
        if len(body) != size:
            break
        try:
            arrays = frames.decode(body)
            result = json.loads(arrays.pop("result"))
        except (ValueError, KeyError, RecursionError, AttributeError, TypeError):
            continue
        if not all(isinstance(value, np.ndarray) for value in arrays.values()):
            continue
        grade_id = result.get("grade_id") if isinstance(result, dict) else None
        if isinstance(grade_id, str) and grade_id in expected and grade_id not in results and _valid(result, arrays):
            results[grade_id] = (result, arrays)
    return results


def _valid(result, arrays):
    """True if ``result`` has the shape student_run gives it and names only numeric ``arrays``."""
    def value(item, depth=0):
        if not isinstance(item, dict) or len(item) > 2:
            return False
        if "seq" in item:   # (out, cache) and the cache's items: two levels, as student_run encodes
            items = item["seq"]
            return depth < 2 and isinstance(items, list) and all(value(v, depth + 1) for v in items)
        if "array" in item:
            return item["array"] in arrays and arrays[item["array"]].dtype.kind in "biuf"
        return item.get("none") is True or isinstance(item.get("opaque"), str)

    def record(item):
        if not isinstance(item, dict):
            return False
        if item.get("kind") == "raised":
            return (isinstance(item.get("type"), str) and isinstance(item.get("message"), str)
                    and _valid_where(item.get("where")))
        return item.get("kind") == "returned" and value(item.get("value"))

    return (result.get("status") in STATUSES and isinstance(result.get("records"), list)
            and all(record(item) for item in result["records"])
            and isinstance(result.get("attempts"), list) and all(isinstance(a, str) for a in result["attempts"])
            and isinstance(result.get("printed"), str) and _valid_measures(result.get("method")))


def _valid_where(where):
    """None, or student_run's [line, function name]."""
    return where is None or (isinstance(where, list) and len(where) == 2 and type(where[0]) is int
                             and isinstance(where[1], str) and FUNCTION_NAME.match(where[1]) is not None)


def _valid_measures(measures):
    """None, or student_run's ([(lines, calls, returned)] of two probes, tampered)."""
    if measures is None:
        return True
    return (isinstance(measures, list) and len(measures) == 2 and isinstance(measures[1], bool)
            and isinstance(measures[0], list) and len(measures[0]) == 2
            and all(isinstance(m, list) and len(m) == 3 and all(isinstance(v, int) for v in m[:2])
                    and isinstance(m[2], bool) for m in measures[0]))

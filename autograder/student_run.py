"""The student's side of the integrity check: run the student's code, call the graded functions.

Run as a script by ``integrity`` in a fresh interpreter (``python -I -S``), inside the sandbox,
where the only course files are a copy of cnn_utils without ``reference`` and ``grading`` (an
import hook refuses both and records the attempt). Earlier assignments' functions, which the
graded functions call as the reference, are stand-ins that ask ``oracle_run``, a process in a
sandbox of its own, for each answer: no reference code is ever in this process. It executes the
given cells once, in order, and calls each graded function in a forked child of its own (one cell-time
limit each) at the point of the notebook where its test cell stands (the cells after it have not
run yet), so a function that crashes or hangs costs only its own cell; in the child, the
notebook's names resolve as ``cnn_utils.isolation`` says. Each child leaves one frame
(``frames``: plain, bounded, never unpickled) in the scratch folder, which this process copies
to the result descriptor: the returned arrays and, as the string ``result``, JSON saying what
each call returned or raised and what the function printed. The grader parses it defensively
(``integrity.parse``).
Usage: student_run.py JOB_DIR RESULT_FD (the oracle's pipes are named in the job)
"""

import builtins
import contextlib
import copy
import importlib.abc
import io
import itertools
import json
import os
import pickle
import shutil
import signal
import sys
import tempfile
import time

BLOCKED = ("cnn_utils.reference", "cnn_utils.grading")
STUDENT_FILE = "<student cell>"   # the file name of the student's compiled cells
PRINTED_CHARS = 2000      # what the student's function printed, kept for the feedback
ANSWER_BYTES = 256 * 2**20   # most an answer of oracle_run may be
PROBE_SECONDS = 5            # the method's two small probes; within the margin call_in_child waits
attempts = []


class Refuse(importlib.abc.MetaPathFinder):
    """Refuses the instructor's packages and records that student code asked for them."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname.startswith(BLOCKED):
            attempts.append(fullname)
            raise ImportError(f"{fullname} is not available to student code")
        return None


class Timer(BaseException):
    """The cell-time limit ran out (raised in the student's code, like a kernel interrupt)."""


def _alarm(signum, frame):
    raise Timer()


def oracle_functions(names, request_fd, answer_fd):
    """{name: stand-in} for earlier assignments' reference functions: each call is a request to
    oracle_run on this graded function's own pair of pipes (a child killed mid-call leaves the
    next function's pipes clean)."""
    import frames

    ids = itertools.count()

    def stand_in_for(name):
        def stand_in(*args, **kwargs):
            request = {"id": next(ids), "call": name, "args": args, "kwargs": kwargs}
            try:
                frames.write(request_fd, request)
            except TypeError as exc:
                raise TypeError(f"{name} was called with {exc}") from None
            body = frames.read(answer_fd, ANSWER_BYTES)
            reply = frames.decode(body) if body is not None else None
            if not isinstance(reply, dict) or reply.get("id") != request["id"]:
                raise RuntimeError(f"the course's {name} did not answer")
            if "raised" in reply:
                kind = getattr(builtins, str(reply["raised"]), None)   # the reference raises builtins only
                raise (kind if isinstance(kind, type) and issubclass(kind, Exception) else RuntimeError)(
                    reply.get("message", ""))
            return reply.get("value")
        stand_in.__name__ = name
        return stand_in
    return {name: stand_in_for(name) for name in names}


def encode(value, arrays, depth=0):
    """A JSON description of a returned value; numeric arrays go to ``arrays``. Sequences are
    followed two levels deep: (out, cache) and the arrays in the cache."""
    if value is None:
        return {"none": True}
    if isinstance(value, (tuple, list)) and depth < 2:
        return {"seq": [encode(item, arrays, depth + 1) for item in value], "list": isinstance(value, list)}
    return encode_leaf(value, arrays)


def encode_leaf(value, arrays):
    if value is None:
        return {"none": True}
    try:
        array = __import__("numpy").array(value, copy=True, subok=False)
    except Exception:  # noqa: BLE001 - whatever numpy cannot read is compared as an opaque object
        array = None
    if array is None or array.dtype.kind not in "biuf":
        return {"opaque": type(value).__name__[:40]}
    key = f"a{len(arrays)}"
    arrays[key] = array
    return {"array": key}


def call_all(function, args_list, seconds):
    """Records of calling ``function`` on each argument tuple, the arrays, and the status."""
    records, arrays = [], {}
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        for args in args_list:
            try:
                value = function(*copy.deepcopy(args))
                records.append({"kind": "returned", "value": encode(value, arrays)})
            except Timer:
                raise
            except KeyboardInterrupt:
                return records, arrays, "interrupted"
            except BaseException as exc:  # noqa: BLE001 - SystemExit too: a failed case
                records.append({"kind": "raised", "type": type(exc).__name__[:40], "message": _text(exc),
                                "where": _where(exc)})
    except Timer:
        return records, arrays, "timeout"
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    return records, arrays, "done"


def _where(exc):
    """[line, function] of the innermost frame of the student's cells in the traceback, or None."""
    tb, found = exc.__traceback__, None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == STUDENT_FILE:
            found = [tb.tb_lineno, tb.tb_frame.f_code.co_name[:40]]
        tb = tb.tb_next
    return found


def _text(exc):
    try:
        return " ".join(str(exc).split())[:160]
    except Exception:  # noqa: BLE001
        return ""


def run_cells(cells, namespace, seconds):
    for source in cells:
        signal.setitimer(signal.ITIMER_REAL, seconds)
        try:
            exec(compile(source, STUDENT_FILE, "exec"), namespace)
        except BaseException:  # noqa: BLE001 - a failing cell fails in the kernel too; go on
            pass
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)


def measure_method(item, function, namespace, probes):
    """``method.measure`` of the graded function on its two probes (JSON-ready), or None."""
    from cnn_utils import method

    if "method" not in item or probes is None or not callable(function):
        return None
    rule = method.RULES.get(item["name"])
    if rule is None:
        return None
    counted = method.counted(rule, namespace)
    signal.setitimer(signal.ITIMER_REAL, PROBE_SECONDS)
    try:
        results, tampered = method.measure(function, copy.deepcopy(probes), counted,
                                           extra_library=[os.path.dirname(os.path.abspath(__file__))])
    except Timer:
        return None
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    return [[list(r) for r in results], tampered]


def frame(item, namespace, args_list, seconds, probes=None):
    """The frame of one graded function: its calls, what it returned and printed. While it runs,
    the functions it calls as the reference (``item["callees"]``: earlier assignments' and its
    notebook's, ``table.callees``) answer through oracle_run, and the stand-ins of the loop
    versions it may not call raise; both are bound in the notebook's namespace
    (``cnn_utils.isolation``), after the driver (``wrap``) took the student's own objects."""
    import frames
    from cnn_utils import drivers, isolation

    function = namespace.get(item["function"])
    if callable(function) and item.get("wrap"):
        function = getattr(drivers, item["wrap"])(function)
    printed = io.StringIO()
    # this child grades one function: the bindings need no undoing
    namespace.update(oracle_functions(item["callees"], *item["oracle"]) if item["callees"] else {})
    namespace.update({loop: isolation.forbidden(loop, item["name"]) for loop in item["forbidden"]})
    if callable(function):
        with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(printed):
            records, arrays, status = call_all(function, args_list, seconds)
            measures = measure_method(item, function, namespace, probes) if status == "done" else None
    else:
        records, arrays, status, measures = [], {}, "undefined", None
    result = {"grade_id": item["grade_id"], "status": status, "records": records,
              "attempts": sorted(set(attempts)), "printed": printed.getvalue()[:PRINTED_CHARS]}
    if measures is not None:
        result["method"] = measures
    arrays["result"] = json.dumps(result)
    return frames.encode(arrays)


def call_in_child(item, namespace, args_list, seconds, result_fd, folder, probes=None, others=()):
    """Fork; the child (which keeps no other function's oracle pipes, ``others``) calls the
    function and leaves its frame in a file in ``folder``; this process waits (at most the cell
    time and a margin), then copies a complete frame to ``result_fd``, or a frame saying the
    function died: the grader lets the oracle serve the next function only once this one's frame is in."""
    path = os.path.join(folder, f"frame-{item['grade_id']}")
    pid = os.fork()
    if pid == 0:
        try:
            os.close(result_fd)
            for fd in others:
                with contextlib.suppress(OSError):
                    os.close(fd)
            data = frame(item, namespace, args_list, seconds, probes)
            with open(path + ".part", "wb") as handle:
                handle.write(data)
            os.rename(path + ".part", path)
        finally:
            os._exit(0)
    for fd in item.get("oracle", ()):   # the oracle moves on to the next function's pipes
        os.close(fd)
    deadline = time.monotonic() + seconds + 10
    while os.waitpid(pid, os.WNOHANG) == (0, 0):
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            break
        time.sleep(0.01)
    data = None
    with contextlib.suppress(OSError), open(path, "rb") as handle:
        data = handle.read()
    if not data:
        import frames

        data = frames.encode({"result": json.dumps({"grade_id": item["grade_id"], "status": "died", "records": [],
                                                    "attempts": [], "printed": ""})})
    while data:
        data = data[os.write(result_fd, data):]
    with contextlib.suppress(OSError):
        os.unlink(path)


def main(job_dir, result_fd):
    with open(os.path.join(job_dir, "job.json")) as handle:
        job = json.load(handle)
    sys.path[:] = [os.path.dirname(os.path.abspath(__file__)), *job["sys_path"]]
    sys.meta_path.insert(0, Refuse())
    import numpy as np  # noqa: F401 - before student code: unpickling the arguments needs it

    with open(os.path.join(job_dir, "args.pkl"), "rb") as handle:
        arguments = pickle.load(handle)
    signal.signal(signal.SIGALRM, _alarm)
    sys.stdout = sys.stderr = io.StringIO()  # student prints in the cells go nowhere
    namespace = {"__name__": "__main__"}
    folder = tempfile.mkdtemp(prefix="frames-")
    ran = 0
    for item in job["functions"]:   # each where its test cell stands: later cells have not run yet
        run_cells(job["cells"][ran:item["after"]], namespace, job["seconds"])
        ran = max(ran, item["after"])
        others = [fd for other in job["functions"] if other is not item for fd in other.get("oracle", ())]
        call_in_child(item, namespace, arguments[item["grade_id"]], job["seconds"], result_fd, folder,
                      arguments.get(f"{item['grade_id']}:method"), others)
    shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))

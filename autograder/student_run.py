"""The student's side of the integrity check: run the student's code, call the graded functions.

Run as a script by ``integrity`` in a fresh interpreter (``python -I -S``) under
the sandbox limits, in an empty folder, with a copy of cnn_utils that has no
``reference`` and no ``grading`` package (and an import hook that refuses them
and records the attempt). It executes the given cells, then calls every graded
function on the given arguments, one cell-time limit per function, and writes
per function ``<grade_id>.json`` (what each call returned or raised) and
``<grade_id>.npz`` (the returned arrays, no pickles). Nothing it writes is ever
unpickled by the grader. Usage: student_run.py JOB_DIR OUT_DIR
"""

import copy
import importlib.abc
import io
import json
import os
import pickle
import signal
import sys

BLOCKED = ("cnn_utils.reference", "cnn_utils.grading")
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


def encode(value, arrays):
    """A JSON description of a returned value; numeric arrays go to ``arrays``."""
    if value is None:
        return {"none": True}
    if isinstance(value, (tuple, list)):
        return {"seq": [encode_leaf(item, arrays) for item in value], "list": isinstance(value, list)}
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
    """Records of calling ``function`` on each argument tuple, and the status."""
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
                records.append({"kind": "raised", "type": type(exc).__name__[:40], "message": _text(exc)})
    except Timer:
        return records, arrays, "timeout"
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    return records, arrays, "done"


def _text(exc):
    try:
        return " ".join(str(exc).split())[:160]
    except Exception:  # noqa: BLE001
        return ""


def run_cells(cells, namespace, seconds):
    for source in cells:
        signal.setitimer(signal.ITIMER_REAL, seconds)
        try:
            exec(compile(source, "<student cell>", "exec"), namespace)
        except BaseException:  # noqa: BLE001 - a failing cell fails in the kernel too; go on
            pass
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)


def main(job_dir, out_dir):
    with open(os.path.join(job_dir, "job.json")) as handle:
        job = json.load(handle)
    sys.path[:] = job["sys_path"]
    sys.meta_path.insert(0, Refuse())
    import numpy as np  # noqa: F401 - before student code: unpickling the arguments needs it

    with open(os.path.join(job_dir, "args.pkl"), "rb") as handle:
        arguments = pickle.load(handle)
    signal.signal(signal.SIGALRM, _alarm)
    sys.stdout = sys.stderr = io.StringIO()  # student prints go nowhere (the fds are /dev/null too)
    namespace = {"__name__": "__main__"}
    run_cells(job["cells"], namespace, job["seconds"])
    for item in job["functions"]:
        function = namespace.get(item["function"])
        if callable(function):
            records, arrays, status = call_all(function, arguments[item["grade_id"]], job["seconds"])
        else:
            records, arrays, status = [], {}, "undefined"
        np.savez(os.path.join(out_dir, item["grade_id"] + ".npz"), **arrays)
        with open(os.path.join(out_dir, item["grade_id"] + ".json"), "w") as handle:
            json.dump({"status": status, "records": records, "attempts": sorted(set(attempts))}, handle)
        sys.stdout = sys.stderr = io.StringIO()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])

"""The reference functions a graded function calls, served to the re-check's student process.

While a function is graded, the functions it calls of earlier assignments and of its own notebook
are the reference (``table.callees``). Their code lives in this process, in a sandbox of its
own, never in the student process: there, ``student_run`` binds stand-ins that send each call
here as a frame (``frames``) and return the answer, so student code can call the reference but
cannot read, print or raise its source. Requests are {"id", "call", "args", "kwargs"}; each answer is {"id", "value"} or
{"id", "raised", "message"}. Each graded function has its own pair of pipes, served in turn until
its end or a malformed frame, with that function's callees only (never the function itself).
It serves the next function's pipes only when the grader, through the gate, says the student
process's frame of the function before has arrived: no answer given later can change a frame
already in, and a student process cannot move the oracle on by breaking its own pipes.
Usage: oracle_run.py JOB_DIR GATE_FD REQUEST_FD ANSWER_FD [REQUEST_FD ANSWER_FD ...] (a pair per graded function)
"""

import importlib
import json
import os
import sys

REQUEST_BYTES = 256 * 2**20


def answer(functions, request):
    """The answer to one decoded request."""
    reply = {"id": request.get("id")}
    function = functions.get(request.get("call"))
    try:
        if function is None:
            raise NameError(f"{request.get('call')!r} is not a function this one may call as the course's")
        reply["value"] = function(*request["args"], **request["kwargs"])
    except Exception as exc:  # noqa: BLE001 - the student's arguments may break the reference anyhow
        reply.update(raised=type(exc).__name__, message=" ".join(str(exc).split())[:300])
    return reply


def serve(functions, request_fd, answer_fd):
    """Answer requests on one graded function's pipes until their end or a malformed frame."""
    import frames

    while True:
        try:
            body = frames.read(request_fd, REQUEST_BYTES)
            request = frames.decode(body) if body is not None else None
        except frames.FrameError:
            return
        if not isinstance(request, dict) or not isinstance(request.get("args"), (list, tuple)) \
                or not isinstance(request.get("kwargs"), dict):
            return
        reply = answer(functions, request)
        try:
            frames.write(answer_fd, reply)   # encodes whole before it writes
        except TypeError as exc:
            frames.write(answer_fd, {"id": reply["id"], "raised": "TypeError", "message": str(exc)})


def main(job_dir, gate, fds):
    with open(os.path.join(job_dir, "job.json")) as handle:
        job = json.load(handle)
    sys.path[:] = [os.path.dirname(os.path.abspath(__file__)), *job["oracle_sys_path"]]
    functions = {name: getattr(importlib.import_module(module), name) for name, module in job["prior"].items()}
    served = [item for item in job["functions"] if item["oracle"]]
    for index, (request_fd, answer_fd, item) in enumerate(zip(fds[::2], fds[1::2], served, strict=True)):
        if index and not os.read(gate, 1):   # the grader has the frame before this one, or is done
            return
        try:
            serve({name: functions[name] for name in item["callees"]}, request_fd, answer_fd)
        except OSError:   # the student process closed its end early
            pass
        os.close(request_fd)
        os.close(answer_fd)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), [int(fd) for fd in sys.argv[3:]])

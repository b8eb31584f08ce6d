"""Limits on processes that run student code, and stopping them.

Student code runs in its own session (process group) with an address-space
limit (RLIMIT_AS: allocations beyond it raise MemoryError), a CPU-time limit
(RLIMIT_CPU: a backstop behind the wall-clock deadlines), a file-size limit and
one BLAS thread. A deadline kills the whole process group.
"""

import json
import os
import resource
import signal
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

LIMITS_ENV = "AUTOGRADER_LIMITS"
MARKER_ENV = "AUTOGRADER_KERNEL"   # in the environment of a worker's kernel and all it starts
ONE_THREAD = {name: "1" for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")}
KERNEL_NAME = "autograder-limited"


@dataclass(frozen=True)
class Limits:
    cell_seconds: float = 60          # one notebook cell (nbgrader's Execute.timeout), one graded function
    notebook_seconds: float = 300     # the whole notebook in its kernel
    memory_mb: int = 2048             # address space of each student process
    file_mb: int = 64                 # largest file a student process may write

    def to_env(self):
        return json.dumps(asdict(self))

    @classmethod
    def from_env(cls):
        return cls(**json.loads(os.environ[LIMITS_ENV]))


def apply(limits, cpu_seconds):
    """Set the rlimits of the calling process (inherited by what it execs)."""
    memory = limits.memory_mb * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    cpu = int(cpu_seconds) + 1
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 5))
    size = limits.file_mb * 2**20
    resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def student_env(limits, **extra):
    """The environment of a student process."""
    env = dict(os.environ, **ONE_THREAD, MPLBACKEND="Agg", PYTHONHASHSEED="0", **extra)
    env[LIMITS_ENV] = limits.to_env()
    return env


def kill_group(pid):
    """SIGKILL the process group led by ``pid``; quiet if it is gone."""
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _exited(pid, seconds):
    """Wait up to ``seconds`` for child ``pid`` to exit, without reaping it (its pid, and so its
    process group id, stay reserved until it is reaped); True if it exited."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None:
            return True
        time.sleep(0.02)
    return False


def run_limited(args, limits, seconds, cwd, env):
    """Run ``args`` in a new session under ``limits``; kill its group after ``seconds``.

    Returns (returncode, timed_out).
    """
    process = subprocess.Popen(args, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True, preexec_fn=lambda: apply(limits, seconds))
    timed_out = not _exited(process.pid, seconds)
    kill_group(process.pid)  # at the deadline, or leftovers the student started; then reap
    return process.wait(), timed_out


def install_kernelspec(folder, marker):
    """A kernelspec KERNEL_NAME under ``folder``/kernels that starts ipykernel through launch_kernel,
    with MARKER_ENV=``marker`` in its environment. Returns the folder to put first on JUPYTER_PATH.
    """
    spec = Path(folder) / "kernels" / KERNEL_NAME
    spec.mkdir(parents=True, exist_ok=True)
    launcher = Path(__file__).with_name("launch_kernel.py")
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, str(launcher), "-f", "{connection_file}"],
        "display_name": "Python 3 (autograder limits)", "language": "python",
        "env": {MARKER_ENV: marker}}))
    return str(folder)


class Watchdog:
    """Kills the kernel of a worker once ``seconds`` have passed, and on exit whatever the kernel
    left running. The kernel's processes are found by their environment: the worker's kernelspec
    gives them MARKER_ENV=``marker`` (a pid alone may have been reused by then)."""

    def __init__(self, marker, seconds):
        self.fired = False
        self._marker = f"{MARKER_ENV}={marker}".encode()
        self._timer = threading.Timer(seconds, self._fire)
        self._timer.daemon = True

    def _members(self):
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            try:
                if self._marker in (entry / "environ").read_bytes().split(b"\0"):
                    found.append(int(entry.name))
            except OSError:
                continue
        return found

    def _kill(self):
        members = self._members()
        for pid in members:
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        return bool(members)

    def _fire(self):
        self.fired = self._kill()

    def __enter__(self):
        self._timer.start()
        return self

    def __exit__(self, *exc):
        self._timer.cancel()
        self._kill()
        return False

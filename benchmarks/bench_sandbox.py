"""The cost of the sandbox's kernel-level defences, as ratios in one run: a sandboxed Python
importing numpy and making many system calls, with ``sandbox.wrap``'s command as it is, without
its cgroups (as root on cgroup v1; elsewhere there are none to take out), and without the
cgroups, the seccomp filter and the sized /dev/shm (median of 3 rounds of 5 runs each). The whole
grading command with and without the sandbox is ``bench_autograder.py``'s ratio."""

import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from autograder import cgroups, sandbox  # noqa: E402

WORK = "import numpy, os\nfor _ in range(20000):\n    os.stat('/tmp')\nprint(numpy.ones(3).sum())"


def without_defences(command):
    """``command`` without its cgroups, the seccomp descriptor and the /dev/shm tmpfs."""
    Path(command[3]).unlink()   # the filter's file, which the shell in front of bwrap would delete
    command = command[command.index("bwrap"):]
    command.remove("--seccomp")
    command.remove(str(sandbox.SECCOMP_FD))
    shm = command.index("/dev/shm")
    return command[:shm - 5] + command[shm + 1:]


def seconds(make):
    rounds = []
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(5):
            subprocess.run(make(), check=True, capture_output=True)
        rounds.append((time.perf_counter() - start) / 5)
    return statistics.median(rounds)


if __name__ == "__main__":
    def defended():
        return sandbox.wrap([sys.executable, "-c", WORK], sandbox.Limits(), Path(sandbox.__file__).parent)

    def no_cgroups():
        prepare, cgroups.prepare = cgroups.prepare, lambda limits, shm_mb: []
        try:
            return defended()
        finally:
            cgroups.prepare = prepare

    def plain():
        return without_defences(defended())

    with_them, without_cgroups, without = seconds(defended), seconds(no_cgroups), seconds(plain)
    cgroups.sweep()
    print(f"sandboxed python+numpy+20k stat: {with_them:.3f} s with every defence "
          f"(cgroups: {cgroups.unavailable() or 'yes'}), {without_cgroups:.3f} s without cgroups, "
          f"{without:.3f} s without cgroups, seccomp and /dev/shm tmpfs: ratios "
          f"{with_them / without_cgroups:.3f} (cgroups), {with_them / without:.3f} (all three)")

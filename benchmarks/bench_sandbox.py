"""The cost of the sandbox's seccomp filter and sized /dev/shm, as a ratio in one run: a sandboxed
Python importing numpy and making many system calls, with ``sandbox.wrap``'s command as it is and
with those two parts taken out (median of 3 rounds of 5 runs each)."""

import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from autograder import sandbox  # noqa: E402

WORK = "import numpy, os\nfor _ in range(20000):\n    os.stat('/tmp')\nprint(numpy.ones(3).sum())"


def without_defences(command):
    """``command`` without the seccomp descriptor and without the /dev/shm tmpfs."""
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

    def plain():
        return without_defences(defended())

    with_them, without = seconds(defended), seconds(plain)
    print(f"sandboxed python+numpy+20k stat: {with_them:.3f} s with seccomp and /dev/shm tmpfs, "
          f"{without:.3f} s without: ratio {with_them / without:.3f}")

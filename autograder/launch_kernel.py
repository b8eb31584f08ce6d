"""Start an IPython kernel under the autograder's limits (the argv of its kernelspec).

jupyter_client starts this script in a new session; it sets the rlimits (kept
across exec), silences the kernel's own log lines on descriptors 1 and 2 (cell
output travels over zmq) and becomes ipykernel. Run as a script, not imported.
"""

import os
import sys

if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from autograder import sandbox

    limits = sandbox.Limits.from_env()
    sandbox.apply(limits, limits.notebook_seconds)
    quiet = os.open(os.devnull, os.O_WRONLY)
    os.dup2(quiet, 1)
    os.dup2(quiet, 2)
    os.execv(sys.executable, [sys.executable, "-m", "ipykernel_launcher", *sys.argv[1:]])

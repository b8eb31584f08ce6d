"""Start an IPython kernel in the autograder's sandbox (the argv of its kernelspec).

jupyter_client starts this script, outside the sandbox, in a new session. It sets the rlimits
(kept across exec), silences descriptors 1 and 2 (cell output travels over the kernel's sockets),
hands the connection file and the socket folder to a sandbox uid of its own (not the worker's),
and becomes bwrap running ipykernel inside the sandbox (``sandbox.wrap``). The kernel talks to
nbgrader over Unix sockets (transport ipc) in that folder, the only folder it can write outside
its scratch: it has no network. Run as a script, not imported.
"""

import json
import os
import sys

if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from autograder import sandbox

    limits = sandbox.Limits.from_env()
    kernel = [sys.executable, "-m", "ipykernel_launcher", *sys.argv[1:]]
    if limits.sandbox:
        settings = json.loads(os.environ[sandbox.SANDBOX_ENV])
        connection_file = sys.argv[sys.argv.index("-f") + 1]
        uid = sandbox.sandbox_uid()   # this launcher's own: each kernel has a uid of its own
        if os.geteuid() == 0:
            for path in (settings["runtime"], connection_file):
                os.chown(path, uid, uid)
        kernel = sandbox.wrap(kernel, limits, settings["lib"], writable=[settings["runtime"]], uid=uid)
    sandbox.apply(limits, limits.notebook_seconds)
    quiet = os.open(os.devnull, os.O_WRONLY)
    os.dup2(quiet, 1)
    os.dup2(quiet, 2)
    os.execvp(kernel[0], kernel)

"""Where student code runs: an OS sandbox (bubblewrap) under resource limits, and stopping it.

Every process that runs student code (the notebook's kernel, the re-check's student process and
whatever they start) runs inside ``bwrap``:

- its own mount namespace, whose root is an empty tmpfs holding, read-only, the system (/usr and
  the loader's files), the Python installation and its venv, the folders the caller names
  (the course library, the re-check's job) and the worker's matplotlib font list (copied into
  the sandbox's own matplotlib folder at start: ``prepare_fonts``). The checkout, home folders,
  other submissions, the gradebook and the output folder do not exist there;
- its own PID namespace (bwrap's init is PID 1: when the command ends, everything it started is
  killed, daemons included), network namespace (a loopback of its own, nothing else), IPC and
  UTS namespaces; a cleared environment;
- run as root: a uid no account holds, a new one for every sandbox (``sandbox_uid``), so
  RLIMIT_NPROC counts only that sandbox and no two sandboxes share a uid's keyrings or files;
  no capabilities, no_new_privs;
- a seccomp filter (``seccomp_program``): keyrings, bpf, perf, userfaultfd, module and kexec
  loading, mounts and namespaces, ptrace and the like fail with EPERM; an unknown architecture or
  the x32 ABI kills the process;
- a private writable /tmp (home and working folder) of ``Limits.scratch_mb`` and a /dev/shm of
  ``SHM_MB``, thrown away after; everything else read-only, the root's skeleton included;
- rlimits: address space, CPU time, file size, process count, no core files; and where the
  grader runs as root on cgroup v1, a cgroup of its own (``cgroups``) bounding the sandbox as a
  whole: memory with its tmpfs and kernel memory, processes, an equal share of the CPU.

Why bubblewrap and not unshare(1): one command sets up the namespaces, the mounts, the tmpfs
sizes and kills the sandbox with its parent (--die-with-parent); it is Flatpak's sandbox, packaged
everywhere (Debian's ``bubblewrap``). Run as root (the usual grading host) bwrap uses root's
rights and ``setpriv`` drops to the sandbox uid inside; run by an ordinary user it makes a user
namespace, and the sandbox has that user's uid outside: weaker, but the namespaces still show it
nothing but its read-only mounts.
Where no sandbox can start, ``unavailable()`` says why and grading refuses unless the instructor
passes --unsafe-no-sandbox; then student code runs with the rlimits only.
"""

import functools
import itertools
import json
import os
import resource
import shlex
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from autograder import cgroups

LIMITS_ENV = "AUTOGRADER_LIMITS"
MARKER_ENV = "AUTOGRADER_KERNEL"   # in the environment of a worker's kernel launcher (outside the sandbox)
SANDBOX_ENV = "AUTOGRADER_SANDBOX"  # the kernel's sandbox settings (JSON), read by launch_kernel
FONTS_ENV = "AUTOGRADER_FONTS"     # a worker's folder holding matplotlib's font list (``prepare_fonts``)
ONE_THREAD = {name: "1" for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")}
KERNEL_NAME = "autograder-limited"
SANDBOX_UID_BASE = 1_000_000
LIB = "/opt/autograder/lib"        # where the course library is mounted inside the sandbox
HOME = "/tmp/home"                 # the student's home and working folder inside the sandbox
FONTS = "/opt/autograder/fonts"    # where the sandbox sees the font list, copied to its matplotlib folder
SYSTEM_FILES = ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/localtime", "/etc/fonts",
                "/etc/alternatives")
UNSAFE_FLAG = "unsandboxed"
SHM_MB = 64                        # the sandbox's /dev/shm (a tmpfs of its own)
SECCOMP_FD = 9                     # the descriptor bwrap reads the filter from
# syscalls the sandbox refuses (EPERM), after Docker's default profile; numbers per architecture
AUDIT_ARCH_X86_64, AUDIT_ARCH_AARCH64 = 0xC000003E, 0xC00000B7
DENIED = {
    AUDIT_ARCH_X86_64: (248, 249, 250, 321, 298, 323, 246, 320, 175, 313, 176, 165, 166, 155, 428, 429, 430,
                 431, 432, 433, 442, 272, 308, 167, 168, 169, 163, 101, 310, 311, 212, 179, 103, 172,
                 173, 227, 164, 304, 303),                                   # x86_64
    AUDIT_ARCH_AARCH64: (217, 218, 219, 280, 241, 282, 104, 294, 105, 273, 106, 40, 39, 41, 428, 429, 430,
                 431, 432, 433, 442, 97, 268, 224, 225, 142, 89, 117, 270, 271, 18, 60, 116,
                 112, 170, 265, 264),                                        # aarch64
}
X32_BIT = 0x40000000


@dataclass(frozen=True)
class Limits:
    cell_seconds: float = 60          # one notebook cell (nbgrader's Execute.timeout), one graded function
    notebook_seconds: float = 300     # the whole notebook in its kernel
    memory_mb: int = 2048             # address space of each student process
    file_mb: int = 64                 # largest file a student process may write
    scratch_mb: int = 256             # the sandbox's writable /tmp, all files together
    processes: int = 256              # processes and threads of one sandbox (RLIMIT_NPROC)
    sandbox: bool = True              # False: --unsafe-no-sandbox, rlimits only

    def to_env(self):
        return json.dumps(asdict(self))

    @classmethod
    def from_env(cls):
        return cls(**json.loads(os.environ[LIMITS_ENV]))


def apply(limits, cpu_seconds):
    """Set the rlimits of the calling process (inherited by what it execs).

    RLIMIT_NPROC counts the processes of the real uid: it binds the sandbox uid, not root."""
    memory = limits.memory_mb * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    cpu = int(cpu_seconds) + 1
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 5))
    size = limits.file_mb * 2**20
    resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if limits.sandbox:
        processes = limits.processes if os.geteuid() == 0 else _own_tasks() + limits.processes
        resource.setrlimit(resource.RLIMIT_NPROC, (processes, processes))


def _own_tasks():
    """Threads of this user now (without root, the sandbox shares the user's RLIMIT_NPROC count)."""
    uid, count = os.getuid(), 0
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and entry.stat().st_uid == uid:
                count += len(os.listdir(entry / "task"))
        except OSError:
            continue
    return count


def student_env(limits, **extra):
    """The environment of the grader's side of a student process (the sandbox clears it)."""
    env = dict(os.environ, **ONE_THREAD, MPLBACKEND="Agg", PYTHONHASHSEED="0", **extra)
    env[LIMITS_ENV] = limits.to_env()
    return env


_uids = itertools.count()


def sandbox_uid():
    """A new uid for one sandbox, held by no account: this process's pid (unique among running
    processes, below 2**22) times 512, plus a counter; the 513th sandbox of a process reuses the
    first's uid, long after it ended."""
    return SANDBOX_UID_BASE + (os.getpid() << 9) + next(_uids) % 512


def seccomp_program():
    """The seccomp filter as classic BPF (struct sock_filter, for bwrap --seccomp).

    Written with struct rather than libseccomp: the program is small, fixed and needs no package
    beyond the standard library. Per architecture: refuse DENIED with EPERM, allow the rest; x32
    calls and unknown architectures are killed."""
    def op(code, k, jt=0, jf=0):
        return struct.pack("=HBBI", code, jt, jf, k)

    load, jeq, jge, ret = 0x20, 0x15, 0x35, 0x06
    kill, allow, eperm = 0x80000000, 0x7FFF0000, 0x00050000 | 1
    program = op(load, 4)   # seccomp_data.arch
    for arch, numbers in DENIED.items():
        block = [op(load, 0)]   # seccomp_data.nr
        if arch == AUDIT_ARCH_X86_64:
            block += [op(jge, X32_BIT, 0, 1), op(ret, kill)]
        for number in numbers:
            block += [op(jeq, number, 0, 1), op(ret, eperm)]
        block.append(op(ret, allow))
        program += op(jeq, arch, 0, len(block)) + b"".join(block)
    return program + op(ret, kill)


def _seccomp_file():
    """A new file holding ``seccomp_program``, readable by this user only; the command ``wrap``
    makes opens it for bwrap and deletes it."""
    handle, path = tempfile.mkstemp(prefix="autograder-seccomp-")
    os.write(handle, seccomp_program())
    os.close(handle)
    return path


def prepare_fonts(folder):
    """Make matplotlib's font list in ``folder`` (readable by every sandbox uid); returns ``folder``.
    Each sandbox starts with an empty matplotlib folder, where importing pyplot would build the list
    again (0.12 s, twice a notebook: the kernel and the re-check); ``wrap`` copies it in instead.
    The sandbox sees the fonts at the same paths, so the list holds for it."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o755)
    try:   # without the list, sandboxes are only slower
        subprocess.run([sys.executable, "-c", "import matplotlib.font_manager"], stdin=subprocess.DEVNULL,
                       env=dict(os.environ, MPLCONFIGDIR=str(folder)), capture_output=True, timeout=300)
    except (OSError, subprocess.SubprocessError):
        pass
    for path in folder.iterdir():
        path.chmod(0o644)
    return str(folder)


def _python_roots():
    """The folders Python needs: the installation and the venv (resolved), without duplicates."""
    roots = []
    for prefix in (sys.base_prefix, sys.prefix):
        path = str(Path(prefix).resolve())
        if path not in roots:
            roots.append(path)
    return roots


def _masks(roots):
    """The course's own folders that lie inside a mounted Python folder (a non-editable install of
    cnn_utils or the grader in site-packages): hidden under an empty tmpfs."""
    import cnn_utils

    mine = [Path(cnn_utils.__file__).resolve().parent, Path(__file__).resolve().parents[1]]
    return [str(path) for path in mine if any(path.is_relative_to(root) for root in roots)]


def _system_mounts():
    mounts = ["--ro-bind", "/usr", "/usr"]
    for name in ("/bin", "/sbin", "/lib", "/lib32", "/lib64"):
        if os.path.islink(name):
            mounts += ["--symlink", os.readlink(name), name]
        elif os.path.isdir(name):
            mounts += ["--ro-bind", name, name]
    for name in SYSTEM_FILES:
        if os.path.exists(name):
            mounts += ["--ro-bind", name, name]
    return mounts


def wrap(argv, limits, lib, binds=(), writable=(), uid=None):
    """The bwrap command that runs ``argv`` in a sandbox.

    - lib: a folder holding the ``cnn_utils`` package the student process may import; mounted
      read-only at LIB, which is the student's PYTHONPATH
    - binds: (outside path, inside path) pairs mounted read-only
    - writable: folders mounted read-write at their own paths (the kernel's socket folder)
    - uid: the sandbox uid when run as root (default: this worker's)

    Where the environment names a font list (FONTS_ENV, from ``prepare_fonts``), the sandbox
    starts with a copy of it in its matplotlib folder.
    """
    uid = sandbox_uid() if uid is None else uid
    inside = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "HOME": HOME, "LANG": "C.UTF-8",
              "PYTHONPATH": LIB, "PYTHONDONTWRITEBYTECODE": "1", "PYTHONHASHSEED": "0",
              "MPLBACKEND": "Agg", "MPLCONFIGDIR": f"{HOME}/.matplotlib", "IPYTHONDIR": f"{HOME}/.ipython",
              "XDG_CACHE_HOME": f"{HOME}/.cache", "XDG_CONFIG_HOME": f"{HOME}/.config",
              "JUPYTER_RUNTIME_DIR": f"{HOME}/.runtime", **ONE_THREAD}
    # the first process opens the filter for bwrap, joins the sandbox's cgroups and becomes bwrap
    join = "".join(f"echo $$ > {shlex.quote(procs)} && " for procs in cgroups.prepare(limits, SHM_MB))
    command = ["/bin/sh", "-c", f'exec {SECCOMP_FD}<"$0" && rm -f "$0" && {join}exec "$@"', _seccomp_file(),
               "bwrap", "--seccomp", str(SECCOMP_FD), "--die-with-parent", "--unshare-ipc", "--unshare-pid",
               "--unshare-net", "--unshare-uts", "--unshare-cgroup-try", "--hostname", "sandbox", "--clearenv"]
    for name, value in inside.items():
        command += ["--setenv", name, value]
    command += _system_mounts()
    roots = _python_roots()
    # the private /tmp first: a Python (a checkout's venv) that lies under /tmp is bound on top of it
    mounts = [("--perms", "1777", "--size", str(limits.scratch_mb * 2**20), "--tmpfs", "/tmp")]
    mounts += [("--ro-bind", root, root) for root in roots]
    mounts += [("--tmpfs", folder) for folder in _masks(roots)]
    mounts += [("--proc", "/proc"), ("--dev", "/dev"),
               ("--perms", "1777", "--size", str(SHM_MB * 2**20), "--tmpfs", "/dev/shm"), ("--ro-bind", str(lib), LIB)]
    mounts += [("--ro-bind", str(outside), str(target)) for outside, target in binds]
    mounts += [("--bind", str(folder), str(folder)) for folder in writable]
    fonts = os.environ.get(FONTS_ENV)
    if fonts:
        mounts.append(("--ro-bind-try", fonts, FONTS))   # a folder gone makes it only slower
    made = {"/", "/tmp", "/usr", "/proc", "/dev", "/dev/shm"}
    for mount in mounts:
        for parent in reversed(Path(mount[-1]).parents):  # bwrap would make them 0700
            if str(parent) not in made:
                command += ["--perms", "0755", "--dir", str(parent)]
                made.add(str(parent))
        command += mount
        made.add(mount[-1])
    # the skeleton bwrap made (/, /opt/autograder, ...) read-only: in user mode the student owns it
    command += ["--remount-ro", "/", "--chdir", "/tmp"]
    fonts_in = f"cp -R {FONTS} .matplotlib; " if fonts else ""   # without them, only slower
    start = f'mkdir -p {HOME} && cd {HOME} && {{ {fonts_in}exec "$@"; }}'
    if os.geteuid() == 0:
        command += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID", "--",
                    "setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--no-new-privs",
                    "--", "/bin/sh", "-c", start, "sh"]
    else:
        command += ["--unshare-user", "--uid", "65534", "--gid", "65534", "--",
                    "/bin/sh", "-c", start, "sh"]
    return command + list(argv)


def defences(limits):
    """The names of what confines student code here, for each row of grades.csv."""
    if not limits.sandbox:
        return ["rlimits"]
    uid = "uid-per-sandbox" if os.geteuid() == 0 else "user-namespace"
    return ["bwrap", "seccomp", uid, "cgroup" if cgroups.unavailable() is None else "no-cgroup", "rlimits"]


# prints ok only where keyctl fails with EPERM (the seccomp filter is in force)
KEYCTL_PROBE = ("import ctypes, os; libc = ctypes.CDLL(None, use_errno=True); "
                "nr = {'x86_64': 250, 'aarch64': 219}[os.uname().machine]; "
                "print('ok' if libc.syscall(nr, 0, -3, 0) == -1 and ctypes.get_errno() == 1 else 'no filter')")


@functools.cache
def unavailable():
    """None if a sandbox starts on this machine, else why not (in words an admin can act on)."""
    if shutil.which("bwrap") is None:
        return "bubblewrap (bwrap) is not installed: apt-get install bubblewrap"
    try:
        probe = wrap([sys.executable, "-c", KEYCTL_PROBE], Limits(), Path(__file__).parent)
        result = subprocess.run(probe, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired, struct.error) as exc:
        return f"bwrap could not start with its seccomp filter: {exc}"
    if result.returncode != 0 or result.stdout.strip() != "ok":
        reason = " ".join(result.stderr.split())[:300]
        return (f"bwrap could not start a sandbox ({reason or 'exit ' + str(result.returncode)}): "
                "it needs user, mount, PID and network namespaces and seccomp (in a pod: see deploy/README.md)")
    return None


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


def run_limited(args, limits, seconds, cwd, env, pass_fds=()):
    """Run ``args`` in a new session under ``limits``; kill its group after ``seconds``.

    Returns (returncode, timed_out).
    """
    process = subprocess.Popen(args, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, pass_fds=pass_fds,
                               start_new_session=True, preexec_fn=lambda: apply(limits, seconds))
    for fd in pass_fds:
        os.close(fd)
    timed_out = not _exited(process.pid, seconds)
    kill_group(process.pid)  # at the deadline, or leftovers the student started; then reap
    return process.wait(), timed_out


def install_kernelspec(folder, marker, settings):
    """A kernelspec KERNEL_NAME under ``folder``/kernels that starts ipykernel through launch_kernel,
    with MARKER_ENV=``marker`` and SANDBOX_ENV=``settings`` (JSON: lib, runtime folder) in the
    launcher's environment. Returns the folder to put first on JUPYTER_PATH.
    """
    spec = Path(folder) / "kernels" / KERNEL_NAME
    spec.mkdir(parents=True, exist_ok=True)
    launcher = Path(__file__).with_name("launch_kernel.py")
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, str(launcher), "-f", "{connection_file}"],
        "display_name": "Python 3 (autograder sandbox)", "language": "python",
        "interrupt_mode": "message",   # a signal to bwrap would not reach the kernel inside
        "env": {MARKER_ENV: marker, SANDBOX_ENV: json.dumps(settings)}}))
    return str(folder)


class Watchdog:
    """Kills the kernel of a worker once ``seconds`` have passed, and on exit whatever the kernel
    left running. The kernel's launcher (bwrap, outside the sandbox) is found by its environment:
    the worker's kernelspec gives it MARKER_ENV=``marker`` (a pid alone may have been reused by
    then); killing bwrap kills the sandbox's PID namespace, and so everything in it."""

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

"""A cgroup per sandbox: its memory (tmpfs files and kernel memory such as inodes included), its
processes and an equal share of the CPU, whatever it forks.

rlimits bound each process alone: a sandbox's children each get the full address space, and its
tmpfs and the inodes of a million empty files are nobody's. A cgroup bounds the sandbox as a whole.
``prepare(limits)`` makes a new cgroup in each of the memory, pids and cpu hierarchies (cgroup v1)
under the grader's own cgroup (``.../autograder/<creator pid>-<n>``) and returns the
``cgroup.procs`` files the sandbox's first process writes its pid into before it becomes bwrap
(``sandbox.wrap``); what it starts stays inside. ``sweep()`` removes the empty cgroups whose
creator has ended, and this process's own. Where cgroups cannot be made (not root, cgroup v2 only,
/sys/fs/cgroup read-only in a container) ``unavailable()`` says why: sandboxes then have their
rlimits only, and every row of grades.csv says which defences ran (``sandbox.defences``).
"""

import functools
import itertools
import os
from pathlib import Path

CONTROLLERS = ("memory", "pids", "cpu")
GROUP = "autograder"
CPU_SHARES = 1024    # the kernel's weight of one group (or process) in its parent
_names = itertools.count()


def _hierarchies():
    """{controller: the folder of this process's cgroup in that cgroup v1 hierarchy}."""
    own = {}
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, names, path = line.split(":", 2)
        for name in names.split(","):
            own[name] = path
    found = {}
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split()
        root, mount_point = fields[3], fields[4]
        kind, options = fields[fields.index("-") + 1], fields[-1].split(",")
        for name in CONTROLLERS:
            if kind == "cgroup" and name in options and name in own and name not in found:
                inside = os.path.relpath(own[name], root)
                found[name] = Path(mount_point, "" if inside == "." else inside)
    return found


@functools.cache
def _tops():
    """{controller: the folder holding the sandboxes' cgroups}, or the reason there is none (str)."""
    if os.geteuid() != 0:
        return "the grader does not run as root"
    found = _hierarchies()
    missing = [name for name in CONTROLLERS if name not in found]
    if missing:
        return f"no cgroup v1 hierarchy for {', '.join(missing)} (cgroup v2 alone is not supported yet)"
    tops = {name: folder / GROUP for name, folder in found.items()}
    try:
        for folder in tops.values():
            folder.mkdir(exist_ok=True)
        # the sandboxes together weigh as much as one busy process per core beside them, not one
        (tops["cpu"] / "cpu.shares").write_text(str(CPU_SHARES * (os.cpu_count() or 1)))
    except OSError as error:
        return f"cannot set up {error.filename} ({error.strerror})"
    return tops


def unavailable():
    """None where every sandbox gets a cgroup, else why not."""
    tops = _tops()
    return tops if isinstance(tops, str) else None


def settings(limits, shm_mb):
    """{controller: {file: value}} of one sandbox: its processes' memory, its /tmp and /dev/shm
    together (the files of a tmpfs are memory too), and limits.processes tasks."""
    memory = str((limits.memory_mb + limits.scratch_mb + shm_mb) * 2**20)
    return {"memory": {"memory.limit_in_bytes": memory, "memory.memsw.limit_in_bytes": memory},
            "pids": {"pids.max": str(limits.processes)}, "cpu": {}}


def prepare(limits, shm_mb):
    """The cgroup.procs files of a new cgroup per controller for one sandbox; [] where
    ``unavailable()``. OSError where a limit cannot be set (the sandbox must not start then)."""
    tops = _tops()
    if isinstance(tops, str):
        return []
    name = f"{os.getpid()}-{next(_names)}"
    procs = []
    for controller, values in settings(limits, shm_mb).items():
        folder = tops[controller] / name
        folder.mkdir(exist_ok=True)   # left by an ended process that had this pid: empty, its sandbox gone
        for file, value in values.items():
            if file != "memory.memsw.limit_in_bytes" or (folder / file).exists():   # only where swap is accounted
                (folder / file).write_text(value)
        procs.append(str(folder / "cgroup.procs"))
    return procs


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


def sweep():
    """Remove the sandboxes' cgroups that are empty and were made by this process or by one that
    has ended (a kernel's launcher, which became its sandbox). Returns how many remain."""
    tops = _tops()
    if isinstance(tops, str):
        return 0
    remaining = 0
    for top in tops.values():
        for folder in top.iterdir():
            creator = folder.name.split("-")[0]
            if not folder.is_dir() or not creator.isdigit():
                continue
            if int(creator) == os.getpid() or not _alive(int(creator)):
                try:
                    folder.rmdir()
                    continue
                except OSError:   # a process is still inside
                    pass
            remaining += 1
    return remaining

"""Grade on a Dask cluster: one task per submission notebook, which carries the notebook's bytes.

Workers share no file with the client. ``GraderPlugin`` carries the grading template (release
notebooks, a gradebook without solutions, the config: a few hundred KB) and, on each worker, sets
up that worker's private course (``grade.Worker``, with the sandbox around student code). A task
returns the NotebookResult; the client alone writes the course, the gradebook and the reports.
Workers must run one task at a time (``dask worker --nthreads 1``): a grading course sets its
process's environment and working folder. Each run registers its plugin under a name of its own
and removes it at the end, which deletes the workers' courses; a worker killed outright cannot,
so each new course first deletes those whose owner process is gone (``remove_stale_courses``).

A worker that dies mid-task: the scheduler runs its tasks again on another worker (Dask's own
recovery), so every submission is graded once in the results. A task that kills more workers
than the scheduler's ``distributed.scheduler.allowed-failures`` allows (1 for ``--cluster local``;
an existing scheduler keeps its own, 3 by default) comes back as KilledWorker; it is graded again
alone, and if it kills that worker too it scores 0 with the flag ``grader-crashed``.

The scheduler's port runs code for whoever connects: ``--cluster local`` uses TLS with temporary
certificates; an existing cluster must be reachable by the graders only (deploy/dask/ has a
network policy for Kubernetes and TLS for Slurm).
"""

import contextlib
import dataclasses
import io
import itertools
import logging
import os
import secrets
import shutil
import signal
import stat
import tarfile
import tempfile
import traceback
from pathlib import Path

import dask
from distributed import Client, LocalCluster, WorkerPlugin, as_completed, get_worker
from distributed.scheduler import KilledWorker
from tqdm import tqdm

from autograder import sandbox
from autograder.grade import Worker, failed
from autograder.pipeline import bound_worker, deadline

log = logging.getLogger(__name__)

LOCAL = "local"
WAIT_FOR_WORKERS = 300   # seconds for the first worker to join before giving up


class ClusterError(RuntimeError):
    """A cluster that cannot grade (no worker; a worker without a sandbox or with more than one
    thread): stops the run at the client, in one line."""


class GraderPlugin(WorkerPlugin):
    """A Dask worker plugin: the worker's private grading course, made from the template's bytes.
    ``scratch``: the folder to make it in (default /tmp: the kernels' Unix socket paths must stay
    under 108 characters)."""

    def __init__(self, template, plans, limits, scratch="/tmp"):
        self.archive, self.plans, self.limits, self.root = _archive(template), plans, limits, scratch
        self.name = f"cnn-backprop-grader-{secrets.token_hex(4)}"   # one per run: runs may share workers
        self.scratch, self.unusable = None, None

    def setup(self, worker):
        if worker.state.nthreads != 1:
            self.unusable = (f"Dask worker {worker.address} has {worker.state.nthreads} threads: a grading worker "
                             "runs one notebook at a time (dask worker --nthreads 1)")
        elif self.limits.sandbox and (why := sandbox.unavailable()):
            self.unusable = f"no sandbox on Dask worker {worker.address}: {why}"
        if self.unusable:   # Dask only logs a failed setup; every task on this worker will say why
            raise ClusterError(self.unusable)
        remove_stale_courses(self.root)
        bound_worker(self.limits)
        self.scratch = Path(tempfile.mkdtemp(prefix="ag-", dir=self.root))   # short: socket paths
        _own(self.scratch)
        with tarfile.open(fileobj=io.BytesIO(self.archive)) as archive:
            archive.extractall(self.scratch / "template", filter="data")
        self.grader = Worker(self.scratch / "template", self.plans, self.limits, self.scratch)
        self.numbers = itertools.count()

    def teardown(self, worker):
        if self.scratch is not None:
            shutil.rmtree(self.scratch, ignore_errors=True)

    def grade(self, submission, content):
        """The NotebookResult of ``submission``, whose notebook is ``content`` (None: nothing to grade)."""
        if self.unusable:
            raise ClusterError(self.unusable)
        if content is None:
            path = None
        else:
            path = self.scratch / "in" / f"{next(self.numbers)}.ipynb"
            path.parent.mkdir(exist_ok=True)
            path.write_bytes(content)
        signal.alarm(deadline(self.limits))   # no handler: SIGALRM ends the worker (its nanny starts another)
        try:
            return self.grader.grade(submission if path is None else dataclasses.replace(submission, path=path))
        finally:
            signal.alarm(0)
            if path is not None:
                path.unlink()


OWNER = "owner"   # in a worker's course folder: the worker process's pid and start time


def _identity(pid):
    """``pid`` and the process's start time in clock ticks after boot (/proc/PID/stat field 22),
    which together name one process: a pid alone is reused, and a start time in wall-clock seconds
    moves when the clock is set. FileNotFoundError when the process is gone."""
    with open(f"/proc/{pid}/stat") as handle:
        after_name = handle.read().rsplit(")", 1)[1].split()
    return f"{pid} {after_name[19]}"


def remove_stale_courses(root):
    """Delete the courses in ``root`` of this user's worker processes that are gone (a worker
    killed mid-run never tears its course down). Workers sharing ``root`` must share a PID
    namespace (one node, or one pod). Folders of other users, links and owner files that are not
    small regular files are left alone: on a shared /tmp anyone can plant them."""
    for folder in Path(root).glob("ag-*"):
        try:
            if folder.is_symlink() or folder.lstat().st_uid != os.geteuid():
                continue
            descriptor = os.open(folder / OWNER, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
            try:
                if not stat.S_ISREG(os.fstat(descriptor).st_mode):
                    continue
                recorded = os.read(descriptor, 64).decode()
            finally:
                os.close(descriptor)
            pid = int(recorded.split()[0])
        except (OSError, ValueError, IndexError):   # no owner file: not a worker's course
            continue
        try:
            gone = _identity(pid) != recorded
        except FileNotFoundError:
            gone = True
        if gone:
            shutil.rmtree(folder, ignore_errors=True)


def _own(folder):
    """Record this process as the owner of ``folder`` (written whole, then renamed into place)."""
    part = folder / f"{OWNER}.part"
    part.write_text(_identity(os.getpid()))
    part.rename(folder / OWNER)


def _archive(folder):
    """The bytes of a gzipped tar of ``folder``'s contents."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        archive.add(folder, arcname=".")
    return buffer.getvalue()


def _grade_task(plugin, submission, content):
    return get_worker().plugins[plugin].grade(submission, content)


def connect(scheduler, jobs):
    """(Client, cluster or None): the scheduler at ``scheduler``, or a new local cluster of ``jobs``
    single-threaded worker processes on 127.0.0.1 with TLS (``scheduler`` == LOCAL). OSError or
    TimeoutError when the scheduler cannot be reached."""
    if scheduler != LOCAL:
        return Client(scheduler, timeout="30s"), None
    with dask.config.set({"distributed.scheduler.allowed-failures": 1}):
        # memory_limit=0: the sandbox limits each kernel; the nanny would count only the worker
        cluster = LocalCluster(n_workers=jobs, threads_per_worker=1, processes=True, host="127.0.0.1",
                               dashboard_address=None, memory_limit=0, security=True)
    return Client(cluster), cluster


def grade_all(found, plans, template, limits, client, scratch="/tmp", progress=True):
    """NotebookResults of the Submissions ``found``, sorted, graded by the workers of ``client``
    (from ``connect``). ``scratch``: where workers make their courses. At most twice as many
    notebooks as workers are in the cluster at a time. ClusterError when the cluster cannot grade."""
    try:
        client.wait_for_workers(1, timeout=WAIT_FOR_WORKERS)
    except TimeoutError:
        raise ClusterError(f"no Dask worker joined the scheduler in {WAIT_FOR_WORKERS} s") from None
    plugin = GraderPlugin(template, plans, limits, scratch)
    client.register_plugin(plugin, name=plugin.name)
    bar = tqdm(total=len(found), unit="nb", disable=None if progress else True, dynamic_ncols=True)
    results, crashed = [], []

    def submit(sub):
        # the submission secret stays here: workers get only what grading needs
        return client.submit(_grade_task, plugin.name, dataclasses.replace(sub, files={}), _content(sub),
                             pure=False)

    def settle(sub, future):
        try:
            result = future.result()
        except ClusterError:
            raise
        except KilledWorker:
            return None
        except Exception:  # noqa: BLE001 - one submission's failure never stops the batch
            detail = traceback.format_exc()
            log.error("%s/%s/%s could not be graded on the cluster:\n%s", sub.student, sub.assignment,
                      sub.notebook, detail)
            result = failed(sub, plans[sub.assignment][sub.notebook], [*sub.flags, "grader-error"], template)
            result.log = detail
        result.files = sub.files
        results.append(result)
        bar.update()
        log.debug("graded %s/%s/%s: %s", sub.student, sub.assignment, sub.notebook,
                  ";".join(result.flags) or "no flags")
        return result

    todo, running, subs = list(found), as_completed(), {}

    def top_up():   # twice as many notebooks as workers (which may come and go) in the cluster
        while todo and len(subs) < 2 * max(1, len(client.nthreads())):
            sub = todo.pop(0)
            future = submit(sub)
            subs[future] = sub
            running.add(future)

    try:
        top_up()
        for future in running:
            sub = subs.pop(future)
            if settle(sub, future) is None:
                crashed.append(sub)
            top_up()
        for sub in crashed:   # alone now, so that a death names its cause
            if settle(sub, submit(sub)) is None:
                result = failed(sub, plans[sub.assignment][sub.notebook], [*sub.flags, "grader-crashed"], template)
                results.append(result)
                bar.update()
    finally:
        bar.close()
        with contextlib.suppress(OSError, TimeoutError):   # a cluster that is gone took the courses along
            client.unregister_worker_plugin(plugin.name)   # the workers delete their courses
    return sorted(results, key=lambda r: (r.student, r.assignment, r.notebook))


def _content(submission):
    return None if submission.path is None else Path(submission.path).read_bytes()

"""Grade on a Dask cluster: one task per submission notebook, which carries the notebook's bytes.

Workers share no file with the client. ``GraderPlugin`` carries the grading template (release
notebooks, a gradebook without solutions, the config: a few hundred KB) and, when a worker
starts, sets up that worker's private course (``grade.Worker``, with the sandbox around student
code). A task returns the NotebookResult; the client alone writes the course, the gradebook and
the reports. Workers must run one task at a time (``dask worker --nthreads 1``): a grading course
sets its process's environment.

A worker that dies mid-task: the scheduler runs its tasks again on another worker (Dask's own
recovery), so every submission is graded once in the results. A task that kills more workers than
the scheduler's ``distributed.scheduler.allowed-failures`` (set to 1 for ``--cluster local``;
an existing scheduler keeps its own, 3 by default) comes back as KilledWorker: the submission
scores 0 with the flag ``grader-crashed``.
"""

import dataclasses
import io
import itertools
import logging
import shutil
import tarfile
import tempfile
from pathlib import Path

from distributed import Client, LocalCluster, WorkerPlugin, as_completed, get_worker
from distributed.scheduler import KilledWorker
from tqdm import tqdm

from autograder import sandbox
from autograder.grade import Worker, failed

log = logging.getLogger(__name__)

PLUGIN = "cnn-backprop-grader"
LOCAL = "local"


class WorkerSetupError(RuntimeError):
    """A worker that cannot grade (no sandbox, more than one thread): raised at the client."""


class GraderPlugin(WorkerPlugin):
    """A Dask worker plugin: the worker's private grading course, made from the template's bytes."""

    name = PLUGIN

    def __init__(self, template, plans, limits):
        self.archive, self.plans, self.limits = _archive(template), plans, limits

    def setup(self, worker):
        if worker.state.nthreads != 1:
            raise WorkerSetupError(f"Dask worker {worker.address} has {worker.state.nthreads} threads: a grading "
                                   "worker runs one notebook at a time (dask worker --nthreads 1)")
        if self.limits.sandbox and (why := sandbox.unavailable()):
            raise WorkerSetupError(f"no sandbox on Dask worker {worker.address}: {why}")
        # in /tmp, not $TMPDIR: the kernels' Unix socket paths must stay under 108 characters
        self.scratch = Path(tempfile.mkdtemp(prefix="ag-", dir="/tmp"))
        with tarfile.open(fileobj=io.BytesIO(self.archive)) as archive:
            archive.extractall(self.scratch / "template", filter="data")
        self.grader = Worker(self.scratch / "template", self.plans, self.limits, self.scratch)
        self.numbers = itertools.count()

    def teardown(self, worker):
        shutil.rmtree(self.scratch, ignore_errors=True)

    def grade(self, submission, content):
        """The NotebookResult of ``submission``, whose notebook is ``content`` (None: nothing to grade)."""
        if content is None:
            return self.grader.grade(submission)
        path = self.scratch / "in" / f"{next(self.numbers)}.ipynb"
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(content)
        try:
            return self.grader.grade(dataclasses.replace(submission, path=path))
        finally:
            path.unlink()


def _archive(folder):
    """The bytes of a gzipped tar of ``folder``'s contents."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        archive.add(folder, arcname=".")
    return buffer.getvalue()


def _grade_task(submission, content):
    return get_worker().plugins[PLUGIN].grade(submission, content)


def _client(scheduler, jobs):
    """A Client of the scheduler at ``scheduler``, or of a new local cluster of ``jobs``
    single-threaded worker processes on 127.0.0.1 (``scheduler`` == LOCAL)."""
    import dask

    if scheduler != LOCAL:
        return Client(scheduler, timeout="30s"), None
    with dask.config.set({"distributed.scheduler.allowed-failures": 1}):
        # memory_limit=0: the sandbox limits each kernel; the nanny would count only the worker
        cluster = LocalCluster(n_workers=jobs, threads_per_worker=1, processes=True, host="127.0.0.1",
                               dashboard_address=None, memory_limit=0)
    return Client(cluster), cluster


def grade_all(found, plans, template, limits, scheduler, jobs=1, progress=True):
    """NotebookResults of the Submissions ``found``, sorted, graded on the Dask cluster at
    ``scheduler`` (an address, or LOCAL: a local cluster of ``jobs`` workers)."""
    client, cluster = _client(scheduler, jobs)
    try:
        client.register_plugin(GraderPlugin(template, plans, limits), name=PLUGIN)
        futures = {client.submit(_grade_task, sub, _content(sub), pure=False): sub for sub in found}
        bar = tqdm(total=len(found), unit="nb", disable=None if progress else True, dynamic_ncols=True)
        results = []
        for future in as_completed(futures):
            sub = futures[future]
            try:
                result = future.result()
            except KilledWorker:
                result = failed(sub, plans[sub.assignment][sub.notebook], [*sub.flags, "grader-crashed"], template)
            results.append(result)
            bar.update()
            log.debug("graded %s/%s/%s: %s", sub.student, sub.assignment, sub.notebook,
                      ";".join(result.flags) or "no flags")
        bar.close()
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    return sorted(results, key=lambda r: (r.student, r.assignment, r.notebook))


def _content(submission):
    return None if submission.path is None else Path(submission.path).read_bytes()

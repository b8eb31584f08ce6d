"""Grade many submissions with N worker processes; the parent is the only writer of results.

Each worker process (here and on Dask, ``bound_worker``) may hold at most WORKER_MB of data
(RLIMIT_DATA, never less than a student process's own limit, which its children inherit; an
honest worker peaks near 300 MB), and each notebook has TASK_SECONDS beyond its time limits
(``deadline``): past that, SIGALRM kills the worker, so a notebook that blows up its grader costs
that notebook (``grader-crashed`` after the retry), never the batch.
"""

import logging
import multiprocessing
import resource
import signal
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool

from tqdm import tqdm

from autograder import course, discover
from autograder.grade import Worker, failed

log = logging.getLogger(__name__)

_worker = None
WORKER_MB = 1536
TASK_SECONDS = 120


def bound_worker(limits):
    """Limit this grading process's data to WORKER_MB (or the student processes' memory_mb)."""
    size, hard = max(WORKER_MB, limits.memory_mb) * 2**20, resource.getrlimit(resource.RLIMIT_DATA)[1]
    resource.setrlimit(resource.RLIMIT_DATA, (size if hard == resource.RLIM_INFINITY else min(size, hard), hard))


def deadline(limits):
    """Seconds one notebook may hold its worker: its kernel's time, the re-check's, and TASK_SECONDS."""
    return int(2 * limits.notebook_seconds + TASK_SECONDS)


def _start(template, plans, limits, scratch):
    global _worker
    bound_worker(limits)
    _worker = Worker(template, plans, limits, scratch)


def _grade(submission):
    signal.alarm(deadline(_worker.limits))   # no handler: SIGALRM ends the worker
    try:
        return _worker.grade(submission)
    finally:
        signal.alarm(0)


def plan(names, source):
    """{assignment: {notebook: [GradedCell]}} for the assignment ``names`` of the course's ``source`` folder."""
    return {name: course.notebooks(name, source) for name in names}


def submissions(plans, submitted, students=None):
    """The Submissions under ``submitted`` of the assignments planned in ``plans`` (from ``plan``),
    of ``students`` only when given."""
    return discover.find(submitted, {name: list(notebooks) for name, notebooks in plans.items()}, students)


def grade_all(found, plans, template, limits, scratch, jobs=1, progress=True):
    """NotebookResults of the Submissions ``found``, sorted. ``plans``: from ``plan``;
    ``template``: from course.make_template; ``scratch``: a folder for the workers' courses,
    which the caller deletes.

    At most ``jobs`` submissions are in the workers at a time. If a worker process dies, the pool
    is replaced, the submissions that were in it are graded again one at a time, and one that
    kills its worker again scores 0 with the flag ``grader-crashed``. The progress bar (tqdm, with
    rate and time left) is drawn on a terminal only; each notebook is logged at debug level."""
    bar = tqdm(total=len(found), unit="nb", disable=None if progress else True, dynamic_ncols=True)
    results = []

    def done(result):
        results.append(result)
        bar.update()
        log.debug("graded %s/%s/%s: %s", result.student, result.assignment, result.notebook,
                  ";".join(result.flags) or "no flags")

    start = (template, plans, limits, scratch)
    todo = list(found)
    while todo:
        for submission in _run_pool(todo, jobs, start, done):   # alone, so a death names its cause
            if _run_pool([submission], 1, start, done):
                done(failed(submission, plans[submission.assignment][submission.notebook],
                            [*submission.flags, "grader-crashed"], template))
    bar.close()
    return sorted(results, key=lambda r: (r.student, r.assignment, r.notebook))


def _run_pool(todo, jobs, start, done):
    """Grade ``todo`` (consumed from the front) with ``jobs`` workers, calling ``done`` with each
    result; stops when a worker dies and returns the submissions that were in the pool then."""
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(jobs, mp_context=context, initializer=_start, initargs=start) as pool:
        running = {}
        while todo or running:
            while todo and len(running) < jobs:
                submission = todo.pop(0)
                running[pool.submit(_grade, submission)] = submission
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                submission = running.pop(future)
                try:
                    done(future.result())
                except BrokenProcessPool:
                    return [submission, *running.values()]
    return []

"""Grade many submissions with N worker processes; the parent is the only writer of results."""

import logging
import multiprocessing
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool

from tqdm import tqdm

from autograder import course, discover
from autograder.grade import Worker, failed

log = logging.getLogger(__name__)

_worker = None


def _start(template, plans, limits, scratch):
    global _worker
    _worker = Worker(template, plans, limits, scratch)


def _grade(submission):
    return _worker.grade(submission)


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

"""Grade many submissions with N worker processes; the parent is the only writer of results."""

import multiprocessing
import sys
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool

from autograder import course, discover
from autograder.grade import CellResult, NotebookResult, Worker

_worker = None


def _start(template, plans, limits, scratch):
    global _worker
    _worker = Worker(template, plans, limits, scratch)


def _grade(submission):
    return _worker.grade(submission)


class Progress:
    """A one-line text progress bar on stderr."""

    def __init__(self, total, stream=sys.stderr):
        self.total, self.done, self.stream, self.start = total, 0, stream, time.monotonic()

    def step(self, label):
        self.done += 1
        width = 30
        filled = width * self.done // max(self.total, 1)
        elapsed = time.monotonic() - self.start
        self.stream.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {self.done}/{self.total} "
                          f"{elapsed:5.0f}s {label[:40]:<40}")
        if self.done == self.total:
            self.stream.write("\n")
        self.stream.flush()


def plan(names):
    """{assignment: {notebook: [GradedCell]}} for the assignment ``names``."""
    return {name: course.notebooks(name) for name in names}


def submissions(plans, submitted):
    """The Submissions under ``submitted`` of the assignments planned in ``plans`` (from ``plan``)."""
    return discover.find(submitted, {name: list(notebooks) for name, notebooks in plans.items()})


def grade_all(found, plans, template, limits, scratch, jobs=1, progress=True):
    """NotebookResults of the Submissions ``found``, sorted. ``plans``: from ``plan``;
    ``template``: from course.make_template; ``scratch``: a folder for the workers' courses,
    which the caller deletes.

    At most ``jobs`` submissions are in the workers at a time. If a worker process dies, the pool
    is replaced, the submissions that were in it are graded again one at a time, and one that
    kills its worker again scores 0 with the flag ``grader-crashed``."""
    bar = Progress(len(found)) if progress else None
    results = []

    def done(result):
        results.append(result)
        if bar:
            bar.step(f"{result.student}/{result.assignment}")

    start = (template, plans, limits, scratch)
    todo = list(found)
    while todo:
        for submission in _run_pool(todo, jobs, start, done):   # alone, so a death names its cause
            if _run_pool([submission], 1, start, done):
                done(_crashed(submission, plans))
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


def _crashed(submission, plans):
    cells = plans[submission.assignment][submission.notebook]
    flags = sorted({*submission.flags, "grader-crashed"})
    return NotebookResult(submission.student, submission.assignment, submission.notebook,
                          [CellResult(c.grade_id, 0.0, c.points, flags) for c in cells], flags)

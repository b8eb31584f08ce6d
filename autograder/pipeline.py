"""Grade many submissions with N worker processes; the parent is the only writer of results."""

import multiprocessing
import sys
import time

from autograder import course, discover
from autograder.grade import Worker

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
    which the caller deletes."""
    bar = Progress(len(found)) if progress else None
    results = []
    context = multiprocessing.get_context("fork")
    with context.Pool(jobs, initializer=_start, initargs=(template, plans, limits, scratch)) as pool:
        for result in pool.imap_unordered(_grade, found):
            results.append(result)
            if bar:
                bar.step(f"{result.student}/{result.assignment}")
        pool.close()
        pool.join()
    return sorted(results, key=lambda r: (r.student, r.assignment, r.notebook))

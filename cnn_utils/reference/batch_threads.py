"""Run a layer on parts of its batch in parallel threads, BLAS single-threaded meanwhile.

numpy's copies and adds run on one core, and a product of a few samples is too
small to keep two BLAS threads busy. Giving each thread its own part of the batch
and a single-threaded BLAS keeps every core busy through the whole layer: on two
cores, forward + backward of S2 in benchmarks/bench_layers.py took 30 ms in float32
with BLAS threading the products and 23.6 ms split in two (S3: 137 ms and 110 ms).

There are as many parts as BLAS had threads on first use (OPENBLAS_NUM_THREADS,
OMP_NUM_THREADS and the like decide it), and BLAS gets its threads back when the
last call running in parallel returns; meanwhile other numpy products of the process
run single-threaded too. Setting BLAS threads needs threadpoolctl (the `fast` extra):
without it every call is one part and BLAS threads its products as before.
"""

import os
import threading
from concurrent.futures import ThreadPoolExecutor, wait

try:
    from threadpoolctl import ThreadpoolController
except ImportError:  # the `fast` extra is not installed
    ThreadpoolController = None


class _Workers:
    """The helper threads of this process and the BLAS limit while they run."""

    def __init__(self):
        self.blas = ThreadpoolController().select(user_api="blas")
        self.count = max([lib.num_threads for lib in self.blas.lib_controllers], default=1)
        self.helpers = ThreadPoolExecutor(self.count - 1, "cnn_utils") if self.count > 1 else None
        self.lock = threading.Lock()
        self.running = 0  # calls in parallel now: the first limits BLAS, the last restores it
        self.limiter = None

    def enter(self):
        with self.lock:
            if self.running == 0:
                self.limiter = self.blas.limit(limits=1)
            self.running += 1

    def leave(self):
        with self.lock:
            self.running -= 1
            if self.running == 0:
                self.limiter.restore_original_limits()


_workers = None
_workers_lock = threading.Lock()


def _forget_workers():
    """A forked child has none of its parent's threads: it makes its own on first use."""
    global _workers, _workers_lock
    _workers, _workers_lock = None, threading.Lock()


os.register_at_fork(after_in_child=_forget_workers)


def workers():
    """This process's _Workers, made on first use; None without threadpoolctl."""
    global _workers
    if ThreadpoolController is None:
        return None
    with _workers_lock:
        if _workers is None:
            _workers = _Workers()
    return _workers


def parts(n, count):
    """range(n) cut into min(count, n) contiguous slices whose sizes differ by at most 1."""
    count = max(1, min(count, n))
    bounds = [n * k // count for k in range(count + 1)]
    return [slice(start, stop) for start, stop in zip(bounds, bounds[1:], strict=False)]


def map_parts(task, n):
    """[task(part) for part in parts(n, threads)]: one part per thread, in parallel.

    task(part) works on samples part of the batch; the calling thread runs the first
    part. Results come back in order; an exception in any part is raised here, after
    every part has finished.
    """
    pool = workers()
    batch = parts(n, pool.count if pool else 1)
    if len(batch) == 1:
        return [task(batch[0])]
    pool.enter()
    try:
        others = [pool.helpers.submit(task, part) for part in batch[1:]]
        try:
            first = task(batch[0])
        finally:
            wait(others)
        return [first] + [future.result() for future in others]
    finally:
        pool.leave()

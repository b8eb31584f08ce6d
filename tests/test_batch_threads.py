"""The batch split of the fast layers: parts, threads, the BLAS limit and its restoration,
errors, concurrent callers, the fallback without threadpoolctl, and forked children."""

import multiprocessing
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from threadpoolctl import ThreadpoolController, threadpool_limits

from cnn_utils.gradcheck import norm_rel_error
from cnn_utils.reference import batch_threads, conv_forward_fast, conv_forward_naive


def blas_threads():
    return [lib.num_threads for lib in ThreadpoolController().select(user_api="blas").lib_controllers]


@pytest.fixture
def two_workers(monkeypatch):
    """Fresh workers made while BLAS has 2 threads, whatever this machine's default."""
    monkeypatch.setattr(batch_threads, "_workers", None)
    with threadpool_limits(limits=2, user_api="blas"):
        assert batch_threads.workers().count == 2
        yield batch_threads.workers()


@pytest.mark.parametrize("n, count, sizes", [(7, 2, [3, 4]), (5, 3, [1, 2, 2]), (2, 4, [1, 1]),
                                             (1, 2, [1]), (6, 1, [6])])
def test_parts_cover_the_batch_in_order(n, count, sizes):
    parts = batch_threads.parts(n, count)
    assert [p.stop - p.start for p in parts] == sizes
    assert parts[0].start == 0 and parts[-1].stop == n
    assert all(a.stop == b.start for a, b in zip(parts, parts[1:], strict=False))


def test_parts_run_in_two_threads_with_blas_single_threaded(two_workers):
    seen = []

    def task(part):
        seen.append((threading.get_ident(), tuple(blas_threads())))
        return part

    assert batch_threads.map_parts(task, 9) == [slice(0, 4), slice(4, 9)]
    assert len({ident for ident, _ in seen}) == 2
    assert all(set(threads) == {1} for _, threads in seen), seen
    assert set(blas_threads()) == {2}


def test_an_error_in_a_part_is_raised_after_every_part_and_blas_is_restored(two_workers):
    finished = []

    def task(part):
        if part.start > 0:
            raise ValueError(f"part {part.start} failed")
        finished.append(part)

    with pytest.raises(ValueError, match="part 3 failed"):
        batch_threads.map_parts(task, 6)
    assert finished == [slice(0, 3)]
    assert set(blas_threads()) == {2}


def test_concurrent_callers_leave_blas_as_they_found_it(two_workers):
    """The first call to start limits BLAS and only the last to finish restores it."""
    x = np.random.default_rng(0).standard_normal((6, 3, 9, 9))
    w = np.random.default_rng(1).standard_normal((4, 3, 3, 3))
    expected = conv_forward_naive(x, w, np.zeros(4), {"stride": 1, "pad": 1})[0]

    def call(_):
        out = conv_forward_fast(x, w, np.zeros(4), {"stride": 1, "pad": 1})[0]
        return norm_rel_error(out, expected)

    with ThreadPoolExecutor(4) as callers:
        errors = list(callers.map(call, range(40)))
    assert max(errors) < 1e-12
    assert two_workers.running == 0
    assert set(blas_threads()) == {2}


def test_without_threadpoolctl_a_call_is_one_part(monkeypatch):
    monkeypatch.setattr(batch_threads, "ThreadpoolController", None)
    monkeypatch.setattr(batch_threads, "_workers", None)
    idents = []

    def task(part):
        idents.append(threading.get_ident())
        return part

    assert batch_threads.map_parts(task, 8) == [slice(0, 8)]
    assert idents == [threading.get_ident()]
    x, w = np.ones((4, 2, 5, 5)), np.ones((3, 2, 3, 3))
    out, cache = conv_forward_fast(x, w, np.zeros(3), {"stride": 1, "pad": 0})
    assert np.all(out == 18.0)


def _forward_in_child(queue):
    x = np.arange(4 * 2 * 6 * 6, dtype=float).reshape(4, 2, 6, 6)
    out = conv_forward_fast(x, np.ones((3, 2, 2, 2)), np.zeros(3), {"stride": 2, "pad": 0})[0]
    queue.put(out)


def test_a_forked_child_makes_its_own_workers(two_workers):
    """The parent's helper thread does not exist in a fork: the child must not wait for it."""
    param = {"stride": 2, "pad": 0}
    conv_forward_fast(np.ones((4, 2, 6, 6)), np.ones((3, 2, 2, 2)), np.zeros(3), param)
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_forward_in_child, args=(queue,))
    child.start()
    out = queue.get(timeout=60)
    child.join(timeout=60)
    x = np.arange(4 * 2 * 6 * 6, dtype=float).reshape(4, 2, 6, 6)
    expected = conv_forward_naive(x, np.ones((3, 2, 2, 2)), np.zeros(3), {"stride": 2, "pad": 0})[0]
    assert child.exitcode == 0
    assert np.array_equal(out, expected)

"""Fast convolution and max pooling: numerical gradients, agreement with the naive layers
(both dx paths, several chunks per batch), dtypes, ties / NaN / overlap / non-tiling pools,
validation, and a smoke run of the benchmark."""

import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from cnn_utils.gradcheck import eval_numerical_gradient_array, norm_rel_error, rel_error
from cnn_utils.reference import (conv_backward_fast, conv_backward_naive, conv_forward_fast,
                                 conv_forward_naive, max_pool_backward_fast, max_pool_backward_naive,
                                 max_pool_forward_fast, max_pool_forward_naive)
from cnn_utils.reference import fast
from configs import conv_configs, pool_configs

ROOT = Path(__file__).resolve().parents[1]

# (N, C, H, W), (F, C, HH, WW), stride, pad, dilation: strides 1-3, pads 0-3, dilation 1-2
GRADCHECK_GRID = [
    ((2, 3, 5, 4), (2, 3, 3, 2), 1, 0, 1),     # stride 1, C >= F/4: full-convolution dx
    ((2, 1, 5, 6), (5, 1, 2, 3), 1, 2, 1),     # stride 1, C < F/4: col2im dx
    ((2, 2, 6, 5), (3, 2, 2, 3), 2, 1, 1),
    ((2, 2, 7, 6), (2, 2, 3, 3), 3, 0, 1),     # does not tile
    ((2, 2, 4, 5), (2, 2, 1, 2), 1, 3, 1),     # pad larger than the kernel span
    ((1, 2, 6, 7), (2, 2, 2, 3), 1, 0, 2),
    ((2, 2, 5, 5), (2, 2, 3, 2), 2, 2, 2),
    ((2, 3, 5, 3), (2, 3, 2, 2), 3, 3, 2),
]


def _conv_case(x_shape, w_shape, stride, pad, dilation, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(x_shape).astype(dtype), rng.standard_normal(w_shape).astype(dtype),
            rng.standard_normal(w_shape[0]).astype(dtype),
            {"stride": stride, "pad": pad, "dilation": dilation})


def _run(forward, backward, x, w, b, param, dout):
    out, cache = forward(x, w, b, param)
    return (out,) + tuple(backward(dout, cache))


@pytest.mark.parametrize("case", GRADCHECK_GRID)
def test_conv_fast_numerical_gradients(case):
    x, w, b, param = _conv_case(*case)
    out, cache = conv_forward_fast(x, w, b, param)
    dout = np.random.default_rng(1).standard_normal(out.shape)
    dx, dw, db = conv_backward_fast(dout, cache)
    assert rel_error(dx, eval_numerical_gradient_array(
        lambda a: conv_forward_fast(a, w, b, param)[0], x, dout)) < 1e-7
    assert rel_error(dw, eval_numerical_gradient_array(
        lambda a: conv_forward_fast(x, a, b, param)[0], w, dout)) < 1e-7
    assert rel_error(db, eval_numerical_gradient_array(
        lambda a: conv_forward_fast(x, w, a, param)[0], b, dout)) < 1e-7


def test_both_dx_paths_are_exercised():
    assert fast._use_full_convolution((2, 3, 5, 4), (2, 3, 3, 2), 1)
    assert not fast._use_full_convolution((2, 1, 5, 6), (5, 1, 2, 3), 1)
    assert not fast._use_full_convolution((2, 64, 5, 6), (5, 64, 2, 3), 2)


@pytest.mark.parametrize("chunk_bytes", [1, 700, fast.CHUNK_BYTES])
def test_conv_fast_agrees_with_naive_whatever_the_chunking(monkeypatch, chunk_bytes):
    """1 byte: one sample per chunk; 700 bytes: several samples and a shorter last chunk."""
    monkeypatch.setattr(fast, "CHUNK_BYTES", chunk_bytes)
    rng = np.random.default_rng(2)
    for x, w, b, param in conv_configs(40, seed=3):
        x = np.concatenate([x] * 3)  # N from 3 to 9
        dout = rng.standard_normal(conv_forward_naive(x, w, b, param)[0].shape)
        got = _run(conv_forward_fast, conv_backward_fast, x, w, b, param, dout)
        expected = _run(conv_forward_naive, conv_backward_naive, x, w, b, param, dout)
        for g, e in zip(got, expected, strict=True):
            assert g.shape == e.shape
            assert norm_rel_error(g, e) < 1e-12, (x.shape, w.shape, param)


@pytest.mark.parametrize("case", GRADCHECK_GRID[:4])
def test_conv_fast_keeps_float32(case):
    x, w, b, param = _conv_case(*case, seed=4, dtype=np.float32)
    dout = np.random.default_rng(5).standard_normal(conv_forward_naive(x, w, b, param)[0].shape)
    dout = dout.astype(np.float32)
    got = _run(conv_forward_fast, conv_backward_fast, x, w, b, param, dout)
    expected = _run(conv_forward_naive, conv_backward_naive, x, w, b, param, dout)
    for g, e in zip(got, expected, strict=True):
        assert g.dtype == np.float32
        assert norm_rel_error(g, e) < 1e-5


def test_conv_fast_promotes_mixed_dtypes_like_check_conv():
    x, w, b, param = _conv_case((1, 2, 4, 4), (2, 2, 2, 2), 1, 0, 1)
    out, cache = conv_forward_fast(x.astype(np.float32), w, b.astype(np.float32), param)
    assert out.dtype == np.float64
    assert all(g.dtype == np.float64 for g in conv_backward_fast(np.ones_like(out), cache))


@pytest.mark.parametrize("chunk_bytes", [1, 1000, 3100, fast.CHUNK_BYTES])
@pytest.mark.parametrize("case", GRADCHECK_GRID[:3])
def test_conv_fast_float64_dout_after_a_float32_forward(monkeypatch, case, chunk_bytes):
    """The gradients take the wider dtype of dout, whichever dx path runs and however the
    batch is chunked (3100 bytes: two float32 samples per chunk but one float64)."""
    monkeypatch.setattr(fast, "CHUNK_BYTES", chunk_bytes)
    x, w, b, param = _conv_case(*case, seed=6, dtype=np.float32)
    x = np.concatenate([x, x])
    out, cache = conv_forward_fast(x, w, b, param)
    dout = np.random.default_rng(7).standard_normal(out.shape)
    got = conv_backward_fast(dout, cache)
    wide = [a.astype(np.float64) for a in (x, w, b)]
    expected = conv_backward_naive(dout, conv_forward_naive(*wide, param)[1])
    for g, e in zip(got, expected, strict=True):
        assert g.dtype == np.float64
        assert norm_rel_error(g, e) < 1e-12


def test_conv_fast_threads_keep_their_own_scratch():
    """Threads running the fast layers at the same time never see each other's buffers."""
    cases = list(conv_configs(12, seed=11))
    rng = np.random.default_rng(12)
    douts = [rng.standard_normal(conv_forward_naive(*case)[0].shape) for case in cases]
    expected = [_run(conv_forward_naive, conv_backward_naive, *case, dout)
                for case, dout in zip(cases, douts, strict=True)]

    def worker(offset):
        for i in range(len(cases) * 3):  # each thread walks the cases from another start
            k = (i + offset) % len(cases)
            got = _run(conv_forward_fast, conv_backward_fast, *cases[k], douts[k])
            assert all(norm_rel_error(g, e) < 1e-12 for g, e in zip(got, expected[k], strict=True)), cases[k][3]

    with ThreadPoolExecutor(4) as pool:
        for future in [pool.submit(worker, offset) for offset in range(4)]:
            future.result()


def test_conv_fast_keeps_no_buffer_above_keep_bytes(monkeypatch):
    """Scratch larger than KEEP_BYTES is allocated per call, not held between calls."""
    monkeypatch.setattr(fast, "KEEP_BYTES", 30000)  # keeps the stage (21 kB), not the columns (62 kB)
    kept = {}

    def run():
        x, w, b, param = _conv_case((3, 4, 9, 8), (4, 4, 3, 3), 1, 1, 1, seed=13)
        got = _run(conv_forward_fast, conv_backward_fast, x, w, b, param, np.ones((3, 4, 9, 8)))
        expected = _run(conv_forward_naive, conv_backward_naive, x, w, b, param, np.ones((3, 4, 9, 8)))
        assert all(norm_rel_error(g, e) < 1e-12 for g, e in zip(got, expected, strict=True))
        kept.update({key: flat.nbytes for key, flat in vars(fast._kept).items()})

    thread = threading.Thread(target=run)  # a fresh thread: an empty workspace
    thread.start()
    thread.join()
    assert kept, "the run kept no scratch buffer at all"
    assert max(kept.values()) <= 30000, kept


@pytest.mark.parametrize("values", ["normal", "ties", "nan"])
def test_pool_fast_agrees_with_naive(values):
    """Overlapping, tiling and non-tiling windows; ties to the first maximum, NaN to the last NaN."""
    rng = np.random.default_rng(6)
    for x, param in pool_configs(150, seed=7, values=values):
        out, cache = max_pool_forward_fast(x, param)
        expected_out, naive_cache = max_pool_forward_naive(x, param)
        np.testing.assert_array_equal(out, expected_out, err_msg=f"{x.shape} {param}")
        dout = rng.standard_normal(out.shape)
        # overlapping windows may add up in another order: equal up to rounding
        np.testing.assert_allclose(max_pool_backward_fast(dout, cache),
                                   max_pool_backward_naive(dout, naive_cache),
                                   rtol=1e-13, atol=1e-13, err_msg=f"{x.shape} {param}")


def test_pool_fast_routes_ties_and_nan_by_hand():
    x = np.array([[[[1.0, 1.0, 0.0],
                    [0.0, 1.0, 0.0],
                    [np.nan, 2.0, np.nan]]]])
    param = {"pool_height": 2, "pool_width": 2, "stride": 1}
    out, cache = max_pool_forward_fast(x, param)
    np.testing.assert_array_equal(out, [[[[1.0, 1.0], [np.nan, np.nan]]]])
    dx = max_pool_backward_fast(np.array([[[[1.0, 10.0], [100.0, 1000.0]]]]), cache)
    np.testing.assert_array_equal(dx, [[[[1.0, 10.0, 0.0], [0.0, 0.0, 0.0], [100.0, 0.0, 1000.0]]]])


def test_pool_fast_numerical_gradient_with_overlap():
    x = np.random.default_rng(8).standard_normal((2, 2, 7, 6))
    param = {"pool_height": 3, "pool_width": 2, "stride": 2}
    out, cache = max_pool_forward_fast(x, param)
    dout = np.random.default_rng(9).standard_normal(out.shape)
    numeric = eval_numerical_gradient_array(lambda a: max_pool_forward_fast(a, param)[0], x, dout)
    assert rel_error(max_pool_backward_fast(dout, cache), numeric) < 1e-8


def test_pool_fast_keeps_float32():
    x = np.random.default_rng(10).standard_normal((2, 3, 8, 8)).astype(np.float32)
    for stride in (1, 2):
        out, cache = max_pool_forward_fast(x, {"pool_height": 2, "pool_width": 2, "stride": stride})
        assert out.dtype == np.float32
        assert max_pool_backward_fast(np.ones_like(out), cache).dtype == np.float32


def test_conv_fast_rejects_bad_input():
    with pytest.raises(ValueError, match=r"kernel width 4 is larger than the padded input width 3 = 3 \+ 2\*0"):
        conv_forward_fast(np.zeros((1, 1, 3, 3)), np.zeros((1, 1, 2, 4)), np.zeros(1),
                          {"stride": 1, "pad": 0})
    with pytest.raises(ValueError, match="b must have one entry per filter: w has F=2, b has 3"):
        conv_forward_fast(np.zeros((1, 1, 3, 3)), np.zeros((2, 1, 2, 2)), np.zeros(3),
                          {"stride": 1, "pad": 0})
    _, cache = conv_forward_fast(np.zeros((2, 1, 5, 5)), np.zeros((2, 1, 3, 3)), np.zeros(2),
                                 {"stride": 2, "pad": 1, "dilation": 2})
    with pytest.raises(ValueError, match=r"dout has shape \(2, 2, 3, 3\) but the forward pass produced \(2, 2, 2, 2\)"):
        conv_backward_fast(np.zeros((2, 2, 3, 3)), cache)


def test_pool_fast_rejects_bad_input():
    with pytest.raises(ValueError, match="pool_width 6 is larger than the input width 5"):
        max_pool_forward_fast(np.zeros((1, 1, 5, 5)), {"pool_height": 2, "pool_width": 6, "stride": 1})
    with pytest.raises(ValueError, match="stride must be >= 1, got 0"):
        max_pool_forward_fast(np.zeros((1, 1, 5, 5)), {"pool_height": 2, "pool_width": 2, "stride": 0})
    _, cache = max_pool_forward_fast(np.zeros((1, 2, 5, 5)), {"pool_height": 3, "pool_width": 3, "stride": 2})
    with pytest.raises(ValueError, match=r"dout has shape \(1, 2, 3, 3\) but the forward pass produced \(1, 2, 2, 2\)"):
        max_pool_backward_fast(np.zeros((1, 2, 3, 3)), cache)


@pytest.mark.slow
def test_benchmark_quick_run_prints_the_table(tmp_path):
    output = tmp_path / "latest.md"
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_layers.py"), "--quick",
                             "--output", str(output)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    for row in ("| float64 | S3 | fast |", "| float32 | P3 | torch |", "| float64 | P1 | reshape |"):
        assert row in result.stdout
    assert "kernel" in result.stdout and "scaled to the full batch" in result.stdout
    assert "| x torch | quartiles |" in result.stdout
    assert output.read_text().startswith("# Layer benchmark")

"""Every reference variant against PyTorch autograd (CPU), forward and backward.

float64 must agree to 1e-10 relative to the largest entry. float32 results are
compared with the exact (float64) result for the same inputs, relative to the
same operation on absolute values (the scale of float32 rounding error, which
cancellation in a sum such as db can make large against the result itself). Max pooling must
route gradients exactly as torch does: ties to the first maximum, NaN windows to their last NaN.
"""

import numpy as np
import pytest

from cnn_utils import reference as ref
from configs import conv_configs, conv_transpose_configs, pool_configs
from conftest import require

pytestmark = pytest.mark.oracle

CONV_VARIANTS = {
    "naive": ("conv_forward_naive", "conv_backward_naive"),
    "flipped": ("conv_forward_naive", "conv_backward_flipped"),
    "im2col": ("conv_forward_im2col", "conv_backward_im2col"),
    "fast": ("conv_forward_fast", "conv_backward_fast"),
}
POOL_VARIANTS = {
    "naive": ("max_pool_forward_naive", "max_pool_backward_naive"),
    "im2col": ("max_pool_forward_im2col", "max_pool_backward_im2col"),
    "fast": ("max_pool_forward_fast", "max_pool_backward_fast"),
}
CONV_CONFIGS_F64 = 520
TOL_F64 = 1e-10
TOL_F32 = 1e-5


@pytest.fixture(scope="module")
def torch():
    torch = require("torch", "the oracle tests compare with PyTorch (pip install -e '.[oracle]')")
    torch.set_num_threads(1)
    return torch


def max_relative_error(got, expected):
    """max |got - expected| / max |expected|, NaN-aware (NaN must match NaN)."""
    got, expected = np.asarray(got, np.float64), np.asarray(expected, np.float64)
    assert got.shape == expected.shape
    np.testing.assert_array_equal(np.isnan(got), np.isnan(expected))
    finite = ~np.isnan(expected)
    scale = max(np.max(np.abs(expected[finite]), initial=0.0), 1e-300)
    return np.max(np.abs(got[finite] - expected[finite]), initial=0.0) / scale


def float32_error(torch_fn, torch, arrays, param, dout, got):
    """Worst error of float32 results against float64 torch, per output, in units of |op|(|inputs|)."""
    up = [np.asarray(a, np.float64) for a in arrays]
    exact = torch_fn(torch, *up, param, np.float64(dout))
    magnitude = torch_fn(torch, *(np.abs(a) for a in up), param, np.abs(np.float64(dout)))
    return [np.max(np.abs(g - e)) / max(np.max(m), 1e-300) for g, e, m in zip(got, exact, magnitude, strict=True)]


def _tensors(torch, *arrays):
    return [torch.tensor(a, requires_grad=True) for a in arrays]


def torch_conv(torch, x, w, b, p, dout):
    tx, tw, tb = _tensors(torch, x, w, b)
    out = torch.nn.functional.conv2d(tx, tw, tb, stride=p["stride"], padding=p["pad"],
                                     dilation=p["dilation"])
    out.backward(torch.tensor(dout))
    return out.detach().numpy(), tx.grad.numpy(), tw.grad.numpy(), tb.grad.numpy()


def torch_conv_transpose(torch, x, w, b, p, dout):
    tx, tw, tb = _tensors(torch, x, w, b)
    out = torch.nn.functional.conv_transpose2d(
        tx, tw, tb, stride=p["stride"], padding=p["pad"], output_padding=p["output_padding"],
        dilation=p["dilation"])
    out.backward(torch.tensor(dout))
    return out.detach().numpy(), tx.grad.numpy(), tw.grad.numpy(), tb.grad.numpy()


def torch_pool(torch, x, p, dout, kind):
    (tx,) = _tensors(torch, x)
    pool = torch.nn.functional.max_pool2d if kind == "max" else torch.nn.functional.avg_pool2d
    out = pool(tx, (p["pool_height"], p["pool_width"]), p["stride"])
    out.backward(torch.tensor(dout))
    return out.detach().numpy(), tx.grad.numpy()


def _output_shape(forward, *args):
    out, _ = forward(*args)
    return out.shape


def check_against_torch(torch_fn, torch, forward, backward, configs, what):
    """Run forward+backward on every config and compare with torch; return the count."""
    rng = np.random.default_rng(7)
    checked = 0
    for x, w, b, p in configs:
        out, cache = forward(x, w, b, p)
        dout = rng.standard_normal(out.shape).astype(x.dtype)
        got = (out,) + tuple(backward(dout, cache))
        if x.dtype == np.float64:
            errors = [max_relative_error(g, e) for g, e in zip(got, torch_fn(torch, x, w, b, p, dout), strict=True)]
            tol = TOL_F64
        else:
            errors = float32_error(torch_fn, torch, (x, w, b), p, dout, got)
            tol = TOL_F32
        for name, g, err in zip(("out", "dx", "dw", "db"), got, errors, strict=True):
            assert g.dtype == x.dtype, f"{what} {name} dtype {g.dtype} for {x.dtype} input"
            assert err < tol, f"{what} {name} error {err:.2e} on x {x.shape} w {w.shape} {p}"
        checked += 1
    return checked


def check_conv_variant(torch, variant, configs):
    forward, backward = (getattr(ref, name) for name in CONV_VARIANTS[variant])
    return check_against_torch(torch_conv, torch, forward, backward, configs, variant)


@pytest.mark.parametrize("variant", CONV_VARIANTS)
def test_conv_float64_matches_torch(torch, variant):
    checked = check_conv_variant(torch, variant, conv_configs(CONV_CONFIGS_F64, seed=2026))
    assert checked >= 500


@pytest.mark.parametrize("variant", CONV_VARIANTS)
def test_conv_float32_matches_torch(torch, variant):
    assert check_conv_variant(torch, variant, conv_configs(120, seed=32, dtype=np.float32)) == 120


@pytest.mark.parametrize("variant", POOL_VARIANTS)
@pytest.mark.parametrize("values", ["normal", "ties", "nan"])
def test_max_pool_matches_torch_including_ties_and_nan(torch, variant, values):
    forward, backward = (getattr(ref, name) for name in POOL_VARIANTS[variant])
    rng = np.random.default_rng(3)
    for x, p in pool_configs(300, seed=11, values=values):
        out, cache = forward(x, p)
        dout = rng.standard_normal(out.shape)
        expected_out, expected_dx = torch_pool(torch, x, p, dout, "max")
        np.testing.assert_array_equal(out, expected_out, err_msg=f"{variant} forward {x.shape} {p}")
        # gradient routing must be exact: the same entries receive the same sums
        np.testing.assert_allclose(backward(dout, cache), expected_dx, rtol=1e-12, atol=1e-12,
                                   err_msg=f"{variant} backward {x.shape} {p}")


def test_max_pool_reshape_path_matches_torch(torch):
    rng = np.random.default_rng(5)
    checked = 0
    for values in ("normal", "ties", "nan"):
        for x, p in pool_configs(400, seed=13, values=values):
            if not (p["pool_height"] == p["pool_width"] == p["stride"]):
                continue
            out, cache = ref.max_pool_forward_reshape(x, p)
            dout = rng.standard_normal(out.shape)
            expected_out, expected_dx = torch_pool(torch, x, p, dout, "max")
            np.testing.assert_array_equal(out, expected_out)
            np.testing.assert_allclose(ref.max_pool_backward_reshape(dout, cache), expected_dx,
                                       rtol=1e-12, atol=1e-12)
            checked += 1
    assert checked >= 50


def test_avg_pool_matches_torch(torch):
    rng = np.random.default_rng(4)
    for x, p in pool_configs(300, seed=17):
        out, cache = ref.avg_pool_forward_naive(x, p)
        dout = rng.standard_normal(out.shape)
        expected_out, expected_dx = torch_pool(torch, x, p, dout, "avg")
        assert max_relative_error(out, expected_out) < TOL_F64
        assert max_relative_error(ref.avg_pool_backward_naive(dout, cache), expected_dx) < TOL_F64


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_conv_transpose_matches_torch(torch, dtype):
    configs = conv_transpose_configs(300, seed=19, dtype=dtype)
    assert check_against_torch(torch_conv_transpose, torch, ref.conv_transpose_forward,
                               ref.conv_transpose_backward, configs, "conv_transpose") == 300

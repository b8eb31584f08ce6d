"""Property tests (hypothesis): every variant agrees with every other, shapes follow
the formula, convolution and transposed convolution are adjoint, pooling conserves
or over-counts gradient as its tie policy says."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from cnn_utils import reference as ref
from cnn_utils import shapes

CONV_VARIANTS = [
    (ref.conv_forward_naive, ref.conv_backward_naive),
    (ref.conv_forward_naive, ref.conv_backward_flipped),
    (ref.conv_forward_im2col, ref.conv_backward_im2col),
    (ref.conv_forward_fast, ref.conv_backward_fast),
]
POOL_VARIANTS = [
    (ref.max_pool_forward_naive, ref.max_pool_backward_naive),
    (ref.max_pool_forward_im2col, ref.max_pool_backward_im2col),
    (ref.max_pool_forward_fast, ref.max_pool_backward_fast),
]
SETTINGS = settings(max_examples=60, deadline=None)


@st.composite
def conv_case(draw):
    """(x, w, b, conv_param, rng) with the window fitting the padded input."""
    n, c, f = draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    hh, ww = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    stride, pad, dilation = draw(st.integers(1, 3)), draw(st.integers(0, 3)), draw(st.integers(1, 2))
    span_h, span_w = dilation * (hh - 1) + 1, dilation * (ww - 1) + 1
    h = draw(st.integers(max(1, span_h - 2 * pad), span_h + 6))
    w_ = draw(st.integers(max(1, span_w - 2 * pad), span_w + 6))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    return (rng.standard_normal((n, c, h, w_)), rng.standard_normal((f, c, hh, ww)),
            rng.standard_normal(f), {"stride": stride, "pad": pad, "dilation": dilation}, rng)


@st.composite
def pool_case(draw):
    """(x, pool_param, rng); values drawn from {0, 1, 2} to force ties."""
    ph, pw, stride = draw(st.integers(1, 4)), draw(st.integers(1, 4)), draw(st.integers(1, 4))
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 3)),
             draw(st.integers(ph, ph + 6)), draw(st.integers(pw, pw + 6)))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    x = rng.integers(0, 3, size=shape).astype(np.float64)
    return x, {"pool_height": ph, "pool_width": pw, "stride": stride}, rng


def _assert_close(a, b, what):
    scale = max(np.max(np.abs(b)), 1e-300)
    assert np.max(np.abs(a - b)) / scale < 1e-10, what


@SETTINGS
@given(conv_case())
def test_conv_variants_agree_and_output_shape_follows_the_formula(case):
    x, w, b, p, rng = case
    expected_hw = tuple(shapes.conv_output_size(x.shape[i], w.shape[i], p["stride"], p["pad"],
                                                p["dilation"]) for i in (2, 3))
    results = []
    for forward, backward in CONV_VARIANTS:
        out, cache = forward(x, w, b, p)
        assert out.shape == (x.shape[0], w.shape[0]) + expected_hw
        if not results:
            dout = rng.standard_normal(out.shape)
        results.append((out,) + tuple(backward(dout, cache)))
    for other in results[1:]:
        for name, got, first in zip(("out", "dx", "dw", "db"), other, results[0], strict=True):
            _assert_close(got, first, f"{name} disagrees for x {x.shape} w {w.shape} {p}")
    np.testing.assert_allclose(results[0][3], dout.sum(axis=(0, 2, 3)))


@SETTINGS
@given(conv_case())
def test_uncovered_rows_and_columns_get_zero_gradient(case):
    x, w, b, p, rng = case
    s, pad, d = p["stride"], p["pad"], p["dilation"]
    for forward, backward in CONV_VARIANTS:
        out, cache = forward(x, w, b, p)
        dx = backward(rng.standard_normal(out.shape), cache)[0]
        for axis, k in ((2, w.shape[2]), (3, w.shape[3])):
            last_covered = (out.shape[axis] - 1) * s + d * (k - 1) - pad  # in unpadded coordinates
            beyond = np.take(dx, np.arange(last_covered + 1, x.shape[axis]), axis=axis)
            assert np.all(beyond == 0.0)


@SETTINGS
@given(conv_case())
def test_conv_transpose_is_the_adjoint_of_conv(case):
    x, w, b, p, rng = case
    out, _ = ref.conv_forward_naive(x, w, np.zeros_like(b), p)
    y = rng.standard_normal(out.shape)
    leftover = [(x.shape[i] + 2 * p["pad"] - p["dilation"] * (w.shape[i] - 1) - 1) % p["stride"]
                for i in (2, 3)]
    if max(leftover) >= max(p["stride"], p["dilation"]):
        return  # torch's rule: output_padding must be below stride or dilation
    # conv_transpose takes one output_padding; use the leftover rows, check the columns
    if leftover[0] != leftover[1]:
        return
    tparam = dict(p, output_padding=leftover[0])
    back, _ = ref.conv_transpose_forward(y, w, np.zeros(w.shape[1]), tparam)
    assert back.shape == x.shape
    lhs, rhs = np.vdot(out, y), np.vdot(x, back)
    assert abs(lhs - rhs) <= 1e-10 * max(1.0, abs(lhs))


@SETTINGS
@given(pool_case())
def test_max_pool_variants_agree_and_first_max_conserves_gradient(case):
    x, p, rng = case
    outs, grads = [], []
    for forward, backward in POOL_VARIANTS:
        out, cache = forward(x, p)
        if not outs:
            dout = rng.random(out.shape) + 0.5
        outs.append(out)
        grads.append(backward(dout, cache))
    for out, dx in zip(outs[1:], grads[1:], strict=True):
        np.testing.assert_array_equal(out, outs[0])
        np.testing.assert_allclose(dx, grads[0], rtol=1e-12)
    # one window, one receiver: the total gradient is conserved
    np.testing.assert_allclose(grads[0].sum(), dout.sum())
    # the mask policy sends the gradient to every tied maximum: never less, more on ties
    _, cache = ref.max_pool_forward_naive(x, p)
    dx_all = ref.max_pool_backward_naive(dout, cache, ties="all")
    assert dx_all.sum() >= dout.sum() - 1e-9
    assert np.all((dx_all > 0) >= (grads[0] > 0))


@SETTINGS
@given(pool_case())
def test_avg_pool_conserves_gradient(case):
    x, p, rng = case
    out, cache = ref.avg_pool_forward_naive(x, p)
    dout = rng.standard_normal(out.shape)
    np.testing.assert_allclose(ref.avg_pool_backward_naive(dout, cache).sum(), dout.sum())

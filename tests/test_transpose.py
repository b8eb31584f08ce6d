"""Transposed convolution: hand examples, adjoint identity with the convolution, numerical
gradients, output_padding, float32, validation."""

import itertools

import numpy as np
import pytest

from cnn_utils.gradcheck import eval_numerical_gradient_array, norm_rel_error, rel_error
from cnn_utils.reference import (conv_backward_naive, conv_forward_naive, conv_transpose_backward,
                                 conv_transpose_forward)

# (N, C_in, H, W), (C_in, F, HH, WW), stride, pad, dilation, output_padding
GRADCHECK_GRID = [
    ((2, 3, 3, 2), (3, 2, 2, 3), 1, 0, 1, 0),
    ((1, 2, 3, 3), (2, 3, 3, 3), 2, 1, 1, 1),
    ((2, 2, 2, 3), (2, 1, 3, 2), 3, 0, 1, 2),
    ((1, 1, 3, 2), (1, 2, 2, 2), 1, 1, 2, 1),   # output_padding >= stride, allowed by dilation
    ((2, 2, 2, 2), (2, 2, 2, 3), 2, 2, 2, 0),
    ((1, 3, 4, 3), (3, 2, 1, 1), 3, 0, 1, 1),
]


def _param(stride, pad, dilation, output_padding):
    return {"stride": stride, "pad": pad, "dilation": dilation, "output_padding": output_padding}


def _case(x_shape, w_shape, stride, pad, dilation, output_padding, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(x_shape).astype(dtype), rng.standard_normal(w_shape).astype(dtype),
            rng.standard_normal(w_shape[1]).astype(dtype),
            _param(stride, pad, dilation, output_padding))


def test_hand_example_stride_1():
    x = np.array([[1.0, 2.0], [3.0, 4.0]]).reshape(1, 1, 2, 2)
    out, _ = conv_transpose_forward(x, np.ones((1, 1, 2, 2)), np.array([0.0]),
                                    {"stride": 1, "pad": 0})
    np.testing.assert_array_equal(out[0, 0], [[1, 3, 2], [4, 10, 6], [3, 7, 4]])


def test_hand_example_stride_2_copies_each_input_into_a_block():
    x = np.array([[1.0, 2.0], [3.0, 4.0]]).reshape(1, 1, 2, 2)
    out, _ = conv_transpose_forward(x, np.ones((1, 1, 2, 2)), np.array([0.5]),
                                    {"stride": 2, "pad": 0})
    np.testing.assert_array_equal(out[0, 0], np.kron([[1, 2], [3, 4]], np.ones((2, 2))) + 0.5)


def test_hand_example_output_padding_adds_a_last_row_and_column_of_bias():
    x = np.array([[1.0, 2.0], [3.0, 4.0]]).reshape(1, 1, 2, 2)
    out, _ = conv_transpose_forward(x, np.ones((1, 1, 2, 2)), np.array([0.5]),
                                    {"stride": 2, "pad": 0, "output_padding": 1})
    assert out.shape == (1, 1, 5, 5)
    blocks = np.kron([[1, 2], [3, 4]], np.ones((2, 2)))
    np.testing.assert_array_equal(out[0, 0, :4, :4], blocks + 0.5)
    np.testing.assert_array_equal(out[0, 0, 4, :], 0.5)
    np.testing.assert_array_equal(out[0, 0, :, 4], 0.5)


def test_hand_example_dilation_with_output_padding_above_stride():
    out, _ = conv_transpose_forward(np.full((1, 1, 1, 1), 2.0), np.ones((1, 1, 2, 2)),
                                    np.array([0.5]), _param(1, 0, 2, 1))
    np.testing.assert_array_equal(out[0, 0], [[2.5, 0.5, 2.5, 0.5], [0.5, 0.5, 0.5, 0.5],
                                              [2.5, 0.5, 2.5, 0.5], [0.5, 0.5, 0.5, 0.5]])


def test_hand_example_pad_crops_the_border():
    x = np.array([[1.0, 2.0], [3.0, 4.0]]).reshape(1, 1, 2, 2)
    out, _ = conv_transpose_forward(x, np.ones((1, 1, 2, 2)), np.array([0.0]),
                                    {"stride": 1, "pad": 1})
    np.testing.assert_array_equal(out, [[[[10.0]]]])


@pytest.mark.parametrize("config", GRADCHECK_GRID)
def test_output_size(config):
    x, w, b, p = _case(*config)
    out, _ = conv_transpose_forward(x, w, b, p)
    expected = [(x.shape[a] - 1) * p["stride"] - 2 * p["pad"] + p["dilation"] * (w.shape[a] - 1)
                + p["output_padding"] + 1 for a in (2, 3)]
    assert out.shape == (x.shape[0], w.shape[1], *expected)


@pytest.mark.parametrize("stride,pad,dilation",
                         list(itertools.product((1, 2, 3), (0, 1, 2, 3), (1, 2))))
def test_adjoint_of_the_convolution(stride, pad, dilation):
    """<conv(x), y> == <x, conv_transpose(y)>, output_padding taking the rows no window reached."""
    rng = np.random.default_rng(stride * 100 + pad * 10 + dilation)
    w = rng.standard_normal((3, 2, 2, 3))       # conv: 2 -> 3 channels; transposed: 3 -> 2
    p = {"stride": stride, "pad": pad, "dilation": dilation}
    span_h, span_w = dilation + 1, 2 * dilation + 1
    checked = 0
    for height, width in itertools.product(range(1, 8), repeat=2):
        leftover_h = (height + 2 * pad - span_h) % stride
        leftover_w = (width + 2 * pad - span_w) % stride
        if height + 2 * pad < span_h or width + 2 * pad < span_w or leftover_h != leftover_w:
            continue
        x = rng.standard_normal((2, 2, height, width))
        conv_x, _ = conv_forward_naive(x, w, np.zeros(3), p)
        y = rng.standard_normal(conv_x.shape)
        back, _ = conv_transpose_forward(y, w, np.zeros(2), dict(p, output_padding=leftover_h))
        assert back.shape == x.shape
        np.testing.assert_allclose(np.vdot(conv_x, y), np.vdot(x, back), rtol=1e-12)
        checked += 1
    assert checked >= 5


@pytest.mark.parametrize("config", GRADCHECK_GRID)
def test_forward_is_the_convolution_input_gradient_and_backward_is_the_convolution(config):
    y, w, b, p = _case(*config)
    out, cache = conv_transpose_forward(y, w, np.zeros_like(b), p)
    conv_param = {k: p[k] for k in ("stride", "pad", "dilation")}
    dout = np.random.default_rng(1).standard_normal(out.shape)
    dy, _, _ = conv_transpose_backward(dout, cache)
    conv_out, _ = conv_forward_naive(dout, w, np.zeros(w.shape[0]), conv_param)
    np.testing.assert_allclose(dy, conv_out[:, :, :y.shape[2], :y.shape[3]], rtol=1e-12, atol=1e-12)
    if conv_out.shape == y.shape:   # output_padding < stride: the conv maps out back onto y
        _, conv_cache = conv_forward_naive(out, w, np.zeros(w.shape[0]), conv_param)
        dx, _, _ = conv_backward_naive(y, conv_cache)
        np.testing.assert_allclose(out, dx, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("config", GRADCHECK_GRID)
def test_numerical_gradients(config):
    x, w, b, p = _case(*config)
    out, cache = conv_transpose_forward(x, w, b, p)
    dout = np.random.default_rng(1).standard_normal(out.shape)
    dx, dw, db = conv_transpose_backward(dout, cache)
    dx_num = eval_numerical_gradient_array(lambda a: conv_transpose_forward(a, w, b, p)[0], x, dout)
    dw_num = eval_numerical_gradient_array(lambda a: conv_transpose_forward(x, a, b, p)[0], w, dout)
    db_num = eval_numerical_gradient_array(lambda a: conv_transpose_forward(x, w, a, p)[0], b, dout)
    assert dx.shape == x.shape and dw.shape == w.shape and db.shape == b.shape
    assert rel_error(dx, dx_num) < 1e-7
    assert rel_error(dw, dw_num) < 1e-7
    assert rel_error(db, db_num) < 1e-7


def test_defaults_are_output_padding_0_and_dilation_1():
    x, w, b, _ = _case((1, 2, 3, 3), (2, 2, 2, 2), 2, 1, 1, 0)
    default, _ = conv_transpose_forward(x, w, b, {"stride": 2, "pad": 1})
    explicit, _ = conv_transpose_forward(x, w, b, _param(2, 1, 1, 0))
    np.testing.assert_array_equal(default, explicit)


def test_cache_holds_the_inputs():
    x, w, b, p = _case((1, 2, 3, 3), (2, 2, 2, 2), 2, 1, 1, 1)
    _, (cx, cw, cb, cp) = conv_transpose_forward(x, w, b, p)
    np.testing.assert_array_equal(cx, x)
    np.testing.assert_array_equal(cw, w)
    np.testing.assert_array_equal(cb, b)
    assert cp == p


def test_float32_in_float32_out():
    x, w, b, p = _case((2, 2, 3, 4), (2, 3, 3, 2), 2, 1, 2, 1, dtype=np.float32)
    out, cache = conv_transpose_forward(x, w, b, p)
    dout = np.random.default_rng(2).standard_normal(out.shape).astype(np.float32)
    grads = conv_transpose_backward(dout, cache)
    assert out.dtype == np.float32 and all(g.dtype == np.float32 for g in grads)
    out64, cache64 = conv_transpose_forward(x.astype(np.float64), w.astype(np.float64),
                                            b.astype(np.float64), p)
    assert norm_rel_error(out, out64) < 1e-6
    for g, g64 in zip(grads, conv_transpose_backward(dout.astype(np.float64), cache64), strict=True):
        assert norm_rel_error(g, g64) < 1e-6


# --- validation: each bad input gets a clear ValueError -------------------------------------

def _valid():
    return _case((2, 3, 4, 4), (3, 2, 3, 3), 2, 1, 1, 1)


def test_x_with_wrong_ndim():
    x, w, b, p = _valid()
    with pytest.raises(ValueError, match=r"x must have 4 dimensions \(N, C_in, H, W\), got 3"):
        conv_transpose_forward(x[0], w, b, p)


def test_w_with_wrong_ndim():
    x, w, b, p = _valid()
    with pytest.raises(ValueError, match=r"w must have 4 dimensions \(C_in, F, HH, WW\), got 3"):
        conv_transpose_forward(x, w[0], b, p)


def test_channel_mismatch_names_the_transposed_layout():
    x, w, b, p = _valid()
    with pytest.raises(ValueError, match=r"x has C_in=3 channels but w expects 2 .*"
                                         r"w is \(C_in, F, HH, WW\)"):
        conv_transpose_forward(x, w[:2], b, p)


def test_bias_of_wrong_length():
    x, w, b, p = _valid()
    with pytest.raises(ValueError, match=r"w has F=2, b has 3"):
        conv_transpose_forward(x, w, np.zeros(3), p)


def test_output_padding_not_below_stride_or_dilation():
    x, w, b, _ = _valid()
    with pytest.raises(ValueError, match=r"output_padding must be smaller than stride or dilation, "
                                         r"got output_padding 2 with stride 2 and dilation 1"):
        conv_transpose_forward(x, w, b, _param(2, 1, 1, 2))


def test_negative_output_padding():
    x, w, b, _ = _valid()
    with pytest.raises(ValueError, match=r"output_padding must be >= 0, got -1"):
        conv_transpose_forward(x, w, b, _param(2, 1, 1, -1))


def test_pad_too_large_for_the_input():
    x, w, b, _ = _valid()
    with pytest.raises(ValueError, match=r"output height would be -1 .* pad is too large"):
        conv_transpose_forward(x[:, :, :1, :1], w, b, _param(1, 2, 1, 0))


def test_missing_stride():
    x, w, b, _ = _valid()
    with pytest.raises(ValueError, match=r"conv_param is missing \['stride'\]"):
        conv_transpose_forward(x, w, b, {"pad": 0})


def test_dout_of_wrong_shape():
    x, w, b, p = _valid()
    out, cache = conv_transpose_forward(x, w, b, p)
    assert out.shape == (2, 2, 8, 8)
    with pytest.raises(ValueError, match=r"dout has shape \(2, 2, 7, 8\) but the forward pass "
                                         r"produced \(2, 2, 8, 8\)"):
        conv_transpose_backward(np.zeros((2, 2, 7, 8)), cache)

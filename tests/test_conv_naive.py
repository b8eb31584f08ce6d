"""Naive convolution and the flipped-kernel backward: hand examples, numerical gradients,
agreement on a grid of stride/pad/dilation, zero gradient on uncovered rows, validation."""

import itertools

import numpy as np
import pytest

from cnn_utils.gradcheck import eval_numerical_gradient_array, norm_rel_error, rel_error
from cnn_utils.reference import conv_backward_flipped, conv_backward_naive, conv_forward_naive

BACKWARDS = [conv_backward_naive, conv_backward_flipped]

# (N, C, H, W), (F, C, HH, WW), stride, pad, dilation
GRADCHECK_GRID = [
    ((2, 3, 5, 4), (2, 3, 3, 2), 1, 0, 1),
    ((1, 2, 6, 5), (3, 2, 2, 3), 2, 1, 1),
    ((2, 2, 7, 6), (2, 2, 3, 3), 3, 0, 1),   # does not tile: last row and columns uncovered
    ((2, 1, 4, 5), (2, 1, 2, 2), 1, 3, 1),
    ((1, 2, 6, 7), (2, 2, 2, 3), 1, 0, 2),
    ((2, 2, 5, 5), (1, 2, 3, 2), 2, 2, 2),
    ((1, 3, 4, 3), (2, 3, 1, 1), 3, 1, 1),
    ((2, 2, 8, 5), (2, 2, 2, 2), 2, 0, 2),   # dilation 2 with stride 2: odd rows uncovered
]


def _case(x_shape, w_shape, stride, pad, dilation, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(x_shape).astype(dtype), rng.standard_normal(w_shape).astype(dtype),
            rng.standard_normal(w_shape[0]).astype(dtype),
            {"stride": stride, "pad": pad, "dilation": dilation})


def _covered(size, kernel, stride, pad, dilation):
    """Bool array over the unpadded input: True where some kernel tap reads the entry."""
    out = (size + 2 * pad - dilation * (kernel - 1) - 1) // stride + 1
    covered = np.zeros(size + 2 * pad, dtype=bool)
    for i, k in itertools.product(range(out), range(kernel)):
        covered[i * stride + k * dilation] = True
    return covered[pad:pad + size]


def test_forward_hand_example_stride_1():
    x = np.arange(1.0, 10.0).reshape(1, 1, 3, 3)
    w = np.array([[[[1.0, 2.0], [3.0, 4.0]]]])
    out, _ = conv_forward_naive(x, w, np.array([1.0]), {"stride": 1, "pad": 0})
    np.testing.assert_array_equal(out, [[[[38.0, 48.0], [68.0, 78.0]]]])


def test_forward_hand_example_stride_2_pad_1():
    x = np.arange(1.0, 10.0).reshape(1, 1, 3, 3)
    w = np.array([[[[1.0, 2.0], [3.0, 4.0]]]])
    out, _ = conv_forward_naive(x, w, np.array([0.0]), {"stride": 2, "pad": 1})
    np.testing.assert_array_equal(out, [[[[4.0, 18.0], [36.0, 77.0]]]])


def test_forward_hand_example_dilation_2():
    x = np.arange(1.0, 10.0).reshape(1, 1, 3, 3)
    w = np.array([[[[1.0, 2.0], [3.0, 4.0]]]])
    out, _ = conv_forward_naive(x, w, np.array([-4.0]), {"stride": 1, "pad": 0, "dilation": 2})
    np.testing.assert_array_equal(out, [[[[60.0]]]])


@pytest.mark.parametrize("backward", BACKWARDS)
def test_backward_hand_example(backward):
    x = np.arange(1.0, 10.0).reshape(1, 1, 3, 3)
    w = np.array([[[[1.0, 2.0], [3.0, 4.0]]]])
    _, cache = conv_forward_naive(x, w, np.array([1.0]), {"stride": 1, "pad": 0})
    dx, dw, db = backward(np.ones((1, 1, 2, 2)), cache)
    np.testing.assert_array_equal(dx, [[[[1, 3, 2], [4, 10, 6], [3, 7, 4]]]])
    np.testing.assert_array_equal(dw, [[[[12, 16], [24, 28]]]])
    np.testing.assert_array_equal(db, [4])


def test_forward_sums_over_channels_and_adds_bias_per_filter():
    x = np.ones((2, 3, 2, 2))
    w = np.stack([np.ones((3, 2, 2)), 2 * np.ones((3, 2, 2))])
    out, _ = conv_forward_naive(x, w, np.array([0.5, -1.0]), {"stride": 1, "pad": 0})
    np.testing.assert_array_equal(out[:, 0], np.full((2, 1, 1), 12.5))
    np.testing.assert_array_equal(out[:, 1], np.full((2, 1, 1), 23.0))


def test_cache_holds_the_inputs():
    x, w, b, p = _case((1, 2, 4, 4), (2, 2, 3, 3), 1, 1, 1)
    _, (cx, cw, cb, cp) = conv_forward_naive(x, w, b, p)
    np.testing.assert_array_equal(cx, x)
    np.testing.assert_array_equal(cw, w)
    np.testing.assert_array_equal(cb, b)
    assert cp == p


@pytest.mark.parametrize("config", GRADCHECK_GRID)
@pytest.mark.parametrize("backward", BACKWARDS)
def test_numerical_gradients(config, backward):
    x, w, b, p = _case(*config)
    out, cache = conv_forward_naive(x, w, b, p)
    dout = np.random.default_rng(1).standard_normal(out.shape)
    dx, dw, db = backward(dout, cache)
    dx_num = eval_numerical_gradient_array(lambda a: conv_forward_naive(a, w, b, p)[0], x, dout)
    dw_num = eval_numerical_gradient_array(lambda a: conv_forward_naive(x, a, b, p)[0], w, dout)
    db_num = eval_numerical_gradient_array(lambda a: conv_forward_naive(x, w, a, p)[0], b, dout)
    assert rel_error(dx, dx_num) < 1e-7
    assert rel_error(dw, dw_num) < 1e-7
    assert rel_error(db, db_num) < 1e-7


@pytest.mark.parametrize("stride,pad,dilation",
                         list(itertools.product((1, 2, 3), (0, 1, 2, 3), (1, 2))))
def test_flipped_equals_naive_on_the_grid(stride, pad, dilation):
    for seed, (x_shape, w_shape) in enumerate([((2, 3, 7, 5), (2, 3, 3, 2)),
                                               ((1, 2, 5, 8), (3, 2, 1, 3))]):
        x, w, b, p = _case(x_shape, w_shape, stride, pad, dilation, seed=seed)
        out, cache = conv_forward_naive(x, w, b, p)
        dout = np.random.default_rng(seed).standard_normal(out.shape)
        pairs = zip(conv_backward_naive(dout, cache), conv_backward_flipped(dout, cache), strict=True)
        for naive, flipped in pairs:
            assert naive.shape == flipped.shape
            np.testing.assert_allclose(flipped, naive, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("config", GRADCHECK_GRID)
@pytest.mark.parametrize("backward", BACKWARDS)
def test_uncovered_rows_and_columns_get_exactly_zero_gradient(config, backward):
    x, w, b, p = _case(*config)
    out, cache = conv_forward_naive(x, w, b, p)
    dx, _, _ = backward(np.ones(out.shape), cache)
    rows = _covered(x.shape[2], w.shape[2], p["stride"], p["pad"], p["dilation"])
    cols = _covered(x.shape[3], w.shape[3], p["stride"], p["pad"], p["dilation"])
    assert np.all(dx[:, :, ~rows, :] == 0.0)
    assert np.all(dx[:, :, :, ~cols] == 0.0)


def test_a_configuration_that_does_not_tile_leaves_the_last_row_uncovered():
    # H=6, kernel 3, stride 2: windows at rows 0-2 and 2-4, row 5 is never read
    x, w, b, p = _case((1, 1, 6, 6), (1, 1, 3, 3), 2, 0, 1)
    out, cache = conv_forward_naive(x, w, b, p)
    assert out.shape == (1, 1, 2, 2)
    for backward in BACKWARDS:
        dx, _, _ = backward(np.ones(out.shape), cache)
        assert np.all(dx[0, 0, 5, :] == 0.0) and np.all(dx[0, 0, :, 5] == 0.0)
        assert np.all(dx[0, 0, :5, :5] != 0.0)


@pytest.mark.parametrize("backward", BACKWARDS)
def test_pad_zero_keeps_the_whole_input(backward):
    x, w, b, p = _case((1, 1, 4, 4), (1, 1, 2, 2), 1, 0, 1)
    out, cache = conv_forward_naive(x, w, b, p)
    dx, _, _ = backward(np.ones(out.shape), cache)
    assert dx.shape == x.shape
    np.testing.assert_allclose(dx.sum(), 9 * w.sum())


@pytest.mark.parametrize("backward", BACKWARDS)
def test_float32_in_float32_out(backward):
    x, w, b, p = _case((2, 2, 6, 5), (3, 2, 3, 2), 2, 1, 2, dtype=np.float32)
    out, cache = conv_forward_naive(x, w, b, p)
    dout = np.random.default_rng(2).standard_normal(out.shape).astype(np.float32)
    grads = backward(dout, cache)
    assert out.dtype == np.float32 and all(g.dtype == np.float32 for g in grads)
    out64, cache64 = conv_forward_naive(x.astype(np.float64), w.astype(np.float64),
                                        b.astype(np.float64), p)
    assert norm_rel_error(out, out64) < 1e-6
    for g, g64 in zip(grads, backward(dout.astype(np.float64), cache64), strict=True):
        assert norm_rel_error(g, g64) < 1e-6


def test_dilation_defaults_to_one():
    x, w, b, p = _case((1, 2, 5, 5), (2, 2, 3, 3), 1, 1, 1)
    with_default, _ = conv_forward_naive(x, w, b, {"stride": 1, "pad": 1})
    explicit, _ = conv_forward_naive(x, w, b, p)
    np.testing.assert_array_equal(with_default, explicit)


# --- validation: each bad input gets a clear ValueError -------------------------------------

def _valid():
    return _case((2, 3, 5, 5), (4, 3, 3, 3), 1, 1, 1)


def test_x_with_wrong_ndim():
    x, w, b, p = _valid()
    with pytest.raises(ValueError, match=r"x must have 4 dimensions .* got 3"):
        conv_forward_naive(x[0], w, b, p)


def test_channel_mismatch():
    x, w, b, p = _valid()
    with pytest.raises(ValueError, match=r"channel mismatch: x has C=3 channels but w expects 2"):
        conv_forward_naive(x, w[:, :2], b, p)


def test_bias_of_wrong_length():
    x, w, b, p = _valid()
    with pytest.raises(ValueError, match=r"w has F=4, b has 3"):
        conv_forward_naive(x, w, b[:3], p)


def test_missing_pad():
    x, w, b, _ = _valid()
    with pytest.raises(ValueError, match=r"conv_param is missing \['pad'\]"):
        conv_forward_naive(x, w, b, {"stride": 1})


def test_zero_stride():
    x, w, b, _ = _valid()
    with pytest.raises(ValueError, match=r"stride must be >= 1, got 0"):
        conv_forward_naive(x, w, b, {"stride": 0, "pad": 1})


def test_negative_pad():
    x, w, b, _ = _valid()
    with pytest.raises(ValueError, match=r"pad must be >= 0, got -1"):
        conv_forward_naive(x, w, b, {"stride": 1, "pad": -1})


def test_window_larger_than_padded_input():
    x, w, b, _ = _valid()
    with pytest.raises(ValueError,
                       match=r"kernel height 3 \(dilation 4 makes it span 9\) is larger"):
        conv_forward_naive(x, w, b, {"stride": 1, "pad": 1, "dilation": 4})


@pytest.mark.parametrize("backward", BACKWARDS)
def test_dout_of_wrong_shape(backward):
    x, w, b, p = _valid()
    _, cache = conv_forward_naive(x, w, b, p)
    with pytest.raises(ValueError, match=r"dout has shape \(2, 4, 5, 4\) but the forward pass "
                                         r"produced \(2, 4, 5, 5\)"):
        backward(np.zeros((2, 4, 5, 4)), cache)


@pytest.mark.parametrize("backward", BACKWARDS)
def test_dout_with_wrong_ndim(backward):
    x, w, b, p = _valid()
    _, cache = conv_forward_naive(x, w, b, p)
    with pytest.raises(ValueError, match=r"dout must have 4 dimensions"):
        backward(np.zeros((4, 5, 5)), cache)

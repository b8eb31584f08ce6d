"""Naive max and average pooling: hand examples, numerical gradients, overlapping windows,
ties ('first' and 'all'), NaN routing, uncovered rows, float32, validation."""

import numpy as np
import pytest

from cnn_utils.gradcheck import eval_numerical_gradient_array, norm_rel_error, rel_error
from cnn_utils.reference import (avg_pool_backward_naive, avg_pool_forward_naive,
                                 max_pool_backward_naive, max_pool_forward_naive)

NAN = np.nan

# (N, C, H, W), pool_height, pool_width, stride
GRID = [
    ((2, 3, 4, 4), 2, 2, 2),
    ((1, 2, 5, 6), 3, 2, 1),   # overlapping windows
    ((2, 2, 7, 5), 3, 3, 2),   # overlapping, and the last column is uncovered
    ((1, 3, 7, 7), 2, 3, 3),   # gaps between windows
    ((2, 1, 3, 5), 1, 1, 2),
    ((1, 2, 4, 6), 4, 2, 1),
]


def _pool(ph, pw, stride):
    return {"pool_height": ph, "pool_width": pw, "stride": stride}


def _row(values, pool, stride):
    """A (1, 1, 1, len) input and a (1, pool) pool_param."""
    return np.array(values, dtype=np.float64).reshape(1, 1, 1, -1), _pool(1, pool, stride)


def test_max_forward_hand_example():
    x = np.arange(16.0).reshape(1, 1, 4, 4)
    out, _ = max_pool_forward_naive(x, _pool(2, 2, 2))
    np.testing.assert_array_equal(out, [[[[5.0, 7.0], [13.0, 15.0]]]])


def test_max_forward_overlapping_windows():
    x = np.array([[3.0, 1.0, 2.0], [0.0, 9.0, 4.0], [5.0, 6.0, 7.0]]).reshape(1, 1, 3, 3)
    out, _ = max_pool_forward_naive(x, _pool(2, 2, 1))
    np.testing.assert_array_equal(out, [[[[9.0, 9.0], [9.0, 9.0]]]])


def test_max_backward_overlapping_windows_accumulate():
    x = np.array([[3.0, 1.0, 2.0], [0.0, 9.0, 4.0], [5.0, 6.0, 7.0]]).reshape(1, 1, 3, 3)
    out, cache = max_pool_forward_naive(x, _pool(2, 2, 1))
    dx = max_pool_backward_naive(np.array([[[[1.0, 2.0], [3.0, 4.0]]]]), cache)
    expected = np.zeros((1, 1, 3, 3))
    expected[0, 0, 1, 1] = 10.0
    np.testing.assert_array_equal(dx, expected)


def test_avg_hand_example():
    x = np.arange(16.0).reshape(1, 1, 4, 4)
    out, cache = avg_pool_forward_naive(x, _pool(2, 2, 2))
    np.testing.assert_array_equal(out, [[[[2.5, 4.5], [10.5, 12.5]]]])
    dx = avg_pool_backward_naive(np.array([[[[4.0, 8.0], [-4.0, 0.0]]]]), cache)
    np.testing.assert_array_equal(dx[0, 0], [[1, 1, 2, 2], [1, 1, 2, 2], [-1, -1, 0, 0],
                                             [-1, -1, 0, 0]])


def test_avg_backward_overlapping_windows_accumulate():
    x, p = _row([1.0, 2.0, 3.0, 4.0], 2, 1)
    _, cache = avg_pool_forward_naive(x, p)
    dx = avg_pool_backward_naive(np.array([[[[2.0, 4.0, 6.0]]]]), cache)
    np.testing.assert_array_equal(dx[0, 0, 0], [1.0, 3.0, 5.0, 3.0])


def test_caches_hold_the_inputs():
    x = np.arange(16.0).reshape(1, 1, 4, 4)
    p = _pool(2, 2, 2)
    for forward in (max_pool_forward_naive, avg_pool_forward_naive):
        _, (cx, cp) = forward(x, p)
        np.testing.assert_array_equal(cx, x)
        assert cp == p


@pytest.mark.parametrize("config", GRID)
@pytest.mark.parametrize("forward,backward", [
    (max_pool_forward_naive, max_pool_backward_naive),
    (avg_pool_forward_naive, avg_pool_backward_naive),
])
def test_numerical_gradients(config, forward, backward):
    shape, ph, pw, stride = config
    rng = np.random.default_rng(0)
    x = rng.permutation(np.prod(shape)).reshape(shape) / 10.0   # distinct: no ties within h
    p = _pool(ph, pw, stride)
    out, cache = forward(x, p)
    dout = rng.standard_normal(out.shape)
    dx_num = eval_numerical_gradient_array(lambda a: forward(a, p)[0], x, dout)
    assert rel_error(backward(dout, cache), dx_num) < 1e-8


@pytest.mark.parametrize("config", GRID)
@pytest.mark.parametrize("forward,backward", [
    (max_pool_forward_naive, max_pool_backward_naive),
    (avg_pool_forward_naive, avg_pool_backward_naive),
])
def test_uncovered_rows_and_columns_get_exactly_zero_gradient(config, forward, backward):
    shape, ph, pw, stride = config
    x = np.random.default_rng(1).standard_normal(shape)
    out, cache = forward(x, _pool(ph, pw, stride))
    dx = backward(np.ones(out.shape), cache)
    rows = np.zeros(shape[2], bool)
    cols = np.zeros(shape[3], bool)
    for i in range(out.shape[2]):
        rows[i * stride:i * stride + ph] = True
    for j in range(out.shape[3]):
        cols[j * stride:j * stride + pw] = True
    assert np.all(dx[:, :, ~rows, :] == 0.0) and np.all(dx[:, :, :, ~cols] == 0.0)


def test_non_tiling_pool_leaves_the_last_column_uncovered():
    x = np.random.default_rng(2).standard_normal((1, 1, 5, 5))
    for forward, backward in ((max_pool_forward_naive, max_pool_backward_naive),
                              (avg_pool_forward_naive, avg_pool_backward_naive)):
        out, cache = forward(x, _pool(2, 2, 2))
        assert out.shape == (1, 1, 2, 2)
        dx = backward(np.ones(out.shape), cache)
        assert np.all(dx[0, 0, 4, :] == 0.0) and np.all(dx[0, 0, :, 4] == 0.0)


def test_ties_first_sends_the_gradient_to_the_first_maximum_in_row_major_order():
    x = np.array([[1.0, 2.0], [2.0, 2.0]]).reshape(1, 1, 2, 2)
    _, cache = max_pool_forward_naive(x, _pool(2, 2, 2))
    dx = max_pool_backward_naive(np.array([[[[5.0]]]]), cache)
    np.testing.assert_array_equal(dx[0, 0], [[0.0, 5.0], [0.0, 0.0]])


def test_ties_all_sends_the_full_gradient_to_every_maximum():
    x = np.array([[1.0, 2.0], [2.0, 2.0]]).reshape(1, 1, 2, 2)
    _, cache = max_pool_forward_naive(x, _pool(2, 2, 2))
    dx = max_pool_backward_naive(np.array([[[[5.0]]]]), cache, ties="all")
    np.testing.assert_array_equal(dx[0, 0], [[0.0, 5.0], [5.0, 5.0]])


def test_ties_all_equals_first_without_ties():
    x = np.random.default_rng(3).standard_normal((2, 3, 6, 5))
    out, cache = max_pool_forward_naive(x, _pool(3, 2, 1))
    dout = np.random.default_rng(4).standard_normal(out.shape)
    np.testing.assert_array_equal(max_pool_backward_naive(dout, cache, ties="all"),
                                  max_pool_backward_naive(dout, cache))


def test_ties_across_overlapping_windows():
    # windows [2, 2] and [2, 0]: first-max sends both gradients to entry 0 and 1; 'all' over-counts
    x, p = _row([2.0, 2.0, 0.0], 2, 1)
    _, cache = max_pool_forward_naive(x, p)
    dout = np.array([[[[1.0, 10.0]]]])
    np.testing.assert_array_equal(max_pool_backward_naive(dout, cache)[0, 0, 0], [1.0, 10.0, 0.0])
    np.testing.assert_array_equal(max_pool_backward_naive(dout, cache, ties="all")[0, 0, 0],
                                  [1.0, 11.0, 0.0])


def test_nan_window_outputs_nan():
    x, p = _row([1.0, NAN, 3.0, 0.0, 5.0, 4.0], 3, 3)
    out, _ = max_pool_forward_naive(x, p)
    assert np.isnan(out[0, 0, 0, 0]) and out[0, 0, 0, 1] == 5.0


def test_nan_window_sends_the_gradient_to_its_last_nan():
    x, p = _row([NAN, 7.0, NAN, 1.0], 4, 1)
    _, cache = max_pool_forward_naive(x, p)
    dx = max_pool_backward_naive(np.array([[[[3.0]]]]), cache)
    np.testing.assert_array_equal(dx[0, 0, 0], [0.0, 0.0, 3.0, 0.0])


def test_nan_last_in_row_major_order_in_two_dimensions():
    x = np.array([[1.0, NAN], [NAN, 2.0]]).reshape(1, 1, 2, 2)
    _, cache = max_pool_forward_naive(x, _pool(2, 2, 2))
    dx = max_pool_backward_naive(np.array([[[[1.0]]]]), cache)
    np.testing.assert_array_equal(dx[0, 0], [[0.0, 0.0], [1.0, 0.0]])


def test_nan_with_ties_all_sends_the_gradient_to_every_nan():
    x, p = _row([NAN, 7.0, NAN, 7.0], 4, 1)
    _, cache = max_pool_forward_naive(x, p)
    dx = max_pool_backward_naive(np.array([[[[3.0]]]]), cache, ties="all")
    np.testing.assert_array_equal(dx[0, 0, 0], [3.0, 0.0, 3.0, 0.0])


def test_nan_beats_positive_infinity():
    x, p = _row([np.inf, NAN], 2, 2)
    out, cache = max_pool_forward_naive(x, p)
    assert np.isnan(out[0, 0, 0, 0])
    np.testing.assert_array_equal(max_pool_backward_naive(np.ones((1, 1, 1, 1)), cache)[0, 0, 0],
                                  [0.0, 1.0])


def test_window_of_minus_infinity_sends_the_gradient_to_its_first_entry():
    x, p = _row([-np.inf, -np.inf, -np.inf], 3, 1)
    out, cache = max_pool_forward_naive(x, p)
    assert out[0, 0, 0, 0] == -np.inf
    np.testing.assert_array_equal(max_pool_backward_naive(np.ones((1, 1, 1, 1)), cache)[0, 0, 0],
                                  [1.0, 0.0, 0.0])


def test_max_pool_works_per_image_and_channel():
    x = np.zeros((2, 2, 2, 2))
    x[0, 0, 0, 0] = x[0, 1, 0, 1] = x[1, 0, 1, 0] = x[1, 1, 1, 1] = 1.0
    _, cache = max_pool_forward_naive(x, _pool(2, 2, 2))
    dx = max_pool_backward_naive(np.arange(1.0, 5.0).reshape(2, 2, 1, 1), cache)
    np.testing.assert_array_equal(dx, x * np.arange(1.0, 5.0).reshape(2, 2, 1, 1))


@pytest.mark.parametrize("forward,backward", [
    (max_pool_forward_naive, max_pool_backward_naive),
    (avg_pool_forward_naive, avg_pool_backward_naive),
])
def test_float32_in_float32_out(forward, backward):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 3, 5, 6)).astype(np.float32)
    p = _pool(3, 2, 2)
    out, cache = forward(x, p)
    dout = rng.standard_normal(out.shape).astype(np.float32)
    dx = backward(dout, cache)
    assert out.dtype == np.float32 and dx.dtype == np.float32
    out64, cache64 = forward(x.astype(np.float64), p)
    assert norm_rel_error(out, out64) < 1e-6
    assert norm_rel_error(dx, backward(dout.astype(np.float64), cache64)) < 1e-6


# --- validation: each bad input gets a clear ValueError -------------------------------------

def test_bad_ties():
    x = np.zeros((1, 1, 2, 2))
    _, cache = max_pool_forward_naive(x, _pool(2, 2, 2))
    with pytest.raises(ValueError, match=r"ties must be 'first' or 'all', got 'mask'"):
        max_pool_backward_naive(np.ones((1, 1, 1, 1)), cache, ties="mask")


@pytest.mark.parametrize("forward,backward", [
    (max_pool_forward_naive, max_pool_backward_naive),
    (avg_pool_forward_naive, avg_pool_backward_naive),
])
def test_dout_of_wrong_shape(forward, backward):
    _, cache = forward(np.zeros((2, 3, 4, 4)), _pool(2, 2, 2))
    with pytest.raises(ValueError, match=r"dout has shape \(2, 3, 2, 1\) but the forward pass "
                                         r"produced \(2, 3, 2, 2\)"):
        backward(np.zeros((2, 3, 2, 1)), cache)


@pytest.mark.parametrize("forward", [max_pool_forward_naive, avg_pool_forward_naive])
def test_pool_larger_than_input(forward):
    with pytest.raises(ValueError, match=r"pool_width 5 is larger than the input width 4"):
        forward(np.zeros((1, 1, 4, 4)), _pool(2, 5, 1))


@pytest.mark.parametrize("forward", [max_pool_forward_naive, avg_pool_forward_naive])
def test_x_with_wrong_ndim(forward):
    with pytest.raises(ValueError, match=r"x must have 4 dimensions .* got 2"):
        forward(np.zeros((4, 4)), _pool(2, 2, 2))


@pytest.mark.parametrize("forward", [max_pool_forward_naive, avg_pool_forward_naive])
def test_missing_pool_width(forward):
    with pytest.raises(ValueError, match=r"pool_param is missing \['pool_width'\]"):
        forward(np.zeros((1, 1, 4, 4)), {"pool_height": 2, "stride": 2})


@pytest.mark.parametrize("forward", [max_pool_forward_naive, avg_pool_forward_naive])
def test_zero_stride(forward):
    with pytest.raises(ValueError, match=r"stride must be >= 1, got 0"):
        forward(np.zeros((1, 1, 4, 4)), _pool(2, 2, 0))

"""im2col / col2im: layout and ordering, adjointness, padding 0, windows that do not tile,
dilation; the im2col convolution and the im2col / reshape max pools against loop oracles,
numerical gradients and the naive layers; validation messages."""

import itertools

import numpy as np
import pytest

from cnn_utils.gradcheck import eval_numerical_gradient_array, norm_rel_error, rel_error
from cnn_utils.reference import (col2im_indices, conv_backward_im2col, conv_backward_naive,
                                 conv_forward_im2col, conv_forward_naive, get_im2col_indices,
                                 im2col_indices, max_pool_backward_im2col, max_pool_backward_naive,
                                 max_pool_backward_reshape, max_pool_forward_im2col,
                                 max_pool_forward_naive, max_pool_forward_reshape)
from cnn_utils.reference.im2col import window_argmax

# x shape, field height, field width, padding, stride, dilation
LAYOUTS = [
    ((2, 3, 5, 4), 3, 2, 1, 1, 1),
    ((3, 2, 6, 7), 2, 3, 0, 2, 1),    # padding 0
    ((2, 2, 7, 6), 3, 3, 0, 3, 1),    # does not tile: last row / columns uncovered
    ((1, 2, 8, 5), 2, 2, 2, 2, 2),    # dilation with stride
    ((2, 1, 4, 6), 3, 2, 3, 1, 2),
    ((2, 3, 4, 4), 1, 1, 0, 1, 1),
]

# (N, C, H, W), (F, C, HH, WW), stride, pad, dilation: strides 1-3, pads 0-3, dilation 1-2
GRADCHECK_GRID = [
    ((2, 3, 5, 4), (2, 3, 3, 2), 1, 0, 1),
    ((2, 2, 6, 5), (3, 2, 2, 3), 2, 1, 1),
    ((2, 2, 7, 6), (2, 2, 3, 3), 3, 0, 1),
    ((2, 2, 4, 5), (2, 2, 2, 2), 1, 3, 1),
    ((1, 2, 6, 7), (2, 2, 2, 3), 1, 0, 2),
    ((2, 2, 5, 5), (2, 2, 3, 2), 2, 2, 2),
    ((2, 3, 5, 3), (2, 3, 2, 2), 3, 3, 2),
]


def _rng(seed=0):
    return np.random.default_rng(seed)


def _window_oracle(x, fh, fw, pad, stride, dilation):
    """Loop oracle: {(n, oh, ow): window flattened in (channel, kernel row, kernel col) order}."""
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    out_h = (xp.shape[2] - dilation * (fh - 1) - 1) // stride + 1
    out_w = (xp.shape[3] - dilation * (fw - 1) - 1) // stride + 1
    windows = {}
    for n, oh, ow in itertools.product(range(x.shape[0]), range(out_h), range(out_w)):
        top, left = oh * stride, ow * stride
        windows[n, oh, ow] = np.array([xp[n, c, top + kh * dilation, left + kw * dilation]
                                       for c in range(x.shape[1])
                                       for kh in range(fh) for kw in range(fw)])
    return windows, out_h, out_w


@pytest.mark.parametrize("layout", LAYOUTS)
def test_im2col_columns_are_position_major_sample_minor(layout):
    x_shape, fh, fw, pad, stride, dilation = layout
    x = _rng().standard_normal(x_shape)
    cols = im2col_indices(x, fh, fw, pad, stride, dilation)
    windows, out_h, out_w = _window_oracle(x, fh, fw, pad, stride, dilation)
    N = x_shape[0]
    assert cols.shape == (x_shape[1] * fh * fw, out_h * out_w * N)
    for (n, oh, ow), window in windows.items():
        np.testing.assert_array_equal(cols[:, (oh * out_w + ow) * N + n], window)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_get_im2col_indices_gather_the_windows(layout):
    x_shape, fh, fw, pad, stride, dilation = layout
    x = _rng(1).standard_normal(x_shape)
    k, i, j = get_im2col_indices(x_shape, fh, fw, pad, stride, dilation)
    windows, out_h, out_w = _window_oracle(x, fh, fw, pad, stride, dilation)
    assert k.shape == (x_shape[1] * fh * fw, 1) and i.shape == j.shape == (k.shape[0], out_h * out_w)
    gathered = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))[:, k, i, j]
    for (n, oh, ow), window in windows.items():
        np.testing.assert_array_equal(gathered[n, :, oh * out_w + ow], window)


def test_dout_transposed_lines_up_with_the_columns():
    """w @ cols is the convolution laid out as dout.transpose(1, 2, 3, 0).reshape(F, -1)."""
    rng = _rng(2)
    x, w = rng.standard_normal((3, 2, 6, 5)), rng.standard_normal((4, 2, 3, 2))
    param = {"stride": 2, "pad": 1}
    out, cache = conv_forward_naive(x, w, np.zeros(4), param)
    cols = im2col_indices(x, 3, 2, padding=1, stride=2)
    np.testing.assert_allclose(w.reshape(4, -1) @ cols, out.transpose(1, 2, 3, 0).reshape(4, -1),
                               rtol=1e-12, atol=1e-12)
    dout = rng.standard_normal(out.shape)
    _, dw, _ = conv_backward_naive(dout, cache)
    np.testing.assert_allclose(dout.transpose(1, 2, 3, 0).reshape(4, -1) @ cols.T, dw.reshape(4, -1),
                               rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_col2im_is_the_adjoint_of_im2col(layout):
    x_shape, fh, fw, pad, stride, dilation = layout
    rng = _rng(3)
    x = rng.standard_normal(x_shape)
    cols = im2col_indices(x, fh, fw, pad, stride, dilation)
    c = rng.standard_normal(cols.shape)
    back = col2im_indices(c, x_shape, fh, fw, pad, stride, dilation)
    assert back.shape == x_shape
    assert abs(np.sum(cols * c) - np.sum(x * back)) < 1e-10 * np.sum(np.abs(cols * c))


@pytest.mark.parametrize("layout", LAYOUTS)
def test_col2im_of_ones_counts_the_windows_covering_each_entry(layout):
    x_shape, fh, fw, pad, stride, dilation = layout
    N, C, H, W = x_shape
    windows, out_h, out_w = _window_oracle(np.zeros(x_shape), fh, fw, pad, stride, dilation)
    counts = np.zeros((H + 2 * pad, W + 2 * pad))
    for oh, ow, kh, kw in itertools.product(range(out_h), range(out_w), range(fh), range(fw)):
        counts[oh * stride + kh * dilation, ow * stride + kw * dilation] += 1
    expected = np.broadcast_to(counts[pad:pad + H, pad:pad + W], x_shape)
    ones = np.ones((C * fh * fw, out_h * out_w * N))
    np.testing.assert_array_equal(col2im_indices(ones, x_shape, fh, fw, pad, stride, dilation), expected)


def test_col2im_with_padding_0_keeps_every_row_and_column():
    """The x_padded[pad:-pad] trap returns an empty array when pad is 0."""
    x = _rng(4).standard_normal((2, 2, 4, 5))
    cols = im2col_indices(x, 1, 1, padding=0, stride=1)
    np.testing.assert_array_equal(col2im_indices(cols, x.shape, 1, 1, padding=0, stride=1), x)


def test_col2im_gives_zero_to_uncovered_rows_and_columns():
    x_shape = (1, 1, 7, 8)  # 3x3 windows, stride 3: 2x2 windows, row 6 and columns 6-7 unread
    dx = col2im_indices(np.ones((9, 2 * 2)), x_shape, 3, 3, padding=0, stride=3)
    assert np.all(dx[0, 0, 6, :] == 0) and np.all(dx[0, 0, :, 6:] == 0)
    assert np.all(dx[0, 0, :6, :6] == 1)


def test_im2col_keeps_float32():
    x = _rng().standard_normal((2, 2, 5, 5)).astype(np.float32)
    cols = im2col_indices(x, 3, 3, 1, 1)
    assert cols.dtype == np.float32
    assert col2im_indices(cols, x.shape, 3, 3, 1, 1).dtype == np.float32


def _conv_case(x_shape, w_shape, stride, pad, dilation, seed=0, dtype=np.float64):
    rng = _rng(seed)
    return (rng.standard_normal(x_shape).astype(dtype), rng.standard_normal(w_shape).astype(dtype),
            rng.standard_normal(w_shape[0]).astype(dtype),
            {"stride": stride, "pad": pad, "dilation": dilation})


@pytest.mark.parametrize("case", GRADCHECK_GRID)
def test_conv_im2col_numerical_gradients(case):
    x, w, b, param = _conv_case(*case)
    out, cache = conv_forward_im2col(x, w, b, param)
    dout = _rng(5).standard_normal(out.shape)
    dx, dw, db = conv_backward_im2col(dout, cache)
    assert out.shape[:2] == (x.shape[0], w.shape[0])
    assert rel_error(dx, eval_numerical_gradient_array(
        lambda a: conv_forward_im2col(a, w, b, param)[0], x, dout)) < 1e-7
    assert rel_error(dw, eval_numerical_gradient_array(
        lambda a: conv_forward_im2col(x, a, b, param)[0], w, dout)) < 1e-7
    assert rel_error(db, eval_numerical_gradient_array(
        lambda a: conv_forward_im2col(x, w, a, param)[0], b, dout)) < 1e-7


@pytest.mark.parametrize("case", GRADCHECK_GRID)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_conv_im2col_agrees_with_naive_and_keeps_dtype(case, dtype):
    x, w, b, param = _conv_case(*case, seed=6, dtype=dtype)
    out, cache = conv_forward_im2col(x, w, b, param)
    expected_out, naive_cache = conv_forward_naive(x, w, b, param)
    dout = _rng(7).standard_normal(out.shape).astype(dtype)
    tol = 1e-12 if dtype == np.float64 else 1e-5
    got = (out,) + conv_backward_im2col(dout, cache)
    expected = (expected_out,) + tuple(conv_backward_naive(dout, naive_cache))
    for g, e in zip(got, expected, strict=True):
        assert g.dtype == dtype and g.shape == e.shape
        assert norm_rel_error(g, e) < tol
    assert cache[4].shape == (x.shape[1] * w.shape[2] * w.shape[3], out[0, 0].size * x.shape[0])


def _pool_case(x_shape, values, seed):
    """Random input; 'ties' draws from {0, 1, 2}; 'nan' adds NaN and +-inf to the ties."""
    rng = _rng(seed)
    if values == "normal":
        return rng.standard_normal(x_shape)
    x = rng.integers(0, 3, size=x_shape).astype(np.float64)
    if values == "nan":
        x[rng.random(x_shape) < 0.2] = np.nan
        x[rng.random(x_shape) < 0.05] = np.inf
        x[rng.random(x_shape) < 0.05] = -np.inf
    return x


def _pool_oracle(x, ph, pw, stride, dout):
    """Loop oracle: the gradient of each window goes to its last NaN, else its first maximum."""
    N, C, H, W = x.shape
    out_h, out_w = (H - ph) // stride + 1, (W - pw) // stride + 1
    out, dx = np.zeros((N, C, out_h, out_w)), np.zeros(x.shape)
    for n, c, i, j in itertools.product(range(N), range(C), range(out_h), range(out_w)):
        window = x[n, c, i * stride:i * stride + ph, j * stride:j * stride + pw].ravel()
        nans = np.flatnonzero(np.isnan(window))
        k = nans[-1] if nans.size else int(np.argmax(window))
        out[n, c, i, j] = window[k]
        dx[n, c, i * stride + k // pw, j * stride + k % pw] += dout[n, c, i, j]
    return out, dx


# x shape, pool height, pool width, stride
POOLS = [
    ((2, 3, 6, 6), 2, 2, 2),
    ((2, 2, 7, 5), 2, 2, 2),      # reshape path with an uncropped remainder
    ((2, 2, 7, 8), 3, 3, 3),
    ((1, 3, 7, 7), 3, 3, 2),      # overlapping
    ((2, 2, 6, 7), 3, 2, 1),      # overlapping, non-square
    ((2, 1, 9, 6), 2, 3, 3),      # gaps between windows
    ((1, 2, 5, 5), 1, 1, 2),
]
IM2COL_POOL = (max_pool_forward_im2col, max_pool_backward_im2col)
RESHAPE_POOL = (max_pool_forward_reshape, max_pool_backward_reshape)


@pytest.mark.parametrize("values", ["normal", "ties", "nan"])
@pytest.mark.parametrize("pool", POOLS)
def test_pool_im2col_and_reshape_match_the_loop_oracle(pool, values):
    x_shape, ph, pw, stride = pool
    x = _pool_case(x_shape, values, seed=8)
    param = {"pool_height": ph, "pool_width": pw, "stride": stride}
    variants = [IM2COL_POOL] + ([RESHAPE_POOL] if ph == pw == stride else [])
    for forward, backward in variants:
        out, cache = forward(x, param)
        dout = _rng(9).standard_normal(out.shape)
        expected_out, expected_dx = _pool_oracle(x, ph, pw, stride, dout)
        np.testing.assert_array_equal(out, expected_out)
        np.testing.assert_allclose(backward(dout, cache), expected_dx, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("values", ["ties", "nan"])
def test_pool_im2col_agrees_with_naive(values):
    x = _pool_case((2, 3, 9, 8), values, seed=10)
    param = {"pool_height": 3, "pool_width": 2, "stride": 2}
    out, cache = max_pool_forward_im2col(x, param)
    expected_out, naive_cache = max_pool_forward_naive(x, param)
    np.testing.assert_array_equal(out, expected_out)
    dout = _rng(11).standard_normal(out.shape)
    np.testing.assert_array_equal(max_pool_backward_im2col(dout, cache),
                                  max_pool_backward_naive(dout, naive_cache))


@pytest.mark.parametrize("forward,backward", [IM2COL_POOL, RESHAPE_POOL])
def test_pool_numerical_gradient(forward, backward):
    x = _rng(12).standard_normal((2, 2, 6, 6))
    param = {"pool_height": 2, "pool_width": 2, "stride": 2}
    out, cache = forward(x, param)
    dout = _rng(13).standard_normal(out.shape)
    numeric = eval_numerical_gradient_array(lambda a: forward(a, param)[0], x, dout)
    assert rel_error(backward(dout, cache), numeric) < 1e-8


@pytest.mark.parametrize("forward,backward", [IM2COL_POOL, RESHAPE_POOL])
def test_pool_keeps_float32(forward, backward):
    x = _rng(14).standard_normal((2, 2, 6, 6)).astype(np.float32)
    out, cache = forward(x, {"pool_height": 2, "pool_width": 2, "stride": 2})
    assert out.dtype == np.float32
    assert backward(np.ones_like(out), cache).dtype == np.float32


def test_window_argmax_first_maximum_else_last_nan():
    windows = np.array([[1.0, 3.0, 3.0, 0.0],
                        [np.nan, 5.0, np.nan, 1.0],
                        [-np.inf, -np.inf, -np.inf, -np.inf],
                        [np.inf, np.nan, np.inf, 2.0]])
    np.testing.assert_array_equal(window_argmax(windows, axis=1), [1, 2, 0, 1])
    np.testing.assert_array_equal(window_argmax(windows.T, axis=0), [1, 2, 0, 1])


# --- validation: every bad input gets a ValueError naming its numbers

def test_get_im2col_indices_rejects_a_bad_shape():
    with pytest.raises(ValueError, match=r"x_shape must be \(N, C, H, W\).*\(2, 3, 4\)"):
        get_im2col_indices((2, 3, 4), 2, 2)
    with pytest.raises(ValueError, match=r"positive integer sizes, got \(0, 3, 4, 4\)"):
        get_im2col_indices((0, 3, 4, 4), 2, 2)
    with pytest.raises(ValueError, match="x_shape must be"):
        get_im2col_indices(None, 2, 2)


def test_im2col_rejects_a_window_larger_than_the_padded_input():
    with pytest.raises(ValueError, match=r"kernel height 5 .* larger than the padded input height 4 = 2 \+ 2\*1"):
        im2col_indices(np.zeros((1, 1, 2, 2)), 5, 1, padding=1)
    with pytest.raises(ValueError, match="dilation 2 makes it span 5"):
        im2col_indices(np.zeros((1, 1, 4, 4)), 3, 3, padding=0, dilation=2)


def test_im2col_rejects_bad_stride_and_array():
    with pytest.raises(ValueError, match="stride must be >= 1, got 0"):
        im2col_indices(np.zeros((1, 1, 4, 4)), 2, 2, stride=0)
    with pytest.raises(ValueError, match=r"x must have 4 dimensions .* got 3"):
        im2col_indices(np.zeros((1, 4, 4)), 2, 2)


def test_col2im_rejects_cols_of_the_wrong_shape():
    with pytest.raises(ValueError, match=r"cols has shape \(8, 9\) but .* needs \(9, 9\)"):
        col2im_indices(np.zeros((8, 9)), (1, 1, 3, 3), 3, 3, padding=1)
    with pytest.raises(ValueError, match="cols must have 2 dimensions"):
        col2im_indices(np.zeros((9, 9, 1)), (1, 1, 3, 3), 3, 3, padding=1)


def test_conv_im2col_rejects_bad_input():
    with pytest.raises(ValueError, match="channel mismatch: x has C=3 channels but w expects 2"):
        conv_forward_im2col(np.zeros((1, 3, 4, 4)), np.zeros((2, 2, 2, 2)), np.zeros(2),
                            {"stride": 1, "pad": 0})
    with pytest.raises(ValueError, match=r"conv_param is missing \['pad'\]"):
        conv_forward_im2col(np.zeros((1, 1, 4, 4)), np.zeros((2, 1, 2, 2)), np.zeros(2), {"stride": 1})
    _, cache = conv_forward_im2col(np.zeros((1, 1, 4, 4)), np.zeros((2, 1, 2, 2)), np.zeros(2),
                                   {"stride": 1, "pad": 0})
    with pytest.raises(ValueError, match=r"dout has shape \(1, 2, 4, 4\) but the forward pass produced \(1, 2, 3, 3\)"):
        conv_backward_im2col(np.zeros((1, 2, 4, 4)), cache)


@pytest.mark.parametrize("forward,backward", [IM2COL_POOL, RESHAPE_POOL])
def test_pools_reject_bad_input(forward, backward):
    with pytest.raises(ValueError, match="pool_height 5 is larger than the input height 4"):
        forward(np.zeros((1, 1, 4, 4)), {"pool_height": 5, "pool_width": 5, "stride": 5})
    with pytest.raises(ValueError, match=r"pool_param is missing \['stride'\]"):
        forward(np.zeros((1, 1, 4, 4)), {"pool_height": 2, "pool_width": 2})
    _, cache = forward(np.zeros((1, 1, 4, 4)), {"pool_height": 2, "pool_width": 2, "stride": 2})
    with pytest.raises(ValueError, match=r"dout has shape \(1, 1, 3, 3\) but the forward pass produced \(1, 1, 2, 2\)"):
        backward(np.zeros((1, 1, 3, 3)), cache)


def test_reshape_pool_rejects_windows_that_do_not_tile():
    with pytest.raises(ValueError, match="pool_height=3, pool_width=3, stride=2"):
        max_pool_forward_reshape(np.zeros((1, 1, 7, 7)), {"pool_height": 3, "pool_width": 3, "stride": 2})
    with pytest.raises(ValueError, match="pool_height == pool_width == stride.*pool_width=3"):
        max_pool_forward_reshape(np.zeros((1, 1, 6, 6)), {"pool_height": 2, "pool_width": 3, "stride": 2})

"""Layout adapters: Coursera DLS NHWC (nhwc) and Numpy-CNN single image (single_image) equal the
NCHW reference after transposition, with the course's mask/average and nanargmax semantics."""

import numpy as np
import pytest

from cnn_utils.gradcheck import norm_rel_error
from cnn_utils.reference import (avg_pool_backward_naive, avg_pool_forward_naive,
                                 conv_backward_naive, conv_forward_naive, max_pool_backward_naive,
                                 max_pool_forward_naive, nhwc, single_image)

NAN = np.nan


def to_nchw(a):
    return a.transpose(0, 3, 1, 2)


def to_nhwc(a):
    return a.transpose(0, 2, 3, 1)


def _nhwc_conv_case(seed=0, dtype=np.float64, m=2, n_h=6, n_w=5, c_prev=3, f=3, c=4):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((m, n_h, n_w, c_prev)).astype(dtype),
            rng.standard_normal((f, f, c_prev, c)).astype(dtype),
            rng.standard_normal((1, 1, 1, c)).astype(dtype))


def _windows(shape_hw, f, stride):
    """(row slice, col slice, i, j) of every f x f window, stride ``stride``."""
    n_h = (shape_hw[0] - f) // stride + 1
    n_w = (shape_hw[1] - f) // stride + 1
    return [(slice(i * stride, i * stride + f), slice(j * stride, j * stride + f), i, j)
            for i in range(n_h) for j in range(n_w)]


# --- Coursera DLS, NHWC ----------------------------------------------------------------------

def test_zero_pad_pads_height_and_width_only():
    X = np.arange(24.0).reshape(2, 3, 2, 2)
    X_pad = nhwc.zero_pad(X, 2)
    assert X_pad.shape == (2, 7, 6, 2)
    np.testing.assert_array_equal(X_pad[:, 2:-2, 2:-2, :], X)
    assert X_pad.sum() == X.sum()


def test_zero_pad_zero_is_the_identity():
    X = np.arange(24.0).reshape(2, 3, 2, 2)
    np.testing.assert_array_equal(nhwc.zero_pad(X, 0), X)


@pytest.mark.parametrize("stride,pad", [(1, 0), (2, 1), (3, 2), (1, 3)])
def test_conv_forward_and_backward_equal_the_nchw_reference(stride, pad):
    A_prev, W, b = _nhwc_conv_case(seed=stride + pad)
    hp = {"stride": stride, "pad": pad}
    Z, cache = nhwc.conv_forward(A_prev, W, b, hp)
    x, w, b_flat = to_nchw(A_prev), W.transpose(3, 2, 0, 1), b.reshape(-1)
    out, nchw_cache = conv_forward_naive(x, w, b_flat, hp)
    np.testing.assert_allclose(Z, to_nhwc(out), rtol=1e-12)
    dZ = np.random.default_rng(7).standard_normal(Z.shape)
    dA_prev, dW, db = nhwc.conv_backward(dZ, cache)
    dx, dw, db_flat = conv_backward_naive(to_nchw(dZ), nchw_cache)
    assert dA_prev.shape == A_prev.shape and dW.shape == W.shape and db.shape == b.shape
    np.testing.assert_allclose(dA_prev, to_nhwc(dx), rtol=1e-12)
    np.testing.assert_allclose(dW, dw.transpose(2, 3, 1, 0), rtol=1e-12)
    np.testing.assert_allclose(db.reshape(-1), db_flat, rtol=1e-12)


def test_conv_forward_hand_example():
    # one 3x3 image, one channel, a 2x2 kernel: Z[h, w] = sum(window * W) + b
    A_prev = np.arange(1.0, 10.0).reshape(1, 3, 3, 1)
    W = np.array([[1.0, 2.0], [3.0, 4.0]]).reshape(2, 2, 1, 1)
    Z, cache = nhwc.conv_forward(A_prev, W, np.ones((1, 1, 1, 1)), {"stride": 1, "pad": 0})
    np.testing.assert_array_equal(Z[0, :, :, 0], [[38.0, 48.0], [68.0, 78.0]])
    assert cache[3] == {"stride": 1, "pad": 0}


@pytest.mark.parametrize("mode,forward,backward", [
    ("max", max_pool_forward_naive, max_pool_backward_naive),
    ("average", avg_pool_forward_naive, avg_pool_backward_naive),
])
def test_pool_equals_the_nchw_reference(mode, forward, backward):
    A_prev = np.random.default_rng(3).standard_normal((2, 7, 6, 3))
    hp = {"f": 3, "stride": 2}
    A, cache = nhwc.pool_forward(A_prev, hp, mode=mode)
    pool_param = {"pool_height": 3, "pool_width": 3, "stride": 2}
    out, nchw_cache = forward(to_nchw(A_prev), pool_param)
    np.testing.assert_array_equal(A, to_nhwc(out))
    dA = np.random.default_rng(4).standard_normal(A.shape)
    np.testing.assert_allclose(nhwc.pool_backward(dA, cache, mode=mode),
                               to_nhwc(backward(to_nchw(dA), nchw_cache)), rtol=1e-12)


def test_pool_forward_defaults_to_max():
    A_prev = np.random.default_rng(3).standard_normal((1, 4, 4, 2))
    A, _ = nhwc.pool_forward(A_prev, {"f": 2, "stride": 2})
    np.testing.assert_array_equal(A, A_prev.reshape(1, 2, 2, 2, 2, 2).max(axis=(2, 4)))


def _course_mask_backward(dA, A_prev, f, stride):
    """The course's max-pool backward: dA times (window == max of window), accumulated."""
    dA_prev = np.zeros_like(A_prev)
    for m in range(A_prev.shape[0]):
        for c in range(A_prev.shape[3]):
            for rows, cols, i, j in _windows(A_prev.shape[1:3], f, stride):
                window = A_prev[m, rows, cols, c]
                dA_prev[m, rows, cols, c] += (window == window.max()) * dA[m, i, j, c]
    return dA_prev


def _course_average_backward(dA, A_prev, f, stride):
    """The course's average-pool backward: dA / (f*f) spread over the window, accumulated."""
    dA_prev = np.zeros_like(A_prev)
    for rows, cols, i, j in _windows(A_prev.shape[1:3], f, stride):
        dA_prev[:, rows, cols, :] += dA[:, i, j, None, None, :] / (f * f)
    return dA_prev


@pytest.mark.parametrize("f,stride", [(2, 2), (3, 1), (2, 3)])
def test_course_mask_semantics_is_ties_all(f, stride):
    A_prev = np.random.default_rng(f + stride).integers(0, 3, (2, 6, 7, 2)).astype(np.float64)
    hp = {"f": f, "stride": stride}
    A, cache = nhwc.pool_forward(A_prev, hp)
    dA = np.random.default_rng(5).standard_normal(A.shape)
    np.testing.assert_allclose(nhwc.pool_backward(dA, cache, ties="all"),
                               _course_mask_backward(dA, A_prev, f, stride), rtol=1e-12)


def test_ties_first_differs_from_the_course_mask_on_ties():
    A_prev = np.ones((1, 2, 2, 1))
    A, cache = nhwc.pool_forward(A_prev, {"f": 2, "stride": 2})
    dA_prev = nhwc.pool_backward(np.ones(A.shape), cache)
    np.testing.assert_array_equal(dA_prev[0, :, :, 0], [[1.0, 0.0], [0.0, 0.0]])


@pytest.mark.parametrize("f,stride", [(2, 2), (3, 1), (2, 3)])
def test_course_average_semantics(f, stride):
    A_prev = np.random.default_rng(f * stride).standard_normal((2, 6, 7, 2))
    A, cache = nhwc.pool_forward(A_prev, {"f": f, "stride": stride}, mode="average")
    dA = np.random.default_rng(6).standard_normal(A.shape)
    np.testing.assert_allclose(nhwc.pool_backward(dA, cache, mode="average"),
                               _course_average_backward(dA, A_prev, f, stride), rtol=1e-12)


def test_nhwc_float32_in_float32_out():
    A_prev, W, b = _nhwc_conv_case(dtype=np.float32)
    Z, cache = nhwc.conv_forward(A_prev, W, b, {"stride": 2, "pad": 1})
    grads = nhwc.conv_backward(np.ones_like(Z), cache)
    assert Z.dtype == np.float32 and all(g.dtype == np.float32 for g in grads)
    assert nhwc.zero_pad(A_prev, 1).dtype == np.float32
    for mode in ("max", "average"):
        A, cache = nhwc.pool_forward(A_prev, {"f": 2, "stride": 2}, mode=mode)
        assert A.dtype == np.float32
        assert nhwc.pool_backward(np.ones_like(A), cache, mode=mode).dtype == np.float32


def test_zero_pad_negative_pad():
    with pytest.raises(ValueError, match=r"pad must be >= 0, got -1"):
        nhwc.zero_pad(np.zeros((1, 2, 2, 1)), -1)


def test_zero_pad_wrong_ndim():
    with pytest.raises(ValueError, match=r"X must have 4 dimensions \(m, n_H, n_W, n_C\), got 3"):
        nhwc.zero_pad(np.zeros((2, 2, 1)), 1)


def test_conv_forward_W_with_wrong_ndim():
    A_prev, W, b = _nhwc_conv_case()
    with pytest.raises(ValueError, match=r"W must have 4 dimensions \(f, f, n_C_prev, n_C\)"):
        nhwc.conv_forward(A_prev, W[..., 0], b, {"stride": 1, "pad": 0})


def test_conv_forward_W_in_the_nchw_layout():
    A_prev, W, b = _nhwc_conv_case(c_prev=2)
    with pytest.raises(ValueError, match=r"A_prev has n_C_prev=2 channels but W expects 3"):
        nhwc.conv_forward(A_prev, W.transpose(3, 2, 0, 1), b, {"stride": 1, "pad": 0})


def test_conv_forward_b_as_a_vector():
    A_prev, W, b = _nhwc_conv_case()
    with pytest.raises(ValueError, match=r"b must have 4 dimensions \(1, 1, 1, n_C\), got 1"):
        nhwc.conv_forward(A_prev, W, b.reshape(-1), {"stride": 1, "pad": 0})


def test_conv_forward_b_of_wrong_shape():
    A_prev, W, b = _nhwc_conv_case()
    with pytest.raises(ValueError, match=r"b must have shape \(1, 1, 1, n_C\) = \(1, 1, 1, 4\), "
                                         r"got \(1, 1, 1, 3\)"):
        nhwc.conv_forward(A_prev, W, b[..., :3], {"stride": 1, "pad": 0})


def test_conv_forward_A_prev_with_wrong_ndim():
    A_prev, W, b = _nhwc_conv_case()
    with pytest.raises(ValueError, match=r"A_prev must have 4 dimensions"):
        nhwc.conv_forward(A_prev[0], W, b, {"stride": 1, "pad": 0})


def test_conv_backward_dZ_of_wrong_shape():
    A_prev, W, b = _nhwc_conv_case()
    Z, cache = nhwc.conv_forward(A_prev, W, b, {"stride": 1, "pad": 0})
    assert Z.shape == (2, 4, 3, 4)
    with pytest.raises(ValueError, match=r"dZ has shape \(2, 4, 4, 3\) but the forward pass produced "
                                         r"\(2, 4, 3, 4\)"):
        nhwc.conv_backward(np.zeros((2, 4, 4, 3)), cache)


@pytest.mark.parametrize("call", [
    lambda A: nhwc.pool_forward(A, {"f": 2, "stride": 2}, mode="min"),
    lambda A: nhwc.pool_backward(np.zeros((1, 2, 2, 1)), (A, {"f": 2, "stride": 2}), mode="min"),
])
def test_bad_mode(call):
    with pytest.raises(ValueError, match=r"mode must be 'max' or 'average', got 'min'"):
        call(np.zeros((1, 4, 4, 1)))


def test_pool_backward_bad_ties():
    A, cache = nhwc.pool_forward(np.zeros((1, 4, 4, 1)), {"f": 2, "stride": 2})
    with pytest.raises(ValueError, match=r"ties must be 'first' or 'all', got 'mask'"):
        nhwc.pool_backward(np.zeros(A.shape), cache, ties="mask")


def test_pool_hparameters_without_f():
    with pytest.raises(ValueError, match=r"hparameters must be a dict with 'f' and 'stride'"):
        nhwc.pool_forward(np.zeros((1, 4, 4, 1)), {"pool_height": 2, "stride": 2})


def test_pool_window_larger_than_input():
    with pytest.raises(ValueError, match=r"pool_height 5 is larger than the input height 4"):
        nhwc.pool_forward(np.zeros((1, 4, 4, 1)), {"f": 5, "stride": 1})


def test_pool_backward_dA_of_wrong_shape():
    A, cache = nhwc.pool_forward(np.zeros((1, 4, 4, 3)), {"f": 2, "stride": 2})
    with pytest.raises(ValueError, match=r"dA has shape \(1, 3, 2, 2\) but the forward pass produced "
                                         r"\(1, 2, 2, 3\)"):
        nhwc.pool_backward(np.zeros((1, 3, 2, 2)), cache)


# --- Numpy-CNN, single image (n_c, H, W) ---------------------------------------------------

def _image_case(seed=0, dtype=np.float64, n_c=3, h=7, w=6, n_f=2, f=3):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((n_c, h, w)).astype(dtype),
            rng.standard_normal((n_f, n_c, f, f)).astype(dtype),
            rng.standard_normal((n_f, 1)).astype(dtype))


@pytest.mark.parametrize("s", [1, 2, 3])
def test_convolution_and_backward_equal_the_nchw_reference(s):
    image, filt, bias = _image_case(seed=s)
    out = single_image.convolution(image, filt, bias, s)
    expected, cache = conv_forward_naive(image[None], filt, bias[:, 0], {"stride": s, "pad": 0})
    assert out.shape == expected.shape[1:]
    np.testing.assert_allclose(out, expected[0], rtol=1e-12)
    dconv = np.random.default_rng(9).standard_normal(out.shape)
    dout, dfilt, dbias = single_image.convolution_backward(dconv, image, filt, s)
    dx, dw, db = conv_backward_naive(dconv[None], cache)
    assert dbias.shape == (2, 1)
    np.testing.assert_allclose(dout, dx[0], rtol=1e-12)
    np.testing.assert_allclose(dfilt, dw, rtol=1e-12)
    np.testing.assert_allclose(dbias[:, 0], db, rtol=1e-12)


def test_convolution_stride_defaults_to_one():
    image, filt, bias = _image_case()
    assert single_image.convolution(image, filt, bias).shape == (2, 5, 4)


@pytest.mark.parametrize("f,s", [(2, 2), (3, 1), (2, 3)])
def test_maxpool_equals_the_nchw_reference(f, s):
    image = np.random.default_rng(f + s).standard_normal((3, 7, 6))
    out = single_image.maxpool(image, f, s)
    expected, cache = max_pool_forward_naive(image[None], {"pool_height": f, "pool_width": f,
                                                           "stride": s})
    np.testing.assert_array_equal(out, expected[0])
    dpool = np.random.default_rng(8).standard_normal(out.shape)
    np.testing.assert_allclose(single_image.maxpool_backward(dpool, image, f, s),
                               max_pool_backward_naive(dpool[None], cache)[0], rtol=1e-12)


def test_maxpool_defaults_to_2x2_stride_2():
    image = np.arange(32.0).reshape(2, 4, 4)
    np.testing.assert_array_equal(single_image.maxpool(image), image[:, 1::2, 1::2])


def _nanargmax_backward(dpool, orig, f, s):
    """np.nanargmax of each window gets its gradient (+=); all-NaN windows get none."""
    dout = np.zeros_like(orig)
    for c in range(orig.shape[0]):
        for rows, cols, i, j in _windows(orig.shape[1:], f, s):
            window = orig[c, rows, cols]
            if np.all(np.isnan(window)):
                continue
            a, b = np.unravel_index(np.nanargmax(window), window.shape)
            dout[c, rows.start + a, cols.start + b] += dpool[c, i, j]
    return dout


@pytest.mark.parametrize("f,s", [(2, 2), (3, 1), (2, 1), (3, 2)])
def test_maxpool_backward_follows_nanargmax(f, s):
    rng = np.random.default_rng(10 * f + s)
    orig = rng.integers(0, 3, (3, 8, 7)).astype(np.float64)
    orig[rng.random(orig.shape) < 0.3] = NAN
    orig[rng.random(orig.shape) < 0.05] = -np.inf
    orig[0, :f, :f] = NAN                      # at least one all-NaN window
    out = single_image.maxpool(orig, f, s)
    assert np.isnan(out[0, 0, 0])              # the forward pass still propagates NaN
    dpool = rng.standard_normal(out.shape)
    np.testing.assert_allclose(single_image.maxpool_backward(dpool, orig, f, s),
                               _nanargmax_backward(dpool, orig, f, s), rtol=1e-12, atol=0)


def test_maxpool_backward_skips_nan_and_gives_all_nan_windows_nothing():
    orig = np.array([[[NAN, 1.0, NAN, NAN], [3.0, 3.0, NAN, NAN]]])
    dpool = np.array([[[5.0, 7.0]]])
    dout = single_image.maxpool_backward(dpool, orig, 2, 2)
    np.testing.assert_array_equal(dout, [[[0.0, 0.0, 0.0, 0.0], [5.0, 0.0, 0.0, 0.0]]])


def test_maxpool_backward_matches_nanargmax_when_the_only_numbers_are_minus_infinity():
    # numpy reads NaN as -inf and takes the first maximum: np.nanargmax([nan, -inf]) is 0
    orig = np.array([[[NAN, -np.inf], [NAN, NAN]]])
    assert np.nanargmax(orig[0]) == 0
    dout = single_image.maxpool_backward(np.array([[[2.0]]]), orig, 2, 2)
    np.testing.assert_array_equal(dout, [[[2.0, 0.0], [0.0, 0.0]]])


def test_single_image_float32_in_float32_out():
    image, filt, bias = _image_case(dtype=np.float32)
    out = single_image.convolution(image, filt, bias, 2)
    grads = single_image.convolution_backward(np.ones_like(out), image, filt, 2)
    assert out.dtype == np.float32 and all(g.dtype == np.float32 for g in grads)
    pooled = single_image.maxpool(image, 2, 2)
    assert pooled.dtype == np.float32
    assert single_image.maxpool_backward(np.ones_like(pooled), image, 2, 2).dtype == np.float32
    out64 = single_image.convolution(image.astype(np.float64), filt.astype(np.float64),
                                     bias.astype(np.float64), 2)
    assert norm_rel_error(out, out64) < 1e-6


def test_convolution_bias_as_a_vector():
    image, filt, bias = _image_case()
    with pytest.raises(ValueError, match=r"bias must have 2 dimensions \(n_f, 1\), got 1"):
        single_image.convolution(image, filt, bias[:, 0])


def test_convolution_bias_of_wrong_shape():
    image, filt, bias = _image_case()
    with pytest.raises(ValueError,
                       match=r"bias must have shape \(n_f, 1\) = \(2, 1\), got \(1, 2\)"):
        single_image.convolution(image, filt, bias.T)


def test_convolution_channel_mismatch():
    image, filt, bias = _image_case()
    with pytest.raises(ValueError,
                       match=r"channel mismatch: image has n_c=2 channels but filt expects 3"):
        single_image.convolution(image[:2], filt, bias)


def test_convolution_image_with_wrong_ndim():
    image, filt, bias = _image_case()
    with pytest.raises(ValueError, match=r"image must have 3 dimensions \(n_c, H, W\), got 4"):
        single_image.convolution(image[None], filt, bias)


def test_convolution_filter_larger_than_image():
    image, filt, bias = _image_case(h=2)
    with pytest.raises(ValueError,
                       match=r"kernel height 3 is larger than the padded input height 2"):
        single_image.convolution(image, filt, bias)


def test_convolution_backward_dconv_prev_of_wrong_shape():
    image, filt, _ = _image_case()
    with pytest.raises(ValueError, match=r"has shape \(2, 5, 5\) but the forward pass produced "
                                         r"\(2, 5, 4\)"):
        single_image.convolution_backward(np.zeros((2, 5, 5)), image, filt, 1)


def test_convolution_backward_conv_in_with_wrong_ndim():
    image, filt, _ = _image_case()
    with pytest.raises(ValueError, match=r"conv_in must have 3 dimensions"):
        single_image.convolution_backward(np.zeros((2, 5, 4)), image[0], filt, 1)


def test_maxpool_backward_dpool_of_wrong_shape():
    orig = np.zeros((2, 4, 4))
    with pytest.raises(ValueError, match=r"has shape \(2, 2, 1\) but the forward pass produced "
                                         r"\(2, 2, 2\)"):
        single_image.maxpool_backward(np.zeros((2, 2, 1)), orig, 2, 2)


def test_maxpool_window_larger_than_image():
    with pytest.raises(ValueError, match=r"pool_height 5 is larger than the input height 4"):
        single_image.maxpool(np.zeros((1, 4, 4)), 5, 1)

"""Output-size arithmetic and every validation error of cnn_utils.shapes."""

import numpy as np
import pytest

from cnn_utils import shapes


@pytest.mark.parametrize("size,kernel,stride,pad,dilation,expected", [
    (4, 3, 1, 0, 1, 2),     # conv_arithmetic: no padding, unit stride
    (5, 4, 1, 2, 1, 6),     # arbitrary padding
    (5, 3, 1, 1, 1, 5),     # "same"
    (5, 3, 1, 2, 1, 7),     # "full"
    (5, 3, 2, 1, 1, 3),     # stride 2 with padding
    (6, 3, 2, 1, 1, 3),     # stride 2, last row uncovered (floor)
    (7, 3, 1, 0, 2, 3),     # dilation 2
    (32, 7, 1, 3, 1, 32),
    (31, 3, 2, 1, 1, 16),
    (1, 1, 5, 0, 1, 1),
])
def test_conv_output_size_matches_the_formula(size, kernel, stride, pad, dilation, expected):
    assert shapes.conv_output_size(size, kernel, stride, pad, dilation) == expected


def test_conv_output_size_agrees_with_floor_formula_on_a_grid():
    for size in range(1, 12):
        for kernel in range(1, 6):
            for stride in range(1, 4):
                for pad in range(0, 4):
                    for dilation in (1, 2, 3):
                        span = dilation * (kernel - 1) + 1
                        if span > size + 2 * pad:
                            with pytest.raises(ValueError):
                                shapes.conv_output_size(size, kernel, stride, pad, dilation)
                            continue
                        expected = (size + 2 * pad - dilation * (kernel - 1) - 1) // stride + 1
                        got = shapes.conv_output_size(size, kernel, stride, pad, dilation)
                        assert got == expected


@pytest.mark.parametrize("size,pool,stride,expected", [
    (4, 2, 2, 2), (5, 2, 2, 2), (33, 3, 2, 16), (32, 3, 1, 30), (3, 3, 7, 1),
])
def test_pool_output_size(size, pool, stride, expected):
    assert shapes.pool_output_size(size, pool, stride) == expected


@pytest.mark.parametrize("size,kernel,stride,pad,opad,dilation,expected", [
    (2, 3, 1, 0, 0, 1, 4),   # adjoint of 4 -> 2
    (3, 3, 2, 1, 0, 1, 5),   # adjoint of 5 -> 3
    (3, 3, 2, 1, 1, 1, 6),   # output padding recovers the uncovered row of 6 -> 3
    (3, 3, 1, 0, 0, 2, 7),
])
def test_conv_transpose_output_size(size, kernel, stride, pad, opad, dilation, expected):
    assert shapes.conv_transpose_output_size(size, kernel, stride, pad, opad, dilation) == expected


def test_transpose_size_with_output_padding_inverts_conv_size():
    for size in range(1, 10):
        for kernel in range(1, 4):
            for stride in range(1, 4):
                for pad in range(0, 2):
                    if kernel > size + 2 * pad:
                        continue
                    out = shapes.conv_output_size(size, kernel, stride, pad)
                    leftover = (size + 2 * pad - kernel) % stride
                    assert shapes.conv_transpose_output_size(out, kernel, stride, pad, leftover) == size


@pytest.mark.parametrize("kwargs,message", [
    (dict(size=4, kernel=5), r"kernel height 5 is larger than the padded input height 4 = 4 \+ 2\*0"),
    (dict(size=4, kernel=3, dilation=2), r"dilation 2 makes it span 5"),
    (dict(size=4, kernel=3, stride=0), r"stride must be >= 1, got 0"),
    (dict(size=4, kernel=3, pad=-1), r"pad must be >= 0, got -1"),
    (dict(size=4, kernel=3, dilation=0), r"dilation must be >= 1, got 0"),
    (dict(size=4, kernel=3, stride=1.5), r"stride must be an integer, got 1.5"),
    (dict(size=4, kernel=3, stride=float("nan")), r"stride must be an integer, got nan"),
    (dict(size=4, kernel=3, pad=float("inf")), r"pad must be an integer, got inf"),
    (dict(size=4, kernel=3, stride=True), r"stride must be an integer, got True"),
    (dict(size=4, kernel=3, stride="2"), r"stride must be an integer, got '2'"),
    (dict(size=0, kernel=1), r"input height must be >= 1, got 0"),
])
def test_conv_output_size_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        shapes.conv_output_size(**kwargs)


def test_whole_floats_and_numpy_ints_are_accepted():
    assert shapes.conv_output_size(np.int64(5), 3, 2.0, np.int32(1)) == 3


def test_pool_window_larger_than_input():
    with pytest.raises(ValueError, match=r"pool_width 5 is larger than the input width 4"):
        shapes.pool_output_size(4, 5, 1, axis="width")


@pytest.mark.parametrize("opad,stride,dilation", [(2, 2, 1), (1, 1, 1)])
def test_output_padding_must_be_smaller_than_stride_or_dilation(opad, stride, dilation):
    with pytest.raises(ValueError, match=rf"output_padding {opad} with stride {stride}"):
        shapes.conv_transpose_output_size(3, 3, stride, 0, opad, dilation)


def test_transpose_pad_too_large():
    with pytest.raises(ValueError, match=r"would be -1"):
        shapes.conv_transpose_output_size(1, 1, 1, 1)


def _conv_args(**overrides):
    args = dict(x=np.zeros((2, 3, 5, 5)), w=np.zeros((4, 3, 3, 3)), b=np.zeros(4),
                conv_param={"stride": 1, "pad": 1})
    args.update(overrides)
    return args


@pytest.mark.parametrize("overrides,message", [
    (dict(x=np.zeros((3, 5, 5))), r"x must have 4 dimensions \(N, C, H, W\), got 3 with shape \(3, 5, 5\)"),
    (dict(w=np.zeros((4, 3, 3))), r"w must have 4 dimensions"),
    (dict(b=np.zeros((4, 1))), r"b must have 1 dimensions \(F,\), got 2"),
    (dict(w=np.zeros((4, 2, 3, 3))), r"channel mismatch: x has C=3 channels but w expects 2"),
    (dict(b=np.zeros(5)), r"w has F=4, b has 5"),
    (dict(conv_param={"stride": 1}), r"conv_param is missing \['pad'\]"),
    (dict(conv_param=[1, 1]), r"conv_param must be a dict"),
    (dict(conv_param={"stride": 0, "pad": 1}), r"stride must be >= 1, got 0"),
    (dict(conv_param={"stride": 1, "pad": 1, "dilation": 0}), r"dilation must be >= 1, got 0"),
    (dict(w=np.zeros((4, 3, 8, 3))), r"kernel height 8 is larger than the padded input height 7"),
    (dict(x=np.zeros((2, 3, 5, 5), dtype=complex)), r"x must hold real numbers, got dtype complex128"),
    (dict(x=np.zeros((0, 3, 5, 5))), r"x must not be empty, got shape \(0, 3, 5, 5\)"),
    (dict(x=[[1, 2], [3]]), r"x must be an array of shape \(N, C, H, W\)"),
])
def test_check_conv_errors(overrides, message):
    with pytest.raises(ValueError, match=message):
        shapes.check_conv(**_conv_args(**overrides))


def test_check_conv_unifies_dtypes_and_returns_sizes():
    x, w, b, stride, pad, dilation, h_out, w_out = shapes.check_conv(
        np.zeros((2, 3, 6, 7), np.float32), np.zeros((4, 3, 3, 2), np.float32),
        np.zeros(4, np.float32), {"stride": 2, "pad": 1})
    assert (x.dtype, w.dtype, b.dtype) == (np.float32,) * 3
    assert (stride, pad, dilation, h_out, w_out) == (2, 1, 1, 3, 4)
    x, w, b, *_ = shapes.check_conv(np.zeros((1, 1, 3, 3), np.int64), np.zeros((1, 1, 1, 1), np.float32),
                                    np.zeros(1), {"stride": 1, "pad": 0})
    assert x.dtype == w.dtype == b.dtype == np.float64


@pytest.mark.parametrize("pool_param,message", [
    ({"pool_height": 2, "stride": 2}, r"pool_param is missing \['pool_width'\]"),
    ({"pool_height": 2, "pool_width": 0, "stride": 2}, r"pool_width must be >= 1, got 0"),
    ({"pool_height": 9, "pool_width": 2, "stride": 2}, r"pool_height 9 is larger than the input height 6"),
    ({"pool_height": 2, "pool_width": 2, "stride": -1}, r"stride must be >= 1, got -1"),
    ((2, 2, 2), r"pool_param must be a dict"),
])
def test_check_pool_errors(pool_param, message):
    with pytest.raises(ValueError, match=message):
        shapes.check_pool(np.zeros((1, 1, 6, 6)), pool_param)


def test_check_pool_returns_sizes():
    _, ph, pw, s, h_out, w_out = shapes.check_pool(
        np.zeros((1, 1, 7, 6)), {"pool_height": 3, "pool_width": 2, "stride": 2})
    assert (ph, pw, s, h_out, w_out) == (3, 2, 2, 3, 3)


def test_check_dout():
    with pytest.raises(ValueError, match=r"dout has shape \(2, 3\) but the forward pass produced \(3, 2\)"):
        shapes.check_dout(np.zeros((2, 3)), (3, 2))
    out = shapes.check_dout(np.zeros((3, 2), np.float32), (3, 2), np.float64)
    assert out.dtype == np.float64


def test_check_ties_and_finite():
    assert shapes.check_ties("all") == "all"
    with pytest.raises(ValueError, match=r"ties must be 'first' or 'all', got 'last'"):
        shapes.check_ties("last")
    with pytest.raises(ValueError, match=r"x must be finite, found 2 NaN or infinite entries"):
        shapes.check_finite(np.array([1.0, np.nan, np.inf]), "x")

"""Order, axis and size mistakes (a2 NHWC, a3, a4, a6), written the way a student writes them.

ORDER_BUGGY lists (mistake, graded name, impl) for mistakes of their own; ORDER_VARIANTS
has new ways of making catalogued mistakes, and bugs that need two hints (one entry each);
ORDER_ALSO the other mistakes an implementation makes.
"""

import numpy as np

from student_impls.cols import col2im_add_at as col2im_indices
from student_impls.cols import im2col_fancy as im2col_indices
from student_impls.cols import out_size
from student_impls.conv import conv_backward_einsum, conv_forward_strided
from student_impls.pool import pool_setup
from student_impls.transpose import conv_transpose_backward_taps
from student_impls.transpose import setup as transpose_setup


def _im2col_forward(x, w, b, conv_param, *, rows=(1, 2, 3), reshape="right"):
    """conv_forward_im2col with the filter rows flattened in axis order ``rows`` and the product
    reshaped the 'right' way, or straight to (N, F, H_out, W_out) ('direct')."""
    N = x.shape[0]
    F, _, HH, WW = w.shape
    stride, pad = conv_param["stride"], conv_param["pad"]
    H_out, W_out = out_size(x.shape[2], x.shape[3], HH, WW, pad, stride)
    x_cols = im2col_indices(x, HH, WW, pad, stride)
    w_rows = w.transpose(0, *rows).reshape(F, -1)
    out = w_rows @ x_cols + b[:, None]
    if reshape == "direct":
        out = out.reshape(N, F, H_out, W_out)
    else:
        out = out.reshape(F, H_out, W_out, N).transpose(3, 0, 1, 2)
    return out, (x, w, b, conv_param, x_cols)


def conv_forward_im2col_reshaped_directly(x, w, b, conv_param):
    return _im2col_forward(x, w, b, conv_param, reshape="direct")


def conv_forward_im2col_rows_channel_last(x, w, b, conv_param):
    return _im2col_forward(x, w, b, conv_param, rows=(2, 3, 1))


def conv_backward_im2col_dout_not_transposed(dout, cache):
    x, w, b, conv_param, x_cols = cache
    F, _, HH, WW = w.shape
    dout_rows = dout.reshape(F, -1)
    dw = (dout_rows @ x_cols.T).reshape(w.shape)
    dx_cols = w.reshape(F, -1).T @ dout_rows
    dx = col2im_indices(dx_cols, x.shape, HH, WW, conv_param["pad"], conv_param["stride"])
    return dx, dw, dout.sum(axis=(0, 2, 3))


def conv_backward_im2col_stride_before_pad(dout, cache):
    x, w, b, conv_param, x_cols = cache
    F, _, HH, WW = w.shape
    dout_rows = dout.transpose(1, 2, 3, 0).reshape(F, -1)
    dw = (dout_rows @ x_cols.T).reshape(w.shape)
    dx_cols = w.reshape(F, -1).T @ dout_rows
    dx = col2im_indices(dx_cols, x.shape, HH, WW, conv_param["stride"], conv_param["pad"])
    return dx, dw, dout.sum(axis=(0, 2, 3))


def max_pool_backward_im2col_dout_raveled(dout, cache):
    x, pool_param, argmax = cache
    N, C, H, W = x.shape
    ph, pw, stride = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    dcols = np.zeros((ph * pw, argmax.size))
    dcols[argmax, np.arange(argmax.size)] = dout.ravel()
    return col2im_indices(dcols, (N * C, 1, H, W), ph, pw, 0, stride).reshape(x.shape)


def _stamp_forward(x, w, b, conv_param, *, dilate="stamp", axes="cf"):
    """Transposed convolution by stamps: the dilation spreads the 'stamp' taps, or the 'input'
    pixels, or 'none'; w read as (C_in, F) ('cf') or (F, C_in) ('fc')."""
    N, C_in, H, W = x.shape
    stride, pad, dil, op, H_out, W_out = transpose_setup(x, w, conv_param)
    HH, WW = w.shape[2:]
    tap = dil if dilate == "stamp" else 1
    step = stride * dil if dilate == "input" else stride
    rows_needed = max(H_out + 2 * pad, (H - 1) * step + tap * (HH - 1) + 1)
    cols_needed = max(W_out + 2 * pad, (W - 1) * step + tap * (WW - 1) + 1)
    channels = w.shape[1] if axes == "cf" else w.shape[0]
    full = np.zeros((N, channels, rows_needed, cols_needed), dtype=x.dtype)
    for i in range(H):
        for j in range(W):
            rows = slice(i * step, i * step + tap * (HH - 1) + 1, tap)
            cols = slice(j * step, j * step + tap * (WW - 1) + 1, tap)
            if axes == "cf":
                full[:, :, rows, cols] += np.einsum("nc,cfkl->nfkl", x[:, :, i, j], w)
            else:
                full[:, :, rows, cols] += np.einsum("nc,fckl->nfkl", x[:, :, i, j], w)
    out = full[:, :, pad:pad + H_out, pad:pad + W_out] + b[None, :, None, None]
    return out, (x, w, b, conv_param)


def conv_transpose_forward_undilated_stamp(x, w, b, conv_param):
    return _stamp_forward(x, w, b, conv_param, dilate="none")


def conv_transpose_forward_dilated_input(x, w, b, conv_param):
    return _stamp_forward(x, w, b, conv_param, dilate="input")


def conv_transpose_forward_weight_fc(x, w, b, conv_param):
    return _stamp_forward(x, w, b, conv_param, axes="fc")


def nhwc_conv_forward_kernel_transposed(A_prev, W, b, hparameters):
    """Through the NCHW layer, with W (f, f, n_C_prev, n_C) moved by transpose(3, 2, 1, 0)."""
    out, _ = conv_forward_strided(A_prev.transpose(0, 3, 1, 2), W.transpose(3, 2, 1, 0), b.ravel(),
                                  {"stride": hparameters["stride"], "pad": hparameters["pad"]})
    return out.transpose(0, 2, 3, 1), (A_prev, W, b, hparameters)


def nhwc_conv_backward_minus_pad(dZ, cache):
    """The DLS loops, cropping each sample with pad:-pad."""
    A_prev, W, b, hparameters = cache
    m, n_H, n_W, n_C = dZ.shape
    stride, pad, f = hparameters["stride"], hparameters["pad"], W.shape[0]
    A_prev_pad = np.pad(A_prev, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    dA_prev = np.zeros(A_prev.shape)
    dW, db = np.zeros(W.shape), np.zeros((1, 1, 1, n_C))
    for i in range(m):
        a_prev_pad, da_prev_pad = A_prev_pad[i], np.zeros(A_prev_pad.shape[1:])
        for h in range(n_H):
            for w in range(n_W):
                vs, hs = h * stride, w * stride
                for c in range(n_C):
                    da_prev_pad[vs:vs + f, hs:hs + f, :] += W[:, :, :, c] * dZ[i, h, w, c]
                    dW[:, :, :, c] += a_prev_pad[vs:vs + f, hs:hs + f, :] * dZ[i, h, w, c]
                    db[:, :, :, c] += dZ[i, h, w, c]
        dA_prev[i, :, :, :] = da_prev_pad[pad:-pad, pad:-pad, :]
    return dA_prev, dW, db


def max_pool_forward_width_from_height(x, pool_param):
    ph, pw, stride = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    H_out = (x.shape[2] - ph) // stride + 1
    W_out = (x.shape[3] - ph) // stride + 1
    out = np.zeros(x.shape[:2] + (H_out, W_out))
    for i in range(H_out):
        for j in range(W_out):
            out[:, :, i, j] = np.max(x[:, :, i * stride:i * stride + ph, j * stride:j * stride + pw], axis=(2, 3))
    return out, (x, pool_param)


def avg_pool_forward_height_from_width(x, pool_param):
    ph, pw, stride = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    H_out, W_out = (x.shape[2] - pw) // stride + 1, (x.shape[3] - pw) // stride + 1
    out = np.zeros(x.shape[:2] + (H_out, W_out), dtype=x.dtype)
    for i in range(H_out):
        for j in range(W_out):
            out[:, :, i, j] = x[:, :, i * stride:i * stride + ph, j * stride:j * stride + pw].mean(axis=(2, 3))
    return out, (x, pool_param)


def nhwc_conv_backward_kernel_transposed(dZ, cache):
    """Through the NCHW layer, W moved by transpose(3, 2, 1, 0) there and dW moved back the same way."""
    A_prev, W, b, hparameters = cache
    nchw_cache = (A_prev.transpose(0, 3, 1, 2), W.transpose(3, 2, 1, 0), b.ravel(),
                  {"stride": hparameters["stride"], "pad": hparameters["pad"]})
    dx, dw, db = conv_backward_einsum(dZ.transpose(0, 3, 1, 2), nchw_cache)
    return dx.transpose(0, 2, 3, 1), dw.transpose(3, 2, 1, 0), db.reshape(1, 1, 1, -1)


def max_pool_backward_mask_assigned(dout, cache):
    """The mask of every maximum, assigned with = (the most common real pool bug)."""
    x, pool_param = cache
    ph, pw, stride, H_out, W_out = pool_setup(x, pool_param)
    dx = np.zeros(x.shape)
    for i in range(H_out):
        for j in range(W_out):
            rows, cols = slice(i * stride, i * stride + ph), slice(j * stride, j * stride + pw)
            window = x[:, :, rows, cols]
            mask = window == np.max(window, axis=(2, 3), keepdims=True)
            dx[:, :, rows, cols] = mask * dout[:, :, i:i + 1, j:j + 1]
    return dx


def max_pool_backward_dls(dout, cache, use_stride=True):
    """DLS pool_backward: an f x f window (f = pool_height) and the mask of its maxima."""
    x, pool_param = cache
    f, stride = pool_param["pool_height"], pool_param["stride"] if use_stride else 1
    dx = np.zeros(x.shape)
    for n in range(x.shape[0]):
        for h in range(dout.shape[2]):
            for w in range(dout.shape[3]):
                for c in range(x.shape[1]):
                    window = x[n, c, h * stride:h * stride + f, w * stride:w * stride + f]
                    mask = window == np.max(window)
                    dx[n, c, h * stride:h * stride + f, w * stride:w * stride + f] += mask * dout[n, c, h, w]
    return dx


def max_pool_backward_dls_no_stride(dout, cache):
    """The DLS loops with the window at (h, w) instead of (h * stride, w * stride)."""
    x, pool_param = cache
    return max_pool_backward_dls(dout, (x, pool_param), use_stride=False)


def conv_transpose_backward_undilated(dout, cache):
    """The taps of the backward one pixel apart, as if the dilation were 1."""
    x, w, b, conv_param = cache
    return conv_transpose_backward_taps(dout, (x, w, b, dict(conv_param, dilation=1)))


ORDER_BUGGY = [
    ("im2col_output_order", "conv_forward_im2col", conv_forward_im2col_reshaped_directly),
    ("filter_rows_order", "conv_forward_im2col", conv_forward_im2col_rows_channel_last),
    ("dout_columns_order", "conv_backward_im2col", conv_backward_im2col_dout_not_transposed),
    ("col2im_arguments_swapped", "conv_backward_im2col", conv_backward_im2col_stride_before_pad),
    ("pool_dout_order", "max_pool_backward_im2col", max_pool_backward_im2col_dout_raveled),
    ("dilation_on_input", "conv_transpose_forward", conv_transpose_forward_dilated_input),
    ("weight_axes_swapped", "conv_transpose_forward", conv_transpose_forward_weight_fc),
    ("kernel_axes_swapped", "nhwc.conv_forward", nhwc_conv_forward_kernel_transposed),
    ("pool_size_other_side", "max_pool_forward_naive", max_pool_forward_width_from_height),
]
ORDER_VARIANTS = [
    ("dilation_ignored", "conv_transpose_forward", conv_transpose_forward_undilated_stamp),
    ("pad_slice_empty", "nhwc.conv_backward", nhwc_conv_backward_minus_pad),
    ("max_grad_to_all_ties", "max_pool_backward_naive", max_pool_backward_mask_assigned),
    ("assign_instead_of_accumulate", "max_pool_backward_naive", max_pool_backward_mask_assigned),
    ("pool_width_ignored", "max_pool_backward_naive", max_pool_backward_dls),
    ("max_grad_to_all_ties", "max_pool_backward_naive", max_pool_backward_dls),
    ("stride_ignored", "max_pool_backward_naive", max_pool_backward_dls_no_stride),
    ("dilation_ignored", "conv_transpose_backward", conv_transpose_backward_undilated),
    ("pool_size_other_side", "avg_pool_forward_naive", avg_pool_forward_height_from_width),
    ("kernel_axes_swapped", "nhwc.conv_backward", nhwc_conv_backward_kernel_transposed),
]
ORDER_ALSO = {max_pool_backward_dls_no_stride: {"pool_width_ignored", "max_grad_to_all_ties"}}

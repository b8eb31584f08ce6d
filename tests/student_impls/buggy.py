"""Buggy implementations, written the way a student writes the mistake.

BUGGY lists one (mistake name, graded function name, implementation) per catalogued
mistake; VARIANTS has other ways of making some of them, in other functions too.
MADE: {implementation: every mistake it makes}, the entries' and ALSO's.
"""

import numpy as np

from student_impls import coursera
from student_impls.buggy_network import NETWORK_ALSO, NETWORK_BUGGY, NETWORK_VARIANTS
from student_impls.buggy_orders import ORDER_ALSO, ORDER_BUGGY, ORDER_VARIANTS
from student_impls.conv import conv_forward_loops, conv_forward_strided, conv_setup
from student_impls.cols import _conv_backward_with, im2col_index_arrays, out_size
from student_impls.pool import avg_pool_forward_vectorized, pool_setup
from student_impls.transpose import conv_transpose_backward_taps, conv_transpose_forward_taps
from student_impls.transpose import setup as transpose_setup


def _conv_backward(dout, cache, *, stride_step=True, assign=False, swap=False):
    """cs231n-style backward loops with three switchable mistakes."""
    x, w, b, conv_param = cache
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    stride, pad, dil, H_out, W_out, x_pad = conv_setup(x, w, conv_param)
    step = stride if stride_step else 1
    dx_pad = np.zeros(x_pad.shape)
    dw = np.zeros(w.shape)
    for n in range(N):
        for f in range(F):
            for i in range(H_out):
                for j in range(W_out):
                    r = slice(i * step, i * step + dil * (HH - 1) + 1, dil)
                    s = slice(j * step, j * step + dil * (WW - 1) + 1, dil)
                    if swap:
                        dx_pad[n, :, r, s] += x_pad[n, :, r, s] * dout[n, f, i, j]
                        dw[f] += w[f] * dout[n, f, i, j]
                    elif assign:
                        dx_pad[n, :, r, s] = w[f] * dout[n, f, i, j]
                        dw[f] = x_pad[n, :, r, s] * dout[n, f, i, j]
                    else:
                        dx_pad[n, :, r, s] += w[f] * dout[n, f, i, j]
                        dw[f] += x_pad[n, :, r, s] * dout[n, f, i, j]
    return dx_pad, dw, pad, H, W


def backward_db_per_sample(dout, cache):
    dx_pad, dw, pad, H, W = _conv_backward(dout, cache)
    db = np.sum(dout, axis=(2, 3))
    return dx_pad[:, :, pad:pad + H, pad:pad + W], dw, db


def backward_dx_padded(dout, cache):
    dx_pad, dw, pad, H, W = _conv_backward(dout, cache)
    return dx_pad, dw, dout.sum(axis=(0, 2, 3))


def backward_minus_pad_slice(dout, cache):
    dx_pad, dw, pad, H, W = _conv_backward(dout, cache)
    return dx_pad[:, :, pad:-pad, pad:-pad], dw, dout.sum(axis=(0, 2, 3))


def backward_assign(dout, cache):
    dx_pad, dw, pad, H, W = _conv_backward(dout, cache, assign=True)
    return dx_pad[:, :, pad:pad + H, pad:pad + W], dw, dout.sum(axis=(0, 2, 3))


def backward_no_stride(dout, cache):
    dx_pad, dw, pad, H, W = _conv_backward(dout, cache, stride_step=False)
    return dx_pad[:, :, pad:pad + H, pad:pad + W], dw, dout.sum(axis=(0, 2, 3))


def backward_swapped(dout, cache):
    dx_pad, dw, pad, H, W = _conv_backward(dout, cache, swap=True)
    return dx_pad[:, :, pad:pad + H, pad:pad + W], dw, dout.sum(axis=(0, 2, 3))


def backward_dw_as_convolution(dout, cache):
    """Thinks dw is a true convolution and rotates it."""
    dx_pad, dw, pad, H, W = _conv_backward(dout, cache)
    return dx_pad[:, :, pad:pad + H, pad:pad + W], dw[:, :, ::-1, ::-1], dout.sum(axis=(0, 2, 3))


def backward_full_conv_unflipped(dout, cache):
    """conv_backward_flipped that forgets the flip."""
    x, w, b, conv_param = cache
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    stride, pad, dil, H_out, W_out, x_pad = conv_setup(x, w, conv_param)
    spread = np.zeros((N, F, (H_out - 1) * stride + 1, (W_out - 1) * stride + 1))
    spread[:, :, ::stride, ::stride] = dout
    full = np.pad(spread, ((0, 0), (0, 0), (dil * (HH - 1), x_pad.shape[2] - spread.shape[2]),
                           (dil * (WW - 1), x_pad.shape[3] - spread.shape[3])))
    dx_pad, _ = conv_forward_strided(full, w.transpose(1, 0, 2, 3), np.zeros(C),
                                     {"stride": 1, "pad": 0, "dilation": dil})
    _, dw, _, _, _ = _conv_backward(dout, cache)
    return dx_pad[:, :, pad:pad + H, pad:pad + W], dw, dout.sum(axis=(0, 2, 3))


def _conv_forward(x, w, b, conv_param, *, flip=False, bias="once", pad_sides="both",
                  use_dilation=True):
    """Loop forward pass with switchable mistakes."""
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    stride, pad = conv_param["stride"], conv_param["pad"]
    dil = conv_param.get("dilation", 1) if use_dilation else 1
    before = pad if pad_sides == "both" else 0 if pad_sides == "bottom" else pad
    after = pad if pad_sides in ("both", "bottom") else 0
    x_pad = np.pad(x, ((0, 0), (0, 0), (before, after), (before, after)))
    span_h, span_w = dil * (HH - 1) + 1, dil * (WW - 1) + 1
    H_out = (x_pad.shape[2] - span_h) // stride + 1
    W_out = (x_pad.shape[3] - span_w) // stride + 1
    kernel = w[:, :, ::-1, ::-1] if flip else w
    out = np.zeros((N, F, H_out, W_out))
    for n in range(N):
        for f in range(F):
            for i in range(H_out):
                for j in range(W_out):
                    window = x_pad[n, :, i * stride:i * stride + span_h:dil, j * stride:j * stride + span_w:dil]
                    if bias == "per_channel":
                        out[n, f, i, j] = sum(np.sum(window[c] * kernel[f, c]) + b[f] for c in range(C))
                    else:
                        out[n, f, i, j] = np.sum(window * kernel[f]) + (b[f] if bias == "once" else 0)
    return out, (x, w, b, conv_param)


def forward_flipped(x, w, b, conv_param):
    return _conv_forward(x, w, b, conv_param, flip=True)


def forward_no_bias(x, w, b, conv_param):
    return _conv_forward(x, w, b, conv_param, bias="none")


def forward_bias_per_channel(x, w, b, conv_param):
    return _conv_forward(x, w, b, conv_param, bias="per_channel")


def forward_pad_top_left(x, w, b, conv_param):
    return _conv_forward(x, w, b, conv_param, pad_sides="top")


def forward_no_dilation(x, w, b, conv_param):
    return _conv_forward(x, w, b, conv_param, use_dilation=False)


def max_pool_forward_no_plus_one(x, pool_param):
    N, C, H, W = x.shape
    ph, pw, stride = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    H_out, W_out = (H - ph) // stride, (W - pw) // stride
    out = np.zeros((N, C, H_out, W_out))
    for i in range(H_out):
        for j in range(W_out):
            out[:, :, i, j] = x[:, :, i * stride:i * stride + ph, j * stride:j * stride + pw].max(axis=(2, 3))
    return out, (x, pool_param)


def max_pool_forward_swapped(x, pool_param):
    ph, pw = pool_param["pool_width"], pool_param["pool_height"]
    stride = pool_param["stride"]
    H_out = (x.shape[2] - ph) // stride + 1
    W_out = (x.shape[3] - pw) // stride + 1
    out = np.zeros(x.shape[:2] + (H_out, W_out))
    for i in range(H_out):
        for j in range(W_out):
            out[:, :, i, j] = np.max(x[:, :, i * stride:i * stride + ph, j * stride:j * stride + pw], axis=(2, 3))
    return out, (x, pool_param)


def _max_pool_backward(dout, cache, rule):
    x, pool_param = cache
    N, C = x.shape[:2]
    ph, pw, stride, H_out, W_out = pool_setup(x, pool_param)
    dx = np.zeros(x.shape)
    for n in range(N):
        for c in range(C):
            for i in range(H_out):
                for j in range(W_out):
                    rows = slice(i * stride, i * stride + ph)
                    cols = slice(j * stride, j * stride + pw)
                    window = x[n, c, rows, cols]
                    if rule == "mask":
                        dx[n, c, rows, cols] += (window == np.max(window)) * dout[n, c, i, j]
                    elif rule == "assign":
                        mask = np.zeros(window.shape)
                        mask[np.unravel_index(np.argmax(window), window.shape)] = 1
                        dx[n, c, rows, cols] = mask * dout[n, c, i, j]
                    else:  # rule == "scan": keeps the last entry >= the best so far
                        best, where = -np.inf, (0, 0)
                        for r in range(ph):
                            for s in range(pw):
                                if window[r, s] >= best:
                                    best, where = window[r, s], (r, s)
                        dx[n, c, i * stride + where[0], j * stride + where[1]] += dout[n, c, i, j]
    return dx


def max_pool_backward_mask(dout, cache):
    return _max_pool_backward(dout, cache, "mask")


def max_pool_backward_assign(dout, cache):
    return _max_pool_backward(dout, cache, "assign")


def max_pool_backward_scan(dout, cache):
    return _max_pool_backward(dout, cache, "scan")


def avg_pool_backward_undivided(dout, cache):
    x, pool_param = cache
    ph, pw, stride, H_out, W_out = pool_setup(x, pool_param)
    dx = np.zeros(x.shape)
    for i in range(H_out):
        for j in range(W_out):
            dx[:, :, i * stride:i * stride + ph, j * stride:j * stride + pw] += dout[:, :, i, j][:, :, None, None]
    return dx


def col2im_assign(cols, x_shape, field_height=3, field_width=3, padding=1, stride=1):
    N, C, H, W = x_shape
    x_padded = np.zeros((N, C, H + 2 * padding, W + 2 * padding))
    k, i, j = im2col_index_arrays(x_shape, field_height, field_width, padding, stride)
    cols_reshaped = cols.reshape(C * field_height * field_width, -1, N).transpose(2, 0, 1)
    x_padded[:, k, i, j] = cols_reshaped
    return x_padded[:, :, padding:padding + H, padding:padding + W]


def im2col_sample_major(x, field_height, field_width, padding=1, stride=1):
    x_padded = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    k, i, j = im2col_index_arrays(x.shape, field_height, field_width, padding, stride)
    cols = x_padded[:, k, i, j]  # (N, C*fh*fw, H_out*W_out)
    return cols.transpose(1, 0, 2).reshape(field_height * field_width * x.shape[1], -1)


def im2col_channel_last_rows(x, field_height, field_width, padding=1, stride=1):
    N, C, H, W = x.shape
    H_out, W_out = out_size(H, W, field_height, field_width, padding, stride)
    x_padded = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    cols = np.zeros((C * field_height * field_width, H_out * W_out * N))
    for i in range(H_out):
        for j in range(W_out):
            for n in range(N):
                window = x_padded[n, :, i * stride:i * stride + field_height, j * stride:j * stride + field_width]
                cols[:, (i * W_out + j) * N + n] = window.transpose(1, 2, 0).ravel()
    return cols


def conv_transpose_forward_no_output_padding(x, w, b, conv_param):
    N, C_in, H, W = x.shape
    _, F, HH, WW = w.shape
    stride, pad, dil, op, H_out, W_out = transpose_setup(x, w, conv_param)
    H_out, W_out = H_out - op, W_out - op
    full = np.zeros((N, F, H_out + 2 * pad, W_out + 2 * pad))
    for i in range(H):
        for j in range(W):
            rows = slice(i * stride, i * stride + dil * (HH - 1) + 1, dil)
            cols = slice(j * stride, j * stride + dil * (WW - 1) + 1, dil)
            full[:, :, rows, cols] += np.einsum("nc,cfkl->nfkl", x[:, :, i, j], w)
    return full[:, :, pad:pad + H_out, pad:pad + W_out] + b[None, :, None, None], (x, w, b, conv_param)


def forward_sample_zero(x, w, b, conv_param):
    """The loops reading x_pad[0] where x_pad[n] belongs: every image gets image 0's output."""
    out, _ = conv_forward_loops(np.repeat(x[:1], len(x), axis=0), w, b, conv_param)
    return out, (x, w, b, conv_param)


def forward_always_float64(x, w, b, conv_param):
    """Right values, in an output allocated with np.zeros's default dtype."""
    N, C = x.shape[:2]
    F, _, HH, WW = w.shape
    stride, pad, dil, H_out, W_out, x_pad = conv_setup(x, w, conv_param)
    out = np.zeros((N, F, H_out, W_out))
    for i in range(H_out):
        for j in range(W_out):
            window = x_pad[:, :, i * stride:i * stride + dil * (HH - 1) + 1:dil,
                           j * stride:j * stride + dil * (WW - 1) + 1:dil]
            out[:, :, i, j] = np.einsum("nckl,fckl->nf", window, w) + b
    return out, (x, w, b, conv_param)


def max_pool_backward_split(dout, cache):
    """Each window's gradient shared equally by its tied maxima (cs231n's reshape pooling)."""
    return _max_pool_backward_ties(dout, cache, lambda mask: mask / mask.sum(axis=(2, 3), keepdims=True))


def max_pool_forward_square(x, pool_param):
    """Windows pool_height wide as well as high (the swapped loops with both sizes the height)."""
    out, _ = max_pool_forward_swapped(x, dict(pool_param, pool_width=pool_param["pool_height"]))
    return out, (x, pool_param)


def avg_pool_forward_sample_zero(x, pool_param):
    out, cache = avg_pool_forward_vectorized(x, pool_param)
    return np.repeat(out[:1], len(x), axis=0), cache


BUGGY = [
    ("db_not_summed_over_batch", "conv_backward_naive", backward_db_per_sample),
    ("padding_not_stripped", "conv_backward_naive", backward_dx_padded),
    ("pad_slice_empty", "conv_backward_naive", backward_minus_pad_slice),
    ("assign_instead_of_accumulate", "conv_backward_naive", backward_assign),
    ("assign_instead_of_accumulate", "max_pool_backward_naive", max_pool_backward_assign),
    ("stride_ignored", "conv_backward_naive", backward_no_stride),
    ("dilation_ignored", "conv_forward_naive", forward_no_dilation),
    ("kernel_flipped_forward", "conv_forward_naive", forward_flipped),
    ("kernel_flipped_dw", "conv_backward_naive", backward_dw_as_convolution),
    ("kernel_not_flipped_full_conv", "conv_backward_flipped", backward_full_conv_unflipped),
    ("dx_dw_swapped", "conv_backward_naive", backward_swapped),
    ("bias_missing", "conv_forward_naive", forward_no_bias),
    ("bias_repeated", "conv_forward_naive", forward_bias_per_channel),
    ("output_size_off_by_one", "max_pool_forward_naive", max_pool_forward_no_plus_one),
    ("pad_one_side", "conv_forward_naive", forward_pad_top_left),
    ("max_grad_to_all_ties", "max_pool_backward_naive", max_pool_backward_mask),
    ("max_grad_to_last_tie", "max_pool_backward_naive", max_pool_backward_scan),
    ("avg_not_divided_by_window", "avg_pool_backward_naive", avg_pool_backward_undivided),
    ("pool_dims_swapped", "max_pool_forward_naive", max_pool_forward_swapped),
    ("col2im_overwrites", "col2im_indices", col2im_assign),
    ("im2col_column_order", "im2col_indices", im2col_sample_major),
    ("im2col_row_order", "im2col_indices", im2col_channel_last_rows),
    ("output_padding_ignored", "conv_transpose_forward", conv_transpose_forward_no_output_padding),
    ("first_sample_only", "conv_forward_naive", forward_sample_zero),
    ("max_grad_split_among_ties", "max_pool_backward_naive", max_pool_backward_split),
    ("dtype_not_kept", "conv_forward_naive", forward_always_float64),
    ("pool_width_ignored", "max_pool_forward_naive", max_pool_forward_square),
] + NETWORK_BUGGY + ORDER_BUGGY


def backward_assign_vectorized(dout, cache):
    """Loops (i, j, f), vectorised over the batch; dx assigned, dw right."""
    x, w, b, conv_param = cache
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    stride, pad, dil, H_out, W_out, x_pad = conv_setup(x, w, conv_param)
    dx_pad = np.zeros(x_pad.shape)
    dw = np.zeros(w.shape)
    for i in range(H_out):
        for j in range(W_out):
            for f in range(F):
                r = slice(i * stride, i * stride + dil * (HH - 1) + 1, dil)
                s = slice(j * stride, j * stride + dil * (WW - 1) + 1, dil)
                dx_pad[:, :, r, s] = w[f][None] * dout[:, f, i, j][:, None, None, None]
                dw[f] += np.sum(x_pad[:, :, r, s] * dout[:, f, i, j][:, None, None, None], axis=0)
    return dx_pad[:, :, pad:pad + H, pad:pad + W], dw, dout.sum(axis=(0, 2, 3))


def _max_pool_backward_ties(dout, cache, share):
    """Vectorised over the batch: each window's gradient goes to its tied maxima, weighted by
    ``share(mask)``."""
    x, pool_param = cache[:2]
    ph, pw, stride, H_out, W_out = pool_setup(x, pool_param)
    dx = np.zeros(x.shape)
    for i in range(H_out):
        for j in range(W_out):
            window = x[:, :, i * stride:i * stride + ph, j * stride:j * stride + pw]
            mask = window == window.max(axis=(2, 3), keepdims=True)
            dx[:, :, i * stride:i * stride + ph, j * stride:j * stride + pw] += \
                share(mask) * dout[:, :, i:i + 1, j:j + 1]
    return dx


def max_pool_backward_mask_vectorized(dout, cache):
    return _max_pool_backward_ties(dout, cache, lambda mask: mask)


def max_pool_backward_assign_entry(dout, cache):
    """Assigns dout to the argmax entry only."""
    x, pool_param = cache
    N, C = x.shape[:2]
    ph, pw, stride, H_out, W_out = pool_setup(x, pool_param)
    dx = np.zeros(x.shape)
    for n in range(N):
        for c in range(C):
            for i in range(H_out):
                for j in range(W_out):
                    window = x[n, c, i * stride:i * stride + ph, j * stride:j * stride + pw]
                    r, s = np.unravel_index(np.argmax(window), window.shape)
                    dx[n, c, i * stride + r, j * stride + s] = dout[n, c, i, j]
    return dx


def max_pool_forward_ceil(x, pool_param):
    ph, pw, stride = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    H_out = int(np.ceil((x.shape[2] - ph) / stride)) + 1
    W_out = int(np.ceil((x.shape[3] - pw) / stride)) + 1
    out = np.zeros(x.shape[:2] + (H_out, W_out))
    for i in range(H_out):
        for j in range(W_out):
            out[:, :, i, j] = x[:, :, i * stride:i * stride + ph, j * stride:j * stride + pw].max(axis=(2, 3))
    return out, (x, pool_param)


def forward_stride_ignored(x, w, b, conv_param):
    _, pad, dil, H_out, W_out, x_pad = conv_setup(x, w, conv_param)
    span_h, span_w = dil * (w.shape[2] - 1) + 1, dil * (w.shape[3] - 1) + 1
    out = np.zeros((x.shape[0], w.shape[0], H_out, W_out))
    for i in range(H_out):
        for j in range(W_out):
            window = x_pad[:, :, i:i + span_h:dil, j:j + span_w:dil]
            out[:, :, i, j] = np.einsum("nckl,fckl->nf", window, w) + b
    return out, (x, w, b, conv_param)


def coursera_backward_db_assigned(dZ, cache):
    dA_prev, dW, _ = coursera.conv_backward_taps(dZ, cache)
    m, n_H, n_W, n_C = dZ.shape
    db = np.zeros((1, 1, 1, n_C))
    for i in range(m):
        for h in range(n_H):
            for w in range(n_W):
                for c in range(n_C):
                    db[:, :, :, c] = dZ[i, h, w, c]
    return dA_prev, dW, db


def coursera_forward_flipped(A_prev, W, b, hparameters):
    return coursera.conv_forward_loops(A_prev, W[::-1, ::-1], b, hparameters)


conv_backward_im2col_col2im_assign = _conv_backward_with(col2im_assign)


def max_pool_backward_im2col_col2im_assign(dout, cache):
    x, pool_param, argmax = cache
    N, C, H, W = x.shape
    ph, pw, stride = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    dcols = np.zeros((ph * pw, argmax.size))
    dcols[argmax, np.arange(argmax.size)] = dout.transpose(2, 3, 0, 1).ravel()
    return col2im_assign(dcols, (N * C, 1, H, W), ph, pw, 0, stride).reshape(x.shape)


def conv_transpose_backward_two_bugs(dout, cache):
    dx, dw, db = conv_transpose_backward_taps(dout, cache)
    return dx, dw[:, :, ::-1, ::-1], dout.sum(axis=(2, 3))


def conv_transpose_forward_uncropped(x, w, b, conv_param):
    out, _ = conv_transpose_forward_taps(x, w, b, dict(conv_param, pad=0))
    return out, (x, w, b, conv_param)


def avg_pool_forward_sum(x, pool_param):
    out, cache = avg_pool_forward_vectorized(x, pool_param)
    return out * pool_param["pool_height"] * pool_param["pool_width"], cache


VARIANTS = [
    ("assign_instead_of_accumulate", "conv_backward_naive", backward_assign_vectorized),
    ("assign_instead_of_accumulate", "max_pool_backward_naive", max_pool_backward_assign_entry),
    ("assign_instead_of_accumulate", "nhwc.conv_backward", coursera_backward_db_assigned),
    ("max_grad_to_all_ties", "max_pool_backward_naive", max_pool_backward_mask_vectorized),
    ("output_size_off_by_one", "max_pool_forward_naive", max_pool_forward_ceil),
    ("stride_ignored", "conv_forward_naive", forward_stride_ignored),
    ("kernel_flipped_forward", "nhwc.conv_forward", coursera_forward_flipped),
    ("col2im_overwrites", "conv_backward_im2col", conv_backward_im2col_col2im_assign),
    ("col2im_overwrites", "max_pool_backward_im2col", max_pool_backward_im2col_col2im_assign),
    ("kernel_flipped_dw", "conv_transpose_backward", conv_transpose_backward_two_bugs),
    ("db_not_summed_over_batch", "conv_transpose_backward", conv_transpose_backward_two_bugs),
    ("padding_not_stripped", "conv_transpose_forward", conv_transpose_forward_uncropped),
    ("avg_not_divided_by_window", "avg_pool_forward_naive", avg_pool_forward_sum),
    ("first_sample_only", "avg_pool_forward_naive", avg_pool_forward_sample_zero),
    ("max_grad_split_among_ties", "max_pool_backward_im2col", max_pool_backward_split),
] + NETWORK_VARIANTS + ORDER_VARIANTS
MADE = {}
for _mistake, _, _impl in BUGGY + VARIANTS:
    MADE.setdefault(_impl, set()).add(_mistake)
for _impl, _more in {**NETWORK_ALSO, **ORDER_ALSO}.items():
    MADE[_impl] |= _more

"""Correct im2col / col2im and the layers built on them, written three ways each.

Layout of the course: cols is (C*fh*fw, H_out*W_out*N), rows ordered (channel,
kernel row, kernel column), column (i*W_out + j)*N + n for the window of sample n
at output position (i, j).
"""

import numpy as np
from numpy.lib.stride_tricks import as_strided

from student_impls.conv import conv_backward_loops
from student_impls.pool import max_pool_backward_strided


def out_size(H, W, fh, fw, padding, stride):
    return (H + 2 * padding - fh) // stride + 1, (W + 2 * padding - fw) // stride + 1


def im2col_index_arrays(x_shape, fh, fw, padding, stride):
    """cs231n-style fancy indices (k, i, j) into the padded input."""
    N, C, H, W = x_shape
    H_out, W_out = out_size(H, W, fh, fw, padding, stride)
    i0 = np.tile(np.repeat(np.arange(fh), fw), C)
    j0 = np.tile(np.arange(fw), fh * C)
    i1 = stride * np.repeat(np.arange(H_out), W_out)
    j1 = stride * np.tile(np.arange(W_out), H_out)
    k = np.repeat(np.arange(C), fh * fw).reshape(-1, 1)
    return k, i0.reshape(-1, 1) + i1.reshape(1, -1), j0.reshape(-1, 1) + j1.reshape(1, -1)


def im2col_fancy(x, field_height, field_width, padding=1, stride=1):
    p = padding
    x_padded = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    k, i, j = im2col_index_arrays(x.shape, field_height, field_width, padding, stride)
    cols = x_padded[:, k, i, j]  # (N, C*fh*fw, H_out*W_out)
    return cols.transpose(1, 2, 0).reshape(field_height * field_width * x.shape[1], -1)


def im2col_loops(x, field_height, field_width, padding=1, stride=1):
    N, C, H, W = x.shape
    H_out, W_out = out_size(H, W, field_height, field_width, padding, stride)
    x_padded = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    cols = np.zeros((C * field_height * field_width, H_out * W_out * N), dtype=x.dtype)
    for i in range(H_out):
        for j in range(W_out):
            for n in range(N):
                window = x_padded[n, :, i * stride:i * stride + field_height, j * stride:j * stride + field_width]
                cols[:, (i * W_out + j) * N + n] = window.ravel()
    return cols


def im2col_strided(x, field_height, field_width, padding=1, stride=1):
    N, C, H, W = x.shape
    H_out, W_out = out_size(H, W, field_height, field_width, padding, stride)
    x_padded = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    sn, sc, sh, sw = x_padded.strides
    view = as_strided(x_padded, (C, field_height, field_width, H_out, W_out, N),
                      (sc, sh, sw, sh * stride, sw * stride, sn), writeable=False)
    return view.reshape(C * field_height * field_width, -1)


def col2im_add_at(cols, x_shape, field_height=3, field_width=3, padding=1, stride=1):
    N, C, H, W = x_shape
    x_padded = np.zeros((N, C, H + 2 * padding, W + 2 * padding), dtype=cols.dtype)
    k, i, j = im2col_index_arrays(x_shape, field_height, field_width, padding, stride)
    cols_reshaped = cols.reshape(C * field_height * field_width, -1, N).transpose(2, 0, 1)
    np.add.at(x_padded, (slice(None), k, i, j), cols_reshaped)
    return x_padded[:, :, padding:padding + H, padding:padding + W]


def col2im_loops(cols, x_shape, field_height=3, field_width=3, padding=1, stride=1):
    N, C, H, W = x_shape
    H_out, W_out = out_size(H, W, field_height, field_width, padding, stride)
    x_padded = np.zeros((N, C, H + 2 * padding, W + 2 * padding))
    for i in range(H_out):
        for j in range(W_out):
            for n in range(N):
                column = cols[:, (i * W_out + j) * N + n].reshape(C, field_height, field_width)
                x_padded[n, :, i * stride:i * stride + field_height, j * stride:j * stride + field_width] += column
    return x_padded[:, :, padding:padding + H, padding:padding + W]


def col2im_taps(cols, x_shape, field_height=3, field_width=3, padding=1, stride=1):
    N, C, H, W = x_shape
    H_out, W_out = out_size(H, W, field_height, field_width, padding, stride)
    blocks = cols.reshape(C, field_height, field_width, H_out, W_out, N)
    x_padded = np.zeros((N, C, H + 2 * padding, W + 2 * padding), dtype=cols.dtype)
    for r in range(field_height):
        for s in range(field_width):
            x_padded[:, :, r:r + stride * (H_out - 1) + 1:stride, s:s + stride * (W_out - 1) + 1:stride] += \
                blocks[:, r, s].transpose(3, 0, 1, 2)
    return x_padded[:, :, padding:padding + H, padding:padding + W]


def _conv_forward_with(im2col):
    def conv_forward_im2col(x, w, b, conv_param):
        N, C, H, W = x.shape
        F, _, HH, WW = w.shape
        stride, pad = conv_param["stride"], conv_param["pad"]
        H_out, W_out = out_size(H, W, HH, WW, pad, stride)
        x_cols = im2col(x, HH, WW, pad, stride)
        out = w.reshape(F, -1) @ x_cols + b.reshape(-1, 1)
        out = out.reshape(F, H_out, W_out, N).transpose(3, 0, 1, 2)
        return out, (x, w, b, conv_param, x_cols)
    return conv_forward_im2col


def conv_forward_im2col_tensordot(x, w, b, conv_param):
    """The columns of im2col_strided, multiplied with tensordot instead of @."""
    F, _, HH, WW = w.shape
    x_cols = im2col_strided(x, HH, WW, conv_param["pad"], conv_param["stride"])
    H_out, W_out = out_size(x.shape[2], x.shape[3], HH, WW, conv_param["pad"], conv_param["stride"])
    out = np.tensordot(w.reshape(F, -1), x_cols, axes=1) + b[:, None]
    return out.reshape(F, H_out, W_out, x.shape[0]).transpose(3, 0, 1, 2), (x, w, b, conv_param, x_cols)


conv_forward_im2col_fancy = _conv_forward_with(im2col_fancy)
conv_forward_im2col_loops = _conv_forward_with(im2col_loops)
conv_forward_im2col_strided = _conv_forward_with(im2col_strided)


def _conv_backward_with(col2im):
    def conv_backward_im2col(dout, cache):
        x, w, b, conv_param, x_cols = cache
        F, _, HH, WW = w.shape
        db = np.sum(dout, axis=(0, 2, 3))
        dout_reshaped = dout.transpose(1, 2, 3, 0).reshape(F, -1)
        dw = (dout_reshaped @ x_cols.T).reshape(w.shape)
        dx_cols = w.reshape(F, -1).T @ dout_reshaped
        dx = col2im(dx_cols, x.shape, HH, WW, conv_param["pad"], conv_param["stride"])
        return dx, dw, db
    return conv_backward_im2col


def conv_backward_im2col_tensordot(dout, cache):
    """The products with tensordot, dx's columns folded back by col2im_taps."""
    x, w, b, conv_param, x_cols = cache
    F = w.shape[0]
    d = dout.transpose(1, 2, 3, 0).reshape(F, -1)
    dw = np.tensordot(d, x_cols, axes=([1], [1])).reshape(w.shape)
    dx_cols = np.tensordot(w.reshape(F, -1), d, axes=([0], [0]))
    dx = col2im_taps(dx_cols, x.shape, w.shape[2], w.shape[3], conv_param["pad"], conv_param["stride"])
    return dx, dw, dout.sum(axis=(0, 2, 3))


conv_backward_im2col_add_at = _conv_backward_with(col2im_add_at)
conv_backward_im2col_taps = _conv_backward_with(col2im_taps)
conv_backward_im2col_loops = conv_backward_loops


def max_pool_backward_im2col_argmax(dout, cache):
    """Uses the cache's argmax (one row index per column) and col2im."""
    x, pool_param, argmax = cache
    N, C, H, W = x.shape
    ph, pw, stride = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    dcols = np.zeros((ph * pw, argmax.size))
    dcols[argmax, np.arange(argmax.size)] = dout.transpose(2, 3, 0, 1).ravel()
    dx = col2im_add_at(dcols, (N * C, 1, H, W), ph, pw, padding=0, stride=stride)
    return dx.reshape(x.shape)


def max_pool_backward_im2col_recompute(dout, cache):
    """Recomputes the argmax from im2col columns of x, ignoring the cached one."""
    x, pool_param = cache[:2]
    N, C, H, W = x.shape
    ph, pw, stride = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    x_cols = im2col_strided(x.reshape(N * C, 1, H, W), ph, pw, 0, stride)
    best = np.argmax(x_cols, axis=0)
    dcols = np.zeros_like(x_cols)
    dcols[best, np.arange(best.size)] = dout.transpose(2, 3, 0, 1).ravel()
    return col2im_taps(dcols, (N * C, 1, H, W), ph, pw, 0, stride).reshape(x.shape)


max_pool_backward_im2col_strided = max_pool_backward_strided

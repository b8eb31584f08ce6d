"""Correct NHWC convolutions in the Coursera layout (A_prev (m, n_H, n_W, n_C), W (f, f, n_C_prev, n_C))."""

import numpy as np

from student_impls.conv import conv_backward_einsum, conv_forward_strided


def _sizes(A_prev, W, hparameters):
    stride, pad = hparameters["stride"], hparameters["pad"]
    f = W.shape[0]
    n_H = (A_prev.shape[1] + 2 * pad - f) // stride + 1
    n_W = (A_prev.shape[2] + 2 * pad - f) // stride + 1
    A_prev_pad = np.pad(A_prev, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    return stride, pad, f, n_H, n_W, A_prev_pad


def conv_forward_loops(A_prev, W, b, hparameters):
    m = A_prev.shape[0]
    n_C = W.shape[3]
    stride, pad, f, n_H, n_W, A_prev_pad = _sizes(A_prev, W, hparameters)
    Z = np.zeros((m, n_H, n_W, n_C))
    for i in range(m):
        for h in range(n_H):
            vert_start = h * stride
            for w in range(n_W):
                horiz_start = w * stride
                a_slice = A_prev_pad[i, vert_start:vert_start + f, horiz_start:horiz_start + f, :]
                for c in range(n_C):
                    Z[i, h, w, c] = np.sum(a_slice * W[:, :, :, c]) + float(b[0, 0, 0, c])
    return Z, (A_prev, W, b, hparameters)


def conv_forward_via_nchw(A_prev, W, b, hparameters):
    out, _ = conv_forward_strided(A_prev.transpose(0, 3, 1, 2), W.transpose(3, 2, 0, 1), b.ravel(),
                                  {"stride": hparameters["stride"], "pad": hparameters["pad"]})
    return out.transpose(0, 2, 3, 1), (A_prev, W, b, hparameters)


def conv_forward_taps(A_prev, W, b, hparameters):
    stride, pad, f, n_H, n_W, A_prev_pad = _sizes(A_prev, W, hparameters)
    Z = np.zeros((A_prev.shape[0], n_H, n_W, W.shape[3]), dtype=A_prev.dtype) + b
    for k in range(f):
        for l in range(f):
            part = A_prev_pad[:, k:k + stride * (n_H - 1) + 1:stride, l:l + stride * (n_W - 1) + 1:stride, :]
            Z += part @ W[k, l]
    return Z, (A_prev, W, b, hparameters)


def conv_backward_loops(dZ, cache):
    A_prev, W, b, hparameters = cache
    m, n_H, n_W, n_C = dZ.shape
    stride, pad, f, _, _, A_prev_pad = _sizes(A_prev, W, hparameters)
    dA_prev_pad = np.zeros(A_prev_pad.shape)
    dW = np.zeros(W.shape)
    db = np.zeros((1, 1, 1, n_C))
    for i in range(m):
        for h in range(n_H):
            for w in range(n_W):
                vs, hs = h * stride, w * stride
                for c in range(n_C):
                    a_slice = A_prev_pad[i, vs:vs + f, hs:hs + f, :]
                    dA_prev_pad[i, vs:vs + f, hs:hs + f, :] += W[:, :, :, c] * dZ[i, h, w, c]
                    dW[:, :, :, c] += a_slice * dZ[i, h, w, c]
                    db[:, :, :, c] += dZ[i, h, w, c]
    H, Wd = A_prev.shape[1:3]
    return dA_prev_pad[:, pad:pad + H, pad:pad + Wd, :], dW, db


def conv_backward_via_nchw(dZ, cache):
    A_prev, W, b, hparameters = cache
    nchw_cache = (A_prev.transpose(0, 3, 1, 2), W.transpose(3, 2, 0, 1), b.ravel(),
                  {"stride": hparameters["stride"], "pad": hparameters["pad"]})
    dx, dw, db = conv_backward_einsum(dZ.transpose(0, 3, 1, 2), nchw_cache)
    return dx.transpose(0, 2, 3, 1), dw.transpose(2, 3, 1, 0), db.reshape(1, 1, 1, -1)


def conv_backward_taps(dZ, cache):
    A_prev, W, b, hparameters = cache
    stride, pad, f, n_H, n_W, A_prev_pad = _sizes(A_prev, W, hparameters)
    dA_prev_pad = np.zeros_like(A_prev_pad)
    dW = np.zeros_like(W)
    for k in range(f):
        for l in range(f):
            rows = slice(k, k + stride * (n_H - 1) + 1, stride)
            cols = slice(l, l + stride * (n_W - 1) + 1, stride)
            dA_prev_pad[:, rows, cols, :] += dZ @ W[k, l].T
            dW[k, l] = np.tensordot(A_prev_pad[:, rows, cols, :], dZ, axes=([0, 1, 2], [0, 1, 2]))
    H, Wd = A_prev.shape[1:3]
    return dA_prev_pad[:, pad:pad + H, pad:pad + Wd, :], dW, dZ.sum(axis=(0, 1, 2), keepdims=True)

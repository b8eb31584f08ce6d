"""Correct max and average pooling, written three ways: scalar loops, per-window vectorised, strided views.

The backward functions read only cache[:2], so they also accept the im2col cache
(x, pool_param, argmax).
"""

import numpy as np
from numpy.lib.stride_tricks import as_strided


def pool_setup(x, pool_param):
    ph, pw, stride = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    H_out = (x.shape[2] - ph) // stride + 1
    W_out = (x.shape[3] - pw) // stride + 1
    return ph, pw, stride, H_out, W_out


def pool_windows(x, ph, pw, stride, H_out, W_out):
    """Strided view (N, C, H_out, W_out, ph, pw)."""
    sn, sc, sh, sw = x.strides
    return as_strided(x, x.shape[:2] + (H_out, W_out, ph, pw),
                      (sn, sc, sh * stride, sw * stride, sh, sw), writeable=False)


def max_pool_forward_loops(x, pool_param):
    N, C = x.shape[:2]
    ph, pw, stride, H_out, W_out = pool_setup(x, pool_param)
    out = np.zeros((N, C, H_out, W_out))
    for n in range(N):
        for c in range(C):
            for i in range(H_out):
                for j in range(W_out):
                    out[n, c, i, j] = np.max(x[n, c, i * stride:i * stride + ph, j * stride:j * stride + pw])
    return out, (x, pool_param)


def max_pool_forward_vectorized(x, pool_param):
    ph, pw, stride, H_out, W_out = pool_setup(x, pool_param)
    out = np.empty(x.shape[:2] + (H_out, W_out), dtype=x.dtype)
    for i in range(H_out):
        for j in range(W_out):
            out[:, :, i, j] = x[:, :, i * stride:i * stride + ph, j * stride:j * stride + pw].max(axis=(2, 3))
    return out, (x, pool_param)


def max_pool_forward_strided(x, pool_param):
    ph, pw, stride, H_out, W_out = pool_setup(x, pool_param)
    return pool_windows(x, ph, pw, stride, H_out, W_out).max(axis=(4, 5)), (x, pool_param)


def max_pool_backward_loops(dout, cache):
    """Each window sends its gradient to np.argmax of the window."""
    x, pool_param = cache[:2]
    N, C = x.shape[:2]
    ph, pw, stride, H_out, W_out = pool_setup(x, pool_param)
    dx = np.zeros(x.shape)
    for n in range(N):
        for c in range(C):
            for i in range(H_out):
                for j in range(W_out):
                    window = x[n, c, i * stride:i * stride + ph, j * stride:j * stride + pw]
                    r, s = np.unravel_index(np.argmax(window), window.shape)
                    dx[n, c, i * stride + r, j * stride + s] += dout[n, c, i, j]
    return dx


def max_pool_backward_vectorized(dout, cache):
    """Per window position, the argmax of every (n, c) at once, scattered with np.add.at."""
    x, pool_param = cache[:2]
    N, C = x.shape[:2]
    ph, pw, stride, H_out, W_out = pool_setup(x, pool_param)
    dx = np.zeros_like(x)
    n_idx, c_idx = np.meshgrid(np.arange(N), np.arange(C), indexing="ij")
    for i in range(H_out):
        for j in range(W_out):
            window = x[:, :, i * stride:i * stride + ph, j * stride:j * stride + pw].reshape(N, C, -1)
            r, s = np.divmod(np.argmax(window, axis=2), pw)
            np.add.at(dx, (n_idx, c_idx, i * stride + r, j * stride + s), dout[:, :, i, j])
    return dx


def max_pool_backward_strided(dout, cache):
    """One-hot argmax over a window view, added back one window entry at a time."""
    x, pool_param = cache[:2]
    ph, pw, stride, H_out, W_out = pool_setup(x, pool_param)
    flat = pool_windows(x, ph, pw, stride, H_out, W_out).reshape(x.shape[:2] + (H_out, W_out, ph * pw))
    onehot = np.arange(ph * pw) == np.argmax(flat, axis=-1)[..., None]
    grads = onehot * dout[..., None]
    dx = np.zeros_like(x)
    for r in range(ph):
        for s in range(pw):
            rows, cols = slice(r, r + stride * (H_out - 1) + 1, stride), slice(s, s + stride * (W_out - 1) + 1, stride)
            dx[:, :, rows, cols] += grads[..., r * pw + s]
    return dx


def avg_pool_forward_loops(x, pool_param):
    N, C = x.shape[:2]
    ph, pw, stride, H_out, W_out = pool_setup(x, pool_param)
    out = np.zeros((N, C, H_out, W_out))
    for n in range(N):
        for c in range(C):
            for i in range(H_out):
                for j in range(W_out):
                    total = 0.0
                    for r in range(ph):
                        for s in range(pw):
                            total += x[n, c, i * stride + r, j * stride + s]
                    out[n, c, i, j] = total / (ph * pw)
    return out, (x, pool_param)


def avg_pool_forward_vectorized(x, pool_param):
    ph, pw, stride, H_out, W_out = pool_setup(x, pool_param)
    out = np.empty(x.shape[:2] + (H_out, W_out), dtype=x.dtype)
    for i in range(H_out):
        for j in range(W_out):
            out[:, :, i, j] = x[:, :, i * stride:i * stride + ph, j * stride:j * stride + pw].mean(axis=(2, 3))
    return out, (x, pool_param)


def avg_pool_forward_strided(x, pool_param):
    ph, pw, stride, H_out, W_out = pool_setup(x, pool_param)
    return pool_windows(x, ph, pw, stride, H_out, W_out).mean(axis=(4, 5)), (x, pool_param)


def avg_pool_backward_loops(dout, cache):
    x, pool_param = cache[:2]
    N, C = x.shape[:2]
    ph, pw, stride, H_out, W_out = pool_setup(x, pool_param)
    dx = np.zeros(x.shape)
    for n in range(N):
        for c in range(C):
            for i in range(H_out):
                for j in range(W_out):
                    for r in range(ph):
                        for s in range(pw):
                            dx[n, c, i * stride + r, j * stride + s] += dout[n, c, i, j] / (ph * pw)
    return dx


def avg_pool_backward_vectorized(dout, cache):
    x, pool_param = cache[:2]
    ph, pw, stride, H_out, W_out = pool_setup(x, pool_param)
    dx = np.zeros_like(x)
    for i in range(H_out):
        for j in range(W_out):
            dx[:, :, i * stride:i * stride + ph, j * stride:j * stride + pw] += dout[:, :, i:i + 1, j:j + 1] / (ph * pw)
    return dx


def avg_pool_backward_taps(dout, cache):
    """dout / window size added back once per window entry, over all windows at once."""
    x, pool_param = cache[:2]
    ph, pw, stride, H_out, W_out = pool_setup(x, pool_param)
    share = dout / (ph * pw)
    dx = np.zeros_like(x)
    for r in range(ph):
        for s in range(pw):
            dx[:, :, r:r + stride * (H_out - 1) + 1:stride, s:s + stride * (W_out - 1) + 1:stride] += share
    return dx

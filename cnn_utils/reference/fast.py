"""The fastest pure-numpy convolution and max pooling of the reference library.

Convolution works on chunks of a few samples: their im2col columns,
(n, C*HH*WW, H_out*W_out), are built in a reused buffer small enough to stay in
cache, and numpy's batched matmul hands BLAS one product per sample:

- forward:  out[n] = w (F, C*HH*WW) @ cols[n], written in place; the bias is added once
- stride 1, C not much smaller than F: one im2col of dout, padded by the kernel span
  minus pad, gives both gradients: dx[n] = flipped w (C, F*HH*WW) @ dcols[n] (the full
  convolution with the kernel flipped in space, F and C swapped) and dw from
  dcols[n] @ x[n].T, its kernel flipped back. One column build instead of two.
- otherwise: dw = sum of cols[n] @ dout[n].T, dx = col2im(w.T @ dout[n]).

The columns are built in two passes (see ``_Windows``): WW column shifts into a
stage, then HH row shifts of whole (rows, W_out) blocks; col2im runs the same two
passes backwards. Fewer, longer copies than HH*WW strided ones: building the
columns of S2 in benchmarks/bench_layers.py is 1.4x (float64) to 1.7x (float32) faster.

Max pooling takes a running maximum over the pool_height*pool_width strided
views of the input (the first maximum wins; a NaN always takes over, so the
last NaN of a window wins) and scatters the gradient back with one strided add
per window entry. For stride == pool size this beats the reshape path of
im2col.py (measured), so every configuration takes it. Results (dtype, ties,
NaN, windows that do not tile) are those of the naive loops.
"""

import numpy as np

from cnn_utils.reference.im2col import offset_slices
from cnn_utils.shapes import (check_conv, check_dout, check_pool, conv_output_size, conv_params,
                              pool_params)

CHUNK_BYTES = 4 * 2**20  # column buffer of one chunk of samples (tuned on benchmarks/bench_layers.py)


def _taps(size, pad, stride, offset, out_size):
    """Along one axis, the outputs o whose tap o*stride + offset - pad falls inside the input.

    pad may be negative (a crop). Returns (outputs, inputs) as two slices, or None.
    """
    first = max(0, -(-(pad - offset) // stride))
    stop = min(out_size, (size - 1 + pad - offset) // stride + 1)
    if stop <= first:
        return None
    start = first * stride + offset - pad
    return slice(first, stop), slice(start, start + (stop - first - 1) * stride + 1, stride)


class _Windows:
    """The window geometry of one convolution over an (N, C, H, W) input, and its chunking.

    The im2col columns of a chunk of n samples live in a buffer (n, C, HH, WW, H_out, W_out),
    built in two passes through a (n, C, WW, H, W_out) stage: first the WW column shifts
    (runs of W_out entries), then the HH row shifts, whole (rows, W_out) blocks at a time
    for stride 1. col2im runs the same two passes backwards. Taps that fall on the
    padding are never written: the buffers keep the zeros they start with.
    """

    def __init__(self, shape, kernel, stride, pad, dilation, out_hw):
        self.N, self.C, H, W = shape
        (self.HH, self.WW), (out_h, out_w) = kernel, out_hw
        self.out_size = out_h * out_w
        self.rows = [(kh, t) for kh in range(self.HH)
                     if (t := _taps(H, pad[0], stride, kh * dilation, out_h))]
        self.cols = [(kw, t) for kw in range(self.WW)
                     if (t := _taps(W, pad[1], stride, kw * dilation, out_w))]
        self.stage_shape = (self.C, self.WW, H, out_w)
        self.window_shape = (self.C, self.HH, self.WW, out_h, out_w)

    def chunks(self, itemsize):
        """Slices of the batch, each with at most CHUNK_BYTES of columns."""
        per_sample = self.C * self.HH * self.WW * self.out_size * itemsize
        step = max(1, min(self.N, CHUNK_BYTES // per_sample))
        return [slice(start, min(start + step, self.N)) for start in range(0, self.N, step)], step

    def im2col(self, a):
        """Yield (samples, cols): cols (n, C*HH*WW, H_out*W_out) of a's samples, rows (c, kh, kw).

        a: (N, C, H, W); each cols is valid until the next one is yielded.
        """
        chunks, step = self.chunks(a.itemsize)
        stage = np.zeros((step,) + self.stage_shape, dtype=a.dtype)
        windows = np.zeros((step,) + self.window_shape, dtype=a.dtype)
        for samples in chunks:
            n = samples.stop - samples.start
            for kw, (out_cols, in_cols) in self.cols:
                stage[:n, :, kw, :, out_cols] = a[samples, :, :, in_cols]
            for kh, (out_rows, in_rows) in self.rows:
                windows[:n, :, kh, :, out_rows] = stage[:n, :, :, in_rows]
            yield samples, windows[:n].reshape(n, -1, self.out_size)

    def col2im(self, dcols, dx, stage):
        """Add the columns dcols (n, C*HH*WW, H_out*W_out) onto dx (n, C, H, W), zeroed, in place.

        stage: a scratch buffer of at least n samples of stage_shape.
        """
        n = dx.shape[0]
        dwindows = dcols.reshape((n,) + self.window_shape)
        stage = stage[:n]
        stage.fill(0)
        for kh, (out_rows, in_rows) in self.rows:
            stage[:, :, :, in_rows] += dwindows[:, :, kh, :, out_rows]
        for kw, (out_cols, in_cols) in self.cols:
            dx[:, :, :, in_cols] += stage[:, :, kw, :, out_cols]


def _use_full_convolution(x_shape, w_shape, stride):
    """Rule for dx: a full convolution of dout beats col2im when stride is 1 and C is not small."""
    return stride == 1 and 4 * x_shape[1] >= w_shape[0]


def conv_forward_fast(x, w, b, conv_param):
    """Convolution forward pass: chunked im2col, one matrix product per sample.

    Inputs:
    - x: (N, C, H, W); w: (F, C, HH, WW); b: (F,)
    - conv_param: {'stride', 'pad'} and optionally 'dilation' (default 1)

    Returns:
    - out: (N, F, H_out, W_out), x's dtype
    - cache: (x, w, b, conv_param)
    """
    x, w, b, stride, pad, dilation, out_h, out_w = check_conv(x, w, b, conv_param)
    N, F = x.shape[0], w.shape[0]
    windows = _Windows(x.shape, w.shape[2:], stride, (pad, pad), dilation, (out_h, out_w))
    w_rows = w.reshape(F, -1)
    out = np.empty((N, F, out_h * out_w), dtype=x.dtype)
    for samples, cols in windows.im2col(x):
        np.matmul(w_rows, cols, out=out[samples])
    out += b[:, None]
    return out.reshape(N, F, out_h, out_w), (x, w, b, conv_param)


def _backward_full_convolution(dout, x, w, pad, dilation):
    """dx and dw for stride 1 from one im2col of dout, padded by the kernel span minus pad.

    dx is the correlation of those columns with the kernel flipped in space and with F
    and C swapped; dw is the product of the same columns with x (its kernel flipped back).
    """
    F, C, HH, WW = w.shape
    N, _, H, W = x.shape
    grow = (dilation * (HH - 1) - pad, dilation * (WW - 1) - pad)
    windows = _Windows(dout.shape, (HH, WW), 1, grow, dilation, (H, W))
    flipped = np.ascontiguousarray(w[:, :, ::-1, ::-1].transpose(1, 0, 2, 3)).reshape(C, -1)
    x_rows = x.reshape(N, C, H * W)
    dx = np.empty((N, C, H * W), dtype=dout.dtype)
    dw_flipped = np.zeros((F * HH * WW, C), dtype=dout.dtype)
    for samples, dcols in windows.im2col(dout):
        np.matmul(flipped, dcols, out=dx[samples])
        dw_flipped += np.matmul(dcols, x_rows[samples].transpose(0, 2, 1)).sum(axis=0)
    dw = dw_flipped.reshape(F, HH, WW, C)[:, ::-1, ::-1].transpose(0, 3, 1, 2)
    return dx.reshape(x.shape), np.ascontiguousarray(dw)


def _backward_col2im(dout, x, w, stride, pad, dilation):
    """dx and dw from the im2col columns of x: dw = dout @ cols.T, dx = col2im(w.T @ dout)."""
    F = w.shape[0]
    N, _, out_h, out_w = dout.shape
    windows = _Windows(x.shape, w.shape[2:], stride, (pad, pad), dilation, (out_h, out_w))
    dout_rows = dout.reshape(N, F, -1)
    w_cols = np.ascontiguousarray(w.reshape(F, -1).T)
    dw_cols = np.zeros(w_cols.shape, dtype=dout.dtype)
    dx = np.zeros(x.shape, dtype=dout.dtype)
    _, step = windows.chunks(dout.itemsize)
    dcols = np.empty((step, w_cols.shape[0], out_h * out_w), dtype=dout.dtype)
    stage = np.empty((step,) + windows.stage_shape, dtype=dout.dtype)
    for samples, cols in windows.im2col(x):
        n = samples.stop - samples.start
        dw_cols += np.matmul(cols, dout_rows[samples].transpose(0, 2, 1)).sum(axis=0)
        np.matmul(w_cols, dout_rows[samples], out=dcols[:n])
        windows.col2im(dcols[:n], dx[samples], stage)
    return dx, np.ascontiguousarray(dw_cols.T).reshape(w.shape)


def conv_backward_fast(dout, cache):
    """Convolution backward pass (chunked; see the module docstring).

    Inputs:
    - dout: (N, F, H_out, W_out) upstream gradient
    - cache: (x, w, b, conv_param) from conv_forward_fast

    Returns:
    - dx: (N, C, H, W); dw: (F, C, HH, WW); db: (F,)
    """
    x, w, b, conv_param = cache
    stride, pad, dilation = conv_params(conv_param)
    F, C, HH, WW = w.shape
    N, _, H, W = x.shape
    out_hw = (conv_output_size(H, HH, stride, pad, dilation, "height"),
              conv_output_size(W, WW, stride, pad, dilation, "width"))
    dout = np.ascontiguousarray(check_dout(dout, (N, F) + out_hw, x.dtype))
    x, w = x.astype(dout.dtype, copy=False), w.astype(dout.dtype, copy=False)  # a float64 dout wins
    db = dout.sum(axis=(0, 2, 3))
    if _use_full_convolution(x.shape, w.shape, stride):
        dx, dw = _backward_full_convolution(dout, x, w, pad, dilation)
    else:
        dx, dw = _backward_col2im(dout, x, w, stride, pad, dilation)
    return dx, dw, db


def max_pool_forward_fast(x, pool_param):
    """Max pooling forward pass: a running maximum over the strided views of the input.

    Inputs:
    - x: (N, C, H, W)
    - pool_param: {'pool_height', 'pool_width', 'stride'}

    Returns:
    - out: (N, C, H_out, W_out)
    - cache: (x, pool_param, argmax) with argmax (N, C, H_out, W_out), small unsigned
      ints: the row-major index inside each window of the entry that receives the gradient
    """
    x, ph, pw, stride, out_h, out_w = check_pool(x, pool_param)
    out = x[:, :, :stride * (out_h - 1) + 1:stride, :stride * (out_w - 1) + 1:stride].copy()
    argmax = np.zeros(out.shape, dtype=np.min_scalar_type(ph * pw - 1))
    for k in range(1, ph * pw):
        rows, cols = offset_slices(k // pw, k % pw, out_h, out_w, stride, 1)
        candidate = x[:, :, rows, cols]
        # strictly larger keeps the first maximum; a NaN always takes over, so the last NaN
        # wins; the winner is the last entry that took over: the largest such k
        wins = candidate > out
        wins |= np.isnan(candidate)
        np.maximum(argmax, wins * argmax.dtype.type(k), out=argmax)
        np.maximum(out, candidate, out=out)  # NaN propagates, as the running maximum should
    return out, (x, pool_param, argmax)


def max_pool_backward_fast(dout, cache):
    """Max pooling backward pass: one strided add per window entry.

    Inputs:
    - dout: (N, C, H_out, W_out)
    - cache: (x, pool_param, argmax) from max_pool_forward_fast

    Returns:
    - dx: (N, C, H, W); overlapping windows add up, uncovered entries get 0
    """
    x, pool_param, argmax = cache
    ph, pw, stride = pool_params(pool_param)
    dout = check_dout(dout, argmax.shape, x.dtype)
    out_h, out_w = argmax.shape[2:]
    dx = np.zeros(x.shape, dtype=dout.dtype)
    zero = dout.dtype.type(0)
    for k in range(ph * pw):
        rows, cols = offset_slices(k // pw, k % pw, out_h, out_w, stride, 1)
        dx[:, :, rows, cols] += np.where(argmax == k, dout, zero)
    return dx

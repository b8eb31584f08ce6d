"""The fastest pure-numpy convolution and max pooling of the reference library.

Convolution works on chunks of a few samples at a time: the im2col columns of a
chunk, (C*HH*WW, n*H_out*W_out), are copied out of a strided window view of the
padded input into one reused buffer (small enough to stay in cache), and one
matrix product per chunk does the arithmetic in BLAS (one 2-d product per chunk
runs much closer to BLAS peak than a product per sample):

- forward:   out = w (F, C*HH*WW) @ cols, then moved to (n, F, H_out*W_out) with the bias
- dw:        sum over chunks of dout (F, n*H_out*W_out) @ cols.T
- dx:        for stride 1 and not too few channels, a full convolution of dout with
             the flipped kernel, F and C swapped (same chunked scheme); otherwise
             w.T @ dout followed by a col2im of HH*WW strided-slice adds per chunk.

Max pooling takes a running maximum over the pool_height*pool_width strided
views of the input (the first maximum wins; a NaN always takes over, so the
last NaN of a window wins) and scatters the gradient back with one strided add
per window entry. For stride == pool size this beats the reshape path of
im2col.py (measured), so every configuration takes it. Results (dtype, ties,
NaN, windows that do not tile) are those of the naive loops.
"""

import numpy as np

from cnn_utils.reference.im2col import add_windows, crop_hw, offset_slices
from cnn_utils.shapes import (check_conv, check_dout, check_pool, conv_output_size, conv_params,
                              pool_params)

CHUNK_BYTES = 8 * 2**20  # size of the reused column buffer (tuned on this project's benchmarks)


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


def _column_chunks(a, kernel, stride, pad, dilation, out_hw):
    """The im2col columns of a few samples at a time, copied into one reused buffer.

    The zero padding is never built: the taps that fall on it keep the zeros the
    buffer starts with.

    Inputs:
    - a: (N, C, H, W), not padded
    - kernel (HH, WW), stride, pad (pad_h, pad_w), dilation: the window geometry, a
      negative pad crops; out_hw: (H_out, W_out)

    Yields (samples, cols): a slice of the batch and cols (C*HH*WW, n*H_out*W_out) for
    its n samples, rows ordered (c, kh, kw), columns (sample, oh, ow); valid until
    the next iteration.
    """
    N, C, H, W = a.shape
    (HH, WW), (out_h, out_w) = kernel, out_hw
    per_sample = C * HH * WW * out_h * out_w
    step = max(1, min(N, CHUNK_BYTES // (per_sample * a.itemsize)))
    taps = [(kh, kw, rows, cols) for kh in range(HH) for kw in range(WW)
            for rows in [_taps(H, pad[0], stride, kh * dilation, out_h)]
            for cols in [_taps(W, pad[1], stride, kw * dilation, out_w)] if rows and cols]
    buffer = np.zeros((C, HH, WW, step, out_h, out_w), dtype=a.dtype)
    for start in range(0, N, step):
        n = min(step, N - start)
        if n < step:  # the last, shorter chunk: a fresh zero buffer of its own shape
            buffer = np.zeros((C, HH, WW, n, out_h, out_w), dtype=a.dtype)
        samples = a[start:start + n].transpose(1, 0, 2, 3)
        for kh, kw, (out_rows, in_rows), (out_cols, in_cols) in taps:
            buffer[:, kh, kw, :, out_rows, out_cols] = samples[:, :, in_rows, in_cols]
        yield slice(start, start + n), buffer.reshape(C * HH * WW, -1)


def _samples_major(rows, n):
    """(R, n*P) result of a chunk's matrix product as an (n, R, P) view."""
    return rows.reshape(rows.shape[0], n, -1).transpose(1, 0, 2)


def _use_full_convolution(x_shape, w_shape, stride):
    """Rule for dx: a full convolution of dout beats col2im when stride is 1 and C is not small."""
    return stride == 1 and 4 * x_shape[1] >= w_shape[0]


def conv_forward_fast(x, w, b, conv_param):
    """Convolution forward pass: chunked im2col, one matrix product per chunk of samples.

    Inputs:
    - x: (N, C, H, W); w: (F, C, HH, WW); b: (F,)
    - conv_param: {'stride', 'pad'} and optionally 'dilation' (default 1)

    Returns:
    - out: (N, F, H_out, W_out), x's dtype
    - cache: (x, w, b, conv_param)
    """
    x, w, b, stride, pad, dilation, out_h, out_w = check_conv(x, w, b, conv_param)
    N, F = x.shape[0], w.shape[0]
    w_rows = w.reshape(F, -1)
    out = np.empty((N, F, out_h * out_w), dtype=x.dtype)
    for samples, cols in _column_chunks(x, w.shape[2:], stride, (pad, pad), dilation, (out_h, out_w)):
        np.add(_samples_major(w_rows @ cols, samples.stop - samples.start), b[:, None], out=out[samples])
    return out.reshape(N, F, out_h, out_w), (x, w, b, conv_param)


def _dx_full_convolution(dout, w, x_shape, pad, dilation):
    """dx for stride 1: dout, padded by the kernel span minus pad, correlated with the
    kernel flipped in space and with F and C swapped."""
    F, C, HH, WW = w.shape
    N, _, H, W = x_shape
    flipped = np.ascontiguousarray(w[:, :, ::-1, ::-1].transpose(1, 0, 2, 3)).reshape(C, -1)
    dx = np.empty((N, C, H * W), dtype=dout.dtype)
    grow = (dilation * (HH - 1) - pad, dilation * (WW - 1) - pad)
    for samples, cols in _column_chunks(dout, (HH, WW), 1, grow, dilation, (H, W)):
        dx[samples] = _samples_major(flipped @ cols, samples.stop - samples.start)
    return dx.reshape(x_shape)


def _col2im_chunk(dcols, x_shape, out_hw, kernel, stride, pad, dilation):
    """Add a chunk's columns (C*HH*WW, n*H_out*W_out) back onto its n inputs: (n, C, H, W) view."""
    _, C, H, W = x_shape
    n = dcols.shape[1] // (out_hw[0] * out_hw[1])
    padded = np.zeros((C, n, H + 2 * pad, W + 2 * pad), dtype=dcols.dtype)
    windows = dcols.reshape((C,) + kernel + (n,) + out_hw).transpose(1, 2, 0, 3, 4, 5)
    add_windows(padded, windows, stride, dilation)
    return crop_hw(padded, pad).transpose(1, 0, 2, 3)


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
    dout = check_dout(dout, (N, F) + out_hw, x.dtype)
    db = dout.sum(axis=(0, 2, 3))
    col2im = not _use_full_convolution(x.shape, w.shape, stride)
    dx = np.empty(x.shape, dtype=dout.dtype)  # filled chunk by chunk when col2im
    w_cols = w.reshape(F, -1).T
    dw = np.zeros((F, C * HH * WW), dtype=dout.dtype)
    for samples, cols in _column_chunks(x, (HH, WW), stride, (pad, pad), dilation, out_hw):
        dout_rows = np.ascontiguousarray(dout[samples].transpose(1, 0, 2, 3)).reshape(F, -1)
        dw += dout_rows @ cols.T
        if col2im:
            dx[samples] = _col2im_chunk(w_cols @ dout_rows, x.shape, out_hw, (HH, WW), stride, pad,
                                         dilation)
    if not col2im:
        dx = _dx_full_convolution(dout, w, x.shape, pad, dilation)
    return dx, dw.reshape(w.shape), db


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

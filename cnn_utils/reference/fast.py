"""The fastest pure-numpy convolution and max pooling of the reference library.

Convolution works on chunks of a few samples at a time: the columns of a chunk
are copied out of a strided window view of the padded input into one reused
buffer (small enough to stay in cache), then a single batched matrix product
per chunk does the arithmetic in BLAS:

- forward:   out[n] = w (F, C*HH*WW) @ cols[n] (C*HH*WW, H_out*W_out)
- dw:        sum over n of dout[n] (F, H_out*W_out) @ cols[n].T
- dx:        for stride 1 and many channels, a full convolution of dout with the
             flipped, transposed kernel (same chunked scheme); otherwise
             w.T @ dout[n] followed by a col2im of HH*WW strided-slice adds.

Max pooling takes a running maximum over the pool_height*pool_width strided
views of the input (first maximum wins; NaN wins, the last NaN of a window
last), and scatters the gradient back with one strided add per window entry.
Results (dtype, ties, NaN, windows that do not tile) are those of the naive loops.
"""

import numpy as np

from cnn_utils.reference.im2col import crop_hw, offset_slices, pad_hw, window_view
from cnn_utils.shapes import check_conv, check_dout, check_pool, conv_params, pool_params

CHUNK_BYTES = 8 * 2**20  # size of the reused column buffer (tuned on this project's benchmarks)


def _column_chunks(windows):
    """Copy the windows of a few samples at a time into one reused buffer.

    Inputs:
    - windows: view (N, C, HH, WW, H_out, W_out) from window_view

    Yields (samples, cols): a slice of the batch and cols (n, C*HH*WW, H_out*W_out),
    valid until the next iteration.
    """
    N, rows = windows.shape[0], int(np.prod(windows.shape[1:4]))
    step = max(1, min(N, CHUNK_BYTES // (windows[0].size * windows.itemsize)))
    buffer = np.empty((step,) + windows.shape[1:], dtype=windows.dtype)
    for start in range(0, N, step):
        stop = min(start + step, N)
        chunk = buffer[:stop - start]
        np.copyto(chunk, windows[start:stop])
        yield slice(start, stop), chunk.reshape(stop - start, rows, -1)


def _use_full_convolution(x_shape, w_shape, stride):
    """Rule for dx: a full convolution of dout beats col2im when stride is 1 and C is not small."""
    return stride == 1 and 4 * x_shape[1] >= w_shape[0]


def _shift_hw(a, top, left, height, width):
    """Zeros (N, C, height, width) holding ``a`` moved down by top and right by left (negative crops)."""
    out = np.zeros(a.shape[:2] + (height, width), dtype=a.dtype)
    src_rows = slice(max(0, -top), min(a.shape[2], height - top))
    src_cols = slice(max(0, -left), min(a.shape[3], width - left))
    out[:, :, src_rows.start + top:src_rows.stop + top, src_cols.start + left:src_cols.stop + left] = (
        a[:, :, src_rows, src_cols])
    return out


def conv_forward_fast(x, w, b, conv_param):
    """Convolution forward pass: chunked im2col, one batched matrix product per chunk.

    Inputs:
    - x: (N, C, H, W); w: (F, C, HH, WW); b: (F,)
    - conv_param: {'stride', 'pad'} and optionally 'dilation' (default 1)

    Returns:
    - out: (N, F, H_out, W_out), x's dtype
    - cache: (x, w, b, conv_param)
    """
    x, w, b, stride, pad, dilation, out_h, out_w = check_conv(x, w, b, conv_param)
    N, F = x.shape[0], w.shape[0]
    windows = window_view(pad_hw(x, pad), w.shape[2], w.shape[3], stride, dilation)
    w_rows = w.reshape(F, -1)
    out = np.empty((N, F, out_h * out_w), dtype=x.dtype)
    for samples, cols in _column_chunks(windows):
        np.matmul(w_rows, cols, out=out[samples])
        out[samples] += b[:, None]
    return out.reshape(N, F, out_h, out_w), (x, w, b, conv_param)


def _dx_full_convolution(dout, w, x_shape, pad, dilation):
    """dx for stride 1: dout, padded to the input size plus the kernel span, correlated
    with the kernel flipped in space and with F and C swapped."""
    F, C, HH, WW = w.shape
    N, _, H, W = x_shape
    span_h, span_w = dilation * (HH - 1), dilation * (WW - 1)
    grown = _shift_hw(dout, span_h - pad, span_w - pad, H + span_h, W + span_w)
    flipped = np.ascontiguousarray(w[:, :, ::-1, ::-1].transpose(1, 0, 2, 3)).reshape(C, -1)
    dx = np.empty((N, C, H * W), dtype=dout.dtype)
    for samples, cols in _column_chunks(window_view(grown, HH, WW, 1, dilation)):
        np.matmul(flipped, cols, out=dx[samples])
    return dx.reshape(x_shape)


def _dx_col2im(dout, w, x_shape, stride, pad, dilation):
    """dx for any stride: w.T @ dout per sample, then HH*WW strided-slice adds (chunked)."""
    F, C, HH, WW = w.shape
    N, _, H, W = x_shape
    out_h, out_w = dout.shape[2:]
    dxp = np.zeros((N, C, H + 2 * pad, W + 2 * pad), dtype=dout.dtype)
    w_cols = w.reshape(F, -1).T
    dout_rows = dout.reshape(N, F, -1)
    step = max(1, min(N, CHUNK_BYTES // (w_cols.shape[0] * out_h * out_w * dout.itemsize)))
    dcols = np.empty((step, C * HH * WW, out_h * out_w), dtype=dout.dtype)
    for start in range(0, N, step):
        stop = min(start + step, N)
        chunk = np.matmul(w_cols, dout_rows[start:stop], out=dcols[:stop - start])
        chunk = chunk.reshape(stop - start, C, HH, WW, out_h, out_w)
        target = dxp[start:stop]
        for kh in range(HH):
            for kw in range(WW):
                rows, cols = offset_slices(kh, kw, out_h, out_w, stride, dilation)
                target[:, :, rows, cols] += chunk[:, :, kh, kw]
    return np.ascontiguousarray(crop_hw(dxp, pad))


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
    F, _, HH, WW = w.shape
    N = x.shape[0]
    windows = window_view(pad_hw(x, pad), HH, WW, stride, dilation)
    dout = check_dout(dout, (N, F) + windows.shape[4:], x.dtype)
    db = dout.sum(axis=(0, 2, 3))
    dout_rows = dout.reshape(N, F, -1)
    dw = np.zeros((F, w[0].size), dtype=dout.dtype)
    for samples, cols in _column_chunks(windows):
        dw += np.matmul(dout_rows[samples], cols.transpose(0, 2, 1)).sum(axis=0)
    if _use_full_convolution(x.shape, w.shape, stride):
        dx = _dx_full_convolution(dout, w, x.shape, pad, dilation)
    else:
        dx = _dx_col2im(dout, w, x.shape, stride, pad, dilation)
    return dx, dw.reshape(w.shape), db


def max_pool_forward_fast(x, pool_param):
    """Max pooling forward pass: a running maximum over the strided views of the input.

    Inputs:
    - x: (N, C, H, W)
    - pool_param: {'pool_height', 'pool_width', 'stride'}

    Returns:
    - out: (N, C, H_out, W_out)
    - cache: (x, pool_param, argmax) with argmax (N, C, H_out, W_out) the row-major
      index inside each window of the entry that receives the gradient
    """
    x, ph, pw, stride, out_h, out_w = check_pool(x, pool_param)
    out = x[:, :, :stride * (out_h - 1) + 1:stride, :stride * (out_w - 1) + 1:stride].copy()
    argmax = np.zeros(out.shape, dtype=np.intp)
    for k in range(1, ph * pw):
        rows, cols = offset_slices(k // pw, k % pw, out_h, out_w, stride, 1)
        candidate = x[:, :, rows, cols]
        # strictly larger keeps the first maximum; a NaN always takes over, so the last NaN wins
        wins = (candidate > out) | np.isnan(candidate)
        np.copyto(out, candidate, where=wins)
        argmax[wins] = k
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

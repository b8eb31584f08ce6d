"""The fastest pure-numpy convolution and max pooling of the reference library.

Each call splits its batch across threads, one part per BLAS thread, with BLAS
single-threaded meanwhile (see batch_threads.py): the copies and adds then run on
every core, not only the products.

Convolution works on chunks of a few samples: their im2col columns,
(C*HH*WW, n*H_out*W_out), are built in a buffer small enough to stay in cache,
with a last row of ones, and numpy's batched matmul hands BLAS one product per
sample, straight from strided views of that buffer (no copies on either side):

- forward:  out[n] = (w | b) (F, C*HH*WW + 1) @ cols[n]: the ones row adds the bias
- stride 1, C not much smaller than F: one im2col of dout, padded by the kernel span
  minus pad, gives both gradients: dx[n] = flipped w (C, F*HH*WW) @ dcols[n] (the full
  convolution with the kernel flipped in space, F and C swapped) and dw from
  dcols[n] @ x[n].T, its kernel flipped back. One column build instead of two.
- otherwise: (dw | db).T = sum of cols[n] @ dout[n].T, dx = col2im(w.T @ dout[n]).

The columns are built in two passes (see ``_Windows``): WW column shifts into a
stage, then HH row shifts of whole (rows, W_out) blocks; col2im runs the same two
passes backwards. Fewer, longer copies than HH*WW strided ones: building the
columns of S2 in benchmarks/bench_layers.py is 1.4x (float64) to 1.7x (float32)
faster. The buffers are kept per thread between calls (``_scratch``).

Max pooling takes a running maximum over the pool_height*pool_width strided
views of the input (the first maximum wins; a NaN always takes over, so the
last NaN of a window wins) and scatters the gradient back with one strided add
per window entry. For stride == pool size this beats the reshape path of
im2col.py (measured), so every configuration takes it. Results (dtype, ties,
NaN, windows that do not tile) are those of the naive loops.
"""

import math
import threading

import numpy as np

from cnn_utils.reference.batch_threads import map_parts
from cnn_utils.reference.im2col import offset_slices
from cnn_utils.shapes import (check_conv, check_dout, check_pool, conv_output_size, conv_params,
                              pool_params)

CHUNK_BYTES = 4 * 2**20  # im2col columns of one chunk of samples (tuned on benchmarks/bench_layers.py)
KEEP_BYTES = 4 * CHUNK_BYTES  # the largest scratch buffer a thread keeps for its next call

_kept = threading.local()  # scratch buffers, per thread: {(name, dtype char): flat array}


def _scratch(name, shape, dtype, zero=False):
    """A scratch array of ``shape``, uninitialised unless ``zero``, reused by this thread's calls.

    A fresh array page-faults on first touch, and on these machines a fault costs more
    than the copy that follows: reuse made S1 of the benchmark 2.5-3x faster in float64.
    Each name is one buffer: two arrays in use at the same time need two names.
    """
    buffers = _kept.__dict__
    key, size = (name, np.dtype(dtype).char), math.prod(shape)
    flat = buffers.get(key)
    if flat is None or flat.size < size:
        flat = np.empty(size, dtype=dtype)
        if flat.nbytes <= KEEP_BYTES:
            buffers[key] = flat
    view = flat[:size].reshape(shape)
    if zero:
        view.fill(0)
    return view


def _samples(rows, n):
    """An (R, n*P) matrix, columns ordered (sample, position), as an (n, R, P) view."""
    return rows.reshape(rows.shape[0], n, -1).transpose(1, 0, 2)


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
    """The window geometry of one convolution over an (N, C, H, W) input, chunk by chunk.

    The im2col columns of n samples are a (C, HH, WW, n, H_out, W_out) buffer, that is
    (C*HH*WW, n*H_out*W_out). For stride 1 they are built in two passes through a stage
    (C, WW, n, H, W_out): the WW column shifts (runs of W_out entries), then the HH row
    shifts, whole (rows, W_out) blocks at a time. A larger stride breaks those blocks
    up, so it copies the HH*WW strided windows directly. col2im runs the same passes
    backwards. Taps that fall on the padding are never written: they keep the zeros
    the buffers start each call with.
    """

    def __init__(self, shape, kernel, stride, pad, dilation, out_hw):
        _, self.C, self.H, W = shape
        (self.HH, self.WW), self.out_hw = kernel, out_hw
        self.rows = [(kh, t) for kh in range(self.HH)
                     if (t := _taps(self.H, pad[0], stride, kh * dilation, out_hw[0]))]
        self.cols = [(kw, t) for kw in range(self.WW)
                     if (t := _taps(W, pad[1], stride, kw * dilation, out_hw[1]))]
        self.two_pass = stride == 1

    def chunks(self, itemsize, part):
        """Slices of part (of the batch), CHUNK_BYTES of columns each at most (one sample at least)."""
        per_sample = self.C * self.HH * self.WW * self.out_hw[0] * self.out_hw[1] * itemsize
        step = max(1, CHUNK_BYTES // per_sample)
        return [slice(start, min(start + step, part.stop))
                for start in range(part.start, part.stop, step)]

    def _stage_shape(self, n):
        return (self.C, self.WW, n, self.H, self.out_hw[1])

    def _taps(self):
        """(kh, kw, out_rows, in_rows, out_cols, in_cols) of every tap that reaches the input."""
        return [(kh, kw, out_rows, in_rows, out_cols, in_cols)
                for kh, (out_rows, in_rows) in self.rows for kw, (out_cols, in_cols) in self.cols]

    def im2col(self, a, part, ones=False):
        """Yield (samples, cols) per chunk of part: cols (C*HH*WW, n*H_out*W_out) of a[samples].

        a: (N, C, H, W). Rows are ordered (c, kh, kw), columns (sample, oh, ow); each
        cols is overwritten by the next chunk. ones: cols gets a last row of ones, so
        that a product with it also adds a bias, or sums over the columns.
        """
        n, rows = 0, self.C * self.HH * self.WW
        for samples in self.chunks(a.itemsize, part):
            if samples.stop - samples.start != n:  # the first chunk, or a shorter last one
                n = samples.stop - samples.start
                cols = _scratch("im2col", (rows + ones, n * self.out_hw[0] * self.out_hw[1]),
                                a.dtype, zero=True)
                if ones:
                    cols[rows] = 1
                windows = cols[:rows].reshape((self.C, self.HH, self.WW, n) + self.out_hw)
                if self.two_pass:
                    stage = _scratch("im2col stage", self._stage_shape(n), a.dtype, zero=True)
            chunk = a[samples].transpose(1, 0, 2, 3)
            if self.two_pass:
                for kw, (out_cols, in_cols) in self.cols:
                    stage[:, kw, :, :, out_cols] = chunk[:, :, :, in_cols]
                for kh, (out_rows, in_rows) in self.rows:
                    windows[:, kh, :, :, out_rows] = stage[:, :, :, in_rows]
            else:
                for kh, kw, out_rows, in_rows, out_cols, in_cols in self._taps():
                    windows[:, kh, kw, :, out_rows, out_cols] = chunk[:, :, in_rows, in_cols]
            yield samples, cols

    def col2im(self, dcols, dx):
        """Add the columns dcols (C*HH*WW, n*H_out*W_out) onto dx (n, C, H, W), in place."""
        n = dx.shape[0]
        dwindows = dcols.reshape((self.C, self.HH, self.WW, n) + self.out_hw)
        dx = dx.transpose(1, 0, 2, 3)
        if not self.two_pass:
            for kh, kw, out_rows, in_rows, out_cols, in_cols in self._taps():
                dx[:, :, in_rows, in_cols] += dwindows[:, kh, kw, :, out_rows, out_cols]
            return
        stage = _scratch("col2im stage", self._stage_shape(n), dcols.dtype, zero=True)
        for kh, (out_rows, in_rows) in self.rows:
            stage[:, :, :, in_rows] += dwindows[:, kh, :, :, out_rows]
        for kw, (out_cols, in_cols) in self.cols:
            dx[:, :, :, in_cols] += stage[:, kw, :, :, out_cols]


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
    w_rows = np.concatenate([w.reshape(F, -1), b[:, None]], axis=1)  # the bias meets the ones row
    out = np.empty((N, F, out_h * out_w), dtype=x.dtype)

    def forward(part):
        for samples, cols in windows.im2col(x, part, ones=True):
            np.matmul(w_rows, _samples(cols, samples.stop - samples.start), out=out[samples])

    map_parts(forward, N)
    return out.reshape(N, F, out_h, out_w), (x, w, b, conv_param)


def _backward_full_convolution(dout, x, w, pad, dilation):
    """dx, dw and db for stride 1 from one im2col of dout, padded by the kernel span minus pad.

    dx is the correlation of those columns with the kernel flipped in space and with F
    and C swapped; dw is their product with x, its kernel flipped back.
    """
    F, C, HH, WW = w.shape
    N, _, H, W = x.shape
    grow = (dilation * (HH - 1) - pad, dilation * (WW - 1) - pad)
    windows = _Windows(dout.shape, (HH, WW), 1, grow, dilation, (H, W))
    flipped = np.ascontiguousarray(w[:, :, ::-1, ::-1].transpose(1, 0, 2, 3)).reshape(C, -1)
    dx = np.empty((N, C, H * W), dtype=dout.dtype)
    x_rows = x.reshape(N, C, H * W)

    def backward(part):
        dw_flipped = np.zeros((F * HH * WW, C), dtype=dout.dtype)
        for samples, dcols in windows.im2col(dout, part):
            dcols = _samples(dcols, samples.stop - samples.start)
            np.matmul(flipped, dcols, out=dx[samples])
            dw_flipped += np.matmul(dcols, x_rows[samples].transpose(0, 2, 1)).sum(axis=0)
        return dw_flipped, dout[part].sum(axis=(0, 2, 3))

    dw_flipped, db = map(sum, zip(*map_parts(backward, N), strict=True))
    dw = dw_flipped.reshape(F, HH, WW, C)[:, ::-1, ::-1].transpose(0, 3, 1, 2)
    return dx.reshape(x.shape), np.ascontiguousarray(dw), db


def _backward_col2im(dout, x, w, stride, pad, dilation):
    """dx, dw and db from the im2col columns of x and a row of ones: (dw | db) = dout @ cols.T,
    dx = col2im(w.T @ dout)."""
    F = w.shape[0]
    windows = _Windows(x.shape, w.shape[2:], stride, (pad, pad), dilation, dout.shape[2:])
    w_cols = np.ascontiguousarray(w.reshape(F, -1).T)
    dx = np.zeros(x.shape, dtype=dout.dtype)
    dout_rows = dout.reshape(dout.shape[0], F, -1)

    def backward(part):
        # (dw | db).T: this orientation of the product is 1.1-1.6x faster in single-threaded BLAS
        dwb_cols = np.zeros((len(w_cols) + 1, F), dtype=dout.dtype)
        for samples, cols in windows.im2col(x, part, ones=True):
            n = samples.stop - samples.start
            products = np.matmul(_samples(cols, n), dout_rows[samples].transpose(0, 2, 1))
            dwb_cols += products.sum(axis=0)
            dcols = _scratch("dcols", cols[:-1].shape, dout.dtype)  # without the ones row
            np.matmul(w_cols, dout_rows[samples], out=_samples(dcols, n))
            windows.col2im(dcols, dx[samples])
        return dwb_cols

    dwb_cols = sum(map_parts(backward, x.shape[0]))
    return dx, np.ascontiguousarray(dwb_cols[:-1].T).reshape(w.shape), dwb_cols[-1]


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
    if _use_full_convolution(x.shape, w.shape, stride):
        return _backward_full_convolution(dout, x, w, pad, dilation)
    return _backward_col2im(dout, x, w, stride, pad, dilation)


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
    out = np.empty(x.shape[:2] + (out_h, out_w), dtype=x.dtype)
    argmax = np.zeros(out.shape, dtype=np.min_scalar_type(ph * pw - 1))

    def forward(part):
        best, best_k = out[part], argmax[part]
        best[...] = x[part, :, :stride * (out_h - 1) + 1:stride, :stride * (out_w - 1) + 1:stride]
        for k in range(1, ph * pw):
            rows, cols = offset_slices(k // pw, k % pw, out_h, out_w, stride, 1)
            candidate = x[part, :, rows, cols]
            # strictly larger keeps the first maximum; a NaN always takes over, so the last
            # NaN wins; the winner is the last entry that took over: the largest such k
            wins = candidate > best
            wins |= np.isnan(candidate)
            np.maximum(best_k, wins * best_k.dtype.type(k), out=best_k)
            np.maximum(best, candidate, out=best)  # NaN propagates, as the running maximum should

    map_parts(forward, x.shape[0])
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

    def backward(part):
        for k in range(ph * pw):
            rows, cols = offset_slices(k // pw, k % pw, out_h, out_w, stride, 1)
            dx[part, :, rows, cols] += np.where(argmax[part] == k, dout[part], zero)

    map_parts(backward, x.shape[0])
    return dx

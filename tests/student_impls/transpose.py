"""Correct transposed convolutions (w is (C_in, F, HH, WW)), written three ways each."""

import numpy as np

from student_impls.conv import conv_forward_einsum, tap, windows


def setup(x, w, conv_param):
    stride, pad = conv_param["stride"], conv_param["pad"]
    dil = conv_param.get("dilation", 1)
    op = conv_param.get("output_padding", 0)
    H, W = x.shape[2:]
    span_h, span_w = dil * (w.shape[2] - 1) + 1, dil * (w.shape[3] - 1) + 1
    H_out = (H - 1) * stride - 2 * pad + span_h + op
    W_out = (W - 1) * stride - 2 * pad + span_w + op
    return stride, pad, dil, op, H_out, W_out


def conv_transpose_forward_loops(x, w, b, conv_param):
    """Every input pixel stamps x[n, c, i, j] * w[c] onto the (uncropped) output."""
    N, C_in, H, W = x.shape
    _, F, HH, WW = w.shape
    stride, pad, dil, op, H_out, W_out = setup(x, w, conv_param)
    full = np.zeros((N, F, H_out + 2 * pad, W_out + 2 * pad), dtype=x.dtype)
    for n in range(N):
        for c in range(C_in):
            for i in range(H):
                for j in range(W):
                    rows = slice(i * stride, i * stride + dil * (HH - 1) + 1, dil)
                    cols = slice(j * stride, j * stride + dil * (WW - 1) + 1, dil)
                    full[n, :, rows, cols] += x[n, c, i, j] * w[c]
    out = full[:, :, pad:pad + H_out, pad:pad + W_out] + b.reshape(1, F, 1, 1)
    return out, (x, w, b, conv_param)


def conv_transpose_forward_taps(x, w, b, conv_param):
    """One einsum per kernel tap, added onto a strided slice of the uncropped output."""
    H, W = x.shape[2:]
    stride, pad, dil, op, H_out, W_out = setup(x, w, conv_param)
    full = np.zeros((x.shape[0], w.shape[1], H_out + 2 * pad, W_out + 2 * pad), dtype=x.dtype)
    for k in range(w.shape[2]):
        for l in range(w.shape[3]):
            tap(full, k, l, H, W, stride, dil)[...] += np.einsum("nchw,cf->nfhw", x, w[:, :, k, l])
    return full[:, :, pad:pad + H_out, pad:pad + W_out] + b[None, :, None, None], (x, w, b, conv_param)


def conv_transpose_forward_full(x, w, b, conv_param):
    """Spread x by the stride, pad it fully, correlate with the flipped kernel, crop."""
    N, C_in, H, W = x.shape
    F = w.shape[1]
    stride, pad, dil, op, H_out, W_out = setup(x, w, conv_param)
    reach_h, reach_w = dil * (w.shape[2] - 1), dil * (w.shape[3] - 1)
    spread = np.zeros((N, C_in, (H - 1) * stride + 1, (W - 1) * stride + 1), dtype=x.dtype)
    spread[:, :, ::stride, ::stride] = x
    full = np.pad(spread, ((0, 0), (0, 0), (reach_h, reach_h + op), (reach_w, reach_w + op)))
    kernel = np.flip(w, axis=(2, 3)).transpose(1, 0, 2, 3)  # (F, C_in, HH, WW)
    out, _ = conv_forward_einsum(full, kernel, np.zeros(F, dtype=x.dtype),
                                 {"stride": 1, "pad": 0, "dilation": dil})
    return out[:, :, pad:pad + H_out, pad:pad + W_out] + b[None, :, None, None], (x, w, b, conv_param)


def _padded_dout(dout, pad):
    return np.pad(dout, ((0, 0), (0, 0), (pad, pad), (pad, pad)))


def conv_transpose_backward_loops(dout, cache):
    x, w, b, conv_param = cache
    N, C_in, H, W = x.shape
    _, F, HH, WW = w.shape
    stride, pad, dil, op, H_out, W_out = setup(x, w, conv_param)
    dout_pad = _padded_dout(dout, pad)
    dx = np.zeros(x.shape)
    dw = np.zeros(w.shape)
    for n in range(N):
        for c in range(C_in):
            for i in range(H):
                for j in range(W):
                    rows = slice(i * stride, i * stride + dil * (HH - 1) + 1, dil)
                    cols = slice(j * stride, j * stride + dil * (WW - 1) + 1, dil)
                    dx[n, c, i, j] = np.sum(dout_pad[n, :, rows, cols] * w[c])
                    dw[c] += x[n, c, i, j] * dout_pad[n, :, rows, cols]
    return dx, dw, dout.sum(axis=(0, 2, 3))


def conv_transpose_backward_taps(dout, cache):
    x, w, b, conv_param = cache
    H, W = x.shape[2:]
    stride, pad, dil, op, H_out, W_out = setup(x, w, conv_param)
    dout_pad = _padded_dout(dout, pad)
    dx = np.zeros_like(x)
    dw = np.zeros_like(w)
    for k in range(w.shape[2]):
        for l in range(w.shape[3]):
            part = tap(dout_pad, k, l, H, W, stride, dil)
            dx += np.einsum("nfhw,cf->nchw", part, w[:, :, k, l])
            dw[:, :, k, l] = np.einsum("nchw,nfhw->cf", x, part)
    return dx, dw, dout.sum(axis=(0, 2, 3))


def conv_transpose_backward_conv(dout, cache):
    """dx is an ordinary convolution of dout with w; dw from a window view of the padded dout."""
    x, w, b, conv_param = cache
    H, W = x.shape[2:]
    stride, pad, dil, op, H_out, W_out = setup(x, w, conv_param)
    dx, _ = conv_forward_einsum(dout, w, np.zeros(w.shape[0]),
                                {"stride": stride, "pad": pad, "dilation": dil})
    view = windows(_padded_dout(dout, pad), w.shape[2], w.shape[3], H, W, stride, dil)
    dw = np.einsum("nchw,nfhwkl->cfkl", x, view)
    return dx[:, :, :H, :W], dw, dout.sum(axis=(0, 2, 3))

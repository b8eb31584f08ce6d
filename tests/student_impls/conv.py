"""Correct convolutions, written three ways: scalar loops, einsum over kernel taps, strided windows.

The backward functions read only cache[:4], so they also accept the im2col cache
(x, w, b, conv_param, x_cols).
"""

import numpy as np
from numpy.lib.stride_tricks import as_strided


def conv_setup(x, w, conv_param):
    """stride, pad, dilation, H_out, W_out and the padded input."""
    stride, pad = conv_param["stride"], conv_param["pad"]
    dil = conv_param.get("dilation", 1)
    H, W = x.shape[2:]
    HH, WW = w.shape[2:]
    H_out = (H + 2 * pad - dil * (HH - 1) - 1) // stride + 1
    W_out = (W + 2 * pad - dil * (WW - 1) - 1) // stride + 1
    x_pad = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    return stride, pad, dil, H_out, W_out, x_pad


def conv_forward_loops(x, w, b, conv_param):
    """Seven nested loops, one multiply-add at a time."""
    N, C = x.shape[:2]
    F, _, HH, WW = w.shape
    stride, pad, dil, H_out, W_out, x_pad = conv_setup(x, w, conv_param)
    out = np.zeros((N, F, H_out, W_out), dtype=x.dtype)
    for n in range(N):
        for f in range(F):
            for i in range(H_out):
                for j in range(W_out):
                    total = b[f]
                    for c in range(C):
                        for k in range(HH):
                            for l in range(WW):
                                total += x_pad[n, c, i * stride + k * dil, j * stride + l * dil] * w[f, c, k, l]
                    out[n, f, i, j] = total
    return out, (x, w, b, conv_param)


def tap(a, k, l, count_h, count_w, step, dil):
    """The entries that kernel tap (k, l) meets in all windows: a[..., k*dil::step, l*dil::step]."""
    return a[:, :, k * dil:k * dil + step * (count_h - 1) + 1:step,
             l * dil:l * dil + step * (count_w - 1) + 1:step]


def conv_forward_einsum(x, w, b, conv_param):
    """One einsum per kernel tap."""
    stride, pad, dil, H_out, W_out, x_pad = conv_setup(x, w, conv_param)
    out = np.zeros((x.shape[0], w.shape[0], H_out, W_out), dtype=x.dtype)
    for k in range(w.shape[2]):
        for l in range(w.shape[3]):
            out += np.einsum("nchw,fc->nfhw", tap(x_pad, k, l, H_out, W_out, stride, dil), w[:, :, k, l])
    out += b.reshape(1, -1, 1, 1)
    return out, (x, w, b, conv_param)


def windows(x_pad, HH, WW, H_out, W_out, stride, dil):
    """Strided view (N, C, H_out, W_out, HH, WW) of every window."""
    sn, sc, sh, sw = x_pad.strides
    N, C = x_pad.shape[:2]
    return as_strided(x_pad, (N, C, H_out, W_out, HH, WW),
                      (sn, sc, sh * stride, sw * stride, sh * dil, sw * dil), writeable=False)


def conv_forward_strided(x, w, b, conv_param):
    """A window view and one tensordot."""
    stride, pad, dil, H_out, W_out, x_pad = conv_setup(x, w, conv_param)
    view = windows(x_pad, w.shape[2], w.shape[3], H_out, W_out, stride, dil)
    out = np.tensordot(view, w, axes=([1, 4, 5], [1, 2, 3]))  # (N, H_out, W_out, F)
    return out.transpose(0, 3, 1, 2) + b[None, :, None, None], (x, w, b, conv_param)


def conv_backward_loops(dout, cache):
    """cs231n style: every output position scatters into dx_pad and dw."""
    x, w, b, conv_param = cache[:4]
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    stride, pad, dil, H_out, W_out, x_pad = conv_setup(x, w, conv_param)
    dx_pad = np.zeros(x_pad.shape)
    dw = np.zeros(w.shape)
    for n in range(N):
        for f in range(F):
            for i in range(H_out):
                for j in range(W_out):
                    r = slice(i * stride, i * stride + dil * (HH - 1) + 1, dil)
                    s = slice(j * stride, j * stride + dil * (WW - 1) + 1, dil)
                    dx_pad[n, :, r, s] += w[f] * dout[n, f, i, j]
                    dw[f] += x_pad[n, :, r, s] * dout[n, f, i, j]
    db = np.zeros(F)
    for f in range(F):
        db[f] = np.sum(dout[:, f])
    return dx_pad[:, :, pad:pad + H, pad:pad + W], dw, db


def conv_backward_einsum(dout, cache):
    """Per kernel tap: one einsum into dx_pad and one into dw."""
    x, w, b, conv_param = cache[:4]
    H, W = x.shape[2:]
    stride, pad, dil, H_out, W_out, x_pad = conv_setup(x, w, conv_param)
    dx_pad = np.zeros_like(x_pad)
    dw = np.zeros_like(w)
    for k in range(w.shape[2]):
        for l in range(w.shape[3]):
            tap(dx_pad, k, l, H_out, W_out, stride, dil)[...] += np.einsum("nfhw,fc->nchw", dout, w[:, :, k, l])
            dw[:, :, k, l] = np.einsum("nchw,nfhw->fc", tap(x_pad, k, l, H_out, W_out, stride, dil), dout)
    return dx_pad[:, :, pad:pad + H, pad:pad + W], dw, dout.sum(axis=(0, 2, 3))


def conv_forward_naive(x, w, b, conv_param):
    """The forward pass as a2's notebook has it (pasted from a1): the flipped backward computes with it."""
    return conv_forward_strided(x, w, b, conv_param)


def conv_backward_full(dout, cache):
    """dx as a full convolution of the stride-dilated dout with the flipped kernel; dw as a convolution,
    both computed by conv_forward_naive."""
    x, w, b, conv_param = cache[:4]
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    stride, pad, dil, H_out, W_out, x_pad = conv_setup(x, w, conv_param)
    Hp, Wp = x_pad.shape[2:]
    spread = np.zeros((N, F, (H_out - 1) * stride + 1, (W_out - 1) * stride + 1))
    spread[:, :, ::stride, ::stride] = dout
    reach_h, reach_w = dil * (HH - 1), dil * (WW - 1)
    full = np.pad(spread, ((0, 0), (0, 0), (reach_h, Hp - spread.shape[2]), (reach_w, Wp - spread.shape[3])))
    flipped = np.flip(w, axis=(2, 3)).transpose(1, 0, 2, 3)
    dx_pad, _ = conv_forward_naive(full, flipped, np.zeros(C), {"stride": 1, "pad": 0, "dilation": dil})
    dw_t, _ = conv_forward_naive(x_pad.transpose(1, 0, 2, 3), dout.transpose(1, 0, 2, 3), np.zeros(F),
                                 {"stride": dil, "pad": 0, "dilation": stride})
    dw = dw_t[:, :, :HH, :WW].transpose(1, 0, 2, 3)
    return dx_pad[:, :, pad:pad + H, pad:pad + W], dw, dout.sum(axis=(0, 2, 3))


def conv_backward_flipped_per_sample(dout, cache):
    """conv_backward_full one sample at a time: a loop over samples, none over output positions."""
    x, w, b, conv_param = cache[:4]
    parts = [conv_backward_full(dout[n:n + 1], (x[n:n + 1], w, b, conv_param)) for n in range(x.shape[0])]
    return np.concatenate([part[0] for part in parts]), sum(part[1] for part in parts), sum(part[2] for part in parts)


def conv_backward_flipped_taps_dw(dout, cache):
    """dx by the flipped-kernel convolution; dw and db by kernel taps."""
    _, dw, db = conv_backward_einsum(dout, cache)
    return conv_backward_full(dout, cache)[0], dw, db

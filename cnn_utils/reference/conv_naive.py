"""Naive convolution backward with explicit loops, and dx as a full convolution with the flipped kernel.

Every function works on NCHW arrays and keeps the dtype of its inputs. The
private helpers ``_input_gradient`` and ``_weight_gradient`` take already
validated arrays; the transposed convolution reuses them. The forward pass
(assignment 1) lives in ``conv_forward``, on its own so that the re-check of
a later assignment can hold it without holding this assignment's answers.
"""

import numpy as np

from cnn_utils import shapes
from cnn_utils.reference.conv_forward import _correlate, _pad, conv_forward_naive

__all__ = ["conv_forward_naive", "conv_backward_naive", "conv_backward_flipped"]


def _dilate(a, stride):
    """Insert stride - 1 zeros between neighbouring entries of the spatial axes of (N, C, H, W)."""
    n, c, h, w = a.shape
    out = np.zeros((n, c, (h - 1) * stride + 1, (w - 1) * stride + 1), dtype=a.dtype)
    out[:, :, ::stride, ::stride] = a
    return out


def _input_gradient(dout, w, stride, pad, dilation, height, width):
    """Gradient of a convolution's input: full convolution of stride-dilated dout, flipped kernel.

    Inputs:
    - dout: (N, F, H_out, W_out)
    - w: (F, C, HH, WW)
    - stride, pad, dilation: the forward convolution's parameters
    - height, width: H, W of the unpadded input; the windows must fit in H + 2*pad, W + 2*pad

    Returns:
    - dx: (N, C, height, width); rows/columns no window reached get 0
    """
    hh, ww = w.shape[2:]
    flipped = w.transpose(1, 0, 2, 3)[:, :, ::-1, ::-1]
    full_h, full_w = dilation * (hh - 1), dilation * (ww - 1)
    spread = _pad(_dilate(dout, stride), full_h, full_w)
    covered_h = spread.shape[2] - full_h
    covered_w = spread.shape[3] - full_w
    covered = _correlate(spread, flipped, 1, dilation, covered_h, covered_w)
    dx_pad = np.zeros((dout.shape[0], w.shape[1], height + 2 * pad, width + 2 * pad),
                      dtype=covered.dtype)
    dx_pad[:, :, :covered_h, :covered_w] = covered
    return dx_pad[:, :, pad:pad + height, pad:pad + width]


def _weight_gradient(xp, dout, stride, dilation, hh, ww):
    """Gradient of a convolution's weights: correlate xp with dout (stride and dilation swap roles).

    Inputs:
    - xp: (N, C, Hp, Wp), the padded input
    - dout: (N, F, H_out, W_out)
    - stride, dilation: the forward convolution's parameters
    - hh, ww: kernel size

    Returns:
    - dw: (F, C, hh, ww)
    """
    per_channel = _correlate(xp.transpose(1, 0, 2, 3), dout.transpose(1, 0, 2, 3),
                             dilation, stride, hh, ww)
    return per_channel.transpose(1, 0, 2, 3)


def _checked_cache(dout, cache):
    """Validate a convolution cache and dout; return (x, w, stride, pad, dilation, dout)."""
    x, w, b, conv_param = cache
    x, w, b, stride, pad, dilation, h_out, w_out = shapes.check_conv(x, w, b, conv_param)
    dout = shapes.check_dout(dout, (x.shape[0], w.shape[0], h_out, w_out), x.dtype)
    return x, w, stride, pad, dilation, dout


def conv_backward_naive(dout, cache):
    """Backward pass of a convolution with explicit loops, scattering each output's gradient.

    Inputs:
    - dout: (N, F, H_out, W_out)
    - cache: (x, w, b, conv_param) from conv_forward_naive

    Returns:
    - dx: (N, C, H, W)
    - dw: (F, C, HH, WW)
    - db: (F,)
    """
    x, w, stride, pad, dilation, dout = _checked_cache(dout, cache)
    n_images, n_filters, h_out, w_out = dout.shape
    height, width = x.shape[2:]
    span_h = dilation * (w.shape[2] - 1) + 1
    span_w = dilation * (w.shape[3] - 1) + 1
    xp = _pad(x, pad, pad)
    dx_pad = np.zeros(xp.shape, dtype=dout.dtype)
    dw = np.zeros(w.shape, dtype=dout.dtype)
    for n in range(n_images):
        for f in range(n_filters):
            for i in range(h_out):
                for j in range(w_out):
                    rows = slice(i * stride, i * stride + span_h, dilation)
                    cols = slice(j * stride, j * stride + span_w, dilation)
                    dx_pad[n, :, rows, cols] += w[f] * dout[n, f, i, j]
                    dw[f] += xp[n, :, rows, cols] * dout[n, f, i, j]
    dx = dx_pad[:, :, pad:pad + height, pad:pad + width]
    db = dout.sum(axis=(0, 2, 3))
    return dx, dw, db


def conv_backward_flipped(dout, cache):
    """Backward pass of a convolution: dx as a full convolution with the flipped kernel.

    dout is dilated by the stride (stride - 1 zeros between entries), padded by
    dilation*(kernel - 1) on every side and correlated with the kernel flipped
    in space and with its two channel axes swapped; the result is cropped by
    pad, and rows/columns that no window reached get zero gradient.

    Inputs:
    - dout: (N, F, H_out, W_out)
    - cache: (x, w, b, conv_param) from conv_forward_naive

    Returns:
    - dx: (N, C, H, W)
    - dw: (F, C, HH, WW)
    - db: (F,)
    """
    x, w, stride, pad, dilation, dout = _checked_cache(dout, cache)
    height, width = x.shape[2:]
    dx = _input_gradient(dout, w, stride, pad, dilation, height, width)
    dw = _weight_gradient(_pad(x, pad, pad), dout, stride, dilation, *w.shape[2:])
    db = dout.sum(axis=(0, 2, 3))
    return dx, dw, db

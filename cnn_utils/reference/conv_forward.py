"""Naive convolution forward with explicit loops (assignment 1's reference).

NCHW arrays; the output keeps the dtype of the inputs. ``_pad`` and
``_correlate`` take already validated arrays; the backward passes reuse them.
This module imports no other reference module: a later assignment's re-check
holds it alone (see ``cnn_utils.grading.table.PRIOR``).
"""

import numpy as np

from cnn_utils import shapes


def _pad(x, pad_h, pad_w):
    """Zero-pad the two spatial axes of an (N, C, H, W) array."""
    return np.pad(x, ((0, 0), (0, 0), (pad_h, pad_h), (pad_w, pad_w)))


def _correlate(xp, w, stride, dilation, h_out, w_out):
    """Cross-correlate an already padded input with w, for the first h_out x w_out windows.

    Inputs:
    - xp: (N, C, Hp, Wp), already padded
    - w: (F, C, HH, WW)
    - stride, dilation: ints
    - h_out, w_out: number of window positions to compute along each axis

    Returns:
    - out: (N, F, h_out, w_out), no bias
    """
    n_images, n_filters = xp.shape[0], w.shape[0]
    span_h = dilation * (w.shape[2] - 1) + 1
    span_w = dilation * (w.shape[3] - 1) + 1
    out = np.zeros((n_images, n_filters, h_out, w_out), dtype=np.result_type(xp, w))
    for n in range(n_images):
        for f in range(n_filters):
            for i in range(h_out):
                for j in range(w_out):
                    top, left = i * stride, j * stride
                    window = xp[n, :, top:top + span_h:dilation, left:left + span_w:dilation]
                    out[n, f, i, j] = np.sum(window * w[f])
    return out


def conv_forward_naive(x, w, b, conv_param):
    """Forward pass of a convolution (cross-correlation) with explicit loops.

    Inputs:
    - x: (N, C, H, W)
    - w: (F, C, HH, WW)
    - b: (F,)
    - conv_param: {'stride', 'pad'} and optionally 'dilation' (default 1)

    Returns:
    - out: (N, F, H_out, W_out), H_out = (H + 2*pad - dilation*(HH-1) - 1) // stride + 1
    - cache: (x, w, b, conv_param)
    """
    x, w, b, stride, pad, dilation, h_out, w_out = shapes.check_conv(x, w, b, conv_param)
    out = _correlate(_pad(x, pad, pad), w, stride, dilation, h_out, w_out)
    out += b[None, :, None, None]
    return out, (x, w, b, conv_param)

"""Naive max and average pooling: a loop over output positions, each window vectorised on (N, C).

Windows may overlap (stride < pool size) or leave rows/columns uncovered
(those get zero gradient). Max pooling follows PyTorch's CPU kernel: a window
holding NaN outputs NaN and sends its gradient to its last NaN in row-major
order; otherwise the first maximum in row-major order gets it (np.argmax).
"""

import numpy as np

from cnn_utils import shapes


def _windows(x, pool_param):
    """Validate a pooling call; return (x, (H_out, W_out), [(i, j, rows, cols) per output])."""
    x, ph, pw, stride, h_out, w_out = shapes.check_pool(x, pool_param)
    positions = [(i, j, slice(i * stride, i * stride + ph), slice(j * stride, j * stride + pw))
                 for i in range(h_out) for j in range(w_out)]
    return x, (h_out, w_out), positions


def _checked_cache(dout, cache):
    """Validate a pooling cache and dout; return (x, dout, positions)."""
    x, pool_param = cache
    x, out_hw, positions = _windows(x, pool_param)
    dout = shapes.check_dout(dout, x.shape[:2] + out_hw, x.dtype)
    return x, dout, positions


def _pool_forward(x, pool_param, reduce):
    """Apply ``reduce(window) -> (N, C)`` at every output position."""
    x, out_hw, positions = _windows(x, pool_param)
    out = np.empty(x.shape[:2] + out_hw, dtype=x.dtype)
    for i, j, rows, cols in positions:
        out[:, :, i, j] = reduce(x[:, :, rows, cols])
    return out, (x, pool_param)


def _max_mask(window, ties):
    """Which entries of each (N, C, ph, pw) window receive its gradient, as a bool mask.

    ties='first': one entry, the first maximum (the last NaN if the window holds NaN).
    ties='all': every entry equal to the maximum (every NaN if the window holds NaN).
    """
    flat = window.reshape(window.shape[:2] + (-1,))
    is_nan = np.isnan(flat)
    has_nan = is_nan.any(axis=-1, keepdims=True)
    if ties == "all":
        mask = np.where(has_nan, is_nan, flat == flat.max(axis=-1, keepdims=True))
    else:
        size = flat.shape[-1]
        last_nan = size - 1 - np.argmax(is_nan[..., ::-1], axis=-1)
        index = np.where(has_nan[..., 0], last_nan, np.argmax(flat, axis=-1))
        mask = np.arange(size) == index[..., None]
    return mask.reshape(window.shape)


def max_pool_forward_naive(x, pool_param):
    """Forward pass of max pooling (NaN propagates).

    Inputs:
    - x: (N, C, H, W)
    - pool_param: {'pool_height', 'pool_width', 'stride'}

    Returns:
    - out: (N, C, H_out, W_out), H_out = (H - pool_height) // stride + 1
    - cache: (x, pool_param)
    """
    return _pool_forward(x, pool_param, lambda window: window.max(axis=(2, 3)))


def max_pool_backward_naive(dout, cache, ties="first"):
    """Backward pass of max pooling, accumulating over overlapping windows.

    Inputs:
    - dout: (N, C, H_out, W_out)
    - cache: (x, pool_param) from max_pool_forward_naive
    - ties: 'first' (first maximum in row-major order, as np.argmax and PyTorch)
      or 'all' (mask policy: every entry equal to the maximum gets the full
      gradient, which over-counts on ties)

    Returns:
    - dx: (N, C, H, W)
    """
    shapes.check_ties(ties)
    x, dout, positions = _checked_cache(dout, cache)
    dx = np.zeros(x.shape, dtype=dout.dtype)
    for i, j, rows, cols in positions:
        mask = _max_mask(x[:, :, rows, cols], ties)
        dx[:, :, rows, cols] += mask * dout[:, :, i, j, None, None]
    return dx


def avg_pool_forward_naive(x, pool_param):
    """Forward pass of average pooling.

    Inputs:
    - x: (N, C, H, W)
    - pool_param: {'pool_height', 'pool_width', 'stride'}

    Returns:
    - out: (N, C, H_out, W_out)
    - cache: (x, pool_param)
    """
    return _pool_forward(x, pool_param, lambda window: window.mean(axis=(2, 3)))


def avg_pool_backward_naive(dout, cache):
    """Backward pass of average pooling: each window shares its gradient equally.

    Inputs:
    - dout: (N, C, H_out, W_out)
    - cache: (x, pool_param) from avg_pool_forward_naive

    Returns:
    - dx: (N, C, H, W)
    """
    x, dout, positions = _checked_cache(dout, cache)
    dx = np.zeros(x.shape, dtype=dout.dtype)
    for i, j, rows, cols in positions:
        window_size = (rows.stop - rows.start) * (cols.stop - cols.start)
        dx[:, :, rows, cols] += dout[:, :, i, j, None, None] / window_size
    return dx

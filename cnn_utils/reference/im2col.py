"""Convolution and max pooling as matrix products: im2col / col2im (cs231n layout).

``im2col_indices`` lays every receptive field of the padded input out as one
column of a matrix ``cols`` of shape (C*field_height*field_width, out_h*out_w*N):

- rows are ordered (channel, kernel row, kernel column);
- columns are ordered output position major, sample minor, so that column
  ``(oh*out_w + ow)*N + n`` is the window of sample n under output (oh, ow).

A convolution is then one matrix product ``w.reshape(F, -1) @ cols``, and the
upstream gradient lines up with ``cols`` as ``dout.transpose(1, 2, 3, 0).reshape(F, -1)``.
``col2im_indices`` is the adjoint of ``im2col_indices``: it adds every column
back onto the input entries it was copied from (overlapping windows add up).

Max pooling uses the same columns with one channel per image; the gradient of
each window goes to its first maximum in row-major order, or to its last NaN
when it holds one (as PyTorch's CPU max_pool2d). When stride equals the pool
size the windows tile the input and a plain reshape does the job
(``max_pool_forward_reshape``).
"""

import operator

import numpy as np

from cnn_utils.shapes import (check_array, check_conv, check_dout, check_pool,
                              conv_output_size, conv_params, pool_params)


def _check_x_shape(x_shape):
    """Return ``x_shape`` as a tuple of 4 positive ints (N, C, H, W)."""
    try:
        dims = tuple(operator.index(d) for d in x_shape)
    except TypeError:
        dims = ()
    if len(dims) != 4 or min(dims) < 1:
        raise ValueError(f"x_shape must be (N, C, H, W) with positive integer sizes, got {x_shape!r}")
    return dims


def _output_hw(x_shape, field_height, field_width, padding, stride, dilation):
    """Validated (out_h, out_w) of the windows over a padded input of ``x_shape``."""
    _, _, H, W = x_shape
    return (conv_output_size(H, field_height, stride, padding, dilation, "height"),
            conv_output_size(W, field_width, stride, padding, dilation, "width"))


def pad_hw(x, pad):
    """Zero-pad the last two axes of ``x`` by ``pad`` on each side (no copy when pad is 0)."""
    if pad == 0:
        return x
    return np.pad(x, [(0, 0)] * (x.ndim - 2) + [(pad, pad), (pad, pad)])


def crop_hw(xp, pad):
    """Undo ``pad_hw``: the view of ``xp`` without ``pad`` rows/cols on each side."""
    return xp[..., pad:xp.shape[-2] - pad, pad:xp.shape[-1] - pad]


def offset_slices(kh, kw, out_h, out_w, stride, dilation):
    """Rows and columns of the padded input that kernel entry (kh, kw) sees across all windows.

    Returns (rows, cols): two slices; ``xp[..., rows, cols]`` has shape (..., out_h, out_w).
    """
    top, left = kh * dilation, kw * dilation
    return (slice(top, top + stride * (out_h - 1) + 1, stride),
            slice(left, left + stride * (out_w - 1) + 1, stride))


def add_windows(target, windows, stride=1, dilation=1):
    """The sum of col2im: add every window back onto the entries it was read from, in place.

    Inputs:
    - target: (..., Hp, Wp) padded array, modified in place
    - windows: (HH, WW, ..., H_out, W_out); windows[kh, kw] is added onto the entries
      that kernel entry (kh, kw) reads under each output position
    """
    HH, WW = windows.shape[:2]
    out_h, out_w = windows.shape[-2:]
    for kh in range(HH):
        for kw in range(WW):
            rows, cols = offset_slices(kh, kw, out_h, out_w, stride, dilation)
            target[..., rows, cols] += windows[kh, kw]


def window_argmax(windows, axis=-1):
    """Index, within each window, of the entry that receives a max-pool gradient.

    The first maximum in order along ``axis`` (np.argmax, PyTorch CPU); when the
    window holds NaN, its last NaN (as PyTorch CPU).

    Inputs:
    - windows: array whose ``axis`` runs over the entries of each window

    Returns:
    - index: int array of windows' shape without ``axis``
    """
    index = np.argmax(windows, axis=axis)  # a NaN counts as the maximum: first NaN
    picked = np.take_along_axis(windows, np.expand_dims(index, axis), axis)
    has_nan = np.isnan(np.squeeze(picked, axis))
    if has_nan.any():
        size = windows.shape[axis]
        last_nan = size - 1 - np.argmax(np.flip(np.isnan(windows), axis), axis=axis)
        index = np.where(has_nan, last_nan, index)
    return index


def get_im2col_indices(x_shape, field_height, field_width, padding=1, stride=1, dilation=1):
    """Fancy-index arrays that gather the columns of im2col from a padded input.

    Inputs:
    - x_shape: (N, C, H, W) of the unpadded input
    - field_height, field_width: kernel size; padding, stride, dilation: ints

    Returns (k, i, j) such that ``x_padded[:, k, i, j]`` has shape
    (N, C*field_height*field_width, out_h*out_w):
    - k: (C*field_height*field_width, 1) channel of each row
    - i: (C*field_height*field_width, out_h*out_w) padded row of each entry
    - j: (C*field_height*field_width, out_h*out_w) padded column of each entry
    """
    _, C, _, _ = x_shape = _check_x_shape(x_shape)
    out_h, out_w = _output_hw(x_shape, field_height, field_width, padding, stride, dilation)
    kernel_row = np.tile(dilation * np.repeat(np.arange(field_height), field_width), C)
    kernel_col = np.tile(dilation * np.arange(field_width), field_height * C)
    window_top = stride * np.repeat(np.arange(out_h), out_w)
    window_left = stride * np.tile(np.arange(out_w), out_h)
    i = kernel_row[:, None] + window_top[None, :]
    j = kernel_col[:, None] + window_left[None, :]
    k = np.repeat(np.arange(C), field_height * field_width)[:, None]
    return k, i, j


def im2col_indices(x, field_height, field_width, padding=1, stride=1, dilation=1):
    """Lay every receptive field of ``x`` out as a column.

    Inputs:
    - x: (N, C, H, W)
    - field_height, field_width: kernel size; padding, stride, dilation: ints

    Returns:
    - cols: (C*field_height*field_width, out_h*out_w*N), rows ordered (channel,
      kernel row, kernel column), columns output position major, sample minor
    """
    x = check_array(x, "x", 4, "(N, C, H, W)")
    k, i, j = get_im2col_indices(x.shape, field_height, field_width, padding, stride, dilation)
    gathered = pad_hw(x, padding)[:, k, i, j]  # (N, C*fh*fw, out_h*out_w)
    return gathered.transpose(1, 2, 0).reshape(len(i), -1)


def col2im_indices(cols, x_shape, field_height=3, field_width=3, padding=1, stride=1, dilation=1):
    """Adjoint of ``im2col_indices``: add every column back onto the input it came from.

    Inputs:
    - cols: (C*field_height*field_width, out_h*out_w*N)
    - x_shape: (N, C, H, W) of the unpadded input
    - field_height, field_width: kernel size; padding, stride, dilation: ints

    Returns:
    - x: (N, C, H, W), cols' dtype; entries no window covers are 0
    """
    N, C, H, W = x_shape = _check_x_shape(x_shape)
    out_h, out_w = _output_hw(x_shape, field_height, field_width, padding, stride, dilation)
    cols = check_array(cols, "cols", 2, "(C*field_height*field_width, out_h*out_w*N)")
    expected = (C * field_height * field_width, out_h * out_w * N)
    if cols.shape != expected:
        raise ValueError(
            f"cols has shape {cols.shape} but x_shape {x_shape} with a {field_height}x{field_width} "
            f"kernel, padding {padding}, stride {stride}, dilation {dilation} needs "
            f"{expected} = (C*field_height*field_width, out_h*out_w*N)")
    windows = cols.reshape(C, field_height, field_width, out_h, out_w, N)
    # accumulate in memory order (C, Hp, Wp, N), so that each add runs over contiguous samples
    xp = np.zeros((C, H + 2 * padding, W + 2 * padding, N), dtype=cols.dtype)
    add_windows(xp.transpose(0, 3, 1, 2), windows.transpose(1, 2, 0, 5, 3, 4), stride, dilation)
    return np.ascontiguousarray(crop_hw(xp.transpose(3, 0, 1, 2), padding))


def conv_forward_im2col(x, w, b, conv_param):
    """Convolution forward pass as one matrix product over im2col columns.

    Inputs:
    - x: (N, C, H, W); w: (F, C, HH, WW); b: (F,)
    - conv_param: {'stride', 'pad'} and optionally 'dilation' (default 1)

    Returns:
    - out: (N, F, H_out, W_out)
    - cache: (x, w, b, conv_param, x_cols) with x_cols (C*HH*WW, H_out*W_out*N)
    """
    x, w, b, stride, pad, dilation, out_h, out_w = check_conv(x, w, b, conv_param)
    N, F = x.shape[0], w.shape[0]
    x_cols = im2col_indices(x, w.shape[2], w.shape[3], pad, stride, dilation)
    out = w.reshape(F, -1) @ x_cols + b[:, None]
    out = np.ascontiguousarray(out.reshape(F, out_h, out_w, N).transpose(3, 0, 1, 2))
    return out, (x, w, b, conv_param, x_cols)


def conv_backward_im2col(dout, cache):
    """Convolution backward pass: two matrix products and a col2im.

    Inputs:
    - dout: (N, F, H_out, W_out) upstream gradient
    - cache: (x, w, b, conv_param, x_cols) from conv_forward_im2col

    Returns:
    - dx: (N, C, H, W); dw: (F, C, HH, WW); db: (F,)
    """
    x, w, b, conv_param, x_cols = cache
    stride, pad, dilation = conv_params(conv_param)
    F, _, HH, WW = w.shape
    out_h, out_w = _output_hw(x.shape, HH, WW, pad, stride, dilation)
    dout = check_dout(dout, (x.shape[0], F, out_h, out_w), x.dtype)
    dout_rows = dout.transpose(1, 2, 3, 0).reshape(F, -1)  # lines up with x_cols
    db = dout.sum(axis=(0, 2, 3))
    dw = (dout_rows @ x_cols.T).reshape(w.shape)
    dx = col2im_indices(w.reshape(F, -1).T @ dout_rows, x.shape, HH, WW, pad, stride, dilation)
    return dx, dw, db


def _pool_columns(x, ph, pw, stride):
    """im2col of every (n, c) plane: (ph*pw, out_h*out_w*N*C)."""
    N, C, H, W = x.shape
    return im2col_indices(x.reshape(N * C, 1, H, W), ph, pw, padding=0, stride=stride)


def max_pool_forward_im2col(x, pool_param):
    """Max pooling forward pass over im2col columns (any stride, overlapping windows too).

    Inputs:
    - x: (N, C, H, W)
    - pool_param: {'pool_height', 'pool_width', 'stride'}

    Returns:
    - out: (N, C, H_out, W_out)
    - cache: (x, pool_param, argmax) with argmax (H_out*W_out*N*C,) the row of each
      column (window entry in row-major order) that receives the gradient
    """
    x, ph, pw, stride, out_h, out_w = check_pool(x, pool_param)
    N, C = x.shape[:2]
    x_cols = _pool_columns(x, ph, pw, stride)
    argmax = window_argmax(x_cols, axis=0)
    out = x_cols[argmax, np.arange(x_cols.shape[1])]
    out = np.ascontiguousarray(out.reshape(out_h, out_w, N, C).transpose(2, 3, 0, 1))
    return out, (x, pool_param, argmax)


def max_pool_backward_im2col(dout, cache):
    """Max pooling backward pass: scatter dout onto the argmax rows, then col2im.

    Inputs:
    - dout: (N, C, H_out, W_out)
    - cache: (x, pool_param, argmax) from max_pool_forward_im2col

    Returns:
    - dx: (N, C, H, W); overlapping windows add up, uncovered entries are 0
    """
    x, pool_param, argmax = cache
    ph, pw, stride = pool_params(pool_param)
    N, C, H, W = x.shape
    out_h, out_w = _output_hw((N, C, H, W), ph, pw, 0, stride, 1)
    dout = check_dout(dout, (N, C, out_h, out_w), x.dtype)
    dcols = np.zeros((ph * pw, argmax.size), dtype=dout.dtype)
    dcols[argmax, np.arange(argmax.size)] = dout.transpose(2, 3, 0, 1).ravel()
    dx = col2im_indices(dcols, (N * C, 1, H, W), ph, pw, padding=0, stride=stride)
    return dx.reshape(N, C, H, W)


def _check_reshape_pool(x, pool_param):
    """check_pool, plus the rule of the reshape path: pool_height == pool_width == stride."""
    x, ph, pw, stride, out_h, out_w = check_pool(x, pool_param)
    if not ph == pw == stride:
        raise ValueError(
            f"the reshape path needs non-overlapping square windows that tile the input, "
            f"pool_height == pool_width == stride, got pool_height={ph}, pool_width={pw}, "
            f"stride={stride}; use max_pool_forward_im2col or max_pool_forward_fast instead")
    return x, ph, out_h, out_w


def _tiles(a, size, out_h, out_w):
    """The covered part of ``a`` (N, C, H, W) as (N, C, out_h, out_w, size*size) windows."""
    N, C = a.shape[:2]
    tiles = a[:, :, :out_h * size, :out_w * size].reshape(N, C, out_h, size, out_w, size)
    return tiles.transpose(0, 1, 2, 4, 3, 5).reshape(N, C, out_h, out_w, size * size)


def max_pool_forward_reshape(x, pool_param):
    """Max pooling forward pass for windows that tile the input (stride == pool size).

    Rows and columns beyond the last full window are ignored.

    Inputs:
    - x: (N, C, H, W)
    - pool_param: {'pool_height', 'pool_width', 'stride'} with all three equal

    Returns:
    - out: (N, C, H_out, W_out)
    - cache: (x, pool_param, argmax) with argmax (N, C, H_out, W_out) the row-major
      index inside each window of the entry that receives the gradient
    """
    x, size, out_h, out_w = _check_reshape_pool(x, pool_param)
    windows = _tiles(x, size, out_h, out_w)
    argmax = window_argmax(windows, axis=-1)
    out = np.take_along_axis(windows, argmax[..., None], axis=-1)[..., 0]
    return out, (x, pool_param, argmax)


def max_pool_backward_reshape(dout, cache):
    """Max pooling backward pass for windows that tile the input.

    Inputs:
    - dout: (N, C, H_out, W_out)
    - cache: (x, pool_param, argmax) from max_pool_forward_reshape

    Returns:
    - dx: (N, C, H, W); uncovered rows and columns get 0
    """
    x, pool_param, argmax = cache
    x, size, out_h, out_w = _check_reshape_pool(x, pool_param)
    dout = check_dout(dout, argmax.shape, x.dtype)
    dwindows = np.zeros(argmax.shape + (size * size,), dtype=dout.dtype)
    np.put_along_axis(dwindows, argmax[..., None], dout[..., None], axis=-1)
    N, C = x.shape[:2]
    dx = np.zeros(x.shape, dtype=dout.dtype)
    dx[:, :, :out_h * size, :out_w * size] = (
        dwindows.reshape(N, C, out_h, out_w, size, size).transpose(0, 1, 2, 4, 3, 5)
        .reshape(N, C, out_h * size, out_w * size))
    return dx

"""Mistakes of order, axes and sizes: im2col layouts (a4), transposed-convolution axes and
dilation (a6), kernel axes (a2 NHWC), pool output sizes (a3), and failures named by their message.

Models take a case's canonical NCHW inputs, as in ``mistakes``: x (N, C, H, W), w (F, C, HH, WW)
(a transposed convolution's w is (C_in, F, HH, WW)), dout of the output's shape.
"""

import itertools
import re

import numpy as np

from cnn_utils import reference as ref
from cnn_utils.grading.mistakes import (_forward, _grads, _mistake, _model, _pool_sizes, _raises,
                                        _transpose_forward, _unpack, fit_stamps)

_mistake("im2col_output_order",
         "The product of the filters and the im2col columns is reshaped in the wrong order: its "
         "columns run over output positions first and samples last, so reshape it to "
         "(F, H_out, W_out, N) and then move N to the front.")
_mistake("filter_rows_order",
         "The filter rows are flattened in another order than the im2col rows: flatten each filter "
         "as channel, kernel row, kernel column, the order of the im2col rows.")
_mistake("dout_columns_order",
         "dout is flattened in another order than the im2col columns: move the batch axis last "
         "(F, H_out, W_out, N) before flattening, so that column (i*W_out + j)*N + n is sample n "
         "at output position (i, j).")
_mistake("col2im_arguments_swapped",
         "col2im gets its arguments in the wrong order: it takes the field height, the field "
         "width, the padding and then the stride, as im2col does.")
_mistake("pool_dout_order",
         "dout is spread over the pooling columns in the wrong order: column (i*W_out + j)*N*C + "
         "n*C + c is window (i, j) of image (n, c), so flatten dout output position first.")
_mistake("dilation_on_input",
         "The dilation spreads the input instead of the stamp: in a transposed convolution the "
         "stride spaces the stamps, and the dilation spaces the kernel taps within each stamp.")
_mistake("weight_axes_swapped",
         "The weight axes are read in the wrong order: a transposed convolution's w is "
         "(C_in, F, HH, WW), input channels first, so w[c] is the stamp of input channel c.")
_mistake("kernel_axes_swapped",
         "The kernel's two spatial axes are swapped: tap (k, l) sits k rows down and l columns "
         "across, so keep the kernel's row axis with the input's rows when you move axes around.")
_mistake("pool_size_other_side",
         "The output size uses the other side of the window: H_out follows from pool_height and "
         "W_out from pool_width, each as (size - window) // stride + 1.")


# ---------------------------------------------------------------- im2col layouts (a4)

@_model("im2col_output_order", "conv_forward")
def _output_order(inp):
    """The (F, H_out*W_out*N) product reshaped straight to (N, F, ...), or as if sample-major."""
    out = _forward(inp["x"], inp["w"], inp["b"], *_unpack(inp))
    n, f, h, w = out.shape
    product = out.transpose(1, 2, 3, 0).reshape(f, -1)
    return {"out": [product.reshape(n, f, h, w), product.reshape(f, n, h, w).transpose(1, 0, 2, 3),
                    product.T.reshape(n, h, w, f).transpose(0, 3, 1, 2)]}


def _reordered_filters(w):
    """w with each filter flattened in another axis order and read back as (C, HH, WW); the
    channel axis moves (kernel rows and columns swapped alone are ``kernel_axes_swapped``)."""
    for order in itertools.permutations((1, 2, 3)):
        if order[0] != 1:
            yield w.transpose(0, *order).reshape(w.shape)


@_model("filter_rows_order", "conv_forward")
def _filter_rows_forward(inp):
    return {"out": [_forward(inp["x"], w, inp["b"], *_unpack(inp)) for w in _reordered_filters(inp["w"])]}


@_model("filter_rows_order", "conv_backward")
def _filter_rows_backward(inp):
    return {"dx": [_grads(inp["x"], w, inp["dout"], *_unpack(inp))[0] for w in _reordered_filters(inp["w"])]}


def _columns(inp):
    s, p, _ = _unpack(inp)
    w = inp["w"]
    return ref.im2col_indices(inp["x"], w.shape[2], w.shape[3], p, s), w.reshape(len(w), -1)


@_model("dout_columns_order", "conv_backward")
def _dout_order(inp):
    """dout flattened as (F, N*H_out*W_out) or sample-major: dw and dx from those columns."""
    s, p, d = _unpack(inp)
    if d != 1:
        return {}
    x, w, dout = inp["x"], inp["w"], inp["dout"]
    x_cols, w_rows = _columns(inp)
    found = {"dx": [], "dw": []}
    for rows in (dout.reshape(len(w), -1), dout.transpose(1, 0, 2, 3).reshape(len(w), -1)):
        found["dw"].append((rows @ x_cols.T).reshape(w.shape))
        found["dx"].append(ref.col2im_indices(w_rows.T @ rows, x.shape, w.shape[2], w.shape[3], p, s))
    return found


@_model("col2im_arguments_swapped", "conv_backward")
def _col2im_swapped(inp):
    """col2im given (stride, pad) for (padding, stride), or the field's sides swapped."""
    s, p, d = _unpack(inp)
    if d != 1:
        return {}
    x, w, dout = inp["x"], inp["w"], inp["dout"]
    _, w_rows = _columns(inp)
    dcols = w_rows.T @ dout.transpose(1, 2, 3, 0).reshape(len(w), -1)
    hh, ww = w.shape[2:]
    found = []
    for arguments in ((hh, ww, s, p), (ww, hh, p, s)):
        try:
            found.append(ref.col2im_indices(dcols, x.shape, *arguments))
        except ValueError:   # the swapped call raises: see the error model below
            continue
    return {"dx": found}


@_raises("col2im_arguments_swapped", "conv_backward")
def _col2im_swapped_raises(inp, problem):
    s, p, _ = _unpack(inp)
    hh, ww = inp["w"].shape[2:]
    if p == 0:
        return s != 0 and "stride must be >= 1, got 0" in problem
    return ((s != p and f"padding {s}, stride {p}" in problem)
            or (hh != ww and f"with a {ww}x{hh} kernel" in problem))


@_model("pool_dout_order", "max_pool_backward")
def _pool_dout_order(inp):
    """Max pooling by im2col columns, with dout flattened in another order than the columns."""
    x, dout = inp["x"], inp["dout"]
    ph, pw, stride = _pool_sizes(inp)
    n, c, h, w = x.shape
    x_cols = ref.im2col_indices(x.reshape(n * c, 1, h, w), ph, pw, 0, stride)
    best = np.argmax(x_cols, axis=0)
    found = []
    for order in ((0, 1, 2, 3), (2, 3, 1, 0), (1, 0, 2, 3)):
        dcols = np.zeros(x_cols.shape)
        dcols[best, np.arange(best.size)] = dout.transpose(order).ravel()
        found.append(ref.col2im_indices(dcols, (n * c, 1, h, w), ph, pw, 0, stride).reshape(x.shape))
    return {"dx": found}


# ---------------------------------------------------------------- transposed convolution (a6)

@_model("dilation_on_input", "conv_transpose_forward")
def _dilation_on_input(inp):
    """Undilated stamps D * stride apart."""
    s, _, d = _unpack(inp)
    if d == 1:
        return {}
    return {"out": fit_stamps(inp, _transpose_forward(inp, stride=s * d, pad=0, dilation=1,
                                                      output_padding=0))}


@_model("dilation_ignored", "conv_transpose_backward")
def _transpose_backward_undilated(inp):
    """dx and dw read the padded dout at undilated taps (the output keeps its dilated size)."""
    s, p, d = _unpack(inp)
    if d == 1:
        return {}
    x, w, dout = inp["x"], inp["w"], inp["dout"]
    height, width = x.shape[2:]
    dout_pad = np.pad(dout, ((0, 0), (0, 0), (p, p), (p, p)))
    dx, dw = np.zeros(x.shape), np.zeros(w.shape)
    for k in range(w.shape[2]):
        for l in range(w.shape[3]):
            taps = dout_pad[:, :, k:k + s * (height - 1) + 1:s, l:l + s * (width - 1) + 1:s]
            dx += np.einsum("nfhw,cf->nchw", taps, w[:, :, k, l])
            dw[:, :, k, l] = np.einsum("nchw,nfhw->cf", x, taps)
    return {"dx": [dx], "dw": [dw]}


def _read_as_fc(w):
    """The weights a student's (F, C_in) reading of w amounts to (numpy broadcasts size-1 axes)."""
    c_in, f = w.shape[:2]
    if f == c_in:
        return w.transpose(1, 0, 2, 3)
    if f == 1:
        return np.broadcast_to(w.transpose(1, 0, 2, 3), (c_in, c_in) + w.shape[2:])
    if c_in == 1:
        return w.sum(axis=1, keepdims=True)
    return None


@_model("weight_axes_swapped", "conv_transpose_forward")
def _weight_axes_swapped(inp):
    w = _read_as_fc(inp["w"])
    if w is None:
        return {}
    out = _transpose_forward(inp, w=np.ascontiguousarray(w), b=np.zeros(w.shape[1], dtype=w.dtype))
    return {"out": [out + inp["b"][None, :, None, None]]}


# ---------------------------------------------------------------- kernel axes (a2, NHWC)

@_model("kernel_axes_swapped", "conv_forward")
def _kernel_axes_forward(inp):
    w = inp["w"]
    if w.shape[2] != w.shape[3]:
        return {}
    return {"out": [_forward(inp["x"], w.swapaxes(2, 3), inp["b"], *_unpack(inp))]}


@_model("kernel_axes_swapped", "conv_backward")
def _kernel_axes_backward(inp):
    w = inp["w"]
    if w.shape[2] != w.shape[3]:
        return {}
    dx, dw, _ = _grads(inp["x"], w.swapaxes(2, 3), inp["dout"], *_unpack(inp))
    return {"dx": [dx], "dw": [dw.swapaxes(2, 3)]}


# ---------------------------------------------------------------- pool sizes (a3)

def _pool_loops(x, ph, pw, stride, out_h, out_w, reduce):
    """Pooling over windows that numpy's slicing may cut short; None if one is empty."""
    out = np.zeros(x.shape[:2] + (out_h, out_w))
    for i in range(out_h):
        for j in range(out_w):
            window = x[:, :, i * stride:i * stride + ph, j * stride:j * stride + pw]
            if 0 in window.shape:
                return None
            out[:, :, i, j] = reduce(window, axis=(2, 3))
    return out


@_model("pool_size_other_side", "max_pool_forward", "avg_pool_forward")
def _pool_size_other_side(inp):
    ph, pw, stride = _pool_sizes(inp)
    if ph == pw:
        return {}
    h, w = inp["x"].shape[2:]
    reduce = np.max if inp["family"] == "max_pool_forward" else np.mean
    sizes = ((h - ph) // stride + 1, (w - ph) // stride + 1), ((h - pw) // stride + 1, (w - pw) // stride + 1)
    found = [_pool_loops(inp["x"], ph, pw, stride, *size, reduce) for size in sizes]
    return {"out": [out for out in found if out is not None]}


# ---------------------------------------------------------------- failures named by their message

_EMPTY_SOURCE = re.compile(r"could not broadcast input array from shape \(([\d, ]*)\)")


@_raises("pad_slice_empty", "conv_backward")
def _pad_slice_raises(inp, problem):
    """dA_prev[i] = da_prev_pad[pad:-pad, pad:-pad] at pad 0: an empty array does not broadcast."""
    found = _EMPTY_SOURCE.search(problem)
    return _unpack(inp)[1] == 0 and bool(found) and "0" in found.group(1).replace(" ", "").split(",")

"""A catalogue of named mistakes: what the mistaken code returns, and a one-sentence hint.

Every ``Mistake`` has models, one per family of graded functions it applies to
(``conv_forward``, ``conv_backward``, ``max_pool_backward``, ...). A model takes
a case's canonical NCHW inputs and returns ``{output name: [candidate arrays]}``,
the results of the common ways of writing the mistaken code; a NaN entry in a
candidate stands for "any value". A student's wrong output that equals one of
the candidates gets the mistake's hint. A mistake that makes the code raise has
an error model instead: a predicate on the case's inputs and the failure's text.
The catalogue continues in ``mistakes_network`` (assignment 5) and
``mistakes_orders`` (layouts, axis orders, sizes), which register here.
"""

from dataclasses import dataclass, field

import numpy as np

from cnn_utils import reference as ref


@dataclass(frozen=True)
class Mistake:
    name: str
    hint: str
    models: dict = field(default_factory=dict)  # family -> model(inputs) -> {output: [arrays]}
    errors: dict = field(default_factory=dict)  # family -> (inputs, problem text) -> bool


MISTAKES = {}


def _mistake(name, hint):
    MISTAKES[name] = Mistake(name, hint)


_mistake("db_not_summed_over_batch",
         "db is not summed over the batch: sum dout over axes {sum_axes}.")
_mistake("padding_not_stripped",
         "Padding is not stripped: the result has the padded size, crop pad rows and columns "
         "from every side to get back to the expected shape.")
_mistake("pad_slice_empty",
         "The result is empty when pad is 0: a slice pad:-pad is empty for pad = 0, slice "
         "from pad to pad + H (and pad + W) instead.")
_mistake("assign_instead_of_accumulate",
         "Gradients are assigned with = instead of accumulated with +=: overlapping windows, "
         "filters and samples must add their contributions to the same entries.")
_mistake("stride_ignored",
         "The stride is ignored: output position (i, j) reads the window that starts at row "
         "i*stride and column j*stride, in the backward pass as well as the forward pass.")
_mistake("dilation_ignored",
         "Dilation is ignored: with dilation D the kernel taps are D pixels apart, so a window "
         "spans D*(HH-1)+1 rows and takes every D-th of them.")
_mistake("kernel_flipped_forward",
         "The kernel is flipped: a convolutional layer computes a cross-correlation, so multiply "
         "each window by w as it is, without rotating it.")
_mistake("kernel_flipped_dw",
         "dw is rotated by 180 degrees: the gradient of kernel tap (k, l) sums the entries that "
         "this tap touches in every window times dout, with no flip.")
_mistake("kernel_not_flipped_full_conv",
         "The kernel is not flipped in the full convolution: written as a correlation over "
         "the spread-out upstream gradient, the result needs each filter rotated by 180 degrees.")
_mistake("dx_dw_swapped",
         "dx and dw swap roles: dx collects the filter weights times dout, dw collects the "
         "input windows times dout.")
_mistake("bias_missing",
         "The bias is not added: every output of filter f gets b[f] added once.")
_mistake("bias_repeated",
         "The bias is added more than once: add b[f] once per output value, outside the sum "
         "over channels and kernel taps.")
_mistake("output_size_off_by_one",
         "The output size is off by one: take the floor of (padded size - window span) / stride, "
         "then add one.")
_mistake("pad_one_side",
         "Padding is applied on one side only: add pad zero rows at the top and at the bottom, "
         "and pad zero columns on the left and on the right.")
_mistake("max_grad_to_all_ties",
         "The gradient goes to every tied maximum (mask policy): send each window's gradient "
         "only to its first maximum in row-major order, as np.argmax and PyTorch do.")
_mistake("max_grad_to_last_tie",
         "The gradient goes to the last tied maximum: send it to the first maximum in "
         "row-major order, as np.argmax does.")
_mistake("avg_not_divided_by_window",
         "The average is not divided by the window size: each of the pool_height*pool_width "
         "entries contributes (and receives) 1/(pool_height*pool_width) of the value.")
_mistake("pool_dims_swapped",
         "pool_height and pool_width are swapped: pool_height counts rows (axis 2) and "
         "pool_width columns (axis 3).")
_mistake("col2im_overwrites",
         "col2im overwrites instead of accumulating: an input entry that several windows "
         "share must receive the sum of all their column entries, so use += on slices or "
         "np.add.at with index arrays (a fancy-index += keeps only one of repeated indices).")
_mistake("im2col_column_order",
         "The im2col columns are in the wrong order: column (i*W_out + j)*N + n holds the "
         "window of sample n at output position (i, j), output position major, sample minor.")
_mistake("im2col_row_order",
         "The im2col rows are in the wrong order: they run over channel first, then kernel "
         "row, then kernel column.")
_mistake("first_sample_only",
         "Every sample gets the result of sample 0: inside the loop over the batch, read "
         "sample n of the input (x[n]), not sample 0.")
_mistake("max_grad_split_among_ties",
         "The gradient is split equally among tied maxima: that is a valid subgradient (cs231n's "
         "reshape pooling does it), but this course sends each window's whole gradient to its "
         "first maximum in row-major order, as np.argmax and PyTorch do.")
_mistake("dtype_not_kept",   # no model: the comparison finds it (table.Graded.keeps_dtype)
         "The values are right but the result is float64 for float32 inputs: allocate the result "
         "with the inputs' dtype (dtype=x.dtype), as the lesson's float32 test asks.")
_mistake("pool_width_ignored",
         "pool_width is ignored: a window is pool_height rows by pool_width columns, and the "
         "output has (W - pool_width) // stride + 1 columns.")
_mistake("output_padding_ignored",
         "output_padding is ignored: it adds that many extra rows at the bottom and columns "
         "on the right of the transposed convolution's output.")


def _model(name, *families):
    """Register the decorated function as the model of mistake ``name`` for ``families``."""
    def register(function):
        for family in families:
            MISTAKES[name].models[family] = function
        return function
    return register


def _raises(name, *families):
    """Register the decorated predicate (inputs, problem text) -> bool: the call's failure is
    what code with mistake ``name`` raises on these inputs."""
    def register(function):
        for family in families:
            MISTAKES[name].errors[family] = function
        return function
    return register


# ---------------------------------------------------------------- helpers

def _conv_param(stride, pad, dilation=1):
    params = {"stride": stride, "pad": pad}
    if dilation != 1:
        params["dilation"] = dilation
    return params


def _unpack(inputs):
    """(stride, pad, dilation) of a convolution's canonical inputs."""
    params = inputs["conv_param"]
    return params["stride"], params["pad"], params.get("dilation", 1)


def _flip(w):
    return w[:, :, ::-1, ::-1]


def _pad(x, before, after=None):
    after = before if after is None else after
    return np.pad(x, ((0, 0), (0, 0), (before, after), (before, after)))


def _crop(a, pad, height, width):
    return a[:, :, pad:pad + height, pad:pad + width]


def _forward(x, w, b, stride, pad, dilation=1):
    return ref.conv_forward_naive(x, w, b, _conv_param(stride, pad, dilation))[0]


def _grads(x, w, dout, stride, pad, dilation=1):
    cache = (x, w, np.zeros(w.shape[0], dtype=x.dtype), _conv_param(stride, pad, dilation))
    return ref.conv_backward_naive(dout, cache)


def _tap_slices(k, l, out_h, out_w, step, dilation):
    """Rows and columns that kernel tap (k, l) reads in every window, windows ``step`` apart."""
    return (slice(k * dilation, k * dilation + step * (out_h - 1) + 1, step),
            slice(l * dilation, l * dilation + step * (out_w - 1) + 1, step))


def _window_slices(i, j, step, span_h, span_w, dilation=1):
    """Rows and columns of window (i, j)."""
    return (slice(i * step, i * step + span_h, dilation),
            slice(j * step, j * step + span_w, dilation))


def _scatter_grads(xp, w, dout, step, dilation):
    """dx_pad and dw of a convolution whose windows start ``step`` apart, taps ``dilation`` apart."""
    dxp, dw = np.zeros(xp.shape), np.zeros(w.shape)
    for k in range(w.shape[2]):
        for l in range(w.shape[3]):
            rows, cols = _tap_slices(k, l, *dout.shape[2:], step, dilation)
            dxp[:, :, rows, cols] += np.einsum("nfhw,fc->nchw", dout, w[:, :, k, l])
            dw[:, :, k, l] = np.einsum("nchw,nfhw->fc", xp[:, :, rows, cols], dout)
    return dxp, dw


def _nan_border(a, rows, cols):
    """``a`` with ``rows`` extra rows and ``cols`` extra columns of NaN (any value) at the end."""
    return np.pad(a.astype(np.float64), ((0, 0), (0, 0), (0, rows), (0, cols)),
                  constant_values=np.nan)


def _off_by_one(out):
    """One row and/or column too few (missing + 1) or too many (ceil instead of floor)."""
    shrunk = [out[:, :, :out.shape[2] - dh, :out.shape[3] - dw] for dh, dw in ((1, 0), (0, 1), (1, 1))]
    grown = [_nan_border(out, dh, dw) for dh, dw in ((1, 0), (0, 1), (1, 1))]
    return shrunk + grown


def _with_and_cropped(full, like):
    """``full`` and its top-left part of ``like``'s spatial size."""
    return [full, full[:, :, :like.shape[2], :like.shape[3]]]


# ---------------------------------------------------------------- convolution forward

@_model("kernel_flipped_forward", "conv_forward")
def _kernel_flipped_forward(inp):
    s, p, d = _unpack(inp)
    return {"out": [_forward(inp["x"], _flip(inp["w"]), inp["b"], s, p, d)]}


@_model("bias_missing", "conv_forward")
def _bias_missing(inp):
    return {"out": [_forward(inp["x"], inp["w"], 0 * inp["b"], *_unpack(inp))]}


@_model("bias_repeated", "conv_forward")
def _bias_repeated(inp):
    _, c, hh, ww = inp["w"].shape
    return {"out": [_forward(inp["x"], inp["w"], times * inp["b"], *_unpack(inp))
                    for times in (c, c * hh * ww)]}


@_model("output_size_off_by_one", "conv_forward")
def _conv_off_by_one(inp):
    return {"out": _off_by_one(_forward(inp["x"], inp["w"], inp["b"], *_unpack(inp)))}


@_model("pad_one_side", "conv_forward")
def _pad_one_side(inp):
    s, p, d = _unpack(inp)
    if p == 0:
        return {}
    return {"out": [_forward(_pad(inp["x"], *sides), inp["w"], inp["b"], s, 0, d)
                    for sides in ((p, 0), (0, p))]}


@_model("stride_ignored", "conv_forward")
def _conv_stride_ignored(inp):
    s, p, d = _unpack(inp)
    if s == 1:
        return {}
    right = _forward(inp["x"], inp["w"], inp["b"], s, p, d)
    return {"out": _with_and_cropped(_forward(inp["x"], inp["w"], inp["b"], 1, p, d), right)}


@_model("dilation_ignored", "conv_forward")
def _conv_dilation_ignored(inp):
    s, p, d = _unpack(inp)
    if d == 1:
        return {}
    right = _forward(inp["x"], inp["w"], inp["b"], s, p, d)
    return {"out": _with_and_cropped(_forward(inp["x"], inp["w"], inp["b"], s, p, 1), right)}


# ---------------------------------------------------------------- convolution backward

def _summed_per_sample(dout):
    """db computed per sample instead of over the batch: (N, F), or only the first/last sample."""
    per_sample = dout.sum(axis=(2, 3))
    return [per_sample, per_sample[0], per_sample[-1]]


@_model("db_not_summed_over_batch", "conv_backward", "conv_transpose_backward")
def _db_not_summed(inp):
    return {"db": _summed_per_sample(inp["dout"])}


@_model("padding_not_stripped", "conv_backward")
def _padding_not_stripped(inp):
    s, p, d = _unpack(inp)
    if p == 0:
        return {}
    height, width = inp["x"].shape[2:]
    dxp = _grads(_pad(inp["x"], p), inp["w"], inp["dout"], s, 0, d)[0]
    return {"dx": [dxp, dxp[:, :, p:, p:], dxp[:, :, :height, :width]]}


@_model("pad_slice_empty", "conv_backward")
def _pad_slice_empty(inp):
    if _unpack(inp)[1] != 0:
        return {}
    n, c = inp["x"].shape[:2]
    return {"dx": [np.zeros((n, c, 0, 0))]}


@_model("stride_ignored", "conv_backward")
def _conv_backward_stride_ignored(inp):
    s, p, d = _unpack(inp)
    if s == 1:
        return {}
    dxp, dw = _scatter_grads(_pad(inp["x"], p), inp["w"], inp["dout"], 1, d)
    return {"dx": [_crop(dxp, p, *inp["x"].shape[2:])], "dw": [dw]}


@_model("dilation_ignored", "conv_backward")
def _conv_backward_dilation_ignored(inp):
    s, p, d = _unpack(inp)
    if d == 1:
        return {}
    dxp, dw = _scatter_grads(_pad(inp["x"], p), inp["w"], inp["dout"], s, 1)
    return {"dx": [_crop(dxp, p, *inp["x"].shape[2:])], "dw": [dw]}


@_model("kernel_flipped_dw", "conv_backward")
def _kernel_flipped_dw(inp):
    return {"dw": [_flip(_grads(inp["x"], inp["w"], inp["dout"], *_unpack(inp))[1])]}


@_model("kernel_not_flipped_full_conv", "conv_backward")
def _kernel_not_flipped_dx(inp):
    return {"dx": [_grads(inp["x"], _flip(inp["w"]), inp["dout"], *_unpack(inp))[0]]}


@_model("dx_dw_swapped", "conv_backward")
def _dx_dw_swapped(inp):
    s, p, d = _unpack(inp)
    x, w, dout = inp["x"], inp["w"], inp["dout"]
    xp = _pad(x, p)
    dxp = np.zeros(xp.shape)
    per_position = dout.sum(axis=1)[:, None]  # (N, 1, H_out, W_out): summed over filters
    for k in range(w.shape[2]):
        for l in range(w.shape[3]):
            rows, cols = _tap_slices(k, l, *dout.shape[2:], s, d)
            dxp[:, :, rows, cols] += xp[:, :, rows, cols] * per_position
    dw = w * dout.sum(axis=(0, 2, 3))[:, None, None, None]
    return {"dx": [_crop(dxp, p, *x.shape[2:])], "dw": [dw]}


@_model("assign_instead_of_accumulate", "conv_backward")
def _conv_assign(inp):
    """Loops over windows that assign: per filter, or the sum over filters; dw and db keep the last window."""
    s, p, d = _unpack(inp)
    x, w, dout = inp["x"], inp["w"], inp["dout"]
    xp = _pad(x, p)
    span_h, span_w = d * (w.shape[2] - 1) + 1, d * (w.shape[3] - 1) + 1
    per_filter, summed = np.zeros(xp.shape), np.zeros(xp.shape)
    out_h, out_w = dout.shape[2:]
    for i in range(out_h):
        for j in range(out_w):
            rows, cols = _window_slices(i, j, s, span_h, span_w, d)
            for f in range(w.shape[0]):
                per_filter[:, :, rows, cols] = w[f] * dout[:, f, i, j, None, None, None]
            summed[:, :, rows, cols] = np.einsum("nf,fckl->nckl", dout[:, :, i, j], w)
    rows, cols = _window_slices(out_h - 1, out_w - 1, s, span_h, span_w, d)
    last = xp[:, :, rows, cols]
    dw_last_sample = np.einsum("ckl,f->fckl", last[-1], dout[-1, :, -1, -1])
    dw_last_window = np.einsum("nckl,nf->fckl", last, dout[:, :, -1, -1])
    return {"dx": [_crop(a, p, *x.shape[2:]) for a in (per_filter, summed)],
            "dw": [dw_last_sample, dw_last_window],
            "db": [dout[-1, :, -1, -1], dout[:, :, -1, -1].sum(axis=0)]}


def _col2im_assigned(cols, x_shape, field_h, field_w, pad, stride):
    """col2im written with = : by kernel tap (a later tap wins) and by window (a later window wins)."""
    n, c, h, w = x_shape
    out_h = (h + 2 * pad - field_h) // stride + 1
    out_w = (w + 2 * pad - field_w) // stride + 1
    windows = cols.reshape(c, field_h, field_w, out_h, out_w, n).transpose(5, 0, 1, 2, 3, 4)
    by_tap = np.zeros((n, c, h + 2 * pad, w + 2 * pad))
    by_window = np.zeros(by_tap.shape)
    for k in range(field_h):
        for l in range(field_w):
            rows, cols_ = _tap_slices(k, l, out_h, out_w, stride, 1)
            by_tap[:, :, rows, cols_] = windows[:, :, k, l]
    for i in range(out_h):
        for j in range(out_w):
            rows, cols_ = _window_slices(i, j, stride, field_h, field_w)
            by_window[:, :, rows, cols_] = windows[..., i, j]
    return [_crop(a, pad, h, w) for a in (by_tap, by_window)]


@_model("col2im_overwrites", "conv_backward")
def _conv_col2im_overwrites(inp):
    s, p, d = _unpack(inp)
    w, dout = inp["w"], inp["dout"]
    if d != 1:
        return {}
    f = w.shape[0]
    dcols = w.reshape(f, -1).T @ dout.transpose(1, 2, 3, 0).reshape(f, -1)
    return {"dx": _col2im_assigned(dcols, inp["x"].shape, w.shape[2], w.shape[3], p, s)}


# ---------------------------------------------------------------- pooling

def _pool_sizes(inputs, swap=False):
    p = inputs["pool_param"]
    ph, pw = p["pool_height"], p["pool_width"]
    return (pw, ph, p["stride"]) if swap else (ph, pw, p["stride"])


def _pool_forward(function, x, ph, pw, stride):
    params = {"pool_height": ph, "pool_width": pw, "stride": stride}
    return function(x, params)[0]


def _share(window, pick):
    """Which part of each (N, C, ph, pw) window's gradient every entry receives."""
    if pick == "mean":
        return np.full(window.shape, 1.0 / (window.shape[2] * window.shape[3]))
    if pick == "sum":
        return np.ones(window.shape)
    flat = window.reshape(window.shape[:2] + (-1,))
    if pick in ("all", "split"):
        mask = flat == flat.max(axis=-1, keepdims=True)
        if pick == "split":
            mask = mask / mask.sum(axis=-1, keepdims=True)
    else:
        size = flat.shape[-1]
        index = np.argmax(flat, axis=-1) if pick == "first" else size - 1 - np.argmax(
            flat[..., ::-1], axis=-1)
        mask = np.arange(size) == index[..., None]
    return mask.reshape(window.shape).astype(np.float64)


def _pool_backward(x, dout, ph, pw, stride, pick, assign=None):
    """Pooling backward by loops over windows.

    pick: 'first', 'last' or 'all' maxima, an equal 'split' among tied maxima, 'mean' or 'sum'.
    assign: None (+=), 'window' (the whole window is assigned) or 'entry' (only the picked entries).
    """
    dx = np.zeros(x.shape)
    for i in range(dout.shape[2]):
        for j in range(dout.shape[3]):
            rows, cols = _window_slices(i, j, stride, ph, pw)
            share = _share(x[:, :, rows, cols], pick)
            grad = share * dout[:, :, i, j, None, None]
            if assign == "window":
                dx[:, :, rows, cols] = grad
            elif assign == "entry":
                dx[:, :, rows, cols] = np.where(share > 0, grad, dx[:, :, rows, cols])
            else:
                dx[:, :, rows, cols] += grad
    return dx


def _pool_model(pick, **options):
    """A backward model: the pooling loops with one thing changed."""
    def model(inp):
        ph, pw, stride = _pool_sizes(inp, options.get("swap", False))
        return {"dx": [_pool_backward(inp["x"], inp["dout"], ph, pw, options.get("stride", stride),
                                      pick, options.get("assign"))]}
    return model


_model("max_grad_to_last_tie", "max_pool_backward")(_pool_model("last"))
_model("max_grad_split_among_ties", "max_pool_backward")(_pool_model("split"))
_model("avg_not_divided_by_window", "avg_pool_backward")(_pool_model("sum"))


@_model("assign_instead_of_accumulate", "max_pool_backward", "avg_pool_backward")
def _pool_assign(inp):
    """= instead of +=, for the whole window or the picked entries; max pooling's pick is the
    first maximum or every tied one (both mistakes together)."""
    picks = ("first", "all") if inp["family"] == "max_pool_backward" else ("mean",)
    ph, pw, stride = _pool_sizes(inp)
    return {"dx": [_pool_backward(inp["x"], inp["dout"], ph, pw, stride, pick, assign)
                   for pick in picks for assign in ("window", "entry")]}


@_model("max_grad_to_all_ties", "max_pool_backward")
def _all_ties(inp):
    """Every tied maximum gets the gradient, added with += or assigned with = (both mistakes);
    also in DLS's pool_height-square windows, where the ties change the result (else that is
    pool_width_ignored alone)."""
    x, dout = inp["x"], inp["dout"]
    ph, pw, stride = _pool_sizes(inp)
    found = [_pool_backward(x, dout, ph, pw, stride, "all", assign) for assign in (None, "window", "entry")]
    if ph != pw:
        square = _pool_backward(x, dout, ph, ph, stride, "all")
        if not np.allclose(square, _pool_backward(x, dout, ph, ph, stride, "first")):
            found.append(square)
    return {"dx": found}


@_model("stride_ignored", "max_pool_backward", "avg_pool_backward")
def _pool_backward_stride_ignored(inp):
    """Windows one pixel apart; for max pooling also as DLS's pool_backward writes it (an
    f x f window, f = pool_height, and the mask of every maximum) with the stride left out."""
    ph, pw, stride = _pool_sizes(inp)
    if stride == 1:
        return {}
    if inp["family"] == "avg_pool_backward":
        return _pool_model("mean", stride=1)(inp)
    return {"dx": [_pool_backward(inp["x"], inp["dout"], ph, width, 1, pick)
                   for width, pick in ((pw, "first"), (ph, "all"))]}


@_model("pool_dims_swapped", "max_pool_backward", "avg_pool_backward")
def _pool_backward_swapped(inp):
    pick = "first" if inp["family"] == "max_pool_backward" else "mean"
    ph, pw, _ = _pool_sizes(inp)
    return {} if ph == pw else _pool_model(pick, swap=True)(inp)


@_model("col2im_overwrites", "max_pool_backward")
def _pool_col2im_overwrites(inp):
    """Max pooling by im2col whose col2im assigns tap by tap (a later tap wins)."""
    x, dout = inp["x"], inp["dout"]
    ph, pw, stride = _pool_sizes(inp)
    n, c, h, w = x.shape
    out_h, out_w = dout.shape[2:]
    dcols = np.zeros((ph * pw, out_h, out_w, n, c))
    for i in range(out_h):
        for j in range(out_w):
            rows, cols = _window_slices(i, j, stride, ph, pw)
            share = _share(x[:, :, rows, cols], "first") * dout[:, :, i, j, None, None]
            dcols[:, i, j] = share.reshape(n, c, -1).transpose(2, 0, 1)
    dcols = dcols.reshape(ph * pw, -1)
    by_tap = _col2im_assigned(dcols, (n * c, 1, h, w), ph, pw, 0, stride)[0]
    return {"dx": [by_tap.reshape(x.shape)]}


def _pool_forward_family(family):
    return ref.max_pool_forward_naive if family == "max_pool_forward" else ref.avg_pool_forward_naive


@_model("output_size_off_by_one", "max_pool_forward", "avg_pool_forward")
def _pool_off_by_one(inp):
    return {"out": _off_by_one(_pool_forward(_pool_forward_family(inp["family"]), inp["x"],
                                             *_pool_sizes(inp)))}


@_model("stride_ignored", "max_pool_forward", "avg_pool_forward")
def _pool_forward_stride_ignored(inp):
    ph, pw, stride = _pool_sizes(inp)
    if stride == 1:
        return {}
    function = _pool_forward_family(inp["family"])
    right = _pool_forward(function, inp["x"], ph, pw, stride)
    return {"out": _with_and_cropped(_pool_forward(function, inp["x"], ph, pw, 1), right)}


def _pool_forward_window(window):
    """A forward model whose window is ``window(ph, pw)`` instead of (ph, pw); none for square ones."""
    def model(inp):
        ph, pw, stride = _pool_sizes(inp)
        if ph == pw:
            return {}
        function = _pool_forward_family(inp["family"])
        return {"out": [_pool_forward(function, inp["x"], *window(ph, pw), stride)]}
    return model


_POOL_FORWARDS = ("max_pool_forward", "avg_pool_forward")
_model("pool_dims_swapped", *_POOL_FORWARDS)(_pool_forward_window(lambda ph, pw: (pw, ph)))
_model("pool_width_ignored", *_POOL_FORWARDS)(_pool_forward_window(lambda ph, pw: (ph, ph)))


@_model("pool_width_ignored", "max_pool_backward", "avg_pool_backward")
def _pool_backward_width_ignored(inp):
    ph, pw, stride = _pool_sizes(inp)
    pick = "first" if inp["family"] == "max_pool_backward" else "mean"
    return {} if ph == pw else {"dx": [_pool_backward(inp["x"], inp["dout"], ph, ph, stride, pick)]}


@_model("avg_not_divided_by_window", "avg_pool_forward")
def _avg_forward_not_divided(inp):
    ph, pw, stride = _pool_sizes(inp)
    return {"out": [ph * pw * _pool_forward(ref.avg_pool_forward_naive, inp["x"], ph, pw, stride)]}


# ---------------------------------------------------------------- im2col / col2im

def _im2col(inp, stride=None):
    return ref.im2col_indices(inp["x"], inp["field_height"], inp["field_width"], inp["padding"],
                              inp["stride"] if stride is None else stride)


@_model("im2col_column_order", "im2col")
def _column_order(inp):
    cols = _im2col(inp)
    n = inp["x"].shape[0]
    return {"cols": [cols.reshape(len(cols), -1, n).transpose(0, 2, 1).reshape(len(cols), -1)]}


@_model("im2col_row_order", "im2col")
def _row_order(inp):
    cols = _im2col(inp)
    c, fh, fw = inp["x"].shape[1], inp["field_height"], inp["field_width"]
    return {"cols": [cols.reshape(c, fh, fw, -1).transpose(1, 2, 0, 3).reshape(len(cols), -1)]}


@_model("stride_ignored", "im2col")
def _im2col_stride_ignored(inp):
    return {} if inp["stride"] == 1 else {"cols": [_im2col(inp, stride=1)]}


@_model("col2im_overwrites", "col2im")
def _col2im_overwrites(inp):
    return {"x": _col2im_assigned(inp["cols"], inp["x_shape"], inp["field_height"], inp["field_width"],
                                  inp["padding"], inp["stride"])}


def _col2im_padded(inp):
    n, c, h, w = inp["x_shape"]
    p = inp["padding"]
    return ref.col2im_indices(inp["cols"], (n, c, h + 2 * p, w + 2 * p), inp["field_height"],
                              inp["field_width"], 0, inp["stride"])


@_model("padding_not_stripped", "col2im")
def _col2im_padding_not_stripped(inp):
    p = inp["padding"]
    if p == 0:
        return {}
    padded = _col2im_padded(inp)
    h, w = inp["x_shape"][2:]
    return {"x": [padded, padded[:, :, p:, p:], padded[:, :, :h, :w]]}


@_model("pad_slice_empty", "col2im")
def _col2im_pad_slice_empty(inp):
    n, c = inp["x_shape"][:2]
    return {"x": [np.zeros((n, c, 0, 0))]} if inp["padding"] == 0 else {}


# ---------------------------------------------------------------- transposed convolution

def _transpose_forward(inp, **changes):
    """The reference transposed convolution with some parameters changed."""
    params = dict(inp["conv_param"])
    w = changes.pop("w", inp["w"])
    b = changes.pop("b", inp["b"])
    params.update(changes)
    limit = max(params["stride"], params.get("dilation", 1))
    params["output_padding"] = min(params.get("output_padding", 0), limit - 1)
    return ref.conv_transpose_forward(inp["x"], w, b, params)[0]


@_model("output_padding_ignored", "conv_transpose_forward")
def _output_padding_ignored(inp):
    if not inp["conv_param"].get("output_padding", 0):
        return {}
    return {"out": [_transpose_forward(inp, output_padding=0)]}


@_model("padding_not_stripped", "conv_transpose_forward")
def _transpose_padding_not_stripped(inp):
    p = inp["conv_param"]["pad"]
    return {"out": [_transpose_forward(inp, pad=0)]} if p else {}


@_model("kernel_not_flipped_full_conv", "conv_transpose_forward")
def _transpose_not_flipped(inp):
    return {"out": [_transpose_forward(inp, w=_flip(inp["w"]))]}


@_model("bias_missing", "conv_transpose_forward")
def _transpose_bias_missing(inp):
    return {"out": [_transpose_forward(inp, b=0 * inp["b"])]}


@_model("stride_ignored", "conv_transpose_forward")
def _transpose_stride_ignored(inp):
    return {"out": [_transpose_forward(inp, stride=1)]} if inp["conv_param"]["stride"] > 1 else {}


@_model("dilation_ignored", "conv_transpose_forward")
def _transpose_dilation_ignored(inp):
    """Undilated stamps in an output of the right (dilated) size: zeros and the bias beyond them."""
    s, p, d = _unpack(inp)
    if d == 1:
        return {}
    return {"out": fit_stamps(inp, _transpose_forward(inp, pad=0, dilation=1, output_padding=0))}


def fit_stamps(inp, full):
    """Stamps summed into ``full`` (N, F, rows, cols, the bias added), cropped as the student's code
    crops: [pad:pad + H_out] of a buffer grown to the padded output size (zeros and the bias beyond
    the stamps), or of ``full`` itself (a short buffer gives a short output)."""
    p = inp["conv_param"]["pad"]
    out_h, out_w = _transpose_forward(inp).shape[2:]
    rows, cols = max(out_h + 2 * p, full.shape[2]), max(out_w + 2 * p, full.shape[3])
    grown = np.pad(full, ((0, 0), (0, 0), (0, rows - full.shape[2]), (0, cols - full.shape[3])))
    grown[:, :, full.shape[2]:] += inp["b"][None, :, None, None]
    grown[:, :, :full.shape[2], full.shape[3]:] += inp["b"][None, :, None, None]
    return [a[:, :, p:p + out_h, p:p + out_w] for a in (grown, full)]


@_model("kernel_flipped_dw", "conv_transpose_backward")
def _transpose_flipped_dw(inp):
    _, dw, _ = ref.conv_transpose_backward(inp["dout"], (inp["x"], inp["w"], inp["b"], inp["conv_param"]))
    return {"dw": [_flip(dw)]}


@_model("stride_ignored", "conv_transpose_backward")
def _transpose_backward_stride_ignored(inp):
    """The windows over the padded dout start one pixel apart instead of stride pixels."""
    s, p, d = _unpack(inp)
    if s == 1:
        return {}
    x, w, dout = inp["x"], inp["w"], inp["dout"]
    height, width = x.shape[2:]
    dx = _forward(dout, w, np.zeros(w.shape[0]), 1, p, d)[:, :, :height, :width]
    dout_pad = _pad(dout, p)
    dw = np.zeros(w.shape)
    for k in range(w.shape[2]):
        for l in range(w.shape[3]):
            taps = dout_pad[:, :, k * d:k * d + height, l * d:l * d + width]
            dw[:, :, k, l] = np.einsum("nchw,nfhw->cf", x, taps)
    return {"dx": [dx], "dw": [dw]}


# ---------------------------------------------------------------- across families

def _first_sample(x):
    """The batch with every sample replaced by sample 0; None for a batch of one."""
    return np.repeat(x[:1], len(x), axis=0) if len(x) > 1 else None


_FORWARD_OF = {
    "conv_forward": lambda inp, x: _forward(x, inp["w"], inp["b"], *_unpack(inp)),
    "max_pool_forward": lambda inp, x: _pool_forward(ref.max_pool_forward_naive, x, *_pool_sizes(inp)),
    "avg_pool_forward": lambda inp, x: _pool_forward(ref.avg_pool_forward_naive, x, *_pool_sizes(inp)),
    "conv_transpose_forward": lambda inp, x: _transpose_forward(dict(inp, x=x)),
    "conv_relu_pool_forward": lambda inp, x: ref.conv_relu_pool_forward(
        x, inp["w"], inp["b"], inp["conv_param"], inp["pool_param"])[0],
}


@_model("first_sample_only", *_FORWARD_OF)
def _first_sample_only(inp):
    x = _first_sample(inp["x"])
    return {} if x is None else {"out": [_FORWARD_OF[inp["family"]](inp, x)]}


def raised_by(mistake, family, inputs, problem):
    """Whether the failure ``problem`` (the feedback's text) is what ``mistake`` raises here."""
    predicate = mistake.errors.get(family)
    if predicate is None:
        return False
    try:
        return bool(predicate(inputs, problem))
    except Exception:  # noqa: BLE001 - a predicate that does not fit these inputs has no say
        return False


def candidates(mistake, family, inputs):
    """A mistake's candidate outputs for one case: {output: [arrays]}; {} when it does not apply.

    A model that cannot run on these inputs (a window that no longer fits, say) has no candidates.
    """
    model = mistake.models.get(family)
    if model is None:
        return {}
    try:
        return model(dict(inputs, family=family))
    except Exception:  # noqa: BLE001 - a model that does not fit these inputs simply has no say
        return {}


# the catalogue's other parts register themselves here
from cnn_utils.grading import mistakes_network, mistakes_orders  # noqa: E402,F401

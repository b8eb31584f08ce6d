"""Output-size arithmetic and parameter validation for convolution and pooling.

Every public function here raises ``ValueError`` with a message that names the
offending numbers and the rule they break, so that a wrong call never ends in
an IndexError from deep inside numpy.

Output size follows PyTorch's floor semantics:

    out = floor((size + 2*pad - dilation*(kernel - 1) - 1) / stride) + 1

Rows and columns that no window reaches are legal; they get zero gradient.
"""

import math
from numbers import Integral, Real

import numpy as np

FLOAT_DTYPES = (np.float32, np.float64)


def check_int(value, name, minimum):
    """Return ``value`` as an int, checking it is a whole number >= minimum."""
    if isinstance(value, bool) or not isinstance(value, Real):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if not math.isfinite(value) or (not isinstance(value, Integral) and value != int(value)):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    value = int(value)
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


def _effective_kernel(kernel, dilation):
    return dilation * (kernel - 1) + 1


def conv_output_size(size, kernel, stride=1, pad=0, dilation=1, axis="height"):
    """Output length of a convolution along one axis (PyTorch floor semantics)."""
    size = check_int(size, f"input {axis}", 1)
    kernel = check_int(kernel, f"kernel {axis}", 1)
    stride = check_int(stride, "stride", 1)
    pad = check_int(pad, "pad", 0)
    dilation = check_int(dilation, "dilation", 1)
    span = _effective_kernel(kernel, dilation)
    padded = size + 2 * pad
    if span > padded:
        dil = f" (dilation {dilation} makes it span {span})" if dilation > 1 else ""
        raise ValueError(
            f"kernel {axis} {kernel}{dil} is larger than the padded input {axis} "
            f"{padded} = {size} + 2*{pad}; the window must fit inside the padded input"
        )
    return (padded - span) // stride + 1


def pool_output_size(size, pool, stride, axis="height"):
    """Output length of a pooling layer (no padding) along one axis."""
    size = check_int(size, f"input {axis}", 1)
    pool = check_int(pool, f"pool_{axis}", 1)
    stride = check_int(stride, "stride", 1)
    if pool > size:
        raise ValueError(
            f"pool_{axis} {pool} is larger than the input {axis} {size}; "
            "the window must fit inside the input"
        )
    return (size - pool) // stride + 1


def conv_transpose_output_size(size, kernel, stride=1, pad=0, output_padding=0,
                               dilation=1, axis="height"):
    """Output length of a transposed convolution along one axis (as PyTorch)."""
    size = check_int(size, f"input {axis}", 1)
    kernel = check_int(kernel, f"kernel {axis}", 1)
    stride = check_int(stride, "stride", 1)
    pad = check_int(pad, "pad", 0)
    dilation = check_int(dilation, "dilation", 1)
    output_padding = check_int(output_padding, "output_padding", 0)
    if output_padding >= max(stride, dilation):
        raise ValueError(
            f"output_padding must be smaller than stride or dilation, got output_padding "
            f"{output_padding} with stride {stride} and dilation {dilation}"
        )
    out = (size - 1) * stride - 2 * pad + _effective_kernel(kernel, dilation) + output_padding
    if out < 1:
        raise ValueError(
            f"transposed convolution output {axis} would be {out} = ({size}-1)*{stride} "
            f"- 2*{pad} + {_effective_kernel(kernel, dilation)} + {output_padding}; "
            "pad is too large for this input"
        )
    return out


def check_array(a, name, ndim, layout):
    """Return ``a`` as a float32/float64 array of ``ndim`` dimensions.

    Integer and bool input is converted to float64; anything else that is not
    real raises ``ValueError``.
    """
    try:
        arr = np.asarray(a)
    except Exception as exc:  # ragged lists and the like
        raise ValueError(f"{name} must be an array of shape {layout}: {exc}") from None
    if arr.ndim != ndim:
        raise ValueError(
            f"{name} must have {ndim} dimensions {layout}, got {arr.ndim} with shape {arr.shape}"
        )
    if arr.dtype.type not in FLOAT_DTYPES:
        if arr.dtype.kind in "biu":
            arr = arr.astype(np.float64)
        elif arr.dtype.kind == "f":
            arr = arr.astype(np.float64)
        else:
            raise ValueError(f"{name} must hold real numbers, got dtype {arr.dtype}")
    if 0 in arr.shape:
        raise ValueError(f"{name} must not be empty, got shape {arr.shape}")
    return arr


def check_finite(a, name):
    """Raise ``ValueError`` when ``a`` holds NaN or infinity."""
    if not np.all(np.isfinite(a)):
        bad = int(a.size - np.count_nonzero(np.isfinite(a)))
        raise ValueError(f"{name} must be finite, found {bad} NaN or infinite entries")


def conv_params(conv_param):
    """Validate ``conv_param`` and return ``(stride, pad, dilation)``."""
    if not isinstance(conv_param, dict):
        raise ValueError(f"conv_param must be a dict with 'stride' and 'pad', got {conv_param!r}")
    missing = [k for k in ("stride", "pad") if k not in conv_param]
    if missing:
        raise ValueError(f"conv_param is missing {missing}; it needs 'stride' and 'pad'")
    stride = check_int(conv_param["stride"], "stride", 1)
    pad = check_int(conv_param["pad"], "pad", 0)
    dilation = check_int(conv_param.get("dilation", 1), "dilation", 1)
    return stride, pad, dilation


def pool_params(pool_param):
    """Validate ``pool_param`` and return ``(pool_height, pool_width, stride)``."""
    if not isinstance(pool_param, dict):
        raise ValueError(
            "pool_param must be a dict with 'pool_height', 'pool_width' and 'stride', "
            f"got {pool_param!r}"
        )
    missing = [k for k in ("pool_height", "pool_width", "stride") if k not in pool_param]
    if missing:
        raise ValueError(
            f"pool_param is missing {missing}; it needs 'pool_height', 'pool_width' and 'stride'"
        )
    return (check_int(pool_param["pool_height"], "pool_height", 1),
            check_int(pool_param["pool_width"], "pool_width", 1),
            check_int(pool_param["stride"], "stride", 1))


def _conv_arrays(x, w, b, transposed):
    """x, w, b checked (ndim, channels, one bias per output channel), in one common float dtype.

    A convolution's w is (F, C, HH, WW); a transposed convolution's is (C_in, F, HH, WW).
    """
    channels, w_layout, in_axis, out_axis = (
        ("C_in", "(C_in, F, HH, WW)", 0, 1) if transposed else ("C", "(F, C, HH, WW)", 1, 0))
    x = check_array(x, "x", 4, f"(N, {channels}, H, W)")
    w = check_array(w, "w", 4, w_layout)
    b = check_array(b, "b", 1, "(F,)")
    if w.shape[in_axis] != x.shape[1]:
        raise ValueError(
            f"channel mismatch: x has {channels}={x.shape[1]} channels but w expects "
            f"{w.shape[in_axis]} (x {x.shape}, w {w.shape}; w is {w_layout})"
        )
    if b.shape[0] != w.shape[out_axis]:
        raise ValueError(
            f"b must have one entry per filter: w has F={w.shape[out_axis]}, b has {b.shape[0]}")
    dtype = np.result_type(x, w, b)
    return x.astype(dtype, copy=False), w.astype(dtype, copy=False), b.astype(dtype, copy=False)


def check_conv(x, w, b, conv_param):
    """Validate a convolution call.

    Inputs:
    - x: (N, C, H, W), w: (F, C, HH, WW), b: (F,), conv_param: {'stride', 'pad'[, 'dilation']}

    Returns (x, w, b, stride, pad, dilation, H_out, W_out) with x, w, b as float
    arrays of one common dtype.
    """
    x, w, b = _conv_arrays(x, w, b, transposed=False)
    stride, pad, dilation = conv_params(conv_param)
    h_out = conv_output_size(x.shape[2], w.shape[2], stride, pad, dilation, "height")
    w_out = conv_output_size(x.shape[3], w.shape[3], stride, pad, dilation, "width")
    return x, w, b, stride, pad, dilation, h_out, w_out


def check_conv_transpose(x, w, b, conv_param):
    """Validate a transposed convolution call.

    Inputs:
    - x: (N, C_in, H, W), w: (C_in, F, HH, WW), b: (F,),
      conv_param: {'stride', 'pad'[, 'dilation', 'output_padding']}

    Returns (x, w, b, stride, pad, dilation, H_out, W_out) with x, w, b as float
    arrays of one common dtype.
    """
    x, w, b = _conv_arrays(x, w, b, transposed=True)
    stride, pad, dilation = conv_params(conv_param)
    output_padding = conv_param.get("output_padding", 0)
    h_out, w_out = (conv_transpose_output_size(x.shape[axis], w.shape[axis], stride, pad,
                                               output_padding, dilation, name)
                    for axis, name in ((2, "height"), (3, "width")))
    return x, w, b, stride, pad, dilation, h_out, w_out


def check_pool(x, pool_param):
    """Validate a pooling call.

    Inputs:
    - x: (N, C, H, W), pool_param: {'pool_height', 'pool_width', 'stride'}

    Returns (x, pool_height, pool_width, stride, H_out, W_out).
    """
    x = check_array(x, "x", 4, "(N, C, H, W)")
    ph, pw, stride = pool_params(pool_param)
    h_out = pool_output_size(x.shape[2], ph, stride, "height")
    w_out = pool_output_size(x.shape[3], pw, stride, "width")
    return x, ph, pw, stride, h_out, w_out


def check_dout(dout, shape, dtype=None, name="dout"):
    """Return the upstream gradient ``dout`` as a float array, checking it has the layer's output ``shape``."""
    dout = check_array(dout, name, len(shape), str(tuple(shape)))
    if dout.shape != tuple(shape):
        raise ValueError(
            f"{name} has shape {dout.shape} but the forward pass produced {tuple(shape)}"
        )
    if dtype is not None:
        dout = dout.astype(np.result_type(dout, dtype), copy=False)
    return dout


def check_ties(ties):
    """Validate the max-pool tie policy: 'first' (np.argmax, PyTorch) or 'all' (mask)."""
    if ties not in ("first", "all"):
        raise ValueError(f"ties must be 'first' or 'all', got {ties!r}")
    return ties

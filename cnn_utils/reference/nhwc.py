"""Coursera Deep Learning Specialization layout (NHWC) as thin adapters over the NCHW reference.

Arrays are (m, n_H, n_W, n_C); conv weights are (f, f, n_C_prev, n_C) and the
bias is (1, 1, 1, n_C). Each function transposes to NCHW, calls the NCHW
function and transposes back. The course's max-pool "mask" (every entry equal
to the window maximum) is ``ties='all'`` (on a window holding NaN, where the
course's mask is empty, 'all' marks every NaN); the default ``ties='first'``
sends the gradient to the first maximum only, as PyTorch does.
"""

from cnn_utils import shapes
from cnn_utils.reference.conv_naive import _pad, conv_backward_naive, conv_forward_naive
from cnn_utils.reference.pool_naive import (avg_pool_backward_naive, avg_pool_forward_naive,
                                            max_pool_backward_naive, max_pool_forward_naive)

_POOLS = {
    "max": (max_pool_forward_naive, max_pool_backward_naive),
    "average": (avg_pool_forward_naive, avg_pool_backward_naive),
}


def _to_nchw(a):
    return a.transpose(0, 3, 1, 2)


def _to_nhwc(a):
    return a.transpose(0, 2, 3, 1)


def _conv_inputs(A_prev, W, b, hparameters):
    """Validate an NHWC convolution; return NCHW (x, w, b, conv_param) and the NHWC output shape."""
    A_prev = shapes.check_array(A_prev, "A_prev", 4, "(m, n_H_prev, n_W_prev, n_C_prev)")
    W = shapes.check_array(W, "W", 4, "(f, f, n_C_prev, n_C)")
    b = shapes.check_array(b, "b", 4, "(1, 1, 1, n_C)")
    if W.shape[2] != A_prev.shape[3]:
        raise ValueError(f"channel mismatch: A_prev has n_C_prev={A_prev.shape[3]} channels but W "
                         f"expects {W.shape[2]} (A_prev {A_prev.shape}, W {W.shape})")
    if b.shape != (1, 1, 1, W.shape[3]):
        raise ValueError(f"b must have shape (1, 1, 1, n_C) = (1, 1, 1, {W.shape[3]}), "
                         f"got {b.shape}")
    x, w, b, *_, h_out, w_out = shapes.check_conv(
        _to_nchw(A_prev), W.transpose(3, 2, 0, 1), b.reshape(-1), hparameters)
    return (x, w, b, hparameters), (x.shape[0], h_out, w_out, w.shape[0])


def _pool_inputs(A_prev, hparameters, mode):
    """Validate an NHWC pooling call; return NCHW cache, NHWC output shape, (forward, backward)."""
    if mode not in _POOLS:
        raise ValueError(f"mode must be 'max' or 'average', got {mode!r}")
    if not isinstance(hparameters, dict) or not {"f", "stride"} <= hparameters.keys():
        raise ValueError(f"hparameters must be a dict with 'f' and 'stride', got {hparameters!r}")
    A_prev = shapes.check_array(A_prev, "A_prev", 4, "(m, n_H_prev, n_W_prev, n_C_prev)")
    pool_param = {"pool_height": hparameters["f"], "pool_width": hparameters["f"],
                  "stride": hparameters["stride"]}
    x, *_, h_out, w_out = shapes.check_pool(_to_nchw(A_prev), pool_param)
    out_shape = (x.shape[0], h_out, w_out, x.shape[1])
    return (x, pool_param), out_shape, _POOLS[mode]


def zero_pad(X, pad):
    """Pad the height and width of every image with zeros.

    Inputs:
    - X: (m, n_H, n_W, n_C)
    - pad: int >= 0

    Returns:
    - X_pad: (m, n_H + 2*pad, n_W + 2*pad, n_C)
    """
    X = shapes.check_array(X, "X", 4, "(m, n_H, n_W, n_C)")
    pad = shapes.check_int(pad, "pad", 0)
    return _to_nhwc(_pad(_to_nchw(X), pad, pad))


def conv_forward(A_prev, W, b, hparameters):
    """Forward pass of a convolution in NHWC.

    Inputs:
    - A_prev: (m, n_H_prev, n_W_prev, n_C_prev)
    - W: (f, f, n_C_prev, n_C)
    - b: (1, 1, 1, n_C)
    - hparameters: {'stride', 'pad'}

    Returns:
    - Z: (m, n_H, n_W, n_C), n_H = (n_H_prev + 2*pad - f) // stride + 1
    - cache: (A_prev, W, b, hparameters)
    """
    (x, w, b_flat, conv_param), _ = _conv_inputs(A_prev, W, b, hparameters)
    out, _ = conv_forward_naive(x, w, b_flat, conv_param)
    return _to_nhwc(out), (A_prev, W, b, hparameters)


def conv_backward(dZ, cache):
    """Backward pass of a convolution in NHWC.

    Inputs:
    - dZ: (m, n_H, n_W, n_C)
    - cache: (A_prev, W, b, hparameters) from conv_forward

    Returns:
    - dA_prev: (m, n_H_prev, n_W_prev, n_C_prev)
    - dW: (f, f, n_C_prev, n_C)
    - db: (1, 1, 1, n_C)
    """
    A_prev, W, b, hparameters = cache
    nchw_cache, out_shape = _conv_inputs(A_prev, W, b, hparameters)
    dZ = shapes.check_dout(dZ, out_shape, nchw_cache[0].dtype, "dZ")
    dx, dw, db = conv_backward_naive(_to_nchw(dZ), nchw_cache)
    return _to_nhwc(dx), dw.transpose(2, 3, 1, 0), db.reshape(1, 1, 1, -1)


def pool_forward(A_prev, hparameters, mode="max"):
    """Forward pass of a pooling layer in NHWC.

    Inputs:
    - A_prev: (m, n_H_prev, n_W_prev, n_C)
    - hparameters: {'f', 'stride'}
    - mode: 'max' or 'average'

    Returns:
    - A: (m, n_H, n_W, n_C), n_H = (n_H_prev - f) // stride + 1
    - cache: (A_prev, hparameters)
    """
    (x, pool_param), _, (forward, _) = _pool_inputs(A_prev, hparameters, mode)
    out, _ = forward(x, pool_param)
    return _to_nhwc(out), (A_prev, hparameters)


def pool_backward(dA, cache, mode="max", ties="first"):
    """Backward pass of a pooling layer in NHWC.

    Inputs:
    - dA: (m, n_H, n_W, n_C)
    - cache: (A_prev, hparameters) from pool_forward
    - mode: 'max' or 'average'
    - ties: for mode='max', 'first' (first maximum) or 'all' (the course's mask);
      ignored for mode='average'

    Returns:
    - dA_prev: (m, n_H_prev, n_W_prev, n_C)
    """
    shapes.check_ties(ties)
    A_prev, hparameters = cache
    nchw_cache, out_shape, (_, backward) = _pool_inputs(A_prev, hparameters, mode)
    dA = _to_nchw(shapes.check_dout(dA, out_shape, nchw_cache[0].dtype, "dA"))
    dx = backward(dA, nchw_cache, ties=ties) if mode == "max" else backward(dA, nchw_cache)
    return _to_nhwc(dx)

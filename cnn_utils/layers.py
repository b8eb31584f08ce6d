"""Fully connected, ReLU and softmax-loss layers (given to students; not exercises).

Same calling convention as the convolution layers: a forward pass returns
``(out, cache)`` and the backward pass takes ``(dout, cache)``. float32 input
stays float32, anything else is computed in float64.
"""

import numpy as np

from cnn_utils.shapes import check_array, check_dout


def _check_batch(x, name="x"):
    """Return ``x`` as a float array with a batch axis and at least one feature axis."""
    ndim = np.ndim(x)
    if ndim < 2:
        raise ValueError(f"{name} must have shape (N, d_1, ..., d_k) with k >= 1, got {ndim} dimension(s)")
    return check_array(x, name, ndim, "(N, d_1, ..., d_k)")


def affine_forward(x, w, b):
    """Forward pass of a fully connected layer: each sample is flattened, then x @ w + b.

    Inputs:
    - x: (N, d_1, ..., d_k), N samples of D = d_1 * ... * d_k numbers
    - w: (D, M) weights
    - b: (M,) biases

    Returns:
    - out: (N, M)
    - cache: (x, w, b)
    """
    x = _check_batch(x)
    w = check_array(w, "w", 2, "(D, M)")
    b = check_array(b, "b", 1, "(M,)")
    D = int(np.prod(x.shape[1:]))
    if w.shape[0] != D:
        raise ValueError(f"x has D = {D} features per sample (shape {x.shape}) but w has {w.shape[0]} rows")
    if b.shape[0] != w.shape[1]:
        raise ValueError(f"b must have one entry per output: w has M = {w.shape[1]} columns, b has {b.shape[0]}")
    dtype = np.result_type(x, w, b)
    x, w, b = (a.astype(dtype, copy=False) for a in (x, w, b))
    out = x.reshape(x.shape[0], D) @ w + b
    return out, (x, w, b)


def affine_backward(dout, cache):
    """Backward pass of a fully connected layer.

    Inputs:
    - dout: (N, M) upstream gradient
    - cache: (x, w, b) from affine_forward

    Returns:
    - dx: (N, d_1, ..., d_k); dw: (D, M); db: (M,)
    """
    x, w, b = cache
    dout = check_dout(dout, (x.shape[0], w.shape[1]), x.dtype)
    x_rows = x.reshape(x.shape[0], -1)
    dx = (dout @ w.T).reshape(x.shape)
    dw = x_rows.T @ dout
    db = dout.sum(axis=0)
    return dx, dw, db


def relu_forward(x):
    """Forward pass of a rectified linear unit, max(0, x) elementwise.

    Inputs:
    - x: array of any shape

    Returns:
    - out: same shape as x
    - cache: x
    """
    x = check_array(x, "x", np.ndim(x), "(any shape)")
    return np.maximum(x, 0), x


def relu_backward(dout, cache):
    """Backward pass of a rectified linear unit.

    Inputs:
    - dout: upstream gradient, same shape as x
    - cache: x from relu_forward

    Returns:
    - dx: same shape as x; dout where x > 0, else 0
    """
    x = cache
    dout = check_dout(dout, x.shape, x.dtype)
    return np.where(x > 0, dout, dout.dtype.type(0))


def softmax_loss(x, y):
    """Softmax classifier: mean cross-entropy loss and its gradient.

    Inputs:
    - x: (N, C) class scores, x[i, j] the score of class j for sample i
    - y: (N,) integer labels, 0 <= y[i] < C

    Returns:
    - loss: float, mean over the N samples of -log softmax(x[i])[y[i]]
    - dx: (N, C) gradient of the loss with respect to x
    """
    x = check_array(x, "x", 2, "(N, C)")
    N, C = x.shape
    y = np.asarray(y)
    if y.shape != (N,):
        raise ValueError(f"y must have shape (N,) = ({N},) to match x {x.shape}, got {y.shape}")
    if y.dtype.kind not in "iu":
        raise ValueError(f"y must hold integer class labels, got dtype {y.dtype}")
    if y.min() < 0 or y.max() >= C:
        raise ValueError(f"labels must lie in 0..{C - 1} for C = {C} classes, got min {y.min()} and max {y.max()}")
    # subtracting each row's maximum leaves the softmax unchanged and keeps exp() from overflowing
    shifted = x - x.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    rows = np.arange(N)
    loss = -float(log_probs[rows, y].mean())
    dx = np.exp(log_probs)
    dx[rows, y] -= 1
    dx /= N
    return loss, dx

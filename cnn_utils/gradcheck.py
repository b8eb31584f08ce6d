"""Numerical gradients and error measures (cs231n semantics, plus a normwise error).

``rel_error`` is the elementwise maximum relative error of cs231n: fine for
float64, but in float32 an entry that is nearly zero can give ~1 for correct
code. ``norm_rel_error`` compares whole arrays and is the one to use for float32.
"""

import numpy as np


def _centered_difference(f, x, h, each):
    """Perturb every entry of ``x`` in place by +-h; ``each(ix, f_plus, f_minus)``."""
    it = np.nditer(x, flags=["multi_index"], op_flags=[["readwrite"]])
    while not it.finished:
        ix = it.multi_index
        saved = x[ix]
        x[ix] = saved + h
        f_plus = f(x)
        x[ix] = saved - h
        f_minus = f(x)
        x[ix] = saved
        each(ix, f_plus, f_minus)
        it.iternext()


def eval_numerical_gradient(f, x, verbose=True, h=1e-5):
    """Numerical gradient of a scalar function.

    Inputs:
    - f: function of one array returning a float
    - x: array of any shape; perturbed in place and restored
    - verbose: print each entry's gradient
    - h: step of the centered difference

    Returns:
    - grad: array of x's shape, d f / d x
    """
    grad = np.zeros_like(x)

    def record(ix, f_plus, f_minus):
        grad[ix] = (f_plus - f_minus) / (2 * h)
        if verbose:
            print(ix, grad[ix])

    _centered_difference(f, x, h, record)
    return grad


def eval_numerical_gradient_array(f, x, df, h=1e-5):
    """Numerical gradient of an array-valued function against an upstream gradient.

    Inputs:
    - f: function of one array returning an array of df's shape
    - x: array of any shape; perturbed in place and restored
    - df: upstream gradient, of f(x)'s shape
    - h: step of the centered difference

    Returns:
    - grad: array of x's shape, sum(df * d f / d x)
    """
    grad = np.zeros_like(x)

    def record(ix, f_plus, f_minus):
        grad[ix] = np.sum((f_plus - f_minus) * df) / (2 * h)

    _centered_difference(lambda a: np.array(f(a), copy=True), x, h, record)
    return grad


def rel_error(x, y):
    """Maximum elementwise relative error, max |x - y| / max(1e-8, |x| + |y|)."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    return float(np.max(np.abs(x - y) / np.maximum(1e-8, np.abs(x) + np.abs(y))))


def norm_rel_error(x, y):
    """Normwise relative error ||x - y|| / max(||x||, ||y||); 0 when both are zero.

    Safe for float32: near-zero entries do not dominate as in ``rel_error``.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.shape != y.shape:
        raise ValueError(f"cannot compare arrays of shapes {x.shape} and {y.shape}")
    scale = max(np.linalg.norm(x), np.linalg.norm(y))
    if scale == 0.0:
        return 0.0
    return float(np.linalg.norm(x - y) / scale)

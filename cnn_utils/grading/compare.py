"""Tolerant comparison of a student's output with the expected one.

float64 results must agree to 1e-7 of the largest entry (elementwise); float32
results are compared normwise to 1e-4, which any correct float32 loop, einsum
or im2col implementation meets. The tolerance follows the case's dtype, so a
float64 result for float32 inputs is accepted when its values are right.
"""

import numpy as np

FLOAT64_TOLERANCE = 1e-7
FLOAT32_TOLERANCE = 1e-4


def snapshot(value):
    """The student's value as a fresh ndarray (a copy), or (None, message) when it is not one.

    Returns (array, None) or (None, message).
    """
    if value is None:
        return None, "is None (the stub's None was never replaced, or a return is missing)"
    try:
        array = np.array(value, copy=True, subok=False)
    except Exception as exc:  # ragged lists, objects numpy cannot convert
        return None, f"could not be read as an array ({type(value).__name__}: {exc})"
    if array.dtype.kind not in "biuf":
        return None, f"has dtype {array.dtype}; expected a real floating-point array"
    return array, None


def _within_tolerance(got, expected, dtype):
    """(ok, error text) for two float64 arrays of one shape, with the tolerance of ``dtype``."""
    if dtype == np.float32:
        scale = max(np.linalg.norm(got), np.linalg.norm(expected))
        error = 0.0 if scale == 0 else float(np.linalg.norm(got - expected) / scale)
        return error <= FLOAT32_TOLERANCE, f"normwise relative error {error:.1e}"
    largest = float(np.max(np.abs(expected), initial=0.0))
    error = float(np.max(np.abs(got - expected), initial=0.0))
    scale = max(largest, float(np.max(np.abs(got), initial=0.0)))
    ok = error == 0.0 or error <= FLOAT64_TOLERANCE * scale
    return ok, f"max error {error:.1e} where entries reach {largest:.1e}"


def difference(got, expected):
    """None when ``got`` (an ndarray) matches ``expected``; otherwise a one-line description."""
    if got.shape != expected.shape:
        return f"has shape {got.shape}, expected {expected.shape}"
    note = ""
    if got.dtype.kind in "biu":
        note = f" (dtype {got.dtype}: an integer array cannot hold the result)"
    elif got.dtype != expected.dtype and got.dtype.itemsize < expected.dtype.itemsize:
        note = f" (dtype {got.dtype} for {expected.dtype} inputs loses precision)"
    got64, expected64 = got.astype(np.float64), expected.astype(np.float64)
    finite = np.isfinite(got64)
    if not finite.all():
        return f"holds {int(finite.size - finite.sum())} NaN/inf entries{note}"
    ok, error = _within_tolerance(got64, expected64, expected.dtype)
    return None if ok else f"values differ: {error}{note}"


def matches_model(got, model, dtype):
    """Whether ``got`` equals a mistake model's output; NaN entries of the model match anything.

    Singleton axes are ignored (a (1, 1, 1, F) db matches an (F,) model). A float32 result is
    compared with the float32 tolerance (the network's cases compare float64 init codes first).
    """
    got, model = np.squeeze(got), np.squeeze(model)
    if got.dtype == np.float32:
        dtype = np.float32
    if got.shape != model.shape:
        return False
    if model.size == 0:
        return True
    known = ~np.isnan(model)
    if not known.any():
        return False
    got64 = got.astype(np.float64)[known]
    if not np.isfinite(got64).all():
        return False
    return _within_tolerance(got64, model.astype(np.float64)[known], dtype)[0]

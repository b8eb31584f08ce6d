"""Student code that misbehaves: raises, exits, warns, prints to stderr, mutates inputs, returns junk."""

import os
import sys
import warnings

import numpy as np

from student_impls.conv import conv_backward_loops, conv_forward_loops
from student_impls.pool import max_pool_backward_loops


def conv_forward_stub(x, w, b, conv_param):
    out = None
    raise NotImplementedError("conv_forward_naive is not implemented yet")
    return out, (x, w, b, conv_param)


def conv_backward_exits(dout, cache):
    sys.exit("giving up")


def conv_backward_warns(dout, cache):
    """Correct, but divides 0/0 on a path whose result is thrown away, and warns explicitly."""
    dx, dw, db = conv_backward_loops(dout, cache)
    _ = np.zeros(3) / np.zeros(3)
    warnings.warn("my debugging warning", stacklevel=2)
    return dx, dw, db


def conv_backward_prints(dout, cache):
    """Correct, but chats on stdout and stderr."""
    print("debug: dout has shape", dout.shape)
    print("debug: writing to stderr", file=sys.stderr)
    sys.stderr.write("raw stderr write\n")
    os.write(2, b"file descriptor 2 write\n")
    return conv_backward_loops(dout, cache)


def conv_backward_mutates(dout, cache):
    """Correct result, then scribbles over every input it was given."""
    dx, dw, db = conv_backward_loops(dout, cache)
    x, w, b, conv_param = cache
    x[...] = 0
    w *= -1
    b += 100
    dout[...] = np.nan
    conv_param["stride"] = 99
    conv_param.pop("pad")
    return dx, dw, db


def max_pool_backward_mutates_x(dout, cache):
    """Marks every visited maximum by overwriting x with -inf before computing; result still right."""
    x, pool_param = cache
    dx = max_pool_backward_loops(dout, (x.copy(), pool_param))
    x.fill(-np.inf)
    return dx


def conv_backward_transposed_dx(dout, cache):
    dx, dw, db = conv_backward_loops(dout, cache)
    return dx.transpose(0, 1, 3, 2), dw, db


def conv_backward_returns_list(dout, cache):
    return [conv_backward_loops(dout, cache)[0]]


def conv_forward_only_out(x, w, b, conv_param):
    return conv_forward_loops(x, w, b, conv_param)[0]


def conv_forward_nan(x, w, b, conv_param):
    out, cache = conv_forward_loops(x, w, b, conv_param)
    out[0, 0, 0, 0] = np.nan
    return out, cache


def conv_backward_stub(dout, cache):
    dx, dw, db = None, None, None
    return dx, dw, db


def conv_backward_complex(dout, cache):
    dx, dw, db = conv_backward_loops(dout, cache)
    return dx.astype(complex), dw, db


_BUFFER = np.zeros(4096)


def avg_pool_backward_undivided_buffer(dout, cache):
    """Forgets the division, and returns a view of one module-level buffer that every call reuses."""
    x, pool_param = cache
    ph, pw, stride = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    dx = _BUFFER[:x.size].reshape(x.shape)
    dx[...] = 0
    for i in range(dout.shape[2]):
        for j in range(dout.shape[3]):
            dx[:, :, i * stride:i * stride + ph, j * stride:j * stride + pw] += dout[:, :, i:i + 1, j:j + 1]
    return dx

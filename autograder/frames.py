"""A plain, bounded format for values that cross between the grader and student processes.

A frame is an 8-byte big-endian length, then a body: a 4-byte length, a JSON header describing
the value, and the raw bytes of its arrays. Values are None, bools, ints, floats, strings, numeric
numpy arrays and scalars, and tuples, lists and string-keyed dicts of them. Nothing is
compressed or unpickled, so reading a frame costs what its bytes say: ``decode`` checks every
size against the body before it allocates, and refuses (``FrameError``) anything malformed,
deeper than ``DEPTH``, with more than ``NODES`` items or a header beyond ``HEADER_BYTES``.
Used by student_run and oracle_run, which write frames in the sandbox, and by ``integrity``,
which reads them outside it.
"""

import json
import math
import os

import numpy as np

HEADER_BYTES = 2**20
DEPTH = 8
NODES = 20_000
DTYPES = {np.dtype(name).str for name in ("bool", "int8", "int16", "int32", "int64", "uint8", "uint16",
                                          "uint32", "uint64", "float16", "float32", "float64")}


class FrameError(ValueError):
    """A frame that is not what ``encode`` writes, or larger than its reader allows."""


def encode(value):
    """The frame (bytes) of ``value``; TypeError for a value outside the format."""
    buffers, size = [], 0

    def describe(item, depth):
        nonlocal size
        if depth > DEPTH:
            raise TypeError(f"nested deeper than {DEPTH} levels")
        if item is None or isinstance(item, (bool, str)):
            return {"v": item}
        if isinstance(item, int):
            return {"i": str(item)}
        if isinstance(item, float):
            return {"f": repr(item)}
        if isinstance(item, (np.ndarray, np.generic)):
            array = np.asarray(item)   # tobytes() is in C order, whatever the layout
            if array.dtype.str not in DTYPES:
                raise TypeError(f"an array of dtype {array.dtype} (numbers only)")
            data = array.tobytes()
            buffers.append(data)
            size += len(data)
            return {"a": [array.dtype.str, list(array.shape), size - len(data), isinstance(item, np.generic)]}
        if isinstance(item, (tuple, list)):
            return {"t" if isinstance(item, tuple) else "l": [describe(v, depth + 1) for v in item]}
        if isinstance(item, dict) and all(isinstance(key, str) for key in item):
            return {"d": [[key, describe(v, depth + 1)] for key, v in item.items()]}
        raise TypeError(f"a {type(item).__name__} (arrays, numbers, strings and their tuples, lists, dicts only)")

    header = json.dumps(describe(value, 0)).encode()
    body = len(header).to_bytes(4, "big") + header + b"".join(buffers)
    return len(body).to_bytes(8, "big") + body


def decode(body):
    """The value of a frame's ``body`` (without its 8-byte length); FrameError if malformed."""
    if len(body) < 4 or int.from_bytes(body[:4], "big") > min(HEADER_BYTES, len(body) - 4):
        raise FrameError("the header's length is out of bounds")
    start = 4 + int.from_bytes(body[:4], "big")
    try:
        header = json.loads(body[4:start])
    except (ValueError, RecursionError) as exc:
        raise FrameError(f"the header is not JSON: {exc}") from None
    data, count = memoryview(body)[start:], 0

    def build(node, depth):
        nonlocal count
        count += 1
        if depth > DEPTH or count > NODES or not isinstance(node, dict) or len(node) != 1:
            raise FrameError("the header is too deep, too large or malformed")
        (kind, item), = node.items()
        if kind == "v" and (item is None or isinstance(item, (bool, str))):
            return item
        if kind == "i" and isinstance(item, str) and len(item) <= 40:
            return int(item)
        if kind == "f" and isinstance(item, str) and len(item) <= 40:
            return float(item)
        if kind in "tl" and isinstance(item, list):
            items = [build(v, depth + 1) for v in item]
            return tuple(items) if kind == "t" else items
        if kind == "d" and isinstance(item, list):
            pairs = [(pair[0], build(pair[1], depth + 1)) for pair in item
                     if isinstance(pair, list) and len(pair) == 2 and isinstance(pair[0], str)]
            if len(pairs) != len(item):
                raise FrameError("a malformed dict")
            return dict(pairs)
        if kind == "a" and isinstance(item, list) and len(item) == 4:
            return _array(*item, data)
        raise FrameError(f"an unknown item {kind!r}")

    try:
        return build(header, 0)
    except ValueError as exc:   # int() or float() of a bad string
        raise FrameError(str(exc)) from None


def _array(dtype, shape, offset, scalar, data):
    if (dtype not in DTYPES or not isinstance(shape, list) or len(shape) > 32
            or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape)
            or not isinstance(offset, int) or offset < 0 or not isinstance(scalar, bool)):
        raise FrameError("a malformed array")
    nbytes = math.prod(shape) * np.dtype(dtype).itemsize
    if offset + nbytes > len(data):
        raise FrameError(f"an array of {nbytes} bytes beyond the frame's end")
    array = np.frombuffer(data[offset:offset + nbytes], dtype=dtype).reshape(tuple(shape)).copy()
    return array[()] if scalar and not shape else array


def write(fd, value):
    """Write the frame of ``value`` to the file descriptor ``fd``, whole."""
    data = encode(value)
    while data:
        data = data[os.write(fd, data):]


def read(fd, most):
    """The body of the next frame on ``fd`` (at most ``most`` bytes), or None at end of file;
    FrameError for a frame announced larger than ``most``."""
    head = _exactly(fd, 8)
    if head is None:
        return None
    size = int.from_bytes(head, "big")
    if size > most:
        raise FrameError(f"a frame of {size} bytes, more than the {most} allowed")
    return _exactly(fd, size)


def _exactly(fd, size):
    chunks, left = [], size
    while left:
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)

"""How assignment 5's graded objects are called: the conv-relu-pool sandwich and the network.

The arguments of the cases and the reference; how the student's objects are
called is in ``cnn_utils.drivers``, which the re-check's student process uses too.
"""

from cnn_utils import reference as ref
from cnn_utils.drivers import PARAM_NAMES


def sandwich_args(i):
    return i["x"], i["w"], i["b"], i["conv_param"], i["pool_param"]


def sandwich_backward_args(i):
    return (i["dout"],) + sandwich_args(i)


def sandwich_backward_reference(dout, x, w, b, conv_param, pool_param):
    cache = ref.conv_relu_pool_forward(x, w, b, conv_param, pool_param)[1]
    return ref.conv_relu_pool_backward(dout, cache)


def convnet_args(i):
    return i["kwargs"], i["params"], i["X"], i["y"]


_INIT_PROBLEMS = ("has the wrong dtype", "is not zero", "has a standard deviation far from weight_scale")


def read_init(init):
    """``drive_convnet``'s init array as {parameter: (shape, [problems])}; shape None when missing."""
    values, parameters = [int(v) for v in init], {}
    for name in PARAM_NAMES:
        ndim, values = values[0], values[1:]
        if ndim < 0:
            parameters[name] = (None, [])
            continue
        shape, flags, values = tuple(values[:ndim]), values[ndim:ndim + 3], values[ndim + 3:]
        parameters[name] = (shape, [text for text, flag in zip(_INIT_PROBLEMS, flags, strict=True) if flag])
    return parameters


def init_difference(got, expected):
    """What is wrong with the student's initial parameters, parameter by parameter, in words."""
    try:
        got, expected = read_init(got), read_init(expected)
    except (IndexError, ValueError, OverflowError):  # not an array drive_convnet made
        return None
    problems = []
    for name in PARAM_NAMES:
        (shape, faults), (want, _) = got[name], expected[name]
        if shape is None:
            problems.append(f"params['{name}'] is missing")
        elif shape != want:
            problems.append(f"{name} has shape {shape}, expected {want}")
        problems += [f"{name} {fault}" for fault in faults]
    return "; ".join(problems) or None

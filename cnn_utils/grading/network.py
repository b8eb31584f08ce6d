"""How assignment 5's graded objects are called: the conv-relu-pool sandwich and the network.

The arguments of the cases and the reference; how the student's objects are
called is in ``cnn_utils.drivers``, which the re-check's student process uses too.
"""

from cnn_utils import reference as ref


def sandwich_args(i):
    return i["x"], i["w"], i["b"], i["conv_param"], i["pool_param"]


def sandwich_backward_args(i):
    return (i["dout"],) + sandwich_args(i)


def sandwich_backward_reference(dout, x, w, b, conv_param, pool_param):
    cache = ref.conv_relu_pool_forward(x, w, b, conv_param, pool_param)[1]
    return ref.conv_relu_pool_backward(dout, cache)


def convnet_args(i):
    return i["kwargs"], i["params"], i["X"], i["y"]

"""How assignment 5's graded objects are called, the same in the hidden tests and in the re-check.

The sandwich's backward is checked with the cache of the student's *own*
forward (its inner caches come from the student's pasted layers, a format the
reference cannot produce); ThreeLayerConvNet is a class, driven by
``drive_convnet``, which builds it, checks its initial parameters, loads given
parameters and returns what ``loss`` computes. Nothing here uses the reference:
the re-check's student process, which has no reference, imports this module.
"""

import numpy as np

PARAM_NAMES = ("W1", "b1", "W2", "b2", "W3", "b3")
CONVNET_OUTPUTS = ("init", "scores", "loss") + tuple("d" + name for name in PARAM_NAMES)


def through_own_forward(backward):
    """The student's backward, fed with the cache of the student's own conv_relu_pool_forward
    (looked up where the backward was defined: the notebook's namespace)."""
    forward = getattr(backward, "__globals__", {}).get("conv_relu_pool_forward")

    def run(dout, x, w, b, conv_param, pool_param):
        if not callable(forward):
            raise NameError("conv_relu_pool_backward is checked with the cache of your "
                            "conv_relu_pool_forward, which is not defined in the notebook")
        return backward(dout, forward(x, w, b, conv_param, pool_param)[1])
    return run


def drive_convnet(model_class, kwargs, params, X, y):
    """Build the model, check its initial parameters, load ``params``, return its outputs.

    Returns (init, scores, loss, dW1, db1, dW2, db2, dW3, db3) with
    - init: per parameter in the order W1, b1, W2, b2, W3, b3, as one float array: -1 when it
      is missing, else its ndim, its shape, then three 0/1 flags: the wrong dtype, a non-zero bias,
      weights whose standard deviation is not near weight_scale (read by ``grading.network``)
    - scores: loss(X) after loading params; loss and the gradients: loss(X, y)
    """
    saved = np.random.get_state()  # the models draw their weights from np.random: leave it as it was
    try:
        model = model_class(**kwargs)
    finally:
        np.random.set_state(saved)
    init = []
    for name in PARAM_NAMES:
        value = model.params.get(name)
        if not isinstance(value, np.ndarray):
            init.append(-1)
            continue
        init += [value.ndim, *value.shape, value.dtype != np.dtype(kwargs["dtype"]),
                 name[0] == "b" and bool(value.any()),
                 name[0] == "W" and value.size >= 30 and not 0.5 < value.std() / kwargs["weight_scale"] < 2]
    for name, value in params.items():
        model.params[name] = value.copy()
    scores = model.loss(X)
    loss, grads = model.loss(X, y)
    return (np.array(init, dtype=float), scores, np.asarray(loss, dtype=kwargs["dtype"]),
            *(grads[name] for name in PARAM_NAMES))


def convnet_driver(model_class):
    """The student's class, as a function of (kwargs, params, X, y)."""
    return lambda *args: drive_convnet(model_class, *args)

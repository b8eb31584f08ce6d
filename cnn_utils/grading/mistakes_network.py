"""Assignment 5's mistakes: the sandwich's backward and ThreeLayerConvNet.

The network's models recompute its pass at the case's parameters (``kwargs``,
``params``, X (N, C, H, W), y (N,)) with the reference layers and change one
thing: the regularisation, the ReLU gate, or the shapes ``init`` reads back
(see ``cnn_utils.drivers.drive_convnet``: per parameter ndim, shape, three flags).
"""

import re

import numpy as np

from cnn_utils import layers
from cnn_utils import reference as ref
from cnn_utils.drivers import PARAM_NAMES
from cnn_utils.grading.mistakes import _mistake, _model, _raises

_mistake("relu_gate_missing",
         "The ReLU's gradient gate is missing: the upstream gradient passes back only where "
         "the ReLU's input was positive, so zero it everywhere else before going further back.")
_mistake("reg_not_in_gradients",
         "The regularisation is in the loss but not in the weight gradients: the term "
         "0.5 * reg * (sum of squared weights) adds reg * W to the gradient of W1, W2 and W3.")
_mistake("reg_gradient_twice",
         "The weight gradients carry the regularisation twice: with the loss's 0.5 * reg * "
         "(sum of squared weights), each of W1, W2 and W3 gets reg * W added to its gradient once.")
_mistake("reg_without_half",
         "The regularisation term lacks its factor 1/2: the loss adds 0.5 * reg * (sum of squared "
         "weights), whose gradient is reg * W.")
_mistake("reg_square_of_sum",
         "The regularisation squares a sum of weights: it is the sum of the squared entries of "
         "W1, W2 and W3, times 0.5 * reg.")
_mistake("biases_regularised",
         "The biases are regularised: only the weights W1, W2 and W3 enter the regularisation "
         "term and get reg * W in their gradients, the biases do not.")
_mistake("pooled_size_from_input",
         "W2 has the wrong number of rows: num_filters times the pooled height times the pooled "
         "width, each half (rounded down) of the convolution's output size H + 2*pad - filter_size + 1, "
         "which differs from half the input size for even filter sizes.")
_mistake("filter_size_hard_coded",
         "The filter size is hard-coded: W1 is (num_filters, C, filter_size, filter_size) with the "
         "filter_size argument, and the pad and the rows of W2 follow from it.")
_mistake("pad_rule_even_filter",
         "The padding is wrong for even filter sizes: pad = (filter_size - 1) // 2 keeps the size "
         "for odd filters and loses one row and column for even ones, and W2's rows follow that output.")

_mistake("init_values_off",
         "The initial parameters have the right shapes but not the right values: the biases start "
         "at zero, the weights as weight_scale times standard normal draws, all in the model's dtype.")

_WEIGHTS = ("W1", "W2", "W3")
_POOL = {"pool_height": 2, "pool_width": 2, "stride": 2}


# ---------------------------------------------------------------- the sandwich

@_model("relu_gate_missing", "conv_relu_pool_backward")
def _sandwich_ungated(inp):
    _, (conv_cache, _, pool_cache) = ref.conv_relu_pool_forward(
        inp["x"], inp["w"], inp["b"], inp["conv_param"], inp["pool_param"])
    dx, dw, db = ref.conv_backward_fast(ref.max_pool_backward_fast(inp["dout"], pool_cache), conv_cache)
    return {"dx": [dx], "dw": [dw], "db": [db]}


# ---------------------------------------------------------------- the network's pass

def _data_pass(inp, gate=True):
    """(data loss, {parameter: data gradient}) at the case's parameters, no regularisation."""
    p, size = inp["params"], inp["kwargs"]["filter_size"]
    conv_param = {"stride": 1, "pad": (size - 1) // 2}
    pooled, sandwich = ref.conv_relu_pool_forward(inp["X"], p["W1"], p["b1"], conv_param, _POOL)
    hidden_in, affine1 = layers.affine_forward(pooled, p["W2"], p["b2"])
    hidden, relu = layers.relu_forward(hidden_in)
    scores, affine2 = layers.affine_forward(hidden, p["W3"], p["b3"])
    loss, dscores = layers.softmax_loss(scores, inp["y"])
    grads = {}
    dhidden, grads["W3"], grads["b3"] = layers.affine_backward(dscores, affine2)
    if gate:
        dhidden = layers.relu_backward(dhidden, relu)
    dpooled, grads["W2"], grads["b2"] = layers.affine_backward(dhidden, affine1)
    _, grads["W1"], grads["b1"] = ref.conv_relu_pool_backward(dpooled, sandwich)
    return loss, grads


def _reg(inp):
    return inp["kwargs"]["reg"]


def _squares(inp, names=_WEIGHTS):
    return sum(float(np.sum(inp["params"][name].astype(np.float64) ** 2)) for name in names)


def _weight_grads(inp, times):
    """dW1, dW2, dW3 with ``times`` * reg * W added to the data gradients."""
    _, grads = _data_pass(inp)
    return {"d" + k: [grads[k] + times * _reg(inp) * inp["params"][k]] for k in _WEIGHTS}


@_model("reg_not_in_gradients", "ThreeLayerConvNet")
def _reg_not_in_gradients(inp):
    return _weight_grads(inp, 0) if _reg(inp) else {}


@_model("reg_gradient_twice", "ThreeLayerConvNet")
def _reg_gradient_twice(inp):
    return _weight_grads(inp, 2) if _reg(inp) else {}


@_model("reg_without_half", "ThreeLayerConvNet")
def _reg_without_half(inp):
    return {"loss": [np.array(_data_pass(inp)[0] + _reg(inp) * _squares(inp))]} if _reg(inp) else {}


@_model("reg_square_of_sum", "ThreeLayerConvNet")
def _reg_square_of_sum(inp):
    """np.sum(W) ** 2 for all three weights, or for one of them."""
    if not _reg(inp):
        return {}
    loss = _data_pass(inp)[0]
    total = {k: float(np.sum(inp["params"][k], dtype=np.float64)) ** 2 for k in _WEIGHTS}
    square = {k: _squares(inp, (k,)) for k in _WEIGHTS}
    options = [sum(total.values())] + [sum(square.values()) - square[k] + total[k] for k in _WEIGHTS]
    return {"loss": [np.array(loss + 0.5 * _reg(inp) * option) for option in options]}


@_model("biases_regularised", "ThreeLayerConvNet")
def _biases_regularised(inp):
    if not _reg(inp):
        return {}
    loss, grads = _data_pass(inp)
    biases = ("b1", "b2", "b3")
    total = loss + 0.5 * _reg(inp) * (_squares(inp) + _squares(inp, biases))
    found = {"d" + k: [grads[k] + _reg(inp) * inp["params"][k]] for k in biases}
    return dict(found, loss=[np.array(total)])


@_model("relu_gate_missing", "ThreeLayerConvNet")
def _hidden_ungated(inp):
    _, grads = _data_pass(inp, gate=False)
    return {"d" + k: [grads[k] + (_reg(inp) * inp["params"][k] if k in _WEIGHTS else 0)]
            for k in ("W1", "b1", "W2", "b2")}


# ---------------------------------------------------------------- the initial parameters

def _init(kw, size=None, rows=None):
    """The init array of a model whose W1 is size x size and W2 has ``rows`` rows; its flags
    are NaN (any value: the feedback reads them out parameter by parameter)."""
    C = kw["input_dim"][0]
    F, hidden, classes = kw["num_filters"], kw["hidden_dim"], kw["num_classes"]
    size = size or kw["filter_size"]
    rows = rows or _rows(kw, size, (size - 1) // 2)
    shapes = {"W1": (F, C, size, size), "b1": (F,), "W2": (rows, hidden), "b2": (hidden,),
              "W3": (hidden, classes), "b3": (classes,)}
    code = []
    for name in PARAM_NAMES:
        code += [len(shapes[name]), *shapes[name], np.nan, np.nan, np.nan]
    return np.array(code, dtype=float)


def _pooled(length, size, pad):
    return (length + 2 * pad - size + 1) // 2


@_model("pooled_size_from_input", "ThreeLayerConvNet")
def _pooled_from_input(inp):
    kw = inp["kwargs"]
    _, H, W = kw["input_dim"]
    F, right = kw["num_filters"], _rows(kw, kw["filter_size"], (kw["filter_size"] - 1) // 2)
    return {"init": [_init(kw, rows=rows) for rows in {F * (H // 2) * (W // 2), F * H * W // 4} - {right}]}


@_model("init_values_off", "ThreeLayerConvNet")
def _init_values_off(inp):
    """Right shapes, any flags: only a wrong init whose shapes are right matches."""
    return {"init": [_init(inp["kwargs"])]}


_FIXED_SIZES = (3, 7)   # the lesson's default and cs231n's


@_model("filter_size_hard_coded", "ThreeLayerConvNet")
def _filter_size_hard_coded(inp):
    """W1 of a fixed size, W2's rows from it or from the filter_size argument."""
    kw = inp["kwargs"]
    right = _rows(kw, kw["filter_size"], (kw["filter_size"] - 1) // 2)
    return {"init": [_init(kw, size=size, rows=rows) for size in _FIXED_SIZES if size != kw["filter_size"]
                     for rows in (None, right)]}


def _rows(kw, size, pad):
    """W2's rows after a size x size convolution padded by ``pad`` and the 2x2 pool."""
    _, H, W = kw["input_dim"]
    return kw["num_filters"] * _pooled(H, size, pad) * _pooled(W, size, pad)


def _half_pad_rows(kw):
    """W2's rows with pad = filter_size // 2."""
    return _rows(kw, kw["filter_size"], kw["filter_size"] // 2)


@_model("pad_rule_even_filter", "ThreeLayerConvNet")
def _pad_rule_even_filter(inp):
    kw = inp["kwargs"]
    return {"init": [_init(kw, rows=_half_pad_rows(kw))]} if kw["filter_size"] % 2 == 0 else {}


def _sizes_in(problem):
    return {int(number) for number in re.findall(r"\d+", problem)}


def _flattened_mismatch(inp, problem, rows):
    """The failure is W2's product meeting a flattened pool output of ``rows`` columns."""
    kw = inp["kwargs"]
    right = _rows(kw, kw["filter_size"], (kw["filter_size"] - 1) // 2)
    words = ("align", "mismatch", "broadcast", "reshape")
    return rows != right and any(word in problem for word in words) and rows in _sizes_in(problem)


@_raises("pad_rule_even_filter", "ThreeLayerConvNet")
def _pad_rule_raises(inp, problem):
    kw = inp["kwargs"]
    return kw["filter_size"] % 2 == 0 and _flattened_mismatch(inp, problem, _half_pad_rows(kw))


@_raises("filter_size_hard_coded", "ThreeLayerConvNet")
def _fixed_pad_raises(inp, problem):
    kw = inp["kwargs"]
    size = kw["filter_size"]
    pads = {(fixed - 1) // 2 for fixed in _FIXED_SIZES if fixed != size} - {size // 2}  # K // 2: the pad rule
    return any(_flattened_mismatch(inp, problem, _rows(kw, size, pad)) for pad in pads)

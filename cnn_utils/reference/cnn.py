"""Sandwich layers and a three-layer convolutional network (assignment 5's reference).

The network is conv - relu - 2x2 max pool - affine - relu - affine - softmax,
built on the fast reference layers. Its convolution keeps the input size for odd
filter sizes: stride 1, pad (filter_size - 1) // 2.
"""

import numpy as np

from cnn_utils.layers import (affine_backward, affine_forward, relu_backward, relu_forward,
                              softmax_loss)
from cnn_utils.reference.fast import (conv_backward_fast, conv_forward_fast, max_pool_backward_fast,
                                      max_pool_forward_fast)
from cnn_utils.shapes import check_array, check_int, conv_output_size, pool_output_size

POOL_PARAM = {"pool_height": 2, "pool_width": 2, "stride": 2}


def conv_relu_forward(x, w, b, conv_param):
    """Convolution followed by a ReLU.

    Inputs:
    - x: (N, C, H, W); w: (F, C, HH, WW); b: (F,)
    - conv_param: {'stride', 'pad'} (optionally 'dilation')

    Returns:
    - out: (N, F, H_out, W_out)
    - cache: (conv_cache, relu_cache)
    """
    a, conv_cache = conv_forward_fast(x, w, b, conv_param)
    out, relu_cache = relu_forward(a)
    return out, (conv_cache, relu_cache)


def conv_relu_backward(dout, cache):
    """Backward pass of conv_relu_forward.

    Inputs:
    - dout: (N, F, H_out, W_out) upstream gradient
    - cache: (conv_cache, relu_cache) from conv_relu_forward

    Returns:
    - dx: (N, C, H, W); dw: (F, C, HH, WW); db: (F,)
    """
    conv_cache, relu_cache = cache
    return conv_backward_fast(relu_backward(dout, relu_cache), conv_cache)


def conv_relu_pool_forward(x, w, b, conv_param, pool_param):
    """Convolution, ReLU, then max pooling.

    Inputs:
    - x: (N, C, H, W); w: (F, C, HH, WW); b: (F,)
    - conv_param: {'stride', 'pad'} (optionally 'dilation')
    - pool_param: {'pool_height', 'pool_width', 'stride'}

    Returns:
    - out: (N, F, H_pooled, W_pooled)
    - cache: (conv_cache, relu_cache, pool_cache)
    """
    a, (conv_cache, relu_cache) = conv_relu_forward(x, w, b, conv_param)
    out, pool_cache = max_pool_forward_fast(a, pool_param)
    return out, (conv_cache, relu_cache, pool_cache)


def conv_relu_pool_backward(dout, cache):
    """Backward pass of conv_relu_pool_forward.

    Inputs:
    - dout: (N, F, H_pooled, W_pooled) upstream gradient
    - cache: (conv_cache, relu_cache, pool_cache) from conv_relu_pool_forward

    Returns:
    - dx: (N, C, H, W); dw: (F, C, HH, WW); db: (F,)
    """
    conv_cache, relu_cache, pool_cache = cache
    da = max_pool_backward_fast(dout, pool_cache)
    return conv_relu_backward(da, (conv_cache, relu_cache))


class ThreeLayerConvNet:
    """conv - relu - 2x2 max pool - affine - relu - affine - softmax, on NCHW input.

    The convolution has stride 1 and pad (filter_size - 1) // 2. Parameters, in ``params``:
    - W1: (num_filters, C, filter_size, filter_size), b1: (num_filters,)
    - W2: (num_filters * H_pooled * W_pooled, hidden_dim), b2: (hidden_dim,)
    - W3: (hidden_dim, num_classes), b3: (num_classes,)
    Weights start as weight_scale * standard normal draws from np.random, biases at zero.
    The loss adds 0.5 * reg * (sum of the squared weights W1, W2, W3).
    """

    def __init__(self, input_dim=(1, 8, 8), num_filters=16, filter_size=3, hidden_dim=64,
                 num_classes=10, weight_scale=1e-2, reg=0.0, dtype=np.float64):
        if len(input_dim) != 3:
            raise ValueError(f"input_dim must be (C, H, W), got {input_dim!r}")
        C, H, W = (check_int(d, name, 1) for d, name in zip(input_dim, ("C", "H", "W"), strict=True))
        num_filters = check_int(num_filters, "num_filters", 1)
        filter_size = check_int(filter_size, "filter_size", 1)
        hidden_dim = check_int(hidden_dim, "hidden_dim", 1)
        num_classes = check_int(num_classes, "num_classes", 2)
        if np.dtype(dtype).type not in (np.float32, np.float64):
            raise ValueError(f"dtype must be float32 or float64, got {dtype!r}")
        self.input_dim = (C, H, W)
        self.reg = float(reg)
        self.dtype = dtype
        self.conv_param = {"stride": 1, "pad": (filter_size - 1) // 2}
        self.pool_param = dict(POOL_PARAM)
        pad = self.conv_param["pad"]
        conv_h = conv_output_size(H, filter_size, 1, pad, axis="height")
        conv_w = conv_output_size(W, filter_size, 1, pad, axis="width")
        pool_h = pool_output_size(conv_h, 2, 2, "height")
        pool_w = pool_output_size(conv_w, 2, 2, "width")
        shapes = {
            "W1": (num_filters, C, filter_size, filter_size), "b1": (num_filters,),
            "W2": (num_filters * pool_h * pool_w, hidden_dim), "b2": (hidden_dim,),
            "W3": (hidden_dim, num_classes), "b3": (num_classes,),
        }
        self.params = {
            name: (weight_scale * np.random.standard_normal(shape) if name[0] == "W"
                   else np.zeros(shape)).astype(dtype)
            for name, shape in shapes.items()
        }

    def loss(self, X, y=None):
        """Class scores, or the loss and its gradients.

        Inputs:
        - X: (N, C, H, W) input, of the model's input_dim
        - y: (N,) integer labels, or None

        Returns:
        - scores: (N, num_classes) when y is None; otherwise
        - loss: float, the data loss plus the regularization term
        - grads: dict with the gradient of the loss for every entry of params
        """
        X = check_array(X, "X", 4, "(N, C, H, W)")
        if X.shape[1:] != self.input_dim:
            raise ValueError(f"X has samples of shape {X.shape[1:]} but the model expects {self.input_dim}")
        X = X.astype(self.dtype, copy=False)
        p = self.params
        pooled, pool_cache = conv_relu_pool_forward(X, p["W1"], p["b1"], self.conv_param, self.pool_param)
        hidden, affine1_cache = affine_forward(pooled, p["W2"], p["b2"])
        hidden, relu_cache = relu_forward(hidden)
        scores, affine2_cache = affine_forward(hidden, p["W3"], p["b3"])
        if y is None:
            return scores

        data_loss, dscores = softmax_loss(scores, y)
        weights = ("W1", "W2", "W3")
        loss = data_loss + 0.5 * self.reg * sum(float(np.sum(p[name] ** 2)) for name in weights)
        grads = {}
        dhidden, grads["W3"], grads["b3"] = affine_backward(dscores, affine2_cache)
        dhidden = relu_backward(dhidden, relu_cache)
        dpooled, grads["W2"], grads["b2"] = affine_backward(dhidden, affine1_cache)
        _, grads["W1"], grads["b1"] = conv_relu_pool_backward(dpooled, pool_cache)
        for name in weights:
            grads[name] = grads[name] + self.reg * p[name]
        return loss, grads

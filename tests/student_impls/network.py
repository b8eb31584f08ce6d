"""Assignment 5, written three ways: the conv-relu-pool sandwich and the three-layer network.

Each way is built from a different set of the student-style layers in ``conv`` and
``pool`` (loops, einsum, strided windows) and a different way of writing the ReLU.
The sandwich's backward is graded with the cache of the forward defined next to it
(the grader looks ``conv_relu_pool_forward`` up in the backward's globals), so each
way gets its own namespace.
"""

import numpy as np

from student_impls import conv, pool

SANDWICH = '''
def conv_relu_pool_forward(x, w, b, conv_param, pool_param):
    a, conv_cache = conv_forward(x, w, b, conv_param)
    r = relu(a)
    out, pool_cache = pool_forward(r, pool_param)
    return out, (conv_cache, a, pool_cache)


def conv_relu_pool_backward(dout, cache):
    conv_cache, a, pool_cache = cache
    dr = pool_backward(dout, pool_cache)
    return conv_backward(dr * (a > 0), conv_cache)
'''

WAYS = {
    "loops": dict(conv_forward=conv.conv_forward_loops, conv_backward=conv.conv_backward_loops,
                  pool_forward=pool.max_pool_forward_loops, pool_backward=pool.max_pool_backward_loops,
                  relu=lambda a: np.maximum(a, 0)),
    "einsum": dict(conv_forward=conv.conv_forward_einsum, conv_backward=conv.conv_backward_einsum,
                   pool_forward=pool.max_pool_forward_vectorized,
                   pool_backward=pool.max_pool_backward_vectorized, relu=lambda a: a * (a > 0)),
    "strided": dict(conv_forward=conv.conv_forward_strided, conv_backward=conv.conv_backward_full,
                    pool_forward=pool.max_pool_forward_strided,
                    pool_backward=pool.max_pool_backward_strided,
                    relu=lambda a: np.where(a > 0, a, np.zeros_like(a))),
}


def sandwich(way):
    """(conv_relu_pool_forward, conv_relu_pool_backward) of one way, in a namespace of their own."""
    namespace = dict(WAYS[way])
    exec(SANDWICH, namespace)
    return namespace["conv_relu_pool_forward"], namespace["conv_relu_pool_backward"]


def convnet(way):
    """A ThreeLayerConvNet class (conv - relu - 2x2 pool - affine - relu - affine - softmax)."""
    forward, backward = sandwich(way)

    class ThreeLayerConvNet:
        def __init__(self, input_dim=(1, 8, 8), num_filters=16, filter_size=3, hidden_dim=64,
                     num_classes=10, weight_scale=1e-2, reg=0.0, dtype=np.float64):
            C, H, W = input_dim
            self.reg, self.dtype = reg, dtype
            self.conv_param = {"stride": 1, "pad": (filter_size - 1) // 2}
            self.pool_param = {"pool_height": 2, "pool_width": 2, "stride": 2}
            conv_h = H + 2 * self.conv_param["pad"] - filter_size + 1
            conv_w = W + 2 * self.conv_param["pad"] - filter_size + 1
            flat = num_filters * (conv_h // 2) * (conv_w // 2)
            draw = lambda *shape: (weight_scale * np.random.randn(*shape)).astype(dtype)  # noqa: E731
            self.params = {"W1": draw(num_filters, C, filter_size, filter_size),
                           "b1": np.zeros(num_filters, dtype), "W2": draw(flat, hidden_dim),
                           "b2": np.zeros(hidden_dim, dtype), "W3": draw(hidden_dim, num_classes),
                           "b3": np.zeros(num_classes, dtype)}

        def loss(self, X, y=None):
            p = self.params
            X = X.astype(self.dtype)
            pooled, sandwich_cache = forward(X, p["W1"], p["b1"], self.conv_param, self.pool_param)
            flat = pooled.reshape(len(X), -1)
            hidden_in = flat @ p["W2"] + p["b2"]
            hidden = np.maximum(hidden_in, 0)
            scores = hidden @ p["W3"] + p["b3"]
            if y is None:
                return scores
            shifted = scores - scores.max(axis=1, keepdims=True)
            probs = np.exp(shifted)
            probs /= probs.sum(axis=1, keepdims=True)
            n = len(X)
            loss = -np.mean(np.log(probs[np.arange(n), y]))
            loss += 0.5 * self.reg * sum(np.sum(p[k] ** 2) for k in ("W1", "W2", "W3"))
            dscores = probs.copy()
            dscores[np.arange(n), y] -= 1
            dscores /= n
            grads = {"W3": hidden.T @ dscores, "b3": dscores.sum(axis=0)}
            dhidden = (dscores @ p["W3"].T) * (hidden_in > 0)
            grads["W2"], grads["b2"] = flat.T @ dhidden, dhidden.sum(axis=0)
            dpooled = (dhidden @ p["W2"].T).reshape(pooled.shape)
            _, grads["W1"], grads["b1"] = backward(dpooled, sandwich_cache)
            for k in ("W1", "W2", "W3"):
                grads[k] = grads[k] + self.reg * p[k]
            return loss, grads

    return ThreeLayerConvNet

"""Assignment 5's mistakes, written the way a student writes them.

``student_convnet(**bugs)`` is a cs231n-style ThreeLayerConvNet with switchable
mistakes; the sandwich without the ReLU gate lives in a namespace of its own, as
the grader looks its forward up next to it. NETWORK_BUGGY and NETWORK_VARIANTS list
(mistake, graded name, impl); NETWORK_ALSO the other mistakes an implementation makes.
"""

import numpy as np

from student_impls import network

conv_relu_pool_forward, conv_relu_pool_backward = network.sandwich("einsum")

UNGATED = network.SANDWICH.replace("conv_backward(dr * (a > 0), conv_cache)",
                                   "conv_backward(dr, conv_cache)")


def ungated_sandwich():
    """The sandwich whose backward forgets the ReLU: (forward, backward) in their own namespace."""
    namespace = dict(network.WAYS["loops"])
    exec(UNGATED, namespace)
    return namespace["conv_relu_pool_forward"], namespace["conv_relu_pool_backward"]


def student_convnet(*, reg_grads="once", reg_loss="half", reg_biases=False, pooled="conv",
                    fixed_filter=None, pad_rule="floor", fixed_pad=None, hidden_gate=True,
                    bias_start=0.0):
    """A ThreeLayerConvNet class with the chosen mistakes.

    reg_grads: 'once', 'none' or 'twice' (reg * W added to each weight gradient)
    reg_loss: 'half' (0.5 * reg * sum W**2), 'full' (no 1/2) or 'square_of_sum' (np.sum(W)**2)
    reg_biases: the biases are regularised too
    pooled: how W2's rows are counted: 'conv' (from the conv output), 'half_input' (H//2 * W//2)
      or 'quarter' (H*W//4)
    fixed_filter: a filter size used instead of the argument (the cs231n default 7, say)
    pad_rule: 'floor' ((K-1)//2) or 'half' (K//2)
    fixed_pad: a pad used whatever the filter size (1, right for 3x3 filters only)
    hidden_gate: the hidden ReLU's gradient gate
    bias_start: the biases' initial value
    """
    def pad_of(size):
        if fixed_pad is not None:
            return fixed_pad
        return (size - 1) // 2 if pad_rule == "floor" else size // 2

    class ThreeLayerConvNet:
        def __init__(self, input_dim=(1, 8, 8), num_filters=16, filter_size=3, hidden_dim=64,
                     num_classes=10, weight_scale=1e-2, reg=0.0, dtype=np.float64):
            C, H, W = input_dim
            K = fixed_filter or filter_size
            self.reg, self.dtype = reg, dtype
            if pooled == "conv":
                conv_h, conv_w = H + 2 * pad_of(K) - K + 1, W + 2 * pad_of(K) - K + 1
                rows = num_filters * (conv_h // 2) * (conv_w // 2)
            elif pooled == "half_input":
                rows = num_filters * (H // 2) * (W // 2)
            else:
                rows = num_filters * H * W // 4
            self.params = {"W1": weight_scale * np.random.randn(num_filters, C, K, K),
                           "b1": np.zeros(num_filters), "W2": weight_scale * np.random.randn(rows, hidden_dim),
                           "b2": np.zeros(hidden_dim),
                           "W3": weight_scale * np.random.randn(hidden_dim, num_classes),
                           "b3": np.zeros(num_classes)}
            for k, v in self.params.items():
                self.params[k] = (v + bias_start if k[0] == "b" else v).astype(dtype)

        def loss(self, X, y=None):
            W1, b1 = self.params["W1"], self.params["b1"]
            W2, b2 = self.params["W2"], self.params["b2"]
            W3, b3 = self.params["W3"], self.params["b3"]
            filter_size = W1.shape[2]
            conv_param = {"stride": 1, "pad": pad_of(filter_size)}
            pool_param = {"pool_height": 2, "pool_width": 2, "stride": 2}
            out1, cache1 = conv_relu_pool_forward(X, W1, b1, conv_param, pool_param)
            flat = out1.reshape(X.shape[0], -1)
            h_in = flat.dot(W2) + b2
            h = np.maximum(0, h_in)
            scores = h.dot(W3) + b3
            if y is None:
                return scores
            N = X.shape[0]
            e = np.exp(scores - np.max(scores, axis=1, keepdims=True))
            p = e / np.sum(e, axis=1, keepdims=True)
            loss = -np.sum(np.log(p[np.arange(N), y])) / N
            weights = [W1, W2, W3] + ([b1, b2, b3] if reg_biases else [])
            for Wk in weights:
                if reg_loss == "half":
                    loss += 0.5 * self.reg * np.sum(Wk * Wk)
                elif reg_loss == "full":
                    loss += self.reg * np.sum(Wk * Wk)
                else:
                    loss += 0.5 * self.reg * np.sum(Wk) ** 2
            dscores = p
            dscores[np.arange(N), y] -= 1
            dscores /= N
            grads = {"W3": h.T.dot(dscores), "b3": np.sum(dscores, axis=0)}
            dh = dscores.dot(W3.T)
            if hidden_gate:
                dh[h_in <= 0] = 0
            grads["W2"], grads["b2"] = flat.T.dot(dh), np.sum(dh, axis=0)
            dout1 = dh.dot(W2.T).reshape(out1.shape)
            _, grads["W1"], grads["b1"] = conv_relu_pool_backward(dout1, cache1)
            times = {"none": 0, "once": 1, "twice": 2}[reg_grads]
            for k in ("W1", "W2", "W3") + (("b1", "b2", "b3") if reg_biases else ()):
                grads[k] += times * self.reg * self.params[k]
            return loss, grads

    return ThreeLayerConvNet


PAD_ONE = student_convnet(fixed_pad=1)   # right for 3x3 filters; for 2x2 it is the pad rule K // 2
NO_HALF_BOTH = student_convnet(reg_loss="full", reg_grads="twice")   # consistent without the 1/2

NETWORK_BUGGY = [
    ("relu_gate_missing", "conv_relu_pool_backward", ungated_sandwich()[1]),
    ("reg_not_in_gradients", "ThreeLayerConvNet", student_convnet(reg_grads="none")),
    ("reg_gradient_twice", "ThreeLayerConvNet", student_convnet(reg_grads="twice")),
    ("reg_without_half", "ThreeLayerConvNet", student_convnet(reg_loss="full")),
    ("reg_square_of_sum", "ThreeLayerConvNet", student_convnet(reg_loss="square_of_sum")),
    ("biases_regularised", "ThreeLayerConvNet", student_convnet(reg_biases=True)),
    ("pooled_size_from_input", "ThreeLayerConvNet", student_convnet(pooled="half_input")),
    ("filter_size_hard_coded", "ThreeLayerConvNet", student_convnet(fixed_filter=7)),
    ("pad_rule_even_filter", "ThreeLayerConvNet", student_convnet(pad_rule="half")),
    ("init_values_off", "ThreeLayerConvNet", student_convnet(bias_start=0.1)),
]
NETWORK_VARIANTS = [
    ("relu_gate_missing", "ThreeLayerConvNet", student_convnet(hidden_gate=False)),
    ("pooled_size_from_input", "ThreeLayerConvNet", student_convnet(pooled="quarter")),
    ("filter_size_hard_coded", "ThreeLayerConvNet", student_convnet(fixed_filter=3)),
    ("filter_size_hard_coded", "ThreeLayerConvNet", PAD_ONE),
    ("reg_gradient_twice", "ThreeLayerConvNet", NO_HALF_BOTH),
    ("reg_without_half", "ThreeLayerConvNet", NO_HALF_BOTH),
]
NETWORK_ALSO = {PAD_ONE: {"pad_rule_even_filter"}}   # the other mistakes an implementation makes
CORRECT_NETWORK = student_convnet()  # every switch off: a correct network

"""Mistakes that the visible checks must catch where they are, though no grader model names them.

VISIBLE lists (mistake, graded function name, implementation), as buggy.BUGGY does.
"""

import numpy as np

from student_impls import coursera, network
from student_impls.buggy import _conv_backward


def coursera_forward_kernel_transposed(A_prev, W, b, hparameters):
    """The DLS kernel (f, f, n_C_prev, n_C) read as (n_C, n_C_prev, WW, HH): W.transpose(3, 2, 1, 0)
    instead of (3, 2, 0, 1), so the kernel's two spatial axes are swapped."""
    Z, _ = coursera.conv_forward_via_nchw(A_prev, W.transpose(1, 0, 2, 3), b, hparameters)
    return Z, (A_prev, W, b, hparameters)


def backward_dx_cut_to_the_windows(dout, cache):
    """dx cut from dx_pad up to the last row and column a window reaches: right whenever the windows
    tile the padded input, a row or column short in a floor case."""
    x, w, b, conv_param = cache
    dx_pad, dw, pad, H, W = _conv_backward(dout, cache)
    stride, dil = conv_param["stride"], conv_param.get("dilation", 1)
    reach_h = (dout.shape[2] - 1) * stride + dil * (w.shape[2] - 1) + 1
    reach_w = (dout.shape[3] - 1) * stride + dil * (w.shape[3] - 1) + 1
    dx = dx_pad[:, :, pad:min(reach_h, pad + H), pad:min(reach_w, pad + W)]
    return dx, dw, dout.sum(axis=(0, 2, 3))


def _convnet_with(pad_rule, pool_rule):
    Base = network.convnet("einsum")

    class ThreeLayerConvNet(Base):
        def __init__(self, input_dim=(1, 8, 8), num_filters=16, filter_size=3, hidden_dim=64,
                     num_classes=10, weight_scale=1e-2, reg=0.0, dtype=np.float64):
            super().__init__(input_dim, num_filters, filter_size, hidden_dim, num_classes,
                             weight_scale, reg, dtype)
            C, H, W = input_dim
            pad = pad_rule(filter_size)
            self.conv_param = {"stride": 1, "pad": pad}
            H_p, W_p = pool_rule(H, pad, filter_size), pool_rule(W, pad, filter_size)
            self.params["W2"] = (weight_scale * np.random.randn(num_filters * H_p * W_p,
                                                                hidden_dim)).astype(dtype)

    return ThreeLayerConvNet


# H_p = H // 2: right whenever the convolution keeps the size (odd filter sizes)
ThreeLayerConvNet_pool_of_input = _convnet_with(lambda K: (K - 1) // 2, lambda H, pad, K: H // 2)
# pad K // 2: the same as (K - 1) // 2 for odd K, one more for even K
ThreeLayerConvNet_pad_half_filter = _convnet_with(lambda K: K // 2, lambda H, pad, K: (H + 2 * pad - K + 1) // 2)

VISIBLE = [
    ("dx_cut_to_the_windows", "conv_backward_naive", backward_dx_cut_to_the_windows),
    ("kernel_axes_transposed", "nhwc.conv_forward", coursera_forward_kernel_transposed),
    ("pooled_size_of_the_input", "ThreeLayerConvNet", ThreeLayerConvNet_pool_of_input),
    ("pad_half_the_filter", "ThreeLayerConvNet", ThreeLayerConvNet_pad_half_filter),
]

"""Reference solutions (instructor side only; never shipped to students).

NCHW layout, float64 or float32. Every algorithm of the course's source
documents has a working version here; they all agree with each other, with
numerical gradients and with PyTorch autograd (see tests/).
"""
from cnn_utils.reference import nhwc, single_image
from cnn_utils.reference.conv_naive import (conv_backward_flipped, conv_backward_naive,
                                            conv_forward_naive)
from cnn_utils.reference.pool_naive import (avg_pool_backward_naive, avg_pool_forward_naive,
                                            max_pool_backward_naive, max_pool_forward_naive)
from cnn_utils.reference.transpose import conv_transpose_backward, conv_transpose_forward
from cnn_utils.reference.fast import (conv_backward_fast, conv_forward_fast, max_pool_backward_fast,
                                      max_pool_forward_fast)
from cnn_utils.reference.im2col import (col2im_indices, conv_backward_im2col, conv_forward_im2col,
                                        get_im2col_indices, im2col_indices, max_pool_backward_im2col,
                                        max_pool_backward_reshape, max_pool_forward_im2col,
                                        max_pool_forward_reshape)
from cnn_utils.reference.cnn import (ThreeLayerConvNet, conv_relu_backward, conv_relu_forward,
                                     conv_relu_pool_backward, conv_relu_pool_forward)

__all__ = [
    "nhwc", "single_image", "conv_backward_flipped", "conv_backward_naive", "conv_forward_naive",
    "avg_pool_backward_naive", "avg_pool_forward_naive", "max_pool_backward_naive",
    "max_pool_forward_naive", "conv_transpose_backward", "conv_transpose_forward",
    "conv_backward_fast", "conv_forward_fast", "max_pool_backward_fast", "max_pool_forward_fast",
    "col2im_indices", "conv_backward_im2col", "conv_forward_im2col", "get_im2col_indices",
    "im2col_indices", "max_pool_backward_im2col", "max_pool_backward_reshape",
    "max_pool_forward_im2col", "max_pool_forward_reshape", "ThreeLayerConvNet", "conv_relu_backward",
    "conv_relu_forward", "conv_relu_pool_backward", "conv_relu_pool_forward",
]

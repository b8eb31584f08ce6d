"""Numpy-CNN (Alescontrela) single-image layout (n_c, H, W): thin adapters over the NCHW reference.

Convolutions have no padding; the bias is (n_f, 1). maxpool_backward picks
each window's maximum with np.nanargmax, as the original does (see its
docstring). Overlapping pools (s < f) accumulate their gradients; the
original assigns with ``=``, so there only the last window's gradient survives.
"""

import numpy as np

from cnn_utils import shapes
from cnn_utils.reference.conv_naive import conv_backward_naive, conv_forward_naive
from cnn_utils.reference.pool_naive import max_pool_backward_naive, max_pool_forward_naive


def _image(image, name):
    return shapes.check_array(image, name, 3, "(n_c, H, W)")[None]


def _conv_cache(conv_in, filt, bias, s, image_name):
    """NCHW cache (x, w, b, conv_param) for one image and the (n_f, H_out, W_out) output shape.

    bias=None stands for zeros (the backward pass does not need the bias).
    """
    x = _image(conv_in, image_name)
    filt = shapes.check_array(filt, "filt", 4, "(n_f, n_c, f, f)")
    if filt.shape[1] != x.shape[1]:
        raise ValueError(f"channel mismatch: {image_name} has n_c={x.shape[1]} channels but filt "
                         f"expects {filt.shape[1]} ({image_name} {x.shape[1:]}, filt {filt.shape})")
    if bias is None:
        bias = np.zeros((filt.shape[0], 1), dtype=filt.dtype)
    bias = shapes.check_array(bias, "bias", 2, "(n_f, 1)")
    if bias.shape != (filt.shape[0], 1):
        raise ValueError(f"bias must have shape (n_f, 1) = ({filt.shape[0]}, 1), got {bias.shape}")
    conv_param = {"stride": s, "pad": 0}
    x, w, b, *_, h_out, w_out = shapes.check_conv(x, filt, bias[:, 0], conv_param)
    return (x, w, b, conv_param), (w.shape[0], h_out, w_out)


def _pool_param(f, s):
    return {"pool_height": f, "pool_width": f, "stride": s}


def convolution(image, filt, bias, s=1):
    """Convolve one image with every filter (no padding).

    Inputs:
    - image: (n_c, H, W)
    - filt: (n_f, n_c, f, f)
    - bias: (n_f, 1)
    - s: stride

    Returns:
    - out: (n_f, H_out, W_out), H_out = (H - f) // s + 1
    """
    cache, _ = _conv_cache(image, filt, bias, s, "image")
    out, _ = conv_forward_naive(*cache)
    return out[0]


def convolution_backward(dconv_prev, conv_in, filt, s):
    """Backward pass of convolution().

    Inputs:
    - dconv_prev: (n_f, H_out, W_out), upstream gradient
    - conv_in: (n_c, H, W), the image given to convolution()
    - filt: (n_f, n_c, f, f)
    - s: stride

    Returns:
    - dout: (n_c, H, W)
    - dfilt: (n_f, n_c, f, f)
    - dbias: (n_f, 1)
    """
    cache, out_shape = _conv_cache(conv_in, filt, None, s, "conv_in")
    dconv_prev = shapes.check_dout(dconv_prev, out_shape, cache[0].dtype, "dconv_prev")
    dx, dw, db = conv_backward_naive(dconv_prev[None], cache)
    return dx[0], dw, db[:, None]


def maxpool(image, f=2, s=2):
    """Max pooling of one image with f x f windows (NaN propagates).

    Inputs:
    - image: (n_c, H, W)
    - f: window size
    - s: stride

    Returns:
    - out: (n_c, H_out, W_out), H_out = (H - f) // s + 1
    """
    out, _ = max_pool_forward_naive(_image(image, "image"), _pool_param(f, s))
    return out[0]


def maxpool_backward(dpool, orig, f, s):
    """Backward pass of maxpool() with np.nanargmax's choice of maximum.

    Each window's gradient goes to np.nanargmax of the window: the first
    maximum in row-major order once NaN entries are read as -inf. A window of
    NaN only (where np.nanargmax raises) gets no gradient. This is the NCHW
    first-max backward applied to orig with NaN replaced by -inf, which is
    exactly how np.nanargmax is computed, with the upstream gradient of the
    all-NaN windows set to zero.

    Inputs:
    - dpool: (n_c, H_out, W_out)
    - orig: (n_c, H, W), the image given to maxpool()
    - f: window size
    - s: stride

    Returns:
    - dout: (n_c, H, W)
    """
    x = _image(orig, "orig")
    pool_param = _pool_param(f, s)
    is_nan = np.isnan(x)
    has_number, _ = max_pool_forward_naive((~is_nan).astype(x.dtype), pool_param)
    dpool = shapes.check_dout(dpool, has_number.shape[1:], x.dtype, "dpool")[None]
    cache = (np.where(is_nan, -np.inf, x), pool_param)
    return max_pool_backward_naive(dpool * has_number, cache)[0]

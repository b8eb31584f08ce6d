"""Transposed convolution (torch.nn.functional.conv_transpose2d) as the adjoint of the convolution.

With w read as the weights of a convolution from F to C_in channels, the
transposed convolution's forward pass is that convolution's dx, its dx is that
convolution's forward pass, and its dw is that convolution's dw with the roles
of input and upstream gradient swapped.
"""

from cnn_utils import shapes
from cnn_utils.reference.conv_forward import _correlate, _pad
from cnn_utils.reference.conv_naive import _input_gradient, _weight_gradient


def conv_transpose_forward(x, w, b, conv_param):
    """Forward pass of a transposed convolution, as torch.nn.functional.conv_transpose2d.

    Inputs:
    - x: (N, C_in, H, W)
    - w: (C_in, F, HH, WW)
    - b: (F,)
    - conv_param: {'stride', 'pad'} and optionally 'output_padding' (default 0)
      and 'dilation' (default 1)

    Returns:
    - out: (N, F, H_out, W_out),
      H_out = (H-1)*stride - 2*pad + dilation*(HH-1) + output_padding + 1
    - cache: (x, w, b, conv_param)
    """
    x, w, b, stride, pad, dilation, h_out, w_out = shapes.check_conv_transpose(x, w, b, conv_param)
    out = _input_gradient(x, w, stride, pad, dilation, h_out, w_out)
    out += b[None, :, None, None]
    return out, (x, w, b, conv_param)


def conv_transpose_backward(dout, cache):
    """Backward pass of a transposed convolution.

    Inputs:
    - dout: (N, F, H_out, W_out)
    - cache: (x, w, b, conv_param) from conv_transpose_forward

    Returns:
    - dx: (N, C_in, H, W)
    - dw: (C_in, F, HH, WW)
    - db: (F,)
    """
    x, w, b, conv_param = cache
    x, w, b, stride, pad, dilation, h_out, w_out = shapes.check_conv_transpose(x, w, b, conv_param)
    dout = shapes.check_dout(dout, (x.shape[0], w.shape[1], h_out, w_out), x.dtype)
    dout_pad = _pad(dout, pad, pad)
    dx = _correlate(dout_pad, w, stride, dilation, *x.shape[2:])
    dw = _weight_gradient(dout_pad, x, stride, dilation, *w.shape[2:])
    db = dout.sum(axis=(0, 2, 3))
    return dx, dw, db

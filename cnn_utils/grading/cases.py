"""Randomized grading cases, drawn from a fixed seed.

Each ``draw_*`` function returns the canonical (NCHW) inputs of case number k
as a dict. A schedule on k makes every run cover strides 1-3 and pads 0-3 and
puts float32 in every fourth case; the rng draws the rest (N, C, F, non-square
inputs and kernels, overlapping and non-tiling windows, tied values). Shapes
stay small so that students' loop implementations grade in well under a second.
"""

from dataclasses import dataclass

import numpy as np

from cnn_utils import shapes


@dataclass(frozen=True)
class Case:
    """One graded call: what the student gets, what is expected, and how to describe it."""
    index: int
    inputs: dict      # canonical inputs, read by the mistake models
    args: tuple       # positional arguments of the student's function
    expected: dict    # output name -> expected array
    label: str        # shapes and parameters, shown in the feedback
    dtype: np.dtype


def schedule(k):
    """(stride, pad, dtype) of case k: all twelve stride/pad pairs come up in 12 cases."""
    dtype = np.float32 if k % 4 == 3 else np.float64
    return 1 + k % 3, (k // 3) % 4, np.dtype(dtype)


def _length(rng, span, pad, extra=4):
    """An input length that a window of ``span`` fits once padded by ``pad``."""
    return int(rng.integers(max(1, span - 2 * pad), span + extra + 1))


def _normal(rng, shape, dtype):
    return rng.standard_normal(shape).astype(dtype)


def draw_conv(rng, k, dilation=True, square=False):
    """Inputs of a convolution: x, w, b, conv_param and a dout of the output's shape.

    dilation: draw dilation 2 in every fourth case (else the key is left out).
    square: square kernels (the NHWC layout's (f, f, n_C_prev, n_C) weights).
    """
    stride, pad, dtype = schedule(k)
    dil = 2 if dilation and k % 4 == 1 else 1
    n, c, f = int(rng.integers(2, 4)), int(rng.integers(1, 4)), int(rng.integers(1, 4))
    if k % 7 == 6:
        n = 1
    hh = int(rng.integers(1, 5))
    ww = hh if square else int(rng.integers(1, 5))
    h = _length(rng, dil * (hh - 1) + 1, pad)
    wd = _length(rng, dil * (ww - 1) + 1, pad)
    conv_param = {"stride": stride, "pad": pad}
    if dil != 1:
        conv_param["dilation"] = dil
    out_h = shapes.conv_output_size(h, hh, stride, pad, dil)
    out_w = shapes.conv_output_size(wd, ww, stride, pad, dil)
    return {"x": _normal(rng, (n, c, h, wd), dtype), "w": _normal(rng, (f, c, hh, ww), dtype),
            "b": _normal(rng, (f,), dtype), "conv_param": conv_param,
            "dout": _normal(rng, (n, f, out_h, out_w), dtype)}


def draw_pool(rng, k):
    """Inputs of a pooling layer: x, pool_param and a dout; half the cases are full of ties."""
    stride, _, dtype = schedule(k)
    ph, pw = (int(v) for v in rng.integers(1, 5, size=2))
    if ph == pw == 1:
        ph = 2
    n, c = int(rng.integers(1, 3)), int(rng.integers(2, 4))
    shape = (n, c, int(rng.integers(ph, ph + 5)), int(rng.integers(pw, pw + 5)))
    if k % 4 in (0, 2):
        x = rng.integers(0, 3, size=shape).astype(dtype)
    else:
        x = _normal(rng, shape, dtype)
    pool_param = {"pool_height": ph, "pool_width": pw, "stride": stride}
    out_hw = (shapes.pool_output_size(shape[2], ph, stride),
              shapes.pool_output_size(shape[3], pw, stride))
    return {"x": x, "pool_param": pool_param, "dout": _normal(rng, (n, c) + out_hw, dtype)}


def draw_im2col(rng, k):
    """Inputs of im2col_indices: x, field_height, field_width, padding, stride."""
    stride, pad, dtype = schedule(k)
    fh, fw = (int(v) for v in rng.integers(1, 5, size=2))
    n, c = int(rng.integers(1, 4)), int(rng.integers(1, 4))
    x = _normal(rng, (n, c, _length(rng, fh, pad), _length(rng, fw, pad)), dtype)
    return {"x": x, "field_height": fh, "field_width": fw, "padding": pad, "stride": stride}


def draw_col2im(rng, k):
    """Inputs of col2im_indices: cols, x_shape, field_height, field_width, padding, stride."""
    inputs = draw_im2col(rng, k)
    x = inputs.pop("x")
    n, c, h, w = x.shape
    fh, fw, pad, stride = (inputs[key] for key in ("field_height", "field_width", "padding", "stride"))
    positions = (shapes.conv_output_size(h, fh, stride, pad)
                 * shapes.conv_output_size(w, fw, stride, pad))
    inputs["cols"] = _normal(rng, (c * fh * fw, positions * n), x.dtype)
    inputs["x_shape"] = x.shape
    return inputs


def draw_conv_transpose(rng, k):
    """Inputs of a transposed convolution: x (N, C_in, H, W), w (C_in, F, HH, WW), b, conv_param, dout."""
    stride, pad, dtype = schedule(k)
    pad = min(pad, 2)
    dil = 2 if k % 4 == 1 else 1
    out_pad = int(rng.integers(0, max(stride, dil)))
    n, c, f = int(rng.integers(2, 4)), int(rng.integers(1, 4)), int(rng.integers(1, 4))
    hh, ww = (int(v) for v in rng.integers(1, 5, size=2))
    while True:
        h, wd = (int(v) for v in rng.integers(1, 6, size=2))
        try:
            out_h = shapes.conv_transpose_output_size(h, hh, stride, pad, out_pad, dil)
            out_w = shapes.conv_transpose_output_size(wd, ww, stride, pad, out_pad, dil)
            break
        except ValueError:  # pad too large for this input: draw another
            continue
    conv_param = {"stride": stride, "pad": pad, "output_padding": out_pad}
    if dil != 1:
        conv_param["dilation"] = dil
    return {"x": _normal(rng, (n, c, h, wd), dtype), "w": _normal(rng, (c, f, hh, ww), dtype),
            "b": _normal(rng, (f,), dtype), "conv_param": conv_param,
            "dout": _normal(rng, (n, f, out_h, out_w), dtype)}


def _params_text(params):
    return ", ".join(f"{key} {value}" for key, value in params.items())


def label_conv(inputs):
    return (f"x {inputs['x'].shape}, w {inputs['w'].shape}, "
            f"{_params_text(inputs['conv_param'])}, {inputs['x'].dtype}")


def label_conv_nhwc(inputs):
    x, w = inputs["x"], inputs["w"]
    return (f"A_prev {x.shape[:1] + x.shape[2:] + x.shape[1:2]}, W {w.shape[2:] + w.shape[1::-1]}, "
            f"{_params_text(inputs['conv_param'])}, {x.dtype}")


def label_pool(inputs):
    x, p = inputs["x"], inputs["pool_param"]
    ties = ", with ties" if np.all(x == np.round(x)) else ""
    return f"x {x.shape}, pool {p['pool_height']}x{p['pool_width']}, stride {p['stride']}{ties}, {x.dtype}"


def label_im2col(inputs):
    source = f"x {inputs['x'].shape}" if "x" in inputs else (
        f"cols {inputs['cols'].shape}, x_shape {inputs['x_shape']}")
    array = inputs.get("x", inputs.get("cols"))
    return (f"{source}, field {inputs['field_height']}x{inputs['field_width']}, "
            f"padding {inputs['padding']}, stride {inputs['stride']}, {array.dtype}")


def draw_conv_relu_pool(rng, k):
    """Inputs of the conv-relu-pool sandwich: x, w, b, conv_param, pool_param, dout (pooled shape).

    The convolution is drawn as for conv_forward_im2col (no dilation); the pool window (1-3 per
    side, stride 1-2, overlapping or not) fits the convolution's output.
    """
    inputs = draw_conv(rng, k, dilation=False)
    n, f, out_h, out_w = inputs["dout"].shape
    ph = int(rng.integers(1, min(3, out_h) + 1))
    pw = int(rng.integers(1, min(3, out_w) + 1))
    stride = int(rng.integers(1, 3))
    inputs["pool_param"] = {"pool_height": ph, "pool_width": pw, "stride": stride}
    pooled = (shapes.pool_output_size(out_h, ph, stride), shapes.pool_output_size(out_w, pw, stride))
    inputs["dout"] = rng.standard_normal((n, f) + pooled).astype(inputs["x"].dtype)
    return inputs


def label_conv_relu_pool(inputs):
    p = inputs["pool_param"]
    return (f"{label_conv(inputs)}, pool {p['pool_height']}x{p['pool_width']} "
            f"stride {p['stride']}")


def draw_convnet(rng, k):
    """Inputs of ThreeLayerConvNet: constructor kwargs, parameters to load, X, y.

    Filter sizes 1, 2, 3, 5 (even sizes shrink the input by one: pad (K-1)//2), odd and
    non-square inputs (the 2x2 pool drops a row/column), reg 0 or positive, float32 in every
    fourth case.
    """
    dtype = np.float32 if k % 4 == 3 else np.float64
    filter_size = (3, 1, 2, 5)[k % 4]
    C = int(rng.integers(1, 4))
    H, W = (int(v) for v in rng.integers(max(2, filter_size - 1) + 1, 9, size=2))
    F, hidden, classes = int(rng.integers(1, 5)), int(rng.integers(2, 9)), int(rng.integers(2, 6))
    kwargs = {"input_dim": (C, H, W), "num_filters": F, "filter_size": filter_size,
              "hidden_dim": hidden, "num_classes": classes,
              "weight_scale": float(rng.choice([1e-2, 0.1, 1.0])), "reg": (0.0, 0.3)[k % 2],
              "dtype": dtype}
    pad = (filter_size - 1) // 2
    pooled = ((H + 2 * pad - filter_size + 1) // 2) * ((W + 2 * pad - filter_size + 1) // 2)
    param_shapes = {"W1": (F, C, filter_size, filter_size), "b1": (F,), "W2": (F * pooled, hidden),
                    "b2": (hidden,), "W3": (hidden, classes), "b3": (classes,)}
    params = {name: (0.5 * rng.standard_normal(shape)).astype(dtype)
              for name, shape in param_shapes.items()}
    N = int(rng.integers(1, 5))
    return {"kwargs": kwargs, "params": params,
            "X": rng.standard_normal((N, C, H, W)).astype(dtype),
            "y": rng.integers(0, kwargs["num_classes"], size=N)}


def label_convnet(inputs):
    kw = inputs["kwargs"]
    return (f"input_dim {kw['input_dim']}, num_filters {kw['num_filters']}, filter_size "
            f"{kw['filter_size']}, hidden_dim {kw['hidden_dim']}, num_classes {kw['num_classes']}, "
            f"reg {kw['reg']}, N {len(inputs['y'])}, {np.dtype(kw['dtype'])}")


def make_cases(spec, seed, count):
    """Draw ``count`` cases for the graded function ``spec`` (see table.Graded)."""
    rng = np.random.default_rng(seed)
    cases = []
    for k in range(count):
        inputs = spec.draw(rng, k)
        args = spec.student_args(inputs)
        returned = spec.reference(*args)
        returned = returned if len(spec.returns) > 1 else (returned,)
        values = dict(zip(spec.returns, returned, strict=True))
        values.update({name: values["cache"][index] for name, index in spec.cache_outputs.items()})
        expected = {name: np.asarray(values[name]) for name in spec.compared}
        dtype = np.dtype(next(iter(expected.values())).dtype)
        cases.append(Case(k + 1, inputs, args, expected, spec.label(inputs), dtype))
    return cases

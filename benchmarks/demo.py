"""`make demo`: the reference library in one minute.

Runs every convolution and max-pool variant on one configuration, prints how
far each is from the naive loops, then times naive against fast on one shape.
"""

import time

import numpy as np

from cnn_utils import reference as ref
from cnn_utils.gradcheck import norm_rel_error

CONV = {
    "naive loops": (ref.conv_forward_naive, ref.conv_backward_naive),
    "flipped-kernel dx": (ref.conv_forward_naive, ref.conv_backward_flipped),
    "im2col / col2im": (ref.conv_forward_im2col, ref.conv_backward_im2col),
    "fast": (ref.conv_forward_fast, ref.conv_backward_fast),
}
POOL = {
    "naive loops": (ref.max_pool_forward_naive, ref.max_pool_backward_naive),
    "im2col": (ref.max_pool_forward_im2col, ref.max_pool_backward_im2col),
    "fast": (ref.max_pool_forward_fast, ref.max_pool_backward_fast),
}


def run_conv(forward, backward, x, w, b, param, dout):
    out, cache = forward(x, w, b, param)
    return (out,) + tuple(backward(dout, cache))


def agreement(rng):
    x, w, b = rng.standard_normal((4, 3, 11, 9)), rng.standard_normal((5, 3, 3, 4)), rng.standard_normal(5)
    param = {"stride": 2, "pad": 1, "dilation": 2}
    out, _ = ref.conv_forward_naive(x, w, b, param)
    dout = rng.standard_normal(out.shape)
    base = run_conv(*CONV["naive loops"], x, w, b, param, dout)
    print(f"convolution x {x.shape} w {w.shape} {param}: worst normwise error against the naive loops")
    for name, (forward, backward) in CONV.items():
        got = run_conv(forward, backward, x, w, b, param, dout)
        errors = [norm_rel_error(g, e) for g, e in zip(got, base, strict=True)]
        print(f"  {name:18s} out/dx/dw/db {max(errors):.1e}")
    x = rng.integers(0, 4, size=(2, 3, 9, 9)).astype(float)  # many ties
    param = {"pool_height": 3, "pool_width": 3, "stride": 2}
    out, cache = ref.max_pool_forward_naive(x, param)
    dout = rng.standard_normal(out.shape)
    base = ref.max_pool_backward_naive(dout, cache)
    print(f"max pool 3x3 stride 2 (overlapping, tied values) on {x.shape}:")
    for name, (forward, backward) in POOL.items():
        out, cache = forward(x, param)
        print(f"  {name:18s} dx error {norm_rel_error(backward(dout, cache), base):.1e}")


def seconds(forward, backward, x, w, b, param, repeat):
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        out, cache = forward(x, w, b, param)
        backward(np.ones_like(out), cache)
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def speedup(rng):
    x, w, b = rng.standard_normal((50, 3, 32, 32)), rng.standard_normal((32, 3, 7, 7)), rng.standard_normal(32)
    param = {"stride": 1, "pad": 3}
    few = 2  # the naive loops run on 2 of the 50 images; their time is scaled up
    naive = seconds(*CONV["naive loops"], x[:few], w, b, param, 1) * len(x) / few
    fast = seconds(*CONV["fast"], x, w, b, param, 5)
    print(f"forward+backward, x {x.shape} w {w.shape} stride 1 pad 3:")
    print(f"  naive loops {naive * 1e3:9.0f} ms (timed on {few} images, scaled to {len(x)})")
    print(f"  fast        {fast * 1e3:9.1f} ms  -> {naive / fast:.0f}x faster")


if __name__ == "__main__":
    generator = np.random.default_rng(0)
    agreement(generator)
    speedup(generator)
    print("more: `make bench` (against PyTorch CPU), `make test` (the proofs)")

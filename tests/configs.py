"""Random layer configurations shared by the agreement and oracle tests.

Each generator draws valid configurations over the grid the course cares
about: stride 1-3, pad 0-3, dilation 1-2, non-square inputs and kernels, N > 1,
C > 1, overlapping pools and windows that do not tile the input.
"""

import numpy as np


def _size_fitting(rng, span, pad, extra=5):
    """An input length that a window of ``span`` fits once padded by ``pad``."""
    return int(rng.integers(max(1, span - 2 * pad), span + extra + 1))


def conv_configs(count, seed, dtype=np.float64):
    """Yield (x, w, b, conv_param) for ``count`` random convolutions."""
    rng = np.random.default_rng(seed)
    for _ in range(count):
        n, c, f = rng.integers(1, 4), rng.integers(1, 4), rng.integers(1, 4)
        hh, ww = rng.integers(1, 5, size=2)
        stride, pad, dilation = int(rng.integers(1, 4)), int(rng.integers(0, 4)), int(rng.integers(1, 3))
        h = _size_fitting(rng, dilation * (hh - 1) + 1, pad)
        wd = _size_fitting(rng, dilation * (ww - 1) + 1, pad)
        yield (rng.standard_normal((n, c, h, wd)).astype(dtype),
               rng.standard_normal((f, c, hh, ww)).astype(dtype),
               rng.standard_normal(f).astype(dtype),
               {"stride": stride, "pad": pad, "dilation": dilation})


def pool_configs(count, seed, values="normal", dtype=np.float64):
    """Yield (x, pool_param) for ``count`` random pools.

    values: 'normal' (no ties), 'ties' (entries from {0, 1, 2}) or 'nan'
    (ties plus NaN and +-inf sprinkled in).
    """
    rng = np.random.default_rng(seed)
    for _ in range(count):
        n, c = rng.integers(1, 3), rng.integers(1, 4)
        ph, pw, stride = (int(v) for v in rng.integers(1, 5, size=3))
        shape = (n, c, int(rng.integers(ph, ph + 6)), int(rng.integers(pw, pw + 6)))
        if values == "normal":
            x = rng.standard_normal(shape)
        else:
            x = rng.integers(0, 3, size=shape).astype(np.float64)
            if values == "nan":
                x[rng.random(shape) < 0.15] = np.nan
                x[rng.random(shape) < 0.05] = np.inf
                x[rng.random(shape) < 0.05] = -np.inf
        yield x.astype(dtype), {"pool_height": ph, "pool_width": pw, "stride": stride}


def conv_transpose_configs(count, seed, dtype=np.float64):
    """Yield (x, w, b, conv_param) for ``count`` random transposed convolutions."""
    rng = np.random.default_rng(seed)
    produced = 0
    while produced < count:
        n, c, f = rng.integers(1, 4), rng.integers(1, 4), rng.integers(1, 4)
        hh, ww = (int(v) for v in rng.integers(1, 5, size=2))
        stride, pad, dilation = int(rng.integers(1, 4)), int(rng.integers(0, 3)), int(rng.integers(1, 3))
        opad = int(rng.integers(0, max(stride, dilation)))
        h, wd = (int(v) for v in rng.integers(1, 6, size=2))
        span_h, span_w = dilation * (hh - 1) + 1, dilation * (ww - 1) + 1
        if min((h - 1) * stride + span_h, (wd - 1) * stride + span_w) + opad - 2 * pad < 1:
            continue
        produced += 1
        yield (rng.standard_normal((n, c, h, wd)).astype(dtype),
               rng.standard_normal((c, f, hh, ww)).astype(dtype),
               rng.standard_normal(f).astype(dtype),
               {"stride": stride, "pad": pad, "dilation": dilation, "output_padding": opad})

"""Index maps behind the explorers: which cells a window covers, where a gradient goes.

Pure Python and numpy, no Jupyter. Nothing here multiplies or adds array values:
the maps say *where* numbers travel in a convolution or pooling layer (one
channel, one image), never what they are, so they are no oracle for the
exercises. Coordinates are (row, col); ``padded`` coordinates count the zero
padding, input coordinates do not (input (r, c) is padded (r + pad, c + pad)).
"""

from dataclasses import dataclass, field

import numpy as np

from cnn_utils.shapes import check_ties, conv_output_size, pool_output_size


@dataclass(frozen=True)
class ConvGeometry:
    """One-channel convolution geometry; raises ``ValueError`` (from shapes.py) when invalid."""

    height: int
    width: int
    kernel_height: int
    kernel_width: int
    stride: int = 1
    pad: int = 0
    dilation: int = 1
    out_height: int = field(init=False)
    out_width: int = field(init=False)

    def __post_init__(self):
        args = (self.stride, self.pad, self.dilation)
        object.__setattr__(self, "out_height",
                           conv_output_size(self.height, self.kernel_height, *args, axis="height"))
        object.__setattr__(self, "out_width",
                           conv_output_size(self.width, self.kernel_width, *args, axis="width"))

    @property
    def padded_shape(self):
        return self.height + 2 * self.pad, self.width + 2 * self.pad

    def tap(self, oh, ow, kh, kw):
        """Padded (row, col) that kernel entry (kh, kw) reads for output cell (oh, ow)."""
        return oh * self.stride + kh * self.dilation, ow * self.stride + kw * self.dilation

    def is_input(self, prow, pcol):
        """True when padded (prow, pcol) is a real input cell, False on the zero padding."""
        return (self.pad <= prow < self.pad + self.height
                and self.pad <= pcol < self.pad + self.width)


def kernel_entries(kernel_height, kernel_width):
    """Kernel entries (kh, kw) in row-major order."""
    return [(kh, kw) for kh in range(kernel_height) for kw in range(kernel_width)]


def window_taps(g, oh, ow):
    """Padded cells read by output cell (oh, ow).

    Returns: dict {(kh, kw): (padded row, padded col)} in row-major kernel order.
    """
    return {k: g.tap(oh, ow, *k) for k in kernel_entries(g.kernel_height, g.kernel_width)}


def window_inputs(g, oh, ow):
    """Input cells (unpadded coordinates) the window of output (oh, ow) covers; padding left out."""
    return {(r - g.pad, c - g.pad) for r, c in window_taps(g, oh, ow).values() if g.is_input(r, c)}


def split_weights(g, oh, ow):
    """Kernel entries whose dw gets a term from upstream cell (oh, ow): (on input, on padding).

    Every entry is fed; those reading the zero padding are fed a zero.
    Returns: two sets of (kh, kw).
    """
    taps = window_taps(g, oh, ow)
    on_input = {k for k, (r, c) in taps.items() if g.is_input(r, c)}
    return on_input, set(taps) - on_input


def _hits(kernel, stride, pad, dilation, out, index):
    """Pairs (o, k) along one axis with o*stride + k*dilation - pad == index."""
    return [(o, k) for k in range(kernel)
            for o in [(index + pad - k * dilation) // stride]
            if 0 <= o < out and o * stride + k * dilation - pad == index]


def fan_out(g, row, col):
    """Output cells that input cell (row, col) influences, with the kernel entry linking them.

    Returns: dict {(oh, ow): (kh, kw)}; read the other way round, dx[row, col] sums
    dout[oh, ow] * w[kh, kw] over it: a full convolution with the flipped kernel.
    """
    rows = _hits(g.kernel_height, g.stride, g.pad, g.dilation, g.out_height, row)
    cols = _hits(g.kernel_width, g.stride, g.pad, g.dilation, g.out_width, col)
    return {(oh, ow): (kh, kw) for oh, kh in rows for ow, kw in cols}


def _axis_counts(size, kernel, stride, pad, dilation, out):
    """How many (window, kernel entry) pairs land on each padded index along one axis."""
    counts = np.zeros(size + 2 * pad, dtype=np.int64)
    for k in range(kernel):
        counts[k * dilation:k * dilation + stride * (out - 1) + 1:stride] += 1
    return counts


def _padded_axis_counts(g):
    return (_axis_counts(g.height, g.kernel_height, g.stride, g.pad, g.dilation, g.out_height),
            _axis_counts(g.width, g.kernel_width, g.stride, g.pad, g.dilation, g.out_width))


def overlap_counts(g):
    """Number of windows covering each input cell (col2im of a matrix of ones).

    Returns: int array (height, width).
    """
    rows, cols = _padded_axis_counts(g)
    return np.outer(rows[g.pad:g.pad + g.height], cols[g.pad:g.pad + g.width])


def uncovered_lines(g):
    """Rows and columns of the padded input that no window reads.

    Returned in input coordinates: indices below 0 or from ``height``/``width`` on are
    padding; those in range are input lines that get zero gradient.
    Returns: (rows, cols), two tuples of ints.
    """
    rows, cols = _padded_axis_counts(g)
    return (tuple((np.flatnonzero(rows == 0) - g.pad).tolist()),
            tuple((np.flatnonzero(cols == 0) - g.pad).tolist()))


def im2col_layout(g):
    """Where each entry of the im2col matrix is read from (one channel, one image).

    Rows run over kernel entries (kh, kw) row-major, columns over output cells,
    column oh*out_width + ow for output (oh, ow), as cnn_utils' im2col layout.
    Returns: (rows, cols), int arrays (kernel_height*kernel_width, out_height*out_width)
    of padded coordinates.
    """
    kh, kw = np.divmod(np.arange(g.kernel_height * g.kernel_width), g.kernel_width)
    oh, ow = np.divmod(np.arange(g.out_height * g.out_width), g.out_width)
    rows = kh[:, None] * g.dilation + oh[None, :] * g.stride
    cols = kw[:, None] * g.dilation + ow[None, :] * g.stride
    return rows, cols


def conv_formula(size, kernel, stride, pad, dilation, axis="height"):
    """The output-size formula with the numbers put in, e.g. 'H_out = floor((6 + 2*1 - 1*(3-1) - 1) / 2) + 1 = 3'.

    Raises ValueError (from shapes.conv_output_size) when the window does not fit.
    """
    out = conv_output_size(size, kernel, stride, pad, dilation, axis=axis)
    name = "H_out" if axis == "height" else "W_out"
    return (f"{name} = floor(({size} + 2*{pad} - {dilation}*({kernel}-1) - 1) / {stride}) + 1"
            f" = floor({size + 2 * pad - dilation * (kernel - 1) - 1} / {stride}) + 1 = {out}")


@dataclass(frozen=True)
class PoolGeometry:
    """One-channel pooling geometry (no padding); raises ``ValueError`` when invalid."""

    height: int
    width: int
    pool_height: int
    pool_width: int
    stride: int
    out_height: int = field(init=False)
    out_width: int = field(init=False)

    def __post_init__(self):
        object.__setattr__(self, "out_height",
                           pool_output_size(self.height, self.pool_height, self.stride, "height"))
        object.__setattr__(self, "out_width",
                           pool_output_size(self.width, self.pool_width, self.stride, "width"))

    def window(self, oh, ow):
        """Input cells of the window of output (oh, ow), row-major."""
        top, left = oh * self.stride, ow * self.stride
        return [(top + i, left + j) for i in range(self.pool_height) for j in range(self.pool_width)]

    def outputs(self):
        """All output cells (oh, ow), row-major."""
        return [(oh, ow) for oh in range(self.out_height) for ow in range(self.out_width)]


def pool_formula(size, pool, stride, axis="height"):
    """The pooling output-size formula with the numbers put in (raises ValueError when invalid)."""
    out = pool_output_size(size, pool, stride, axis)
    name = "H_out" if axis == "height" else "W_out"
    return f"{name} = floor(({size} - {pool}) / {stride}) + 1 = {out}"


def example_values(height, width, seed):
    """Small integers 0..3 with many ties, fixed by ``seed``: int array (height, width)."""
    return np.random.default_rng(seed).integers(0, 4, size=(height, width))


def max_routes(values, g, ties="first"):
    """Input cells that receive the upstream unit of each max-pool window.

    ties='first': the first maximum in row-major order of the window (np.argmax, PyTorch);
    ties='all': every entry equal to the window maximum (mask policy).
    Inputs:
    - values: int array (height, width); g: PoolGeometry
    Returns: dict {(oh, ow): tuple of input cells}
    """
    check_ties(ties)
    routes = {}
    for out_cell in g.outputs():
        cells = g.window(out_cell[0], out_cell[1])
        window = [values[r, c] for r, c in cells]
        top = max(window)
        winners = [cell for cell, v in zip(cells, window, strict=True) if v == top]
        routes[out_cell] = tuple(winners if ties == "all" else winners[:1])
    return routes


def route_counts(routes, shape):
    """How many windows route to each input cell: int array ``shape``."""
    counts = np.zeros(shape, dtype=np.int64)
    for cells in routes.values():
        for r, c in cells:
            counts[r, c] += 1
    return counts


def avg_routes(g):
    """Average pooling sends 1/(pool_height*pool_width) of each unit to every window cell.

    Returns: dict {(oh, ow): tuple of input cells}
    """
    return {cell: tuple(g.window(*cell)) for cell in g.outputs()}

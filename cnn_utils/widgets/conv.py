"""Convolution explorers: the forward window (ConvExplorer) and where gradients go (BackwardExplorer)."""

from cnn_utils.widgets import indexmaps as im
from cnn_utils.widgets import render
from cnn_utils.widgets.base import Explorer


def conv_controls(max_size, max_kernel, max_stride, max_pad, max_dilation):
    """Geometry sliders: name -> (label, min, max, default)."""
    return {
        "height": ("input height H", 1, max_size, 5),
        "width": ("input width W", 1, max_size, 6),
        "kernel_height": ("kernel height HH", 1, max_kernel, 3),
        "kernel_width": ("kernel width WW", 1, max_kernel, 3),
        "stride": ("stride", 1, max_stride, 1),
        "pad": ("padding", 0, max_pad, 0),
        "dilation": ("dilation", 1, max_dilation, 1),
    }


OUT_SELECTION = {"out_row": ("output row", 0, 17, 0), "out_col": ("output col", 0, 17, 0)}


class ConvBase(Explorer):
    """Shared geometry, formula, coverage note and grids of the convolution views."""

    def read_geometry(self):
        names = ("height", "width", "kernel_height", "kernel_width", "stride", "pad", "dilation")
        return im.ConvGeometry(*(self.value(n) for n in names))

    def formula(self, g):
        args = (g.stride, g.pad, g.dilation)
        return (im.conv_formula(g.height, g.kernel_height, *args, axis="height") + "\n"
                + im.conv_formula(g.width, g.kernel_width, *args, axis="width"))

    def coverage_note(self, g):
        """Sets uncovered_rows/cols (input coordinates, padding included); returns the note naming them."""
        self.uncovered_rows, self.uncovered_cols = im.uncovered_lines(g)
        if not (self.uncovered_rows or self.uncovered_cols):
            return "The windows cover every row and column of the padded input."

        def lines(name, indices, size):
            inside = [str(i) for i in indices if 0 <= i < size]
            outside = [str(i) for i in indices if not 0 <= i < size]
            return ([f"input {name}{'s' * (len(inside) > 1)} {', '.join(inside)}"] * bool(inside)
                    + [f"padding {name}{'s' * (len(outside) > 1)} {', '.join(outside)}"] * bool(outside))

        missing = lines("row", self.uncovered_rows, g.height) + lines("column", self.uncovered_cols, g.width)
        inputs_missed = any("input" in m for m in missing)
        return (f"The windows do not tile the padded input: no window reads {', '.join(missing)} (hatched); "
                + ("those input cells get zero gradient." if inputs_missed else "every input cell is still read."))

    def padded_grid(self, g, caption, marks, prefix=None, label=None):
        """Padded input grid; ``marks`` maps padded (row, col) to (kind, text, title).

        ``label(row, col)`` gives the text of unmarked input cells (default: none).
        """
        rows = []
        for r in range(g.padded_shape[0]):
            row = []
            for c in range(g.padded_shape[1]):
                ir, ic = r - g.pad, c - g.pad
                inside = g.is_input(r, c)
                if (r, c) in marks:
                    kind, text, title = marks[(r, c)]
                elif ir in self.uncovered_rows or ic in self.uncovered_cols:
                    text = label(ir, ic) if inside and label else "" if inside else "0"
                    kind, title = "none", "no window reads this cell"
                elif not inside:
                    kind, text, title = "pad", "0", "zero padding"
                else:
                    kind, text, title = "plain", label(ir, ic) if label else "", f"x[{ir},{ic}]"
                token = f"{prefix}:{ir}:{ic}" if prefix and inside else None
                row.append(render.cell(text, kind, title, token))
            rows.append(row)
        labels = [r - g.pad for r in range(g.padded_shape[0])]
        cols = [c - g.pad for c in range(g.padded_shape[1])]
        return render.grid(rows, caption, self.bridge_class if prefix else None, labels, cols)

    def output_grid(self, g, caption, marks, prefix, name="out"):
        """Output grid (clickable); ``marks`` maps (oh, ow) to (kind, text, title)."""
        rows = []
        for oh in range(g.out_height):
            row = []
            for ow in range(g.out_width):
                kind, text, title = marks.get((oh, ow), ("plain", "", f"{name}[{oh},{ow}]"))
                row.append(render.cell(text, kind, title, f"{prefix}:{oh}:{ow}"))
            rows.append(row)
        return render.grid(rows, caption, self.bridge_class,
                           list(range(g.out_height)), list(range(g.out_width)))

    def window_marks(self, g, oh, ow):
        """Marks of the taps of window (oh, ow): kernel entry as text, padding taps in the second colour."""
        marks = {}
        for (kh, kw), (r, c) in im.window_taps(g, oh, ow).items():
            if g.is_input(r, c):
                marks[(r, c)] = ("hit", f"{kh},{kw}", f"w[{kh},{kw}] reads x[{r - g.pad},{c - g.pad}]")
            else:
                marks[(r, c)] = ("second", f"{kh},{kw}", f"w[{kh},{kw}] reads a padding zero")
        return marks


class ConvExplorer(ConvBase):
    """Forward convolution: the padded input, the window of the selected output cell, the output size.

    Rendered state: geometry, output_shape, formula_text, note_text, error,
    selected (oh, ow), highlighted_inputs (input cells of the window), highlighted_padded
    ({(kh, kw): padded cell}), uncovered_rows, uncovered_cols.
    """

    CONTROLS = {**conv_controls(12, 5, 4, 3, 3), **OUT_SELECTION}
    SELECTIONS = {"out": ("out_row", "out_col")}

    def draw(self):
        g = self.read_geometry()
        formula = self.formula(g)
        note = self.coverage_note(g)
        self.geometry, self.output_shape = g, (g.out_height, g.out_width)
        self.selected = oh, ow = self.bound_selection("out", g.out_height, g.out_width)
        self.highlighted_padded = im.window_taps(g, oh, ow)
        self.highlighted_inputs = im.window_inputs(g, oh, ow)
        inputs = self.padded_grid(g, f"padded input ({g.padded_shape[0]}x{g.padded_shape[1]})",
                                  self.window_marks(g, oh, ow))
        outputs = self.output_grid(g, f"output ({g.out_height}x{g.out_width}): click a cell",
                                   {(oh, ow): ("selected", "", f"out[{oh},{ow}] (selected)")}, "out")
        key = render.legend([("hit", "1,2", "window tap (text: kernel entry kh kw)"),
                             ("second", "1,2", "tap on padding"), ("pad", "0", "padding"),
                             ("none", " ", "read by no window"), ("selected", " ", "selected output")])
        return formula, note, render.page(inputs, outputs) + key

    def clear_state(self):
        self.geometry, self.output_shape, self.selected = None, None, None
        self.highlighted_padded, self.highlighted_inputs = {}, set()
        self.uncovered_rows, self.uncovered_cols = (), ()


class BackwardExplorer(ConvBase):
    """Where gradients go: an upstream cell's reach into dx and dw, an input cell's fan-out, overlap counts.

    The input selection starts at the interior cell (2, 2), clipped to the grid.

    Rendered state: geometry, formula_text, note_text, error, selected_out, selected_in,
    reached_inputs (input cells dout[selected_out] reaches), fed_weights and zero_fed_weights
    (kernel entries fed through input cells / through padding zeros), influenced_outputs
    ({(oh, ow): (kh, kw)} for selected_in), overlap_counts (H, W), uncovered_rows, uncovered_cols.
    """

    CONTROLS = {**conv_controls(12, 5, 4, 3, 3),
                "out_row": ("dout row", 0, 17, 0), "out_col": ("dout col", 0, 17, 0),
                # an interior input cell by default (clipped to the grid), so that the static picture
                # shows the fan-out with the kernel taps running backwards, not a corner's single output
                "in_row": ("input row", 0, 11, 2), "in_col": ("input col", 0, 11, 2)}
    SELECTIONS = {"out": ("out_row", "out_col"), "in": ("in_row", "in_col")}

    def draw(self):
        g = self.read_geometry()
        formula = self.formula(g)
        note = self.coverage_note(g)
        self.geometry = g
        self.selected_out = oh, ow = self.bound_selection("out", g.out_height, g.out_width)
        self.selected_in = r, c = self.bound_selection("in", g.height, g.width)
        self.reached_inputs = im.window_inputs(g, oh, ow)
        self.fed_weights, self.zero_fed_weights = im.split_weights(g, oh, ow)
        self.influenced_outputs = im.fan_out(g, r, c)
        self.overlap_counts = im.overlap_counts(g)

        dout = self.output_grid(g, "upstream gradient dout: click a cell",
                                {(oh, ow): ("selected", "", f"dout[{oh},{ow}] (selected)")}, "out", "dout")
        reach = self.padded_grid(g, f"dx cells dout[{oh},{ow}] reaches", self.window_marks(g, oh, ow))
        weights = render.grid(
            [[render.cell(f"{kh},{kw}", "hit", f"dw[{kh},{kw}] += dout[{oh},{ow}] * x") if (kh, kw) in self.fed_weights
              else render.cell("x0", "second", f"dw[{kh},{kw}] += dout[{oh},{ow}] * 0 (padding)")
              for kw in range(g.kernel_width)] for kh in range(g.kernel_height)],
            f"dw entries dout[{oh},{ow}] feeds", None, list(range(g.kernel_height)), list(range(g.kernel_width)))
        pr, pc = r + g.pad, c + g.pad
        chosen = self.padded_grid(g, "input x: click a cell",
                                  {(pr, pc): ("selected", "", f"x[{r},{c}] (selected)")}, "in")
        fan = self.output_grid(
            g, f"outputs x[{r},{c}] influences",
            {cell: ("hit", f"{kh},{kw}", f"out[{cell[0]},{cell[1]}] uses x[{r},{c}] * w[{kh},{kw}]")
             for cell, (kh, kw) in self.influenced_outputs.items()}, "out", "out")
        vmax = int(self.overlap_counts.max())
        counts = render.grid(
            [[render.count_cell(int(n), vmax, f"x[{i},{j}] is read by {n} windows", f"in:{i}:{j}")
              for j, n in enumerate(row)] for i, row in enumerate(self.overlap_counts)],
            "overlap counts: windows reading each input cell", self.bridge_class,
            list(range(g.height)), list(range(g.width)))
        key = render.legend([("hit", "1,2", "kernel entry kh kw"), ("second", "x0", "fed a padding zero"),
                             ("selected", " ", "selected cell"), ("none", " ", "read by no window")])
        n_fan = len(self.influenced_outputs)
        note += (f"\ndout[{oh},{ow}] reaches {len(self.reached_inputs)} input cells and feeds all "
                 f"{g.kernel_height * g.kernel_width} weight gradients ({len(self.zero_fed_weights)} of them "
                 f"with a padding zero). x[{r},{c}] influences {n_fan} output{'s' if n_fan != 1 else ''}: "
                 f"dx[{r},{c}] sums dout * w over them, the kernel entries running backwards "
                 "(a full convolution with the flipped kernel).")
        return formula, note, (render.page(dout, reach, weights) + render.page(chosen, fan, counts) + key)

    def clear_state(self):
        self.geometry, self.selected_out, self.selected_in = None, None, None
        self.reached_inputs, self.fed_weights, self.zero_fed_weights = set(), set(), set()
        self.influenced_outputs, self.overlap_counts = {}, None
        self.uncovered_rows, self.uncovered_cols = (), ()

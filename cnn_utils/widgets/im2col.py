"""im2col explorer: the column matrix with the selected window's column, and col2im's counts."""

from cnn_utils.widgets import indexmaps as im
from cnn_utils.widgets import render
from cnn_utils.widgets.conv import OUT_SELECTION, ConvBase, conv_controls


class Im2colExplorer(ConvBase):
    """One channel, one image: which input cell each entry of the im2col matrix copies.

    Rendered state: geometry, formula_text, note_text, error, selected (oh, ow),
    matrix_rows, matrix_cols (padded coordinates of every entry, (HH*WW, H_out*W_out)),
    highlighted_column, column_inputs (input cell of each entry of that column, None on
    padding), col2im_counts (H, W), uncovered_rows, uncovered_cols.
    """

    CONTROLS = {**conv_controls(8, 4, 3, 2, 2), **OUT_SELECTION}
    SELECTIONS = {"out": ("out_row", "out_col")}

    def draw(self):
        g = self.read_geometry()
        formula = self.formula(g)
        note = self.coverage_note(g)
        self.geometry = g
        self.selected = oh, ow = self.bound_selection("out", g.out_height, g.out_width)
        self.matrix_rows, self.matrix_cols = im.im2col_layout(g)
        self.highlighted_column = column = oh * g.out_width + ow
        self.col2im_counts = im.overlap_counts(g)
        self.column_inputs = [(int(r) - g.pad, int(c) - g.pad) if g.is_input(r, c) else None
                              for r, c in zip(self.matrix_rows[:, column], self.matrix_cols[:, column], strict=True)]

        def flat(r, c):
            return r * g.width + c

        inputs = self.padded_grid(
            g, "input: flat index r*W + c", {(r, c): ("hit", flat(r - g.pad, c - g.pad), "in the window")
                                           for r, c in im.window_taps(g, oh, ow).values() if g.is_input(r, c)},
            label=flat)
        matrix = render.grid(
            [[self._entry(g, r, c, j, column) for j, (r, c) in enumerate(zip(rows, cols, strict=True))]
             for rows, cols in zip(self.matrix_rows, self.matrix_cols, strict=True)],
            f"im2col matrix ({len(self.matrix_rows)} x {self.matrix_rows.shape[1]}): "
            f"column {column} = window of output ({oh},{ow})", self.bridge_class,
            [f"{kh},{kw}" for kh, kw in im.kernel_entries(g.kernel_height, g.kernel_width)],
            list(range(self.matrix_rows.shape[1])))
        outputs = self.output_grid(g, "output: click a cell",
                                   {(oh, ow): ("selected", column, f"column {column}")}, "out")
        vmax = int(self.col2im_counts.max())
        counts = render.grid(
            [[render.count_cell(int(n), vmax, f"col2im adds {n} entries into x[{i},{j}]")
              for j, n in enumerate(row)] for i, row in enumerate(self.col2im_counts)],
            "col2im: entries added into each input cell", None,
            list(range(g.height)), list(range(g.width)))
        key = render.legend([("hit", "7", "selected column / window (text: flat index)"),
                             ("pad", "0", "padding zero"), ("none", " ", "read by no window")])
        note += (f"\nRow kh,kw of the matrix holds what kernel entry w[kh,kw] multiplies; column j holds "
                 f"the window of output (j // {g.out_width}, j % {g.out_width}). col2im adds every entry "
                 "back onto the cell it was copied from, so overlapping windows add up.")
        return formula, note, render.page(inputs, outputs, counts) + render.page(matrix) + key

    def _entry(self, g, r, c, j, column):
        """Matrix cell copying padded (r, c) into column j (clickable: selects that column's window)."""
        token = f"out:{j // g.out_width}:{j % g.out_width}"
        if g.is_input(r, c):
            ir, ic = r - g.pad, c - g.pad
            return render.cell(ir * g.width + ic, "hit" if j == column else "plain",
                               f"x[{ir},{ic}]", token)
        return render.cell("0", "second" if j == column else "pad", "padding zero", token)

    def clear_state(self):
        self.geometry, self.selected, self.highlighted_column = None, None, None
        self.matrix_rows = self.matrix_cols = self.col2im_counts = None
        self.column_inputs = []
        self.uncovered_rows, self.uncovered_cols = (), ()

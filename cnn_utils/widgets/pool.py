"""Pooling explorer: where max and average pooling send the upstream gradient of one window."""

from cnn_utils.widgets import indexmaps as im
from cnn_utils.widgets import render
from cnn_utils.widgets.base import Explorer


class PoolExplorer(Explorer):
    """Routing of one upstream unit per window on small integer values with ties.

    Max pooling is shown under ties='first' (first maximum in row-major order, as
    np.argmax and PyTorch) and ties='all' (mask: every tied maximum) side by side;
    average pooling spreads each unit over its window.
    Rendered state: geometry, formula_text, note_text, error, values (H, W), selected (oh, ow),
    highlighted_inputs (window cells), routes ({'first', 'all', 'avg'} -> {(oh, ow): cells}),
    counts ({'first', 'all', 'avg'} -> (H, W) int array of units received), receivers
    ({'first', 'all', 'avg'} -> cells receiving the selected window's unit), uncovered_rows/cols.
    """

    CONTROLS = {
        "height": ("input height H", 1, 10, 4),
        "width": ("input width W", 1, 10, 5),
        "pool_height": ("pool height", 1, 4, 2),
        "pool_width": ("pool width", 1, 4, 2),
        "stride": ("stride", 1, 4, 1),
        "seed": ("example values", 0, 99, 2),  # seed 2: window (0,0) holds a tie
        "mode": ("pooling", ("max", "avg"), "max"),
        "out_row": ("output row", 0, 9, 0),
        "out_col": ("output col", 0, 9, 0),
    }
    SELECTIONS = {"out": ("out_row", "out_col")}
    EXTRA_ROW = ("mode",)

    def draw(self):
        g = im.PoolGeometry(*(self.value(n) for n in ("height", "width", "pool_height", "pool_width", "stride")))
        formula = (im.pool_formula(g.height, g.pool_height, g.stride, "height") + "\n"
                   + im.pool_formula(g.width, g.pool_width, g.stride, "width"))
        self.geometry, self.values = g, im.example_values(g.height, g.width, self.value("seed"))
        self.selected = oh, ow = self.bound_selection("out", g.out_height, g.out_width)
        self.highlighted_inputs = set(g.window(oh, ow))
        self.routes = {"first": im.max_routes(self.values, g, "first"),
                       "all": im.max_routes(self.values, g, "all"), "avg": im.avg_routes(g)}
        self.counts = {k: im.route_counts(r, self.values.shape) for k, r in self.routes.items()}
        self.receivers = {k: r[(oh, ow)] for k, r in self.routes.items()}
        covered = self.counts["avg"]
        self.uncovered_rows = tuple(i for i in range(g.height) if not covered[i].any())
        self.uncovered_cols = tuple(j for j in range(g.width) if not covered[:, j].any())

        values = render.grid(
            [[render.cell(v, "hit" if (i, j) in self.highlighted_inputs else
                          "none" if (i in self.uncovered_rows or j in self.uncovered_cols) else "plain",
                          f"x[{i},{j}] = {v}") for j, v in enumerate(row)] for i, row in enumerate(self.values)],
            f"input values, window of output ({oh},{ow})",
            None, list(range(g.height)), list(range(g.width)))
        outputs = render.grid(
            [[render.cell("", "selected" if (i, j) == (oh, ow) else "plain", f"out[{i},{j}]", f"out:{i}:{j}")
              for j in range(g.out_width)] for i in range(g.out_height)],
            "output: click a cell", self.bridge_class, list(range(g.out_height)), list(range(g.out_width)))
        if self.value("mode") == "max":
            vmax = int(self.counts["all"].max())
            routing = [self._routing_grid("first", "ties='first' (np.argmax, PyTorch): units received", vmax),
                       self._routing_grid("all", "ties='all' (mask): units received", vmax)]
        else:
            share = g.pool_height * g.pool_width
            routing = [self._routing_grid("avg", f"average: units received, in 1/{share}",
                                          int(self.counts["avg"].max()))]
        key = render.legend([("hit", "2", "window of the selected output"),
                             ("route", "1", "receives its unit (thick border)"),
                             ("none", " ", "in no window")])
        return formula, self._summary(g, oh, ow), render.page(values, outputs, *routing) + key

    def _routing_grid(self, policy, caption, vmax):
        counts, receivers = self.counts[policy], set(self.receivers[policy])
        rows = []
        for i, row in enumerate(counts):
            cells = []
            for j, n in enumerate(row):
                background, color = render.count_colours(int(n), vmax)
                kind = "route" if (i, j) in receivers else "plain"
                cells.append(render.cell(int(n), kind, f"x[{i},{j}] receives {n}", None, background, color))
            rows.append(cells)
        return render.grid(rows, caption, None, list(range(counts.shape[0])), list(range(counts.shape[1])))

    def _summary(self, g, oh, ow):
        if g.stride < max(g.pool_height, g.pool_width):
            layout = f"Windows overlap (stride {g.stride} < pool size): a cell can receive from several windows."
        elif self.uncovered_rows or self.uncovered_cols:
            layout = "Windows leave gaps: hatched cells are in no window and get zero gradient."
        else:
            layout = "Windows tile the input without overlap."
        if self.value("mode") == "avg":
            return (f"{layout}\nAverage pooling sends 1/{g.pool_height * g.pool_width} of each unit to "
                    "every cell of its window; overlapping windows add up.")
        window = [self.values[c] for c in g.window(oh, ow)]
        top, tied = max(window), window.count(max(window))
        first_r, first_c = self.receivers["first"][0]
        n_windows = len(self.routes["first"])
        n_all = int(self.counts["all"].sum())
        if tied == 1:
            window_text = (f"Window ({oh},{ow}): maximum {top}, no tie: both policies send its unit "
                           f"to x[{first_r},{first_c}].")
        else:
            window_text = (f"Window ({oh},{ow}): maximum {top}, tied at {tied} cells. ties='first' sends "
                           f"its unit to x[{first_r},{first_c}]; ties='all' sends a full unit to each of the {tied}.")
        return (f"{layout}\n{window_text}\nOver all {n_windows} windows: 'first' routes {n_windows} units, "
                f"'all' routes {n_all} (over-counting by {n_all - n_windows}).")

    def clear_state(self):
        self.geometry, self.values, self.selected = None, None, None
        self.highlighted_inputs, self.routes, self.counts, self.receivers = set(), {}, {}, {}
        self.uncovered_rows, self.uncovered_cols = (), ()

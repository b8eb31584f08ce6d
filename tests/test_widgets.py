"""The explorers (cnn_utils.widgets), Python side: set controls, check the rendered state.

Index maps are checked against known cases (the conv_arithmetic table of Dumoulin &
Visin) and against cnn_utils.reference where both say the same thing (overlap counts
are col2im of ones, the im2col layout, max/avg pool routing of ones). The widgets
themselves never use the reference.
"""

import itertools
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cnn_utils import reference as ref
from cnn_utils.widgets import indexmaps as im
from conftest import require

pytestmark = pytest.mark.widgets

WIDGETS_DIR = Path(__file__).resolve().parents[1] / "cnn_utils" / "widgets"


@pytest.fixture(scope="module")
def views():
    require("ipywidgets", "the explorers are ipywidgets (dev extra)")
    import cnn_utils.widgets as views
    return views


def clickable(html, prefix):
    """Distinct clickable cells of ``prefix`` in the rendered grids."""
    return set(re.findall(rf'data-cell="{prefix}:(\d+):(\d+)"', html))


def cells_of(html, css):
    """Number of grid cells drawn with the CSS class ``css`` (legend samples not counted)."""
    return html.count(f'<td class="{css}')


# (H, kernel, stride, pad, dilation) -> output size, uncovered lines of the padded input
# (input coordinates: outside 0..H-1 is padding)
CONV_ARITHMETIC = [
    ((4, 3, 1, 0, 1), 2, ()),  # no padding, unit strides
    ((5, 4, 1, 2, 1), 6, ()),  # arbitrary padding
    ((5, 3, 1, 1, 1), 5, ()),  # half (same) padding
    ((5, 3, 1, 2, 1), 7, ()),  # full padding
    ((5, 3, 2, 0, 1), 2, ()),  # no padding, strides
    ((5, 3, 2, 1, 1), 3, ()),  # padding, strides
    ((6, 3, 2, 1, 1), 3, (6,)),  # padding, strides (odd): last padded row/col unread
    ((7, 3, 1, 0, 2), 3, ()),  # dilation
    ((7, 2, 3, 0, 1), 2, (2, 5, 6)),  # stride larger than the kernel: gaps in the input
]


@pytest.mark.parametrize("params, out, uncovered", CONV_ARITHMETIC)
def test_conv_arithmetic_table(views, params, out, uncovered):
    size, kernel, stride, pad, dilation = params
    e = views.ConvExplorer(height=size, width=size, kernel_height=kernel, kernel_width=kernel,
                           stride=stride, pad=pad, dilation=dilation)
    assert e.error == ""
    assert e.output_shape == (out, out)
    inner = size + 2 * pad - dilation * (kernel - 1) - 1
    for name in ("H_out", "W_out"):
        line = (f"{name} = floor(({size} + 2*{pad} - {dilation}*({kernel}-1) - 1) / {stride}) + 1"
                f" = floor({inner} / {stride}) + 1 = {out}")
        assert line in e.formula_text.splitlines()
    assert clickable(e.grids_html, "out") == {(str(i), str(j)) for i in range(out) for j in range(out)}
    assert e.uncovered_rows == e.uncovered_cols == uncovered
    if uncovered:
        assert "do not tile" in e.note_text
        assert all(str(i) in e.note_text for i in uncovered)
        assert cells_of(e.grids_html, "cnnw-none") > 0
    else:
        assert "cover every row and column" in e.note_text
        assert cells_of(e.grids_html, "cnnw-none") == 0


def test_odd_case_names_padding_not_input(views):
    e = views.ConvExplorer(height=6, width=6, kernel_height=3, kernel_width=3, stride=2, pad=1)
    assert "padding row 6" in e.note_text and "padding column 6" in e.note_text
    assert "every input cell is still read" in e.note_text
    e.set(pad=0, stride=3, height=7, width=5, kernel_height=2)
    assert e.uncovered_rows == (2, 5, 6) and e.uncovered_cols == (3, 4)
    assert "input rows 2, 5, 6" in e.note_text and "zero gradient" in e.note_text


def test_non_square_input_and_kernel(views):
    e = views.ConvExplorer(height=5, width=7, kernel_height=3, kernel_width=2, stride=1, pad=0)
    assert e.output_shape == (3, 6)
    assert e.formula_text.splitlines()[0].endswith("= 3")
    assert e.formula_text.splitlines()[1].endswith("= 6")
    assert "W_out = floor((7 + 2*0 - 1*(2-1) - 1) / 1) + 1" in e.formula_text


def test_window_of_selected_output(views):
    e = views.ConvExplorer(height=5, width=5, kernel_height=3, kernel_width=3, stride=2, pad=1)
    e.set(out_row=1, out_col=2)
    assert e.selected == (1, 2)
    assert e.highlighted_padded == {(kh, kw): (2 + kh, 4 + kw) for kh in range(3) for kw in range(3)}
    # padded column 6 is the right padding: only input columns 3 and 4 are real cells
    assert e.highlighted_inputs == {(r, c) for r in (1, 2, 3) for c in (3, 4)}
    assert cells_of(e.grids_html, "cnnw-hit") == 6 and cells_of(e.grids_html, "cnnw-second") == 3


def test_window_with_dilation(views):
    e = views.ConvExplorer(height=7, width=7, kernel_height=3, kernel_width=3, dilation=2)
    e.set(out_row=2, out_col=1)
    assert e.highlighted_inputs == {(r, c) for r in (2, 4, 6) for c in (1, 3, 5)}


def test_selection_follows_a_shrinking_output(views):
    e = views.ConvExplorer(height=5, width=5, kernel_height=3, kernel_width=3)
    e.set(out_row=2, out_col=2)
    e.controls["kernel_height"].value = 5
    assert e.output_shape == (1, 3)
    assert e.selected == (0, 2)
    assert e.controls["out_row"].max == 0 and e.controls["out_row"].value == 0


def test_invalid_setting_shows_the_error(views):
    e = views.ConvExplorer(height=3, width=3, kernel_height=3, kernel_width=3)
    e.controls["kernel_height"].value = 5  # 5 > 3 + 2*0: must not raise
    assert "kernel height 5 is larger than the padded input height 3" in e.error
    assert e.error in e._formula.value and "#b00020" in e._formula.value
    assert e._grids.value == "" and e.highlighted_inputs == set()
    e.controls["pad"].value = 1  # 5 fits 3 + 2*1: the widget recovers
    assert e.error == "" and e.output_shape == (1, 3)


def test_mouse_click_selects_a_cell(views):
    e = views.ConvExplorer(height=6, width=6)
    assert e.bridge_class in e.grids_html  # the grid's click handler writes into this text box
    e._bridge.value = "out:3:1:1700000000"
    assert e.selected == (3, 1)
    assert (e.controls["out_row"].value, e.controls["out_col"].value) == (3, 1)
    e._bridge.value = "bogus"
    assert e.selected == (3, 1)


def test_controls_are_labelled_and_unknown_names_rejected(views):
    for cls in (views.ConvExplorer, views.BackwardExplorer, views.Im2colExplorer, views.PoolExplorer):
        e = cls()
        assert e.error == ""
        assert all(c.description.strip() for c in e.controls.values())
        assert len({c.description for c in e.controls.values()}) == len(e.controls)
    with pytest.raises(ValueError, match="unknown control"):
        views.ConvExplorer(strides=2)
    with pytest.raises(ValueError, match="height=13 is outside"):
        views.ConvExplorer(height=13)
    with pytest.raises(ValueError, match="mode='min' is outside"):
        views.PoolExplorer(mode="min")


def test_colours_are_viridis_cividis_or_grey():
    from cnn_utils.widgets import render
    viridis = {"#440154", "#21918c", "#fde725"}
    colours = set(re.findall(r"#[0-9a-f]{3,6}\b", render.STYLE.lower())) | set(render.CIVIDIS)
    greys = {c for c in colours if len(c) == 4 and c[1] == c[2] == c[3]
             or len(c) == 7 and c[1:3] == c[3:5] == c[5:7]}
    assert colours - greys <= viridis | set(render.CIVIDIS)


def test_backward_fan_out_is_the_flipped_kernel(views):
    e = views.BackwardExplorer(height=5, width=5, kernel_height=3, kernel_width=3)
    e.set(in_row=2, in_col=2)
    assert e.influenced_outputs == {(oh, ow): (2 - oh, 2 - ow) for oh in range(3) for ow in range(3)}
    e.set(in_row=0, in_col=4)  # a corner feeds one output only
    assert e.influenced_outputs == {(0, 2): (0, 2)}
    assert "influences 1 output" in e.note_text


def test_backward_default_input_is_interior_and_shows_the_flipped_kernel(views):
    # the static picture is drawn at the default selection: an interior cell, whose fan-out shows
    # the kernel taps running backwards (a corner would show a single output)
    e = views.BackwardExplorer(height=7, width=7, kernel_height=3, kernel_width=3, stride=2)
    assert e.selected_in == (2, 2)
    assert e.influenced_outputs == {(0, 0): (2, 2), (0, 1): (2, 0), (1, 0): (0, 2), (1, 1): (0, 0)}
    assert "x[2,2] influences 4 outputs" in e.note_text
    assert "x[2,2] influences 4 outputs" in e.static_html()
    # clipped to a grid smaller than 3 x 3, and kept when the grid grows again
    e = views.BackwardExplorer(height=2, width=1, kernel_height=1, kernel_width=1)
    assert e.selected_in == (1, 0)
    e.set(height=6, width=6)
    assert e.selected_in == (1, 0)


def test_backward_upstream_reach_and_weights(views):
    e = views.BackwardExplorer(height=7, width=7, kernel_height=3, kernel_width=3, stride=2)
    e.set(out_row=1, out_col=1)
    assert e.reached_inputs == {(r, c) for r in (2, 3, 4) for c in (2, 3, 4)}
    assert e.fed_weights == set(itertools.product(range(3), range(3)))
    assert e.zero_fed_weights == set()
    e.set(pad=1, out_row=0, out_col=0)
    assert e.zero_fed_weights == {(0, 0), (0, 1), (0, 2), (1, 0), (2, 0)}
    assert e.reached_inputs == {(0, 0), (0, 1), (1, 0), (1, 1)}
    assert "(5 of them with a padding zero)" in e.note_text


def test_overlap_checkerboard_stride2_kernel3(views):
    e = views.BackwardExplorer(height=7, width=7, kernel_height=3, kernel_width=3, stride=2)
    line = np.array([1, 1, 2, 1, 2, 1, 1])
    np.testing.assert_array_equal(e.overlap_counts, np.outer(line, line))
    assert set(np.unique(e.overlap_counts)) == {1, 2, 4}
    counts_shown = re.findall(r"is read by (\d+) windows", e.grids_html)
    assert list(map(int, counts_shown)) == e.overlap_counts.ravel().tolist()


def test_backward_and_im2col_show_invalid_settings(views):
    for cls in (views.BackwardExplorer, views.Im2colExplorer):
        e = cls(height=2, width=4, kernel_height=3, kernel_width=3)
        assert "larger than the padded input height 2" in e.error and e.geometry is None


GEOMETRIES = [  # (H, W, KH, KW, stride, pad, dilation)
    (5, 5, 3, 3, 1, 0, 1), (7, 7, 3, 3, 2, 0, 1), (6, 6, 3, 3, 2, 1, 1), (5, 7, 3, 2, 1, 1, 1),
    (7, 6, 3, 2, 2, 1, 2), (8, 5, 2, 3, 3, 0, 1), (4, 4, 1, 1, 2, 2, 1), (9, 9, 3, 3, 1, 2, 3),
]


@pytest.mark.parametrize("geom", GEOMETRIES)
def test_overlap_counts_equal_col2im_of_ones(geom):
    H, W, KH, KW, s, p, d = geom
    g = im.ConvGeometry(*geom)
    ones = np.ones((KH * KW, g.out_height * g.out_width))
    expected = ref.col2im_indices(ones, (1, 1, H, W), KH, KW, p, s, d)[0, 0]
    np.testing.assert_array_equal(im.overlap_counts(g), expected)
    rows, cols = im.uncovered_lines(g)
    inside_rows = [r for r in rows if 0 <= r < H]
    inside_cols = [c for c in cols if 0 <= c < W]
    assert np.all(expected[inside_rows, :] == 0) and np.all(expected[:, inside_cols] == 0)
    covered = np.ones((H, W), bool)
    covered[inside_rows, :] = covered[:, inside_cols] = False
    assert np.all(expected[covered] > 0)


@pytest.mark.parametrize("geom", GEOMETRIES)
def test_fan_out_inverts_window_taps(geom):
    g = im.ConvGeometry(*geom)
    counts = im.overlap_counts(g)
    for r, c in itertools.product(range(g.height), range(g.width)):
        fan = im.fan_out(g, r, c)
        assert len(fan) == counts[r, c]
        for (oh, ow), k in fan.items():
            assert im.window_taps(g, oh, ow)[k] == (r + g.pad, c + g.pad)
    n_pairs = sum(len(im.window_inputs(g, oh, ow)) for oh in range(g.out_height) for ow in range(g.out_width))
    assert n_pairs == counts.sum()


@pytest.mark.parametrize("geom", GEOMETRIES)
def test_im2col_layout_matches_reference(geom):
    H, W, KH, KW, s, p, d = geom
    g = im.ConvGeometry(*geom)
    _, i, j = ref.get_im2col_indices((1, 1, H, W), KH, KW, p, s, d)
    rows, cols = im.im2col_layout(g)
    np.testing.assert_array_equal(rows, i)
    np.testing.assert_array_equal(cols, j)


def test_im2col_column_highlight(views):
    e = views.Im2colExplorer(height=4, width=4, kernel_height=3, kernel_width=3, stride=2, pad=1)
    e.set(out_row=1, out_col=0)
    assert e.highlighted_column == 2
    assert e.matrix_rows.shape == (9, 4)
    assert e.column_inputs == [None, (1, 0), (1, 1), None, (2, 0), (2, 1), None, (3, 0), (3, 1)]
    # the column's 9 entries plus the selected output cell carry its click token
    assert e.grids_html.count('data-cell="out:1:0"') == 9 + 1
    assert "column 2 = window of output (1,0)" in e.grids_html
    x_flat = np.arange(16.0).reshape(1, 1, 4, 4)
    col = ref.im2col_indices(x_flat, 3, 3, 1, 2)[:, 2]
    expected = [None if v == 0 and cell is None else (int(v) // 4, int(v) % 4)
                for v, cell in zip(col, e.column_inputs, strict=True)]
    assert expected == e.column_inputs
    ones = np.ones((9, 4))
    np.testing.assert_array_equal(e.col2im_counts, ref.col2im_indices(ones, (1, 1, 4, 4), 3, 3, 1, 2)[0, 0])


def test_max_routes_first_and_all_on_ties():
    values = np.array([[2, 2, 0], [2, 1, 2], [0, 2, 2]])
    g = im.PoolGeometry(3, 3, 2, 2, 1)
    first = im.max_routes(values, g, "first")
    every = im.max_routes(values, g, "all")
    assert first == {(0, 0): ((0, 0),), (0, 1): ((0, 1),), (1, 0): ((1, 0),), (1, 1): ((1, 2),)}
    assert every[(0, 0)] == ((0, 0), (0, 1), (1, 0))
    assert every[(1, 1)] == ((1, 2), (2, 1), (2, 2))
    assert im.route_counts(first, values.shape).sum() == 4
    assert im.route_counts(every, values.shape).sum() == 3 + 2 + 2 + 3
    with pytest.raises(ValueError, match="ties must be"):
        im.max_routes(values, g, "last")


POOLS = [(4, 5, 2, 2, 1), (6, 6, 2, 2, 2), (7, 5, 3, 2, 2), (5, 5, 2, 2, 3), (3, 4, 1, 1, 1), (6, 4, 3, 3, 1)]


@pytest.mark.parametrize("geom", POOLS)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_pool_routing_agrees_with_reference(geom, seed):
    g = im.PoolGeometry(*geom)
    values = im.example_values(g.height, g.width, seed)
    pool_param = {"pool_height": g.pool_height, "pool_width": g.pool_width, "stride": g.stride}
    x = values[None, None].astype(float)
    ones = np.ones((1, 1, g.out_height, g.out_width))
    _, cache = ref.max_pool_forward_naive(x, pool_param)
    for ties in ("first", "all"):
        counts = im.route_counts(im.max_routes(values, g, ties), values.shape)
        np.testing.assert_array_equal(counts, ref.max_pool_backward_naive(ones, cache, ties=ties)[0, 0])
    _, cache = ref.avg_pool_forward_naive(x, pool_param)
    avg = im.route_counts(im.avg_routes(g), values.shape) / (g.pool_height * g.pool_width)
    np.testing.assert_allclose(avg, ref.avg_pool_backward_naive(ones, cache)[0, 0])


def test_pool_explorer_ties_side_by_side(views):
    e = views.PoolExplorer()  # default example: window (0,0) holds a tie
    assert e.selected == (0, 0)
    assert e.receivers["first"] == ((0, 0),)
    assert e.receivers["all"] == ((0, 0), (1, 0))
    assert e.highlighted_inputs == {(0, 0), (0, 1), (1, 0), (1, 1)}
    assert "ties='first' (np.argmax, PyTorch)" in e.grids_html and "ties='all' (mask)" in e.grids_html
    assert "tied at 2 cells" in e.note_text
    n_all = int(e.counts["all"].sum())
    assert n_all > 12 and f"'all' routes {n_all} (over-counting by {n_all - 12})" in e.note_text
    assert cells_of(e.grids_html, "cnnw-route") == 1 + 2
    assert "Windows overlap" in e.note_text


def test_pool_explorer_avg_tiling_gaps_and_errors(views):
    e = views.PoolExplorer(height=4, width=4, pool_height=2, pool_width=2, stride=2, mode="avg")
    assert "tile the input without overlap" in e.note_text and "1/4" in e.note_text
    np.testing.assert_array_equal(e.counts["avg"], np.ones((4, 4), int))
    assert "average: units received" in e.grids_html and "ties='all'" not in e.grids_html
    e.set(height=5, width=5, stride=3)
    assert e.uncovered_rows == (2,) and e.uncovered_cols == (2,)
    assert "leave gaps" in e.note_text
    e.controls["pool_height"].value = 4
    e.controls["height"].value = 3
    assert "pool_height 4 is larger than the input height 3" in e.error
    assert e._grids.value == ""


def test_importing_cnn_utils_needs_no_jupyter():
    code = ("import sys, cnn_utils, cnn_utils.widgets, cnn_utils.widgets.indexmaps, cnn_utils.widgets.render;"
            "print(any(m.split('.')[0] in ('ipywidgets', 'IPython', 'traitlets') for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_widgets_never_use_the_reference():
    for path in WIDGETS_DIR.glob("*.py"):
        source = path.read_text()
        assert "reference" not in source, path.name


# --- the static picture beside the live widget -----------------------------------------------

EXPLORERS = ("ConvExplorer", "BackwardExplorer", "PoolExplorer", "Im2colExplorer")
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def picture_of(bundle):
    """The PNG of a display bundle as an RGB array."""
    import base64
    import io

    from PIL import Image

    png = base64.b64decode(bundle["image/png"])
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


@pytest.mark.parametrize("name", EXPLORERS)
def test_display_data_holds_the_live_widget_and_a_png_of_its_state(views, name):
    require("PIL", "the static picture is drawn with Pillow (a matplotlib dependency)")
    explorer = getattr(views, name)()
    bundle, metadata = explorer._repr_mimebundle_()
    assert WIDGET_VIEW in bundle                 # JupyterLab and Voila: the live widget
    assert "text/html" not in bundle             # else nbconvert would prefer it to the PNG
    pixels = picture_of(bundle)
    size = metadata["image/png"]
    assert pixels.shape == (2 * size["height"], 2 * size["width"], 3)  # drawn 2x, shown at CSS size
    text = bundle["text/plain"]
    assert "children=" not in text and text.startswith(f"{name}(height=") and "H_out" in text
    assert repr(explorer) == text.splitlines()[0]

    explorer.set(stride=2)
    after, _ = explorer._repr_mimebundle_()
    assert "stride=2" in after["text/plain"]
    moved = picture_of(after)
    assert moved.shape != pixels.shape or not np.array_equal(moved, pixels)


def test_the_png_changes_with_a_slider_and_not_without(views):
    require("PIL", "the static picture is drawn with Pillow (a matplotlib dependency)")
    explorer = views.ConvExplorer()
    first, again = explorer._repr_mimebundle_()[0], explorer._repr_mimebundle_()[0]
    assert first["image/png"] == again["image/png"]     # deterministic: same state, same bytes
    explorer.controls["out_col"].value = 1               # one slider: the window moves right
    moved = explorer._repr_mimebundle_()[0]
    assert moved["image/png"] != first["image/png"]


def near(pixels, hex_colour, tolerance=12):
    """Pixels within ``tolerance`` (per channel) of ``hex_colour``."""
    rgb = np.array([int(hex_colour[i:i + 2], 16) for i in (1, 3, 5)])
    return int((np.abs(pixels.astype(int) - rgb).max(axis=2) <= tolerance).sum())


def test_the_png_paints_the_grid_colours_of_the_style_sheet(views):
    require("PIL", "the static picture is drawn with Pillow (a matplotlib dependency)")
    pixels = picture_of(views.ConvExplorer(stride=2, pad=1)._repr_mimebundle_()[0])
    # window taps (yellow), taps on padding (teal), the selected output (purple), padding (grey)
    for colour in ("#fde725", "#21918c", "#440154", "#e8e8e8"):
        assert near(pixels, colour) > 200, colour
    pixels_no_pad = picture_of(views.ConvExplorer()._repr_mimebundle_()[0])
    assert near(pixels_no_pad, "#21918c") < near(pixels, "#21918c") / 10   # no padding, no teal taps


def test_invalid_setting_is_pictured_as_its_message(views):
    require("PIL", "the static picture is drawn with Pillow (a matplotlib dependency)")
    explorer = views.ConvExplorer(height=3, kernel_height=5)
    bundle, metadata = explorer._repr_mimebundle_()
    assert "kernel height 5 is larger than the padded input height 3" in bundle["text/plain"]
    assert near(picture_of(bundle), "#b00020", tolerance=40) > 50      # the message, in red
    assert metadata["image/png"]["height"] < 80                         # and no grids


def test_without_pillow_the_static_picture_is_html(views, monkeypatch):
    monkeypatch.setitem(sys.modules, "cnn_utils.widgets.picture", None)   # import fails as without Pillow
    bundle, metadata = views.PoolExplorer()._repr_mimebundle_()
    assert WIDGET_VIEW in bundle and "image/png" not in bundle and metadata == {}
    html = bundle["text/html"]
    assert "<table" in html and "cnnw-grid" in html and "onclick" not in html and "ties='first'" in html


def test_nbconvert_html_and_latex_show_the_png(views, tmp_path):
    """Executed without saved widget state (as JupyterLab saves by default), the HTML export shows
    the PNG (not the children's repr), and the LaTeX/PDF export includes it."""
    require("PIL", "the static picture is drawn with Pillow (a matplotlib dependency)")
    import nbformat
    from nbclient import NotebookClient
    from nbconvert import HTMLExporter, LatexExporter

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "from cnn_utils.widgets import ConvExplorer\nConvExplorer(stride=2, pad=1)")])
    NotebookClient(nb, kernel_name="python3", store_widget_state=False,
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    (output,) = nb.cells[0].outputs
    assert WIDGET_VIEW in output.data and "image/png" in output.data
    html, _ = HTMLExporter().from_notebook_node(nb)
    images = re.findall(r'<img [^>]*src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)
    assert images == [output.data["image/png"]]
    assert "children=(" not in html and "ConvExplorer(height=5, width=6" in output.data["text/plain"]
    tex, resources = LatexExporter().from_notebook_node(nb)
    (name,) = [n for n in resources["outputs"] if n.endswith(".png")]
    assert name in tex and "children=(" not in tex

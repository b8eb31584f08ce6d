"""The explorer frame shared by every view: labelled sliders, the click bridge, one update per change.

A subclass lists its controls in ``CONTROLS`` (name -> (label, min, max, default) for
a slider, or (label, options, default) for toggle buttons),
names its selectable grids in ``SELECTIONS`` (token prefix -> (row control, col control))
and implements ``draw()``, which reads ``self.value(name)``, sets the rendered state
attributes, and returns (formula text, note text, grids HTML). A ``ValueError`` from
``draw()`` (an invalid geometry, from cnn_utils.shapes) is shown in the widget instead
of raised. Displayed, an explorer also carries a static picture of its state (a PNG that
cnn_utils.widgets.picture draws from ``static_html()``) for wherever no widget runs.
"""

import base64
import itertools
import re
from html import escape

import ipywidgets as w

from cnn_utils.widgets.render import STYLE

_ids = itertools.count()
_EVENTS = re.compile(r' on(click|keydown)="[^"]*"')


def _without_scripts(html):
    """The grids without their click handlers: a static copy has no widget to talk to."""
    return _EVENTS.sub("", html)


class Explorer(w.VBox):
    """Base class: build controls from ``CONTROLS``, redraw on any change."""

    CONTROLS = {}
    SELECTIONS = {}
    EXTRA_ROW = ()  # names of controls laid out on the selection row

    def __init__(self, **initial):
        unknown = set(initial) - set(self.CONTROLS)
        if unknown:
            raise ValueError(f"unknown control(s) {sorted(unknown)}; known: {sorted(self.CONTROLS)}")
        for name, v in initial.items():
            spec = self.CONTROLS[name]
            allowed = spec[1] if len(spec) == 3 else range(spec[1], spec[2] + 1)
            if v not in allowed:
                raise ValueError(f"{name}={v!r} is outside what its control allows: {list(allowed)}")
        self.controls = {name: self.make_control(spec) for name, spec in self.CONTROLS.items()}
        self.bridge_class = f"cnnw-bridge-{next(_ids)}"
        self._bridge = w.Text(description="clicked cell", layout=w.Layout(display="none"))
        self._bridge.add_class(self.bridge_class)
        self._formula = w.HTML(layout=w.Layout(margin="4px 0"))
        self._formula.add_class("cnnw-formula")
        self._note = w.HTML()
        self._note.add_class("cnnw-note")
        self._grids = w.HTML(layout=w.Layout(overflow="auto", max_width="100%"))
        self._grids.add_class("cnnw-grids")
        self._busy = False
        self.error = ""
        self.formula_text = ""
        self.note_text = ""
        selection = {c for pair in self.SELECTIONS.values() for c in pair} | set(self.EXTRA_ROW)
        box = w.Layout(flex_flow="row wrap")
        rows = [w.Box([c for n, c in self.controls.items() if n not in selection], layout=box),
                w.Box([c for n, c in self.controls.items() if n in selection], layout=box)]
        super().__init__(rows + [self._formula, self._note, self._grids, self._bridge])
        for name, control in self.controls.items():
            control.add_class(f"cnnw-control-{name.replace('_', '-')}")
            control.observe(self._on_change, names="value")
        self._bridge.observe(self._on_click, names="value")
        self.set(**initial)

    @staticmethod
    def make_control(spec):
        """A labelled, keyboard-operable control from (label, min, max, default): an integer
        slider (arrow keys move it), or from (label, options, default): toggle buttons."""
        style = {"description_width": "initial"}
        if len(spec) == 3:
            label, options, default = spec
            return w.ToggleButtons(options=options, value=default, description=label, style=style)
        label, low, high, default = spec
        return w.IntSlider(value=default, min=low, max=high, description=label,
                           continuous_update=True, style=style, layout=w.Layout(width="250px"))

    def value(self, name):
        return self.controls[name].value

    def set(self, **values):
        """Set several controls at once, then redraw once."""
        self._busy = True
        try:
            for name, v in values.items():
                self.controls[name].value = v
        finally:
            self._busy = False
        self.update()

    def _on_change(self, _change):
        if not self._busy:
            self.update()

    def _on_click(self, change):
        """A clicked grid cell arrives as 'prefix:row:col:stamp'; select it."""
        parts = change["new"].split(":")
        if len(parts) < 3 or parts[0] not in self.SELECTIONS:
            return
        row_name, col_name = self.SELECTIONS[parts[0]]
        self.set(**{row_name: int(parts[1]), col_name: int(parts[2])})

    def bound_selection(self, prefix, n_rows, n_cols):
        """Limit the selection sliders of ``prefix`` to a grid of n_rows x n_cols; return (row, col)."""
        row_name, col_name = self.SELECTIONS[prefix]
        was_busy, self._busy = self._busy, True
        try:
            self.controls[row_name].max = n_rows - 1
            self.controls[col_name].max = n_cols - 1
        finally:
            self._busy = was_busy
        return self.value(row_name), self.value(col_name)

    def update(self):
        """Recompute the index maps and redraw; show a ValueError as a message."""
        self._busy = True
        try:
            self.formula_text, self.note_text, grids = self.draw()
            self.error = ""
        except ValueError as exc:
            self.error = str(exc)
            self.formula_text, self.note_text, grids = self.error, "", ""
            self.clear_state()
        finally:
            self._busy = False
        colour = "#b00020" if self.error else "#000"
        self._formula.value = (f'<pre style="margin:0;color:{colour};white-space:pre-wrap">'
                               f"{escape(self.formula_text)}</pre>")
        self._note.value = f'<div style="font:13px sans-serif">{escape(self.note_text)}</div>'
        self._grids.value = STYLE + grids if grids else ""
        self.grids_html = grids

    def __repr__(self):
        """The explorer and its settings, e.g. ``ConvExplorer(height=5, ..., stride=2)``, not its children."""
        controls = getattr(self, "controls", {})  # not yet there while __init__ builds them
        settings = ", ".join(f"{name}={control.value!r}" for name, control in controls.items())
        return f"{type(self).__name__}({settings})"

    def _repr_mimebundle_(self, **kwargs):
        """The live widget where widgets render (JupyterLab, Notebook 7, Voila), and beside it a
        static picture of the current state for nbconvert, nbgrader's feedback pages, GitHub and
        PDF: a PNG of ``static_html()`` (shown at its CSS size), or that HTML itself where Pillow
        is missing; and as text the settings, formula and note, not the repr of the children.

        Returns (data, metadata), as IPython's display formatter accepts."""
        bundle = super()._repr_mimebundle_(**kwargs)
        bundle["text/plain"] = f"{self!r}\n{self.formula_text}\n{self.note_text}".rstrip()
        try:
            png, (width, height) = self.png()
        except ImportError:  # no Pillow: the HTML picture (nbconvert, GitHub; not PDF)
            bundle["text/html"] = self.static_html()
            return bundle, {}
        bundle["image/png"] = base64.b64encode(png).decode("ascii")
        return bundle, {"image/png": {"width": width, "height": height}}

    def png(self, scale=None):
        """The current state as PNG bytes and its (width, height) in CSS px, drawn from
        ``static_html()`` by cnn_utils.widgets.picture (needs Pillow); ``scale`` pixels per CSS px,
        by default 2, or 1 for the largest grids."""
        from cnn_utils.widgets.picture import png_of_html

        return png_of_html(self.static_html(), scale)

    def static_html(self):
        """The current state as one self-contained HTML block (no script; cells not clickable)."""
        colour = "#b00020" if self.error else "#000"
        return (f'<div class="cnnw-static"><div style="font:12px sans-serif;color:#555">'
                f"{escape(repr(self))}</div>"
                f'<pre style="margin:4px 0;color:{colour};white-space:pre-wrap">{escape(self.formula_text)}</pre>'
                f'<div style="font:13px sans-serif;white-space:pre-line">{escape(self.note_text)}</div>'
                f"{STYLE + _without_scripts(self.grids_html) if self.grids_html else ''}</div>")

    def draw(self):
        raise NotImplementedError

    def clear_state(self):
        """Reset the rendered-state attributes after an invalid setting."""
        raise NotImplementedError

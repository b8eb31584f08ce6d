"""HTML tables for the explorers: plain strings, no Jupyter needed.

Colours come from the viridis and cividis maps (colour-blind safe), and every
highlight also changes the text or the border, so nothing is told by colour alone.
Cells given a ``token`` are clickable and focusable (Enter or Space selects them):
a click writes the token into the hidden text box of class ``bridge`` whose
widget passes it to Python; this works wherever ipywidgets render HTML
(JupyterLab, Notebook 7, Voila).
"""

from html import escape

# cividis at 0, 1/8, ..., 1
CIVIDIS = ("#00224e", "#1a386f", "#434e6c", "#61656f", "#7d7c78",
           "#9b9476", "#bcae6c", "#dec958", "#fee838")

STYLE = """<style>
.cnnw-grid{border-collapse:collapse;font:11px monospace;margin:2px 10px 6px 0}
.cnnw-grid caption{font:bold 12px sans-serif;text-align:left;padding-bottom:3px;white-space:nowrap}
.cnnw-grid td{min-width:22px;height:20px;padding:0 2px;text-align:center;border:1px solid #888;color:#000}
.cnnw-grid th{font-weight:normal;color:#555;padding:0 3px}
.cnnw-grid td.cnnw-click{cursor:pointer}
.cnnw-grid td.cnnw-click:focus{outline:2px dashed #000;outline-offset:-3px}
.cnnw-plain{background:#fff}
.cnnw-pad{background:#e8e8e8;color:#666!important;border-style:dashed!important}
.cnnw-hit{background:#fde725;font-weight:bold;border:2px solid #440154!important}
.cnnw-second{background:#21918c;color:#fff!important;font-weight:bold}
.cnnw-sel{background:#440154;color:#fff!important;font-weight:bold;border:3px solid #000!important}
.cnnw-route{border:3px solid #000!important;font-weight:bold}
.cnnw-none{background:repeating-linear-gradient(45deg,#fff 0 3px,#bbb 3px 5px)}
.cnnw-legend{font:11px sans-serif;color:#333;margin:0 0 8px 0}
.cnnw-legend span{display:inline-block;min-width:16px;height:15px;line-height:15px;vertical-align:middle;
border:1px solid #888;margin:0 3px 0 10px;text-align:center}
</style>"""

KINDS = {
    "plain": "cnnw-plain",  # an ordinary cell
    "pad": "cnnw-pad",  # zero padding
    "hit": "cnnw-hit",  # highlighted: covered, reached, routed to
    "second": "cnnw-second",  # a second kind of highlight (fed a zero, tied but not routed)
    "selected": "cnnw-sel",  # the cell the student selected
    "route": "cnnw-route",  # receives the unit of the selected window (thick border)
    "none": "cnnw-none",  # no window reads it
}

_BRIDGE_JS = ("var t=event.target.closest('[data-cell]');if(!t)return;"
              "var i=document.querySelector('.{bridge} input');if(!i)return;"
              "i.value=t.dataset.cell+':'+Date.now();"
              "i.dispatchEvent(new Event('input',{{bubbles:true}}));")


def cell(text, kind="plain", title="", token=None, background=None, color=None):
    """One <td>; ``token`` makes it clickable, ``background``/``color`` override the kind's colours."""
    attrs = [f'class="{KINDS[kind]}{" cnnw-click" if token else ""}"']
    if token:
        attrs.append(f'data-cell="{token}" tabindex="0"')
    if title:
        attrs.append(f'title="{escape(title)}"')
    if background:
        attrs.append(f'style="background:{background};color:{color or "#000"}"')
    return f"<td {' '.join(attrs)}>{escape(str(text))}</td>"


def count_colours(count, vmax):
    """(background, text colour) of a count on the cividis scale from 0 to ``vmax``."""
    index = round(8 * count / vmax) if vmax > 0 else 0
    return CIVIDIS[index], ("#fff" if index < 5 else "#000")


def count_cell(count, vmax, title="", token=None, text=None):
    """A cell coloured by ``count`` (cividis), showing ``text`` or the count."""
    background, color = count_colours(count, vmax)
    return cell(count if text is None else text, "plain", title, token, background, color)


def grid(rows, caption, bridge=None, row_labels=None, col_labels=None, css_class=""):
    """An HTML table from rows of ``cell`` strings, with optional row/column index labels."""
    events = ""
    if bridge:
        js = _BRIDGE_JS.format(bridge=bridge)
        events = (f' onclick="{js}" onkeydown="if(event.key===\'Enter\'||event.key===\' \')'
                  f'{{event.preventDefault();event.stopPropagation();{js}}}"')
    parts = [f'<table class="cnnw-grid {css_class}"{events}><caption>{escape(caption, quote=False)}</caption>']
    if col_labels is not None:
        corner = "<th></th>" if row_labels is not None else ""
        parts.append("<tr>" + corner + "".join(f"<th>{label}</th>" for label in col_labels) + "</tr>")
    for r, row in enumerate(rows):
        head = f"<th>{row_labels[r]}</th>" if row_labels is not None else ""
        parts.append("<tr>" + head + "".join(row) + "</tr>")
    parts.append("</table>")
    return "".join(parts)


def legend(items):
    """A one-line key: items are (kind, sample text, meaning)."""
    keys = "".join(f'<span class="{KINDS[kind]}">{escape(sample)}</span>{escape(meaning)}'
                   for kind, sample, meaning in items)
    return f'<div class="cnnw-legend">{keys}</div>'


def page(*blocks):
    """Join blocks side by side (flex, wrapping); the explorer adds ``STYLE`` once."""
    body = "".join(f"<div>{b}</div>" for b in blocks)
    return f'<div style="display:flex;flex-wrap:wrap;align-items:flex-start">{body}</div>'

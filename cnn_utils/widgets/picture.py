"""A PNG of an explorer's static HTML, for the places where no widget runs (nbconvert,
nbgrader feedback, GitHub, PDF).

It draws the small part of HTML and CSS that ``render.py`` and ``Explorer.static_html`` write,
and nothing more: block ``<div>``/``<pre>``, flex rows of blocks, tables with a caption, ``<th>``
labels and ``<td>`` cells, inline ``<span>`` boxes among text, and the ``<style>`` sheet's class
rules (``.a``, ``.a b``, ``.a b.c``; source order, ``!important`` last, inline styles between).
Colours, borders, fonts and sizes come from that sheet and the inline styles, so the picture
follows ``render.STYLE`` without repeating it. Pure Python, numpy and Pillow (imported here;
matplotlib depends on it); the fonts are the DejaVu faces matplotlib ships, else Pillow's own.
"""

import functools
import importlib.util
import io
import math
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
from PIL import Image, ImageColor, ImageDraw, ImageFont

MAX_WIDTH = 880  # CSS px: where flex rows and text wrap, about a notebook's output width
MARGIN = 4
HIDPI_AREA = 600_000  # CSS px^2: pictures up to this size get 2 pixels per CSS px, larger ones 1
COLOURS = 32  # PNG palette: the grids' few colours and the greys of smooth text; a third of RGB's bytes
INHERITED = ("color", "font-size", "font-family", "font-weight", "white-space")
ROOT_STYLE = {"color": "#000", "font-size": "13px", "font-family": "sans-serif", "font-weight": "normal",
              "white-space": "normal"}
TAG_STYLE = {"pre": {"font-family": "monospace", "white-space": "pre"}, "style": {"display": "none"}}
BLOCKS = {"div", "pre", "table"}
_RULE = re.compile(r"([^{}]+)\{([^{}]*)\}")
_COMPOUND = re.compile(r"^([a-z]*)((?:\.[\w-]+)*)$")
_GRADIENT = re.compile(r"repeating-linear-gradient\(\s*45deg\s*,\s*(#\w+)\s+0\s+([\d.]+)px\s*,"
                       r"\s*(#\w+)\s+[\d.]+px\s+([\d.]+)px\s*\)")


class Node:
    """An element: tag, attributes, children (Nodes and strings), parent; style once computed."""

    def __init__(self, tag, attrs, parent):
        self.tag, self.attrs, self.parent, self.children = tag, dict(attrs), parent, []
        self.classes = set((self.attrs.get("class") or "").split())
        self.style = {}


class _TreeBuilder(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.root = self.current = Node("root", {}, None)

    def handle_starttag(self, tag, attrs):
        node = Node(tag, attrs, self.current)
        self.current.children.append(node)
        self.current = node

    def handle_endtag(self, tag):
        node = self.current
        while node is not self.root and node.tag != tag:
            node = node.parent
        if node is not self.root:
            self.current = node.parent

    def handle_data(self, data):
        self.current.children.append(data)


def _declarations(text):
    """'a:b;c:d!important' -> [(prop, value, important)]."""
    out = []
    for part in text.split(";"):
        if ":" in part:
            prop, value = (s.strip() for s in part.split(":", 1))
            important = value.endswith("!important")
            out.append((prop.lower(), value.removesuffix("!important").strip(), important))
    return out


def _rules(sheet):
    """The style sheet as [(selector compounds, declarations)], pseudo-class rules left out."""
    rules = []
    for selectors, body in _RULE.findall(sheet):
        for selector in selectors.split(","):
            compounds = [_COMPOUND.match(part) for part in selector.split()]
            if compounds and all(compounds):
                rules.append(([(m[1], set(m[2].split(".")[1:])) for m in compounds], _declarations(body)))
    return rules


def _matches(node, compound):
    tag, classes = compound
    return (not tag or node.tag == tag) and classes <= node.classes


def _selects(compounds, node):
    """Descendant-combinator match of a selector on ``node``."""
    if not _matches(node, compounds[-1]):
        return False
    ancestor = node.parent
    for compound in reversed(compounds[:-1]):
        while ancestor is not None and not _matches(ancestor, compound):
            ancestor = ancestor.parent
        if ancestor is None:
            return False
        ancestor = ancestor.parent
    return True


@functools.cache
def _px(value):
    return float(value.removesuffix("px")) if value.removesuffix("px").replace(".", "", 1).isdigit() else 0.0


def _sides(style, name):
    """Margin or padding as (top, right, bottom, left): the shorthand of 1 to 4 lengths, then the longhands."""
    v = [_px(p) for p in style.get(name, "0").split()] or [0.0]
    v = (v + v[1:2]) if len(v) == 3 else (v * 4)[:4]  # 1, 2, 3 or 4 values, as in CSS
    return tuple(_px(style[f"{name}-{side}"]) if f"{name}-{side}" in style else v[i]
                 for i, side in enumerate(("top", "right", "bottom", "left")))


def _assign(style, prop, value):
    """Set one declaration, expanding the shorthands the explorers use."""
    if prop == "font":
        for token in value.split():
            if token == "bold":
                style["font-weight"] = "bold"
            elif token.endswith("px"):
                style["font-size"] = token
            elif token != "normal":
                style["font-family"] = token
    elif prop == "border":
        for token in value.split():
            if token.endswith("px"):
                style["border-width"] = token
            elif token in ("solid", "dashed", "none"):
                style["border-style"] = token
            else:
                style["border-color"] = token
    else:
        style[prop] = value


def _compute_styles(node, rules, parent_style):
    if isinstance(node, str):
        return
    style = {k: parent_style[k] for k in INHERITED}
    style.update(TAG_STYLE.get(node.tag, {}))
    matched = [d for compounds, decls in rules if _selects(compounds, node) for d in decls]
    for prop, value, important in matched:
        if not important:
            _assign(style, prop, value)
    for prop, value, _ in _declarations(node.attrs.get("style") or ""):
        _assign(style, prop, value)
    for prop, value, important in matched:
        if important:
            _assign(style, prop, value)
    node.style = style
    for child in node.children:
        _compute_styles(child, rules, style)


@functools.cache
def _font_folders():
    folders = []
    spec = importlib.util.find_spec("matplotlib")  # finds the package without importing it
    if spec and spec.submodule_search_locations:
        folders.append(Path(list(spec.submodule_search_locations)[0]) / "mpl-data" / "fonts" / "ttf")
    folders.append(Path("/usr/share/fonts/truetype/dejavu"))
    return tuple(f for f in folders if f.is_dir())


@functools.cache
def _font(mono, bold, size):
    name = f"DejaVuSans{'Mono' if mono else ''}{'-Bold' if bold else ''}.ttf"
    for folder in _font_folders():
        if (folder / name).is_file():
            return ImageFont.truetype(str(folder / name), size)
    return ImageFont.load_default(size)


@functools.lru_cache(maxsize=4096)
def _length(text, font):
    return font.getlength(text)


@functools.lru_cache(maxsize=4096)
def _text_mask(text, font, anchor):
    """The coverage of ``text`` drawn at (0, 0) with ``anchor``, and where its box starts: the same
    labels recur in every grid, so each is rasterised once."""
    left, top, right, bottom = font.getbbox(text, anchor=anchor)
    mask = Image.new("L", (max(1, right - left), max(1, bottom - top)))
    ImageDraw.Draw(mask).text((-left, -top), text, font=font, fill=255, anchor=anchor)
    return mask, (left, top)


class Picture:
    """Lays out a parsed tree into drawing operations (CSS px), then paints them ``scale`` times larger."""

    def __init__(self, scale):
        self.scale = scale

    def font(self, style):
        size = max(1, round(_px(style["font-size"]) * self.scale))
        return _font("monospace" in style["font-family"], style["font-weight"] == "bold", size)

    def text_width(self, text, style):
        return _length(text, self.font(style)) / self.scale

    @staticmethod
    def line_height(style):
        return math.ceil(_px(style["font-size"]) * 1.3)

    # --- layout: each returns (width, height, ops) with ops relative to the box's top-left ------

    def layout(self, root):
        """The whole picture, whole CSS px with a white margin; text measured at this scale."""
        width, height, ops = self.block(root, MAX_WIDTH)
        return math.ceil(width) + 2 * MARGIN, math.ceil(height) + 2 * MARGIN, _shift(ops, MARGIN, MARGIN)

    def block(self, node, avail):
        """Children stacked; runs of text and inline spans flow into wrapped lines."""
        if node.style.get("display") == "flex":
            return self.flex(node, avail)
        width = height = 0.0
        ops, run = [], []

        def flush():
            nonlocal width, height
            if any(not isinstance(item, str) or item.strip() for item in run):
                w, h, line_ops = self.inline(node.style, run, avail)
                ops.extend(_shift(line_ops, 0, height))
                width, height = max(width, w), height + h
            run.clear()

        for child in node.children:
            if isinstance(child, str) or child.tag not in BLOCKS:
                if not isinstance(child, str) and child.style.get("display") == "none":
                    continue
                run.append(child)
                continue
            flush()
            if child.style.get("display") == "none":
                continue
            top, right, bottom, left = _sides(child.style, "margin")
            w, h, child_ops = self.table(child) if child.tag == "table" else self.block(child, avail - left - right)
            ops.extend(_shift(child_ops, left, height + top))
            width, height = max(width, left + w + right), height + top + h + bottom
        flush()
        return width, height, ops

    def flex(self, node, avail):
        """Children side by side, wrapping onto a new row when the next would pass ``avail``."""
        x = y = row_height = width = 0.0
        ops = []
        for child in node.children:
            if isinstance(child, str):
                continue
            w, h, child_ops = self.block(child, avail)
            if x > 0 and x + w > avail:
                x, y, row_height = 0.0, y + row_height, 0.0
            ops.extend(_shift(child_ops, x, y))
            x, row_height, width = x + w, max(row_height, h), max(width, x + w)
        return width, y + row_height, ops

    def inline(self, style, items, avail):
        """Words and inline boxes in lines no wider than ``avail`` (forced breaks where white-space keeps them)."""
        keep_breaks = style["white-space"] in ("pre", "pre-wrap", "pre-line")
        tokens = []  # ("word", text, style) | ("space", style) | ("box", node) | ("break",)
        for item in items:
            if not isinstance(item, str):
                tokens.append(("box", item))
                continue
            for i, line in enumerate(item.split("\n") if keep_breaks else [item]):
                if i:
                    tokens.append(("break",))
                for j, word in enumerate(line.split()):
                    if j or line[:1].isspace():
                        tokens.append(("space", style))
                    tokens.append(("word", word, style))
                if line[-1:].isspace():
                    tokens.append(("space", style))
        lines, line, x = [], [], 0.0
        for token in tokens:
            if token[0] == "break":
                lines.append(line)
                line, x = [], 0.0
                continue
            w, h, ops = self.token_box(token)
            if token[0] != "space" and x > 0 and x + w > avail:
                while line and line[-1][3] == "space":
                    x -= line.pop()[0]
                lines.append(line)
                line, x = [], 0.0
            if token[0] == "space" and x == 0:
                continue
            line.append((w, h, ops, token[0]))
            x += w
        lines.append(line)
        width = height = 0.0
        all_ops = []
        for line in lines:
            line_height = max([self.line_height(style)] + [h for _, h, _, _ in line])
            x = 0.0
            for w, h, ops, _ in line:
                all_ops.extend(_shift(ops, x, height + (line_height - h) / 2))
                x += w
            width, height = max(width, x), height + line_height
        return width, height, all_ops

    def token_box(self, token):
        if token[0] in ("word", "space"):
            style = token[-1]
            text = token[1] if token[0] == "word" else " "
            w, h = self.text_width(text, style), self.line_height(style)
            return w, h, ([("text", 0, h / 2, text, style, "lm")] if token[0] == "word" else [])
        node = token[1]
        text = _text(node)
        top, right, bottom, left = _sides(node.style, "margin")
        pad = _sides(node.style, "padding")
        border = _px(node.style.get("border-width", "0"))
        w = max(_px(node.style.get("min-width", "0")), self.text_width(text, node.style) + pad[1] + pad[3])
        h = _px(node.style.get("height", "0")) or self.line_height(node.style)
        ops = _cell_ops(node.style, left, top, w + border, h + border, text)
        return left + w + border + right, top + h + border + bottom, ops

    def table(self, node):
        """A bordered grid (border-collapse: neighbours share their border) under its caption."""
        caption = next((c for c in node.children if not isinstance(c, str) and c.tag == "caption"), None)
        rows = [[c for c in tr.children if not isinstance(c, str) and c.tag in ("td", "th")]
                for tr in node.children if not isinstance(tr, str) and tr.tag == "tr"]
        n_cols = max((len(r) for r in rows), default=0)
        col_widths, row_heights = [0.0] * n_cols, []
        for row in rows:
            height = 0.0
            for j, c in enumerate(row):
                pad = _sides(c.style, "padding")
                col_widths[j] = max(col_widths[j], max(_px(c.style.get("min-width", "0")),
                                                       self.text_width(_text(c), c.style)) + pad[1] + pad[3])
                height = max(height, _px(c.style.get("height", "0")), self.line_height(c.style))
            row_heights.append(height)
        ops, y, width = [], 0.0, sum(col_widths) + 1
        if caption is not None:
            text = _text(caption)
            pad = _sides(caption.style, "padding")
            h = self.line_height(caption.style)
            ops.append(("text", pad[3], h / 2, text, caption.style, "lm"))
            y = h + pad[0] + pad[2]
            width = max(width, self.text_width(text, caption.style) + pad[1] + pad[3])
        late = []  # borders thicker than one pixel are drawn over their neighbours' thin ones
        for row, height in zip(rows, row_heights, strict=True):
            x = 0.0
            for c, w in zip(row, col_widths, strict=False):   # a short row leaves the last columns empty
                cell = _cell_ops(c.style, x, y, w + 1, height + 1, _text(c))
                thick = _px(c.style.get("border-width", "0")) > 1
                late.extend(op for op in cell if op[0] == "border" and thick)
                ops.extend(op for op in cell if op[0] != "border" or not thick)
                x += w
            y += height
        return width, y + 1, _ordered(ops + late)

    # --- painting ------------------------------------------------------------------------------

    def paint(self, width, height, ops):
        s = self.scale
        image = Image.new("RGB", (math.ceil(width * s), math.ceil(height * s)), "white")
        draw = ImageDraw.Draw(image)
        for op in ops:
            kind = op[0]
            if kind == "text":
                _, x, y, text, style, anchor = op
                mask, (left, top) = _text_mask(text, self.font(style), anchor)
                x0, y0 = round(x * s) + left, round(y * s) + top
                image.paste(ImageColor.getrgb(style["color"]), (x0, y0, x0 + mask.width, y0 + mask.height), mask)
                continue
            x0, y0, x1, y1 = (round(v * s) for v in op[1:5])
            if kind == "fill":
                draw.rectangle([x0, y0, x1 - 1, y1 - 1], fill=op[5])
            elif kind == "hatch":
                base, on, stripe, period = op[5:]
                yy, xx = np.indices((y1 - y0, x1 - x0))
                along = ((xx - yy) / math.sqrt(2)) % (period * s)
                colours = np.array([ImageColor.getrgb(base), ImageColor.getrgb(stripe)], dtype=np.uint8)
                image.paste(Image.fromarray(colours[(along >= on * s).astype(int)]), (x0, y0))
            elif kind == "border":
                colour, line, dashed = op[5], max(1, round(op[6] * s)), op[7]
                if not dashed:
                    draw.rectangle([x0, y0, x1 - 1, y1 - 1], outline=colour, width=line)
                    continue
                dash = 3 * s
                for a, b, fixed, horizontal in ((x0, x1, y0, True), (x0, x1, y1 - line, True),
                                                (y0, y1, x0, False), (y0, y1, x1 - line, False)):
                    for start in range(a, b, 2 * dash):
                        end = min(start + dash, b) - 1
                        box = ([start, fixed, end, fixed + line - 1] if horizontal
                               else [fixed, start, fixed + line - 1, end])
                        draw.rectangle(box, fill=colour)
        return image


def _text(node):
    """The text of an element, white space collapsed."""
    parts = []

    def walk(n):
        for c in n.children:
            if isinstance(c, str):
                parts.append(c)
            else:
                walk(c)

    walk(node)
    return " ".join("".join(parts).split())


def _cell_ops(style, x, y, w, h, text):
    """Background, border and centred text of a box at (x, y) of outer size w x h."""
    ops = []
    background = style.get("background", "")
    hatch = _GRADIENT.search(background)
    if hatch:
        base, on, stripe, period = hatch[1], float(hatch[2]), hatch[3], float(hatch[4])
        ops.append(("hatch", x, y, x + w, y + h, base, on, stripe, period))
    elif background.startswith("#"):
        ops.append(("fill", x, y, x + w, y + h, background))
    width = _px(style.get("border-width", "0"))
    if width and style.get("border-style", "solid") != "none":
        ops.append(("border", x, y, x + w, y + h, style.get("border-color", "#000"), width,
                    style.get("border-style") == "dashed"))
    if text:
        ops.append(("text", x + w / 2, y + h / 2, text, style, "mm"))
    return ops


def _shift(ops, dx, dy):
    out = []
    for op in ops:
        if op[0] == "text":
            out.append(("text", op[1] + dx, op[2] + dy, *op[3:]))
        else:
            out.append((op[0], op[1] + dx, op[2] + dy, op[3] + dx, op[4] + dy, *op[5:]))
    return out


def _ordered(ops):
    """Fills, then borders, then text: nothing painted later hides a cell's label."""
    rank = {"fill": 0, "hatch": 0, "border": 1, "text": 2}
    return sorted(ops, key=lambda op: rank[op[0]])


def png_of_html(html, scale=None):
    """PNG bytes of ``html`` (the explorers' subset) and its size in CSS px, (width, height).

    ``scale`` pixels per CSS px; by default 2 (sharp on high-density screens, shown at the CSS
    size) up to ``HIDPI_AREA``, 1 beyond, where the pixels would cost more time than they show.
    """
    builder = _TreeBuilder()
    builder.feed(html)
    builder.close()
    root = builder.root
    sheet = []

    def collect(node):
        for c in node.children:
            if not isinstance(c, str):
                if c.tag == "style":
                    sheet.extend(x for x in c.children if isinstance(x, str))
                collect(c)

    collect(root)
    _compute_styles(root, _rules("".join(sheet)), ROOT_STYLE)
    picture = Picture(scale or 2)
    width, height, ops = picture.layout(root)
    if scale is None and width * height > HIDPI_AREA:
        picture = Picture(1)
        width, height, ops = picture.layout(root)
    buffer = io.BytesIO()
    image = picture.paint(width, height, ops)
    sample = image.resize((max(1, image.width // 3), max(1, image.height // 3)), Image.Resampling.NEAREST)
    palette = sample.quantize(COLOURS, method=Image.Quantize.FASTOCTREE)  # a ninth of the pixels: 4x faster
    image.quantize(palette=palette, dither=Image.Dither.NONE).save(buffer, format="PNG")
    return buffer.getvalue(), (width, height)

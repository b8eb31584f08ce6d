"""Notebook pages in which nothing a student wrote can run: the nbconvert preprocessor :class:`SafeHTML`.

The course's nbgrader configs put it in every HTMLExporter nbgrader builds: the formgrader's view of
a submission and the pages of ``nbgrader generate_feedback``. nbconvert's own ``sanitize_html``
leaves nbgrader's formgrade template's markdown cells alone, and its ``SanitizeHTML`` preprocessor
cleans markdown *source* as HTML (a markdown ``[x](javascript:...)`` link, an attachment or an
image's metadata passes it, and ``$a<b$`` or a ``>`` quote is mangled). So here a markdown cell is
rendered to HTML as nbconvert renders it, cleaned against an allowlist, and handed back as one raw
HTML block that the template's markdown pass leaves as it is; maths stays ``$...$`` text for
MathJax. Outputs keep plain text, LaTeX, PNG/JPEG (checked base64) and cleaned HTML; every other
type (SVG, JavaScript, widget views, ...) is replaced by a line of text that names it.
"""

import re

import bleach
from nbconvert.filters.markdown_mistune import IPythonRenderer, MarkdownWithMath
from nbconvert.preprocessors import Preprocessor
from nbformat.v4 import new_output

TAGS = {"a", "abbr", "b", "blockquote", "br", "caption", "code", "dd", "del", "div", "dl", "dt", "em",
        "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "kbd", "li", "ol", "p", "pre", "s", "span",
        "strong", "sub", "sup", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "u", "ul"}
IMAGE_TYPES = ("image/png", "image/jpeg", "image/gif")
BASE64 = re.compile(r"[A-Za-z0-9+/=\s]*")
DATA_IMAGE = re.compile(r"data:image/(png|jpeg|gif);base64,[A-Za-z0-9+/=]*")
SAFE_ID = re.compile(r"[A-Za-z0-9_-]{1,200}")   # nbgrader's own rule for grade ids
TEXT_OUTPUTS = ("text/plain", "text/latex")


def _allowed(tag, name, value):
    """bleach's attribute filter: which attribute of an allowed tag stays (URLs: no script, no fetch)."""
    if name in ("class", "title"):
        return True
    if tag == "a":
        return name == "href" and not value.strip().lower().startswith("data:")
    if tag == "img":
        return name in ("alt", "width", "height") or (name == "src" and DATA_IMAGE.fullmatch(value.strip()))
    if tag in ("td", "th"):
        return name in ("colspan", "rowspan", "align")
    return name == "id" and tag in {"h1", "h2", "h3", "h4", "h5", "h6"}


CLEANER = bleach.Cleaner(tags=TAGS, attributes=_allowed, protocols=["http", "https", "mailto", "data"],
                         strip_comments=True)


def clean(html):
    """``html`` with only allowlisted tags and attributes; any other tag is shown as text."""
    return CLEANER.clean(str(html))


def markdown(source, attachments=None):
    """Markdown (with ``$maths$``) rendered as nbconvert does, then cleaned; ``attachment:`` images inline."""
    images = {name: {mime: data for mime, data in (kinds or {}).items()
                     if mime in IMAGE_TYPES and isinstance(data, str) and BASE64.fullmatch(data)}
              for name, kinds in (attachments or {}).items() if isinstance(kinds, dict)}
    renderer = IPythonRenderer(escape=False, attachments={k: v for k, v in images.items() if v})
    try:
        html = MarkdownWithMath(renderer=renderer).render(str(source))
    except Exception:  # a missing attachment, a malformed cell: show the source as text
        html = f"<pre>{bleach.clean(str(source), tags=set())}</pre>"
    return clean(html)


def raw_block(html):
    """``html`` as one line in a ``div``: markdown passes such a block through untouched."""
    return '<div class="safe-html">' + html.replace("\r", "").replace("\n", "&#10;") + "</div>"


def _data(data, metadata):
    """The output bundle's displayable types and its image metadata (whole-number width/height only)."""
    kept, sizes, dropped = {}, {}, []
    for mime, value in data.items():
        value = "".join(value) if isinstance(value, list) else value
        if not isinstance(value, str):
            dropped.append(mime)
        elif mime in TEXT_OUTPUTS:
            kept[mime] = value
        elif mime in ("image/png", "image/jpeg") and BASE64.fullmatch(value):
            kept[mime] = value
            given = metadata.get(mime) if isinstance(metadata.get(mime), dict) else {}
            sizes[mime] = {k: v for k, v in given.items() if k in ("width", "height") and type(v) is int}
        elif mime == "text/html":
            kept[mime] = clean(value)
        elif mime == "text/markdown":
            kept["text/html"] = markdown(value)
        else:
            dropped.append(mime)
    if dropped and not kept:
        kept["text/plain"] = f"[an output of type {', '.join(sorted(map(str, dropped)))} is not shown]"
    return kept, sizes


def output(out):
    """A copy of output ``out`` that no browser runs: streams and errors are text already."""
    kind = out.get("output_type")
    if kind == "stream":
        return new_output("stream", name=out.get("name", "stdout"), text=str(out.get("text", "")))
    if kind == "error":
        return new_output("error", ename=str(out.get("ename", "")), evalue=str(out.get("evalue", "")),
                          traceback=[str(line) for line in out.get("traceback", [])])
    if kind in ("display_data", "execute_result"):
        data, sizes = _data(out.get("data") or {}, out.get("metadata") or {})
        safe = new_output(kind, data=data, metadata=sizes)
        if kind == "execute_result":
            safe.execution_count = out.get("execution_count")
        return safe
    return new_output("stream", name="stdout", text=f"[an output of kind {kind} is not shown]")


class SafeHTML(Preprocessor):
    """Cleans markdown and raw cells, outputs, attachments and the metadata templates print."""

    def preprocess(self, nb, resources):
        """Drop the notebook's widget state (it makes the page load widget code), then clean each cell."""
        nb.metadata.pop("widgets", None)
        return super().preprocess(nb, resources)

    def preprocess_cell(self, cell, resources, index):
        """One cell, made safe to show."""
        grading = cell.metadata.get("nbgrader")
        if isinstance(grading, dict) and not SAFE_ID.fullmatch(str(grading.get("grade_id", "x"))):
            del cell.metadata["nbgrader"]   # nbgrader's templates print the grade id unescaped
        if cell.cell_type == "markdown":
            cell.source = raw_block(markdown(cell.source, cell.get("attachments")))
            cell.pop("attachments", None)
        elif cell.cell_type == "raw":
            cell.source = clean(cell.source)
        elif cell.cell_type == "code":
            cell.outputs = [output(out) for out in cell.get("outputs", [])]
        return cell, resources

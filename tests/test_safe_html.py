"""autograder.safe_html without a browser: what the cleaner keeps, what it turns into text."""

import nbformat
from nbconvert import HTMLExporter
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from autograder import safe_html

PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="


def test_markdown_keeps_maths_tables_and_data_images_but_no_script_url_or_handler():
    html = safe_html.markdown("$a<b$ and [x](javascript:alert(1)) <img src=x onerror=alert(1)>\n\n"
                              "| h |\n|---|\n| 1 |\n\n![p](attachment:p.png) ![r](http://example.org/r.png)",
                              {"p.png": {"image/png": PNG}})
    assert "$a&lt;b$" in html and "<td>1</td>" in html and f'src="data:image/png;base64,{PNG}"' in html
    assert "javascript" not in html and "<img src=\"x\"" not in html and "example.org" not in html
    assert "<img>" in html and '<img alt="r">' in html   # the tags stay, their handler and remote source go


def test_outputs_keep_text_and_png_and_show_other_types_as_a_line_of_text():
    cell = new_code_cell(outputs=[
        nbformat.v4.new_output("display_data", data={"image/png": PNG, "text/plain": "fig"},
                               metadata={"image/png": {"width": "1 onerror=x", "height": 20}}),
        nbformat.v4.new_output("display_data", data={"application/javascript": "alert(1)"}),
        nbformat.v4.new_output("display_data", data={"image/png": 'A" onerror="alert(1)'}),
    ])
    first, script, broken = (safe_html.output(o) for o in cell.outputs)
    assert first.data == {"image/png": PNG, "text/plain": "fig"} and first.metadata == {"image/png": {"height": 20}}
    assert script.data == {"text/plain": "[an output of type application/javascript is not shown]"}
    assert "image/png" not in broken.data


def test_the_preprocessor_in_an_exporter_drops_widget_state_and_unsafe_grade_ids():
    nb = new_notebook(cells=[new_markdown_cell("**kept** <script>alert(1)</script>")])
    nb.cells[0].metadata.nbgrader = {"grade_id": 'x"><script>alert(1)</script>', "grade": True}
    nb.metadata.widgets = {"application/vnd.jupyter.widget-state+json": {"state": {}}}
    html, _ = HTMLExporter(preprocessors=[safe_html.SafeHTML]).from_notebook_node(nb)
    assert "<strong>kept</strong>" in html and "<script>alert" not in html and "widget-state" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html   # a tag not allowed is shown as text

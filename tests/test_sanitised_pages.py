"""Nothing a student writes runs in the pages instructors and students open (headless chromium).

A hostile a1 submission carries every vector we know of (script tags, event handlers, javascript:
links in markdown and HTML, iframe srcdoc, object/embed, forms, meta refresh, base, style with
url(), SVG script, widget state) in its written answer, in a plain markdown cell, in attachments
and in outputs (text/html, image/svg+xml, application/javascript, text/markdown, widget views, a
PNG whose data breaks out of its attribute). A vector that runs fetches /hit/<where>-<what> from a
counting HTTP server on 127.0.0.1 (which also sees navigations, refreshes and loads). The course
grades it with ``python -m autograder grade``; chromium then opens (a) the formgrader's
manual-grading page of the submission in a Jupyter server with nbgrader's extension, (b) the page
``nbgrader generate_feedback`` wrote and (c) the submitted notebook, outputs and all, through the
course config's HTMLExporter and nbgrader's feedback template (the grader drops outputs, so (a)
and (b) show none). Each page must record no hit, keep no javascript: link, form or widget code,
and still show a benign answer, a table, a PNG and maths.
Without Playwright or /usr/bin/chromium it skips on a user's machine and fails under CI=true.
"""

import base64
import copy
import http.server
import os
import secrets
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from attacks import A1, lesson, write
from conftest import require, require_sandbox
from test_browser import CHROMIUM, CHROMIUM_ARGS, free_port, require_chromium, stop, wait_until_up

pytestmark = [pytest.mark.browser, pytest.mark.autograder, pytest.mark.sandbox]

ROOT = Path(__file__).resolve().parents[1]
ASSIGNMENT, NOTEBOOK = A1
STUDENT = "mallory"
ENV = dict(os.environ, PYTHONPATH=str(ROOT), PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
MATHS = r"\frac{a}{b} < c"
BENIGN = (f"**Benign answer** with maths ${MATHS}$\n\n| col | val |\n|---|---|\n| one | 1 |\n\n"
          "![benign-png](attachment:ok.png)\n")


def vectors(hit):
    """HTML that fetches ``hit(name)`` if the browser runs it, one per vector."""
    call = lambda name: f"fetch('{hit(name)}')"  # noqa: E731
    return "\n\n".join([
        f"<script>{call('script')}</script>",
        f'<img src="x" onerror="{call("img-onerror")}">',
        f'<svg onload="{call("svg-onload")}"></svg>',
        f'<details open ontoggle="{call("details-ontoggle")}"><summary>s</summary>d</details>',
        f"[md link](javascript:{call('md-javascript-link')})",
        f'<a href="javascript:{call("a-javascript-href")}">html link</a>',
        f'<a href=" JaVaScRiPt:{call("a-mixed-case-href")}">mixed case</a>',
        f'<iframe srcdoc="<script>{call("iframe-srcdoc")}</script>"></iframe>',
        f'<object data="{hit("object")}"></object><embed src="{hit("embed")}">',
        f'<form action="{hit("form")}"><input type="submit" value="go"></form>',
        f'<meta http-equiv="refresh" content="3;url={hit("meta-refresh")}">',
        f'<base href="{hit("base")}/">',
        f'<style>@import url("{hit("style-import")}"); body {{ background: url("{hit("style-url")}") }}</style>',
        f"<div style=\"background-image: url('{hit('style-attribute')}')\">styled</div>",
        f"<svg><script>{call('svg-script')}</script></svg>",
        f'<img src="{hit("remote-image")}">',
    ])


def attachments(hit):
    svg = f'<svg xmlns="http://www.w3.org/2000/svg" onload="{hit("svg")}"><script>fetch(1)</script></svg>'
    return {"ok.png": {"image/png": PNG},
            "evil.svg": {"image/svg+xml": base64.b64encode(svg.encode()).decode()},
            "quote.png": {"image/png": f'AAAA" onerror="fetch(\'{hit("attribute")}\')'}}


def outputs(hit):
    """Outputs of every rich type; the last, a benign PNG."""
    call = lambda name: f"fetch('{hit(name)}')"  # noqa: E731
    widget = {"model_id": "w1", "version_major": 2, "version_minor": 0}
    bundles = [
        {"text/html": vectors(lambda name: hit("html-" + name))},
        {"text/html": f"<script>{call('isolated')}</script>"},
        {"image/svg+xml": f'<svg xmlns="http://www.w3.org/2000/svg" onload="{call("svg")}"></svg>'},
        {"application/javascript": call("javascript")},
        {"text/markdown": vectors(lambda name: hit("markdown-" + name))},
        {"application/vnd.jupyter.widget-view+json": widget, "text/plain": "a widget"},
        {"image/png": f'AAAA" onerror="{call("png-attribute")}'},
        {"image/png": PNG},
    ]
    meta = [{}, {"text/html": {"isolated": True}}] + [{}] * 6
    return [{"output_type": "display_data", "data": data, "metadata": m} for data, m in zip(bundles, meta, strict=True)]


def widget_state(hit):
    model = {"model_module": hit("widget-module"), "model_module_version": "1.0.0", "model_name": "X",
             "state": {"_view_module": hit("widget-view")}}
    return {"application/vnd.jupyter.widget-state+json": {"version_major": 2, "version_minor": 0,
                                                          "state": {"w1": model}}}


def hostile_submission(hit):
    """Lesson a1 with the vectors in its written answer, a markdown cell, attachments and outputs."""
    nb = lesson(*A1)
    answer = next(c for c in nb.cells if c.cell_type == "markdown" and c.metadata.get("nbgrader", {}).get("grade"))
    answer.source = BENIGN + "\n\n" + vectors(lambda name: hit("answer-" + name))
    answer.attachments = attachments(lambda name: hit("answer-attachment-" + name))
    plain = copy.deepcopy(answer)
    del plain.metadata["nbgrader"]
    plain.source = vectors(lambda name: hit("markdown-" + name))
    plain.attachments = attachments(lambda name: hit("markdown-attachment-" + name))
    plain.pop("id", None)
    nb.cells.insert(nb.cells.index(answer), plain)
    code = next(c for c in nb.cells if c.cell_type == "code")
    code.outputs = outputs(lambda name: hit("output-" + name))
    nb.metadata.widgets = widget_state(lambda name: hit("notebook-" + name))
    return nb


class Hits(http.server.ThreadingHTTPServer):
    """Counts every request on 127.0.0.1: a vector that ran, loaded or navigated."""

    def __init__(self):
        self.paths = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(handler):  # noqa: N805
                self.paths.append(handler.path)
                handler.send_response(200)
                handler.send_header("Access-Control-Allow-Origin", "*")
                handler.end_headers()

            do_POST = do_GET

            def log_message(handler, *args):  # noqa: N805
                pass

        super().__init__(("127.0.0.1", 0), Handler)

    def url(self, name):
        return f"http://127.0.0.1:{self.server_address[1]}/hit/{name}"


@pytest.fixture(scope="module")
def hits():
    server = Hits()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


def run(course, *args):
    done = subprocess.run([sys.executable, "-m", *args], cwd=course, capture_output=True, text=True,
                          timeout=900, env=ENV)
    assert done.returncode == 0, f"{' '.join(args)}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"


@pytest.fixture(scope="module")
def course(tmp_path_factory, hits):
    """The course, with the hostile submission graded and its feedback generated."""
    require_sandbox()
    course = tmp_path_factory.mktemp("sanitised") / "course"
    course.mkdir()
    shutil.copy(ROOT / "nbgrader_config.py", course)
    shutil.copytree(ROOT / "solutions" / ASSIGNMENT, course / "solutions" / ASSIGNMENT)
    with open(course / "nbgrader_config.py", "a") as handle:
        handle.write("c.Autograder.cell_timeout = 30\nc.Autograder.notebook_timeout = 240\n")
    run(course, "nbgrader", "generate_assignment", ASSIGNMENT, "--force")
    write(hostile_submission(hits.url), course / "submitted" / STUDENT / ASSIGNMENT / f"{NOTEBOOK}.ipynb")
    run(course, "autograder", "grade", ASSIGNMENT, "--course", str(course), "--quiet")
    run(course, "nbgrader", "generate_feedback", ASSIGNMENT, "--force")
    return course


def submission_id(course):
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", course_id="cnn-backprop") as gb:
        return gb.find_submission_notebook(NOTEBOOK, ASSIGNMENT, STUDENT).id


@pytest.fixture
def formgrader(course, tmp_path):
    """The manual-grading page of the submission, served by a Jupyter server with nbgrader's extension."""
    psutil = require("psutil", "needed to check that no server process is left")
    port, token = free_port(), secrets.token_hex(16)
    env = dict(ENV, JUPYTER_CONFIG_DIR=str(tmp_path / "config"), JUPYTER_DATA_DIR=str(tmp_path / "data"),
               JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"))
    cmd = [sys.executable, "-m", "jupyter", "server", "--no-browser", "--ServerApp.allow_root=True",
           "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
           f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={course}"]
    log = tmp_path / "server.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, cwd=course, env=env, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)
    try:
        wait_until_up(f"http://127.0.0.1:{port}/api/status?token={token}", proc, log)
        yield f"http://127.0.0.1:{port}/formgrader/submissions/{submission_id(course)}/?token={token}"
    finally:
        left = stop(proc, psutil)
    assert not left, f"processes left after shutdown: {left}"


def exported(course, tmp_path):
    """The submitted notebook (outputs and all) as generate_feedback's exporter shows it: the course
    config, nbgrader's feedback template, scores where nbgrader's GetGrades puts them."""
    import nbformat
    import nbgrader
    from nbconvert import HTMLExporter
    from traitlets.config.loader import PyFileConfigLoader

    config = PyFileConfigLoader("nbgrader_config.py", path=str(course)).load_config()
    templates = Path(nbgrader.__file__).parent / "server_extensions" / "formgrader" / "templates"
    css = templates.parent / "static" / "node_modules" / "bootstrap" / "dist" / "css"
    exporter = HTMLExporter(config=config, template_name="feedback", extra_template_basedirs=[str(templates)],
                            extra_template_paths=[str(css)])
    nb = nbformat.read(course / "submitted" / STUDENT / ASSIGNMENT / f"{NOTEBOOK}.ipynb", as_version=4)
    for cell in nb.cells:
        cell.metadata.get("nbgrader", {}).setdefault("score", 0)
    resources = {"nbgrader": {"notebook": NOTEBOOK, "score": 0, "max_score": 0, "late_penalty": 0}}
    page = tmp_path / "submitted.html"
    page.write_text(exporter.from_notebook_node(nb, resources=resources)[0])
    return page


LOOK = """() => {
    const links = [...document.querySelectorAll('a')].filter(a => a.protocol === 'javascript:');
    links.forEach(a => a.click());
    document.querySelectorAll('details').forEach(d => { d.open = !d.open; });
    const widgets = document.querySelectorAll(
        'script[type*="jupyter.widget"], script[src*="jupyter-widgets"], script[src*="html-manager"]');
    return {links: links.length, widgets: widgets.length, forms: document.querySelectorAll('form').length};
}"""
SHOWN = """() => ({text: document.body.innerText, table: document.querySelectorAll('td').length,
                 png: [...document.images].filter(i => i.complete && i.naturalWidth > 0).length})"""
SUBMIT = "() => document.querySelectorAll('form').forEach(f => f.requestSubmit())"


def visit(url, hits):
    """Open ``url`` in chromium as a reader would (click javascript: links, toggle details, submit
    forms, wait for a refresh); returns the hits, the javascript: links and widget scripts, the text."""
    sync_api = require("playwright.sync_api", "pip install playwright (the browser extra)")
    require_chromium()
    hits.paths.clear()
    found, shown = {"links": -1, "widgets": -1}, {"text": "", "table": 0, "png": 0}
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.set_default_timeout(60_000)
            page.goto(url, wait_until="load")
            page.wait_for_timeout(1000)
            try:
                found = page.evaluate(LOOK)
                shown = page.evaluate(SHOWN)
                page.wait_for_timeout(3500)   # a meta refresh (3 s), fetches from clicked links
                page.evaluate(SUBMIT)
                page.wait_for_timeout(1000)
            except sync_api.Error:   # the page navigated away: its hit is counted
                pass
        finally:
            browser.close()
    # a favicon is asked for only after a navigation, which counted already
    return sorted({p for p in hits.paths if p != "/favicon.ico"}), found, shown


def check(url, hits, pngs=1):
    ran, found, shown = visit(url, hits)
    assert (ran, found["links"], found["widgets"], found["forms"]) == ([], 0, 0, 0), f"vectors ran: {ran}, {found}"
    assert "Benign answer" in shown["text"] and MATHS in shown["text"] and shown["table"] >= 2
    assert "<p>" not in shown["text"], "benign formatting is shown as text"
    assert shown["png"] >= pngs, "the benign PNG is not shown"


def test_the_formgraders_manual_grading_page_runs_nothing_of_the_student(formgrader, hits):
    check(formgrader, hits)


def test_the_generated_feedback_runs_nothing_of_the_student(course, hits):
    page = course / "feedback" / STUDENT / ASSIGNMENT / f"{NOTEBOOK}.html"
    check(page.as_uri(), hits)


def test_the_submitted_notebooks_outputs_run_nothing(course, hits, tmp_path):
    check(exported(course, tmp_path).as_uri(), hits, pngs=2)

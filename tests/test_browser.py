"""The convolution explorer in a real browser: JupyterLab on 127.0.0.1, Debian's chromium via Playwright.

The test opens lesson 1 (lessons/a1_conv_forward) in a temporary root, runs its explorer
cell, moves the stride slider with the keyboard (ArrowRight on the focused handle) and checks
that the formula and the output grid change, then selects an output cell with the mouse
and another with the keyboard (Enter on a focused cell). Screenshots go to
test-artifacts/ at the repository root. The server, its kernel and the browser are shut
down at the end and the test checks that none of their processes is left.
Without Playwright or /usr/bin/chromium it skips on a user's machine and fails under CI=true.
"""

import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from conftest import require

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "lessons" / "a1_conv_forward" / "conv_forward.ipynb"
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-gpu",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
TIMEOUT_MS = 90_000


def require_chromium():
    if CHROMIUM.exists():
        return
    message = f"{CHROMIUM} is missing: apt-get install chromium"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{message} (CI=true: every prerequisite must be installed)")
    pytest.skip(message)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_up(url, proc, log, seconds=90):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"jupyter lab exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"jupyter lab did not answer {url} within {seconds} s:\n{log.read_text()[-3000:]}")


def stop(proc, psutil):
    """Stop the server (it shuts its kernels down), then make sure no process of its tree is left."""
    try:
        server = psutil.Process(proc.pid)
        tree = [server] + server.children(recursive=True)
    except psutil.NoSuchProcess:  # the server already exited
        tree = []
    proc.send_signal(signal.SIGTERM)  # the server's handler stops its kernels
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    _, alive = psutil.wait_procs(tree, timeout=15)
    for p in alive:  # only processes this test started
        p.kill()
    return [p.pid for p in alive]


@pytest.fixture
def lab(tmp_path):
    """A JupyterLab server on a free port of 127.0.0.1 with the explorer notebook in a temporary root."""
    psutil = require("psutil", "needed to check that no server or kernel process is left")
    require("jupyterlab", "the browser test serves the notebook with JupyterLab (dev extra)")
    root = tmp_path / "root"
    root.mkdir()
    shutil.copy(NOTEBOOK, root / NOTEBOOK.name)
    port, token = free_port(), secrets.token_hex(16)
    env = dict(os.environ,
               JUPYTER_CONFIG_DIR=str(tmp_path / "config"), JUPYTER_DATA_DIR=str(tmp_path / "data"),
               JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"), IPYTHONDIR=str(tmp_path / "ipython"))
    news = tmp_path / "settings" / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    news.parent.mkdir(parents=True)
    news.write_text('{"fetchNews": "false"}')  # no news toast over the screenshots
    tracker = tmp_path / "settings" / "@jupyterlab" / "notebook-extension" / "tracker.jupyterlab-settings"
    tracker.parent.mkdir(parents=True)
    tracker.write_text('{"windowingMode": "none"}')  # every cell in the page, not only the visible ones
    log = tmp_path / "jupyter.log"
    cmd = [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ServerApp.allow_root=True",
           "--ServerApp.ip=127.0.0.1",
           f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
           f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
           f"--LabApp.workspaces_dir={tmp_path / 'workspaces'}",
           f"--LabApp.user_settings_dir={tmp_path / 'settings'}",
           "--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)
    try:
        wait_until_up(f"http://127.0.0.1:{port}/api/status?token={token}", proc, log)
        yield f"http://127.0.0.1:{port}/lab/tree/{NOTEBOOK.name}?token={token}"
    finally:
        left = stop(proc, psutil)
    assert not left, f"processes left after shutdown: {left}"


def out_cells(page):
    return page.locator(".cnnw-grids td[data-cell^='out:']").count()


def readout(page, control):
    return page.locator(f".cnnw-control-{control} .widget-readout").inner_text().strip()


def test_stride_moves_with_the_keyboard(lab):
    sync_api = require("playwright.sync_api", "pip install playwright (the browser extra)")
    require_chromium()
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1100})
            page.set_default_timeout(TIMEOUT_MS)
            # expect() keeps its own 5 s default: too short for a kernel start on a busy machine
            sync_api.expect.set_options(timeout=TIMEOUT_MS)
            page.goto(lab)
            # run the cell only once the kernel is up, or Shift+Enter just moves on
            sync_api.expect(page.get_by_role("button", name=re.compile(r"\| Idle"))).to_be_visible()
            # the setup cell imports the explorer, as a student's first Shift+Enter does, then the
            # explorer's own cell; the kernel runs the two in that order
            for text in ("import ConvExplorer", "ConvExplorer("):
                cell = page.locator(".jp-CodeCell", has_text=text).first
                cell.locator(".jp-InputArea-editor").click()
                page.keyboard.press("Shift+Enter")
            formula = page.locator(".cnnw-formula").first
            sync_api.expect(formula).to_contain_text("/ 2) + 1 = floor(5 / 2) + 1 = 3")
            assert out_cells(page) == 9
            grid_before = page.locator(".cnnw-grids").inner_html()
            page.locator(".cnnw-grids").first.screenshot(path=str(ARTIFACTS / "explorer_stride2.png"))

            handle = page.locator(".cnnw-control-stride .noUi-handle")
            handle.focus()
            page.keyboard.press("ArrowRight")
            sync_api.expect(formula).to_contain_text("/ 3) + 1 = floor(5 / 3) + 1 = 2")
            sync_api.expect(page.locator(".cnnw-grids td[data-cell^='out:']")).to_have_count(4)
            assert readout(page, "stride") == "3"
            assert page.locator(".cnnw-grids").inner_html() != grid_before
            page.screenshot(path=str(ARTIFACTS / "explorer_stride3_lab.png"))

            page.locator(".cnnw-grids td[data-cell='out:1:0']").click()  # mouse
            sync_api.expect(page.locator(".cnnw-control-out-row .widget-readout")).to_have_text("1")
            sync_api.expect(page.locator(".cnnw-control-out-col .widget-readout")).to_have_text("0")
            cell = page.locator(".cnnw-grids td[data-cell='out:0:1']")  # keyboard on a cell
            cell.focus()
            page.keyboard.press("Enter")
            sync_api.expect(page.locator(".cnnw-control-out-row .widget-readout")).to_have_text("0")
            sync_api.expect(page.locator(".cnnw-control-out-col .widget-readout")).to_have_text("1")
            sync_api.expect(page.locator(".cnnw-grids td.cnnw-sel")).to_have_attribute(
                "data-cell", "out:0:1")
            page.locator(".cnnw-grids").first.screenshot(path=str(ARTIFACTS / "explorer_stride3.png"))
        finally:
            browser.close()

"""The formgrader's Autograde button, clicked in a real browser, grades through the sandbox.

A course (the course's own nbgrader_config.py) with an honest and a hostile submission (its
solution cell imports the reference and prints a canary file the server's user can read) is served
by a Jupyter server with nbgrader's formgrader on 127.0.0.1; headless chromium clicks Autograde in
both rows of Manage Submissions. The page then shows the scores the command line gives a copy of
the same course, the hostile notebook scores 0 and nothing it could read reaches the course.
"""

import csv
import secrets
import subprocess
import sys

import pytest

from conftest import require, require_sandbox
from test_autograde_door import (ASSIGNMENT, CANARY_TEXT, ENV, NOTEBOOK, course_copy, grade_by_cli,
                                 gradebook_scores, rows)
from test_browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, free_port, require_chromium, stop, wait_until_up

pytestmark = [pytest.mark.browser, pytest.mark.autograder, pytest.mark.sandbox]

CLICK_MS = 900_000   # one click grades one student: the template, the kernel and the re-check


@pytest.fixture(scope="module")
def courses(tmp_path_factory):
    """(course graded by clicking Autograde in the formgrader, a copy graded by the command line,
    the scores the page shows, the server's log and nbgrader's dialogs)."""
    require_sandbox()
    require_chromium()
    require("playwright", "the browser tests drive chromium with Playwright (test extra)")
    psutil = require("psutil", "needed to check that no server or kernel process is left")
    top = tmp_path_factory.mktemp("button")
    (top / "canary.txt").write_text(CANARY_TEXT)
    by_cli, by_button = course_copy(top, "cli", top / "canary.txt"), course_copy(top, "button", top / "canary.txt")
    grade_by_cli(by_cli)
    exchange = top / "exchange"    # the formgrader's pages need one, writable
    exchange.mkdir(mode=0o777)
    with open(by_button / "nbgrader_config.py", "a") as handle:
        handle.write(f"c.Exchange.root = {str(exchange)!r}\n")
    port, token = free_port(), secrets.token_hex(16)
    env = dict(ENV, JUPYTER_CONFIG_DIR=str(top / "config"), JUPYTER_DATA_DIR=str(top / "data"),
               JUPYTER_RUNTIME_DIR=str(top / "runtime"), IPYTHONDIR=str(top / "ipython"))
    log = top / "server.log"
    command = [sys.executable, "-m", "jupyter", "server", "--no-browser", "--ServerApp.allow_root=True",
               "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
               f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={by_button}"]
    with open(log, "w") as out:
        server = subprocess.Popen(command, cwd=by_button, env=env, stdout=out, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL)
    try:
        wait_until_up(f"http://127.0.0.1:{port}/api/status?token={token}", server, log)
        shown, dialogs = click_autograde(f"http://127.0.0.1:{port}/formgrader/manage_submissions/{ASSIGNMENT}", token)
    finally:
        left = stop(server, psutil)
    assert not left, f"processes left after shutdown: {left}"
    return by_button, by_cli, shown, log.read_text() + "\n".join(dialogs.values())


def click_autograde(url, token):
    """Click Autograde in every row of the page at ``url``, reading and closing the dialog nbgrader
    shows after each; ({student: the row's score text}, {student: the dialog's text})."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 800},
                                    extra_http_headers={"Authorization": f"token {token}"})
            page.goto(url)
            shown, dialogs = {}, {}
            for student in ("mallory", "alice"):
                row = page.locator("tr", has_text=student)
                row.locator("td").nth(5).locator("a").click()
                dialog = page.locator("#success-modal, #error-modal").filter(has=page.locator(".modal-body:visible"))
                dialog.wait_for(timeout=CLICK_MS)
                dialogs[student] = dialog.inner_text()
                dialog.locator(".modal-footer button").first.click()
                dialog.wait_for(state="hidden")
                score = row.locator("td").nth(4)
                score.filter(has_text="/").wait_for(timeout=30_000)   # "<score> / <max>" once graded
                shown[student] = score.inner_text().strip()
            page.locator(".modal-backdrop").wait_for(state="detached")
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "formgrader-autograde-button.png"), full_page=True)
            return shown, dialogs
        finally:
            browser.close()


def test_the_button_gives_the_command_lines_scores(courses):
    by_button, by_cli, shown, _ = courses
    assert gradebook_scores(by_button) == gradebook_scores(by_cli)
    assert rows(by_button) == rows(by_cli)
    cli = gradebook_scores(by_cli)
    for student, text in shown.items():
        assert float(text.split("/")[0]) == pytest.approx(cli[student]), (student, text)


def test_the_hostile_submission_gains_nothing_and_reads_nothing(courses):
    by_button, _, shown, seen = courses
    assert gradebook_scores(by_button)["mallory"] == 0 and float(shown["mallory"].split("/")[0]) == 0
    autograded = by_button / "autograded" / "mallory" / ASSIGNMENT / f"{NOTEBOOK}.ipynb"
    assert autograded.is_file()
    for path in [autograded, *(by_button / "reports").rglob("*.*")]:
        if path.suffix in {".ipynb", ".html", ".csv", ".log"}:
            assert CANARY_TEXT not in path.read_text(errors="replace"), path
    assert CANARY_TEXT not in seen


def test_every_row_the_button_graded_ran_in_the_sandbox(courses):
    by_button, *_ = courses
    with open(by_button / "reports" / "grades.csv", newline="") as handle:
        graded = list(csv.DictReader(handle))
    assert {row["student"] for row in graded} == {"alice", "mallory"}
    for row in graded:
        assert {"bwrap", "seccomp", "recheck"} <= set(row["defences"].split(";")), row

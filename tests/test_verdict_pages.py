"""A named mistake reads in full where nbgrader shows it: the feedback page a student fetches
(`nbgrader generate_feedback` from the course's autograded notebook), opened in chromium at 1280
pixels, shows the verdict's whole hint inside the page, with nothing to scroll sideways."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import require, require_sandbox
from test_browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, require_chromium

pytestmark = [pytest.mark.browser, pytest.mark.autograder, pytest.mark.sandbox]

ROOT = Path(__file__).resolve().parents[1]
ASSIGNMENT, NOTEBOOK, STUDENT = "a1_conv_forward", "conv_forward", "bob_mistakes"   # ignores the stride
ENV = dict(os.environ, PYTHONPATH=str(ROOT), PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
MEASURE = """() => {
    const pre = [...document.querySelectorAll('pre')].find(p => p.innerText.includes('Likely mistake'));
    return pre && {text: pre.innerText, scroll: pre.scrollWidth, client: pre.clientWidth,
                   right: pre.getBoundingClientRect().right, page: document.documentElement.clientWidth};
}"""


def run(course, *args):
    done = subprocess.run([sys.executable, "-m", *args], cwd=course, capture_output=True, text=True,
                          timeout=900, env=ENV)
    assert done.returncode == 0, f"{' '.join(args)}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"


def test_the_named_mistake_is_read_in_full_on_the_students_feedback_page(tmp_path):
    from cnn_utils.grading.mistakes import MISTAKES

    sync_api = require("playwright.sync_api", "pip install playwright (the browser extra)")
    require_chromium()
    require_sandbox()
    course = tmp_path / "course"
    course.mkdir()
    shutil.copy(ROOT / "nbgrader_config.py", course)
    shutil.copytree(ROOT / "solutions" / ASSIGNMENT, course / "solutions" / ASSIGNMENT)
    shutil.copytree(ROOT / "autograder" / "samples" / STUDENT / ASSIGNMENT, course / "submitted" / STUDENT / ASSIGNMENT)
    run(course, "nbgrader", "generate_assignment", ASSIGNMENT, "--force")
    run(course, "autograder", "grade", ASSIGNMENT, "--quiet")
    run(course, "nbgrader", "generate_feedback", ASSIGNMENT, "--force")
    page_file = course / "feedback" / STUDENT / ASSIGNMENT / f"{NOTEBOOK}.html"
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(page_file.as_uri(), wait_until="load")
            found = page.evaluate(MEASURE)
            assert found, "the feedback page shows no named mistake"
            page.locator("pre", has_text="Likely mistake").first.scroll_into_view_if_needed()
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "feedback-verdict-1280.png"))
        finally:
            browser.close()
    hint = MISTAKES["stride_ignored"].hint
    assert " ".join(hint.split()) in " ".join(found["text"].split())
    assert found["scroll"] <= found["client"] + 1 and found["right"] <= found["page"], found

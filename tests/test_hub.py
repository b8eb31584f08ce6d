"""The course on a real JupyterHub on 127.0.0.1, end to end through nbgrader's exchange.

The hub runs deploy/jupyterhub_config.py in a temporary folder (exchange, course, hub database)
with real Unix users: `instructor`, `student1`, `student2` (created by deploy/local_hub.py).
The instructor releases, collects and releases feedback through the formgrader service's REST
API, and grades with `python -m autograder grade` in the course folder (whose results the
formgrader then lists); each student fetches, submits and fetches feedback through the nbgrader
API of their OWN single-user server, with their own token. student1 submits the solution,
student2 a typical mistake (stride ignored). Needs root, `make hub` (npm proxy, .hub/venv):
skipped without them on a user's machine, failed under CI=true.
"""

import csv
import json
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
import psutil
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "deploy"))
import local_hub  # noqa: E402  (deploy/ is not a package)

pytestmark = pytest.mark.hub

COURSE_ID = "cnn-backprop"
ASSIGNMENT, NOTEBOOK = "a1_conv_forward", "conv_forward"
INSTRUCTOR, (CORRECT, MISTAKE), GRADER = local_hub.INSTRUCTOR, local_hub.STUDENTS, local_hub.GRADER
USERS = (INSTRUCTOR, CORRECT, MISTAKE)
STRIDE_LINE = "top, left = i * stride, j * stride"


def prerequisite(ok, reason):
    if ok:
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (CI=true: the hub test must run)")
    pytest.skip(reason)


def free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


class Hub:
    """A running hub: its process, URL, and an HTTP session per user token."""

    def __init__(self, process, url, log):
        import requests

        self.process, self.url, self.log = process, url, log
        self.requests = requests

    def call(self, token, method, path, expect=(200, 201, 202, 204), **kwargs):
        response = self.requests.request(method, self.url + path, timeout=120, allow_redirects=False,
                                         headers={"Authorization": f"token {token}"}, **kwargs)
        if expect and response.status_code not in expect:
            raise AssertionError(f"{method} {path}: {response.status_code} {response.text[:500]}\n"
                                 f"hub log:\n{self.log.read_text()[-3000:]}")
        return response

    def wait_ready(self, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"the hub exited:\n{self.log.read_text()[-3000:]}"
            try:
                if self.requests.get(self.url + "/hub/api/", timeout=2).ok:
                    return
            except self.requests.ConnectionError:
                pass
            time.sleep(0.5)
        raise AssertionError(f"the hub did not answer in {timeout} s:\n{self.log.read_text()[-3000:]}")

    def start_server(self, user, token, timeout=120):
        self.call(token, "POST", f"/hub/api/users/{user}/server", expect=(201, 202, 400))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            server = self.call(token, "GET", f"/hub/api/users/{user}").json()["servers"].get("", {})
            if server.get("ready"):
                return
            time.sleep(0.5)
        raise AssertionError(f"{user}'s server did not start:\n{self.log.read_text()[-3000:]}")


def nbgrader_caches():
    """The entries of nbgrader's submission cache in the course users' real homes (a student's
    server writes one at each submit, and the Assignments list shows them as submitted)."""
    return {entry for name in (*USERS, GRADER)
            for entry in (Path(pwd.getpwnam(name).pw_dir) / ".local/share/jupyter/nbgrader_cache").glob("*/*")}


def user_processes():
    """Processes running as one of the course's Unix users."""
    found = []
    for proc in psutil.process_iter(["pid", "username", "cmdline"]):
        if proc.info["username"] in (*USERS, GRADER):
            found.append(proc)
    return found


@pytest.fixture(scope="module")
def hub():
    prerequisite(os.geteuid() == 0, "the hub spawns servers as real Unix users: run the hub tests as root")
    prerequisite((local_hub.PROXY_BIN / "configurable-http-proxy").exists(),
                 "configurable-http-proxy is missing: run `make hub` (npm install --prefix .hub)")
    prerequisite((local_hub.HUB_VENV / "bin" / "jupyterhub").exists(),
                 f"the users' environment {local_hub.HUB_VENV} is missing: run `make hub-setup` as root")
    prerequisite(shutil.which("runuser") is not None and shutil.which("useradd") is not None,
                 "runuser/useradd are missing")
    assert not user_processes(), f"processes of the course users already run: {user_processes()}"
    for name in (*USERS, GRADER):
        local_hub.ensure_user(name)
    graders = local_hub.ensure_group(local_hub.GRADERS, [GRADER, INSTRUCTOR])

    cached = nbgrader_caches()
    top = Path(tempfile.mkdtemp(prefix="cnn-hub-"))
    top.chmod(0o755)
    state, homes = top / "state", top / "homes"
    state.mkdir(mode=0o700)
    homes.mkdir()
    for name in USERS:
        home = homes / name
        home.mkdir(mode=0o700)
        shutil.chown(home, name, name)
    exchange = local_hub.ensure_exchange(top / "exchange")
    runtime = top / "runtime"
    local_hub.install_runtime(runtime, graders)
    course = local_hub.prepare_course(top / "course", GRADER, exchange, runtime, ASSIGNMENT)
    command = local_hub.install_grading_command(top / "bin", exchange, course, runtime)   # /usr/local/bin on a hub
    admin_token = secrets.token_hex(16)
    port, hub_port, proxy_port, service_port = free_ports(4)
    env = local_hub.hub_environment(state, exchange, course, runtime, user_dir=f"{homes}/{{username}}",
                                    port=port, hub_port=hub_port, proxy_api_port=proxy_port,
                                    service_port=service_port, automation_token=admin_token, cull_timeout=3600)
    log = top / "hub.log"
    with open(log, "w") as out:
        process = subprocess.Popen(
            [str(local_hub.user_bin() / "python"), "-m", "jupyterhub", "-f",
             str(ROOT / "deploy" / "jupyterhub_config.py")],
            cwd=state, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    running = Hub(process, f"http://127.0.0.1:{port}", log)
    started = set()
    try:
        running.wait_ready()
        tokens = {name: running.call(admin_token, "POST", f"/hub/api/users/{name}/tokens",
                                     json={"note": "test_hub"}).json()["token"] for name in USERS}
        for name in USERS:
            running.start_server(name, tokens[name])
        started = {p.pid for p in psutil.Process(process.pid).children(recursive=True)}
        yield running, tokens, {"top": top, "course": course, "exchange": exchange, "homes": homes,
                                "runtime": runtime, "command": command}
    finally:
        started |= {p.pid for p in psutil.Process(process.pid).children(recursive=True)} \
            if process.poll() is None else set()
        os.killpg(process.pid, signal.SIGTERM)  # the hub stops every server and service it started
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        _, alive = psutil.wait_procs([p for p in map(_process, started) if p], timeout=30)
        leftovers = alive + user_processes()
        for proc in leftovers:  # only processes this test started
            proc.kill()
        shutil.rmtree(top, ignore_errors=True)
        for entry in nbgrader_caches() - cached:   # what this test's submissions wrote, nothing older
            shutil.rmtree(entry, ignore_errors=True)
        assert not leftovers, f"processes left behind after stopping the hub: {leftovers}"
        assert nbgrader_caches() == cached, "the test left entries in the users' nbgrader caches"


def _process(pid):
    try:
        return psutil.Process(pid)
    except psutil.NoSuchProcess:
        return None


def student_api(hub_, tokens, user, method, path, **kwargs):
    return hub_.call(tokens[user], method, f"/user/{user}{path}", **kwargs)


def formgrader(hub_, tokens, method, path, **kwargs):
    response = hub_.call(tokens[INSTRUCTOR], method, f"/services/{COURSE_ID}/formgrader/api{path}", **kwargs)
    body = response.json()
    assert not isinstance(body, dict) or body.get("success", True), f"{path}: {body}"
    return body


def exchange_action(hub_, tokens, user, action):
    return student_api(hub_, tokens, user, "POST", f"/assignments/{action}",
                       params={"course_id": COURSE_ID, "assignment_id": ASSIGNMENT}).json()


def filled(lesson, mistake):
    """The lesson notebook with the solution cells of the instructor's notebook (or a mistake)."""
    solution = nbformat.read(str(ROOT / "solutions" / ASSIGNMENT / f"{NOTEBOOK}.ipynb"), as_version=4)
    answers = {c.metadata["nbgrader"]["grade_id"]: c.source for c in solution.cells
               if c.metadata.get("nbgrader", {}).get("solution")}
    for cell in lesson["cells"]:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("solution"):
            source = answers[meta["grade_id"]]
            if mistake and cell["cell_type"] == "code":
                assert STRIDE_LINE in source, "the solution changed: pick another typical mistake"
                source = source.replace(STRIDE_LINE, "top, left = i, j")
            cell["source"] = source
    return lesson


def feedback_score(hub_, tokens, user):
    folder = f"/api/contents/{ASSIGNMENT}/feedback"
    stamps = student_api(hub_, tokens, user, "GET", folder).json()["content"]
    assert len(stamps) == 1, f"{user} has feedback folders {stamps}"
    page = student_api(hub_, tokens, user, "GET", f"/api/contents/{stamps[0]['path']}/{NOTEBOOK}.html",
                       params={"type": "file", "format": "text"}).json()["content"]
    score = re.search(r"Score:\s*([\d.]+)\s*/\s*([\d.]+)", page)
    assert score, f"no score in {user}'s feedback"
    return float(score.group(1)), float(score.group(2)), page


def test_release_fetch_submit_collect_grade_feedback(hub):
    hub_, tokens, paths = hub

    # the formgrader service is the instructors' only: a student's token is refused
    page = hub_.call(tokens[INSTRUCTOR], "GET", f"/services/{COURSE_ID}/formgrader/manage_assignments")
    assert "Manage Assignments" in page.text
    hub_.call(tokens[CORRECT], "GET", f"/services/{COURSE_ID}/formgrader/manage_assignments", expect=(403,))
    # ... and a student cannot reach another student's server
    hub_.call(tokens[MISTAKE], "GET", f"/user/{CORRECT}/api/contents", expect=(403, 404))

    formgrader(hub_, tokens, "POST", f"/assignment/{ASSIGNMENT}/release")
    for student, mistake in ((CORRECT, False), (MISTAKE, True)):
        listed = exchange_action(hub_, tokens, student, "fetch")
        assert listed["success"], listed
        path = f"/api/contents/{ASSIGNMENT}/{NOTEBOOK}.ipynb"
        lesson = student_api(hub_, tokens, student, "GET", path).json()["content"]
        assert "### BEGIN SOLUTION" not in json.dumps(lesson)
        student_api(hub_, tokens, student, "PUT", path,
                    json={"type": "notebook", "format": "json", "content": filled(lesson, mistake)})
        submitted = exchange_action(hub_, tokens, student, "submit")
        assert submitted["success"], submitted

    # one student cannot read the other's submission in the exchange
    inbound = paths["exchange"] / COURSE_ID / "inbound"
    theirs = [p for p in inbound.glob(f"{CORRECT}+{ASSIGNMENT}+*/{NOTEBOOK}.ipynb")]
    assert len(theirs) == 1, sorted(inbound.iterdir())
    for probe in (["cat", str(theirs[0])], ["ls", str(inbound)]):
        result = local_hub.as_user(MISTAKE, probe, cwd="/", check=False)
        assert result.returncode != 0 and "Permission denied" in result.stderr, (probe, result)

    formgrader(hub_, tokens, "POST", f"/assignment/{ASSIGNMENT}/collect")
    grade_in_the_course(paths)
    before = {s["student"]: s["code_score"] for s in formgrader(hub_, tokens, "GET", f"/submissions/{ASSIGNMENT}")}
    # the formgrader's Autograde button (the call it makes) grades through the sandbox, as the
    # grading account, and keeps the other student's rows
    formgrader(hub_, tokens, "POST", f"/submission/{ASSIGNMENT}/{MISTAKE}/autograde")
    with open(paths["course"] / "reports" / "grades.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert {r["student"] for r in rows} == {CORRECT, MISTAKE}
    assert all({"bwrap", "seccomp", "recheck"} <= set(r["defences"].split(";")) for r in rows), rows
    submissions = {s["student"]: s for s in formgrader(hub_, tokens, "GET", f"/submissions/{ASSIGNMENT}")}
    assert {student: s["code_score"] for student, s in submissions.items()} == before
    correct, wrong = submissions[CORRECT], submissions[MISTAKE]
    assert correct["code_score"] == correct["max_code_score"] > 0, correct
    assert 0 <= wrong["code_score"] < wrong["max_code_score"], wrong
    for submission in (correct, wrong):   # the written answer waits for the instructor, uncounted
        assert submission["needs_manual_grade"] and submission["score"] == submission["code_score"], submission
    formgrader(hub_, tokens, "POST", f"/assignment/{ASSIGNMENT}/generate_feedback")
    formgrader(hub_, tokens, "POST", f"/assignment/{ASSIGNMENT}/release_feedback")

    for student, expected in ((CORRECT, correct), (MISTAKE, wrong)):
        assert exchange_action(hub_, tokens, student, "fetch_feedback")["success"]
        score, max_score, page = feedback_score(hub_, tokens, student)
        assert (score, max_score) == (expected["score"], expected["max_score"]), student
        assert "Graded: " in page, f"{student}'s feedback lacks the grader's verdict"
        for secret in ("BEGIN HIDDEN TESTS", 'grade("'):
            assert secret not in page, f"{student}'s feedback shows {secret!r}"
    assert "stride" in feedback_score(hub_, tokens, MISTAKE)[2].lower(), "the mistake is not named"


def grade_in_the_course(paths):
    """The grading account grades the collected submissions with the autograder pipeline (sandbox
    and re-check) by the command the README gives, `cnn-autograder grade ASSIGNMENT` from root with
    runuser, on a PATH without the hub's Python and outside the course folder: the results land in
    the course, where the formgrader reads them."""
    bare = {"PATH": f"{paths['command'].parent}:/usr/bin:/bin"}
    local_hub.as_user(GRADER, ["cnn-autograder", "grade", ASSIGNMENT, "--jobs", "2", "--quiet"],
                      cwd=paths["top"], env=bare)
    with open(paths["course"] / "reports" / "grades.csv") as handle:
        assert {r["student"] for r in csv.DictReader(handle)} == {CORRECT, MISTAKE}


def test_each_lab_shows_the_nbgrader_tabs_that_work_there(hub):
    """JupyterLab's page config, as each server serves it: students get no formgrader, course list
    or assignment creation; instructors keep Create Assignment but lose the Formgrader tab, which the
    hub's frame-ancestors 'none' would leave blank (they open the course service in its own tab)."""
    hub_, tokens, _ = hub
    disabled = {}
    for name in (INSTRUCTOR, CORRECT):
        page = hub_.call(tokens[name], "GET", f"/user/{name}/lab").text
        found = re.search(r'<script id="jupyter-config-data" type="application/json">(.*?)</script>', page, re.S)
        assert found, f"{name}'s Lab page has no page config"
        disabled[name] = set(json.loads(found.group(1)).get("disabledExtensions", []))
    nbgrader = {"@jupyter/nbgrader:formgrader", "@jupyter/nbgrader:course-list", "@jupyter/nbgrader:create-assignment"}
    assert nbgrader & disabled[CORRECT] == nbgrader
    assert nbgrader & disabled[INSTRUCTOR] == {"@jupyter/nbgrader:formgrader"}


def test_the_formgrader_names_the_class_from_the_class_list(hub):
    """make hub imports deploy/class_list.csv into the course's gradebook: the formgrader lists the
    students by name and e-mail (the LMS files use them), never as "None, None"."""
    hub_, tokens, _ = hub
    students = {s["id"]: s for s in formgrader(hub_, tokens, "GET", "/students")}
    assert {name: (students[name]["first_name"], students[name]["email"]) for name in (CORRECT, MISTAKE)} == \
        {CORRECT: ("Ada", f"{CORRECT}@example.org"), MISTAKE: ("Grace", f"{MISTAKE}@example.org")}

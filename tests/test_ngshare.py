"""Private submissions on Kubernetes: nbgrader's exchange through the ngshare service, for real.

A JupyterHub on 127.0.0.1 (the hub's environment of `make hub-setup`) runs ngshare with the
arguments of deploy/z2jh/ngshare.yaml, as the service deploy/z2jh/values.yaml declares, beside
the course service `cnn-backprop` with its roles from values.yaml. Every nbgrader command runs
with the shared nbgrader config (deploy/jupyter) and CNN_HUB_NGSHARE_URL, as the pods do, and
with its caller's own hub token; ngshare knows callers by their token only, so no Unix users are
needed. The first-release Job's script (course-init.yaml) creates the course and releases;
students fetch and submit; then student2 tries every way ngshare's API and nbgrader's commands
offer to read student1's work, and gets nothing. Skipped without the hub's environment on a
user's machine, failed under CI=true.
"""

import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
sys.path.insert(0, str(DEPLOY))
import local_hub  # noqa: E402  (deploy/ is not a package)
from test_hub import free_ports, prerequisite  # noqa: E402

pytestmark = pytest.mark.hub

COURSE_ID, SERVICE, GROUP = "cnn-backprop", "cnn-backprop", "nbgrader-cnn-backprop"
ASSIGNMENT, NOTEBOOK = "a1_conv_forward", "conv_forward"
STUDENTS = ("student1", "student2")
OUTSIDER = "visitor"   # a hub user outside the course group
SECRET = "student1-private-answer-7f3a"
PYTHON = local_hub.HUB_VENV / "bin" / "python"
# ngshare binds 0.0.0.0 in hub mode; tests listen on 127.0.0.1 only, so its launcher pins that
NGSHARE_LAUNCHER = ("import sys, tornado.tcpserver as t; listen = t.TCPServer.listen; "
                    "t.TCPServer.listen = lambda self, port, address='', **kw: listen(self, port, '127.0.0.1', **kw); "
                    "from ngshare.ngshare import main; main(sys.argv[1:])")


def manifest(name, kind):
    return next(d for d in yaml.safe_load_all((DEPLOY / "z2jh" / name).read_text()) if d and d["kind"] == kind)


def hub_config(top, ports, tokens):
    """A jupyterhub_config.py for the test: the values' ngshare and course services and roles."""
    values = yaml.safe_load((DEPLOY / "z2jh" / "values.yaml").read_text())["hub"]
    [container] = manifest("ngshare.yaml", "Deployment")["spec"]["template"]["spec"]["containers"]
    args = [a.replace("/srv/ngshare", str(top / "ngshare")) for a in container["args"]]
    ngshare = {**values["services"]["ngshare"], "name": "ngshare", "url": f"http://127.0.0.1:{ports['ngshare']}",
               "command": [str(PYTHON), "-c", NGSHARE_LAUNCHER, *args]}
    course = {"name": SERVICE, "api_token": tokens[SERVICE]}
    roles = [{"name": name, **{k: v for k, v in role.items() if k != "description"}}
             for name, role in values["loadRoles"].items()]
    roles.append({"name": "test-admin", "scopes": ["admin:users", "tokens", "groups", "admin:groups"],
                  "services": ["test-admin"]})
    return f"""
c = get_config()
c.JupyterHub.ip = "127.0.0.1"
c.JupyterHub.port = {ports['public']}
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = {ports['hub']}
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{ports['proxy']}"
c.ConfigurableHTTPProxy.command = [{str(local_hub.PROXY_BIN / 'configurable-http-proxy')!r}]
c.JupyterHub.cookie_secret_file = {str(top / 'cookie_secret')!r}
c.JupyterHub.db_url = "sqlite:///{top / 'hub.sqlite'}"
c.Authenticator.allowed_users = {set([*STUDENTS, OUTSIDER])!r}
c.JupyterHub.load_groups = {{{GROUP!r}: {{"users": {list(STUDENTS)!r}}}, "formgrade-cnn-backprop": {{"users": []}}}}
c.JupyterHub.services = {[ngshare, course, {"name": "test-admin", "api_token": tokens["admin"]}]!r}
c.JupyterHub.load_roles = {roles!r}
"""


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    prerequisite((local_hub.PROXY_BIN / "configurable-http-proxy").exists(),
                 "configurable-http-proxy is missing: run `make hub-setup` (npm install --prefix .hub)")
    check = "import importlib.util as u, sys; sys.exit(not all(map(u.find_spec, sys.argv[1:])))"
    found = subprocess.run([str(PYTHON), "-c", check, "jupyterhub", "ngshare", "ngshare_exchange", "nbgrader"],
                           capture_output=True, text=True) if PYTHON.exists() else None
    prerequisite(found is not None and found.returncode == 0,
                 f"the hub's environment {local_hub.HUB_VENV} lacks jupyterhub, ngshare or ngshare_exchange: "
                 "run `make hub-setup` as root")
    top = tmp_path_factory.mktemp("ngshare-hub")
    (top / "ngshare").mkdir()   # ngshare's volume
    tokens = {SERVICE: secrets.token_hex(16), "admin": secrets.token_hex(16)}
    public, hub_port, proxy, ngshare = free_ports(4)
    ports = {"public": public, "hub": hub_port, "proxy": proxy, "ngshare": ngshare}
    (top / "jupyterhub_config.py").write_text(hub_config(top, ports, tokens))
    log = top / "hub.log"
    with open(log, "w") as out:
        process = subprocess.Popen([str(PYTHON), "-m", "jupyterhub", "-f", str(top / "jupyterhub_config.py")],
                                   cwd=top, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    import requests

    base = f"http://127.0.0.1:{public}"
    try:
        deadline = time.monotonic() + 60
        while True:   # ready when the proxy routes to ngshare, which answers only once it has its database
            assert process.poll() is None, f"the hub exited:\n{log.read_text()[-3000:]}"
            assert time.monotonic() < deadline, f"ngshare did not answer through the hub:\n{log.read_text()[-3000:]}"
            try:
                if requests.get(f"{base}/services/ngshare/healthz", timeout=2).ok:
                    break
            except requests.ConnectionError:
                pass
            time.sleep(0.5)
        for name in (*STUDENTS, OUTSIDER):
            answer = requests.post(f"{base}/hub/api/users/{name}/tokens", json={"note": "test_ngshare"},
                                   headers={"Authorization": f"token {tokens['admin']}"}, timeout=30)
            assert answer.status_code == 201, answer.text
            tokens[name] = answer.json()["token"]
        yield {"top": top, "tokens": tokens, "base": base, "log": log,
               "api": f"http://127.0.0.1:{hub_port}/hub/api",
               "ngshare": f"http://127.0.0.1:{ngshare}/services/ngshare"}
    finally:
        for sig in (signal.SIGTERM, signal.SIGKILL):   # the hub stops the ngshare it started
            try:
                os.killpg(process.pid, sig)
                process.wait(timeout=60)
                break
            except ProcessLookupError:
                break
            except subprocess.TimeoutExpired:
                continue
        process.wait()


def run(hub, who, args, cwd, check=True, env=None):
    """An nbgrader (or other) command as the pods run it: the shared nbgrader config, ngshare's
    URL, the caller's own token. ``who``: the course service, or a hub user."""
    home = hub["top"] / "homes" / who
    home.mkdir(parents=True, exist_ok=True)
    variables = {"PATH": f"{PYTHON.parent}:/usr/bin:/bin", "HOME": str(home),
           "JUPYTER_CONFIG_PATH": str(DEPLOY / "jupyter"), "CNN_HUB_NGSHARE_URL": hub["ngshare"],
           "JUPYTERHUB_API_URL": hub["api"], "JUPYTERHUB_API_TOKEN": hub["tokens"][who]}
    env = {**(env or {}), **variables}
    if who == SERVICE:
        env.update(JUPYTERHUB_SERVICE_NAME=SERVICE, PYTHONPATH=str(ROOT))
    else:
        env.update(JUPYTERHUB_USER=who)
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    if check:
        assert result.returncode == 0, f"{args}: {result.stdout}\n{result.stderr}\n{hub['log'].read_text()[-2000:]}"
    return result


def ngshare_get(hub, who, path):
    import requests

    token = hub["tokens"][who]
    return requests.get(f"{hub['ngshare']}/{path}", headers={"Authorization": f"token {token}"}, timeout=30)


def course_init(hub, course):
    """The first-release Job's script (course-init.yaml), the image's folder being the checkout."""
    [container] = manifest("course-init.yaml", "Job")["spec"]["template"]["spec"]["containers"]
    script = (container["args"][0].replace("/opt/cnn-backprop/ngshare_course.py", str(DEPLOY / "ngshare_course.py"))
              .replace("/opt/cnn-backprop", str(ROOT)).replace("/srv/course", str(course)))
    values = {e["name"]: e["value"].replace("/srv/course", str(course)) for e in container["env"] if "value" in e}
    # every assignment would take minutes to generate; the first is the one the Job releases
    script = script.replace("generate_assignment '*'", f"generate_assignment {values['FIRST_ASSIGNMENT']}")
    return run(hub, SERVICE, [*container["command"], script], cwd=course, env=values)


@pytest.fixture(scope="module")
def submitted(hub):
    """The course created and a1 released by the Job's script; both students fetch and submit."""
    course = hub["top"] / "course"
    course.mkdir()
    init = course_init(hub, course)
    assert f"2 students added {list(STUDENTS)}" in init.stdout, init.stdout
    for student in STUDENTS:
        home = hub["top"] / "homes" / student
        home.mkdir(parents=True, exist_ok=True)
        fetched = run(hub, student, ["nbgrader", "fetch_assignment", ASSIGNMENT, "--course", COURSE_ID], cwd=home)
        path = home / ASSIGNMENT / f"{NOTEBOOK}.ipynb"
        assert path.is_file(), f"{student} fetched nothing:\n{init.stderr[-2000:]}\n{fetched.stderr}"
        notebook = nbformat.read(path, as_version=4)
        assert "### BEGIN SOLUTION" not in path.read_text()
        notebook.cells.append(nbformat.v4.new_markdown_cell(SECRET if student == "student1" else "mine"))
        nbformat.write(notebook, path)
        run(hub, student, ["nbgrader", "submit", ASSIGNMENT, "--course", COURSE_ID], cwd=home)
    return course


def test_the_first_release_job_run_again_keeps_the_course_and_the_submissions(hub, submitted):
    """A second run of course-init.yaml's script: the course's own config stays, and the released
    assignment is not released again (on ngshare that would delete its submissions)."""
    with open(submitted / "nbgrader_config.py", "a") as handle:
        handle.write("# mine\n")
    again = course_init(hub, submitted)
    assert "released already" in again.stdout, again.stdout
    assert (submitted / "nbgrader_config.py").read_text().endswith("# mine\n")
    answer = ngshare_get(hub, SERVICE, f"submissions/{COURSE_ID}/{ASSIGNMENT}")
    assert sorted(s["student_id"] for s in answer.json()["submissions"]) == list(STUDENTS), answer.text


def test_the_instructor_collects_both_submissions(hub, submitted):
    run(hub, SERVICE, ["nbgrader", "collect", ASSIGNMENT], cwd=submitted)
    for student in STUDENTS:
        collected = submitted / "submitted" / student / ASSIGNMENT / f"{NOTEBOOK}.ipynb"
        assert collected.is_file() and (collected.parent / "timestamp.txt").is_file()
        assert (SECRET in collected.read_text()) == (student == "student1")


def test_a_student_cannot_read_another_students_submission_through_the_api(hub, submitted):
    for path in (f"submission/{COURSE_ID}/{ASSIGNMENT}/student1",        # the files
                 f"submissions/{COURSE_ID}/{ASSIGNMENT}",                # who submitted
                 f"submissions/{COURSE_ID}/{ASSIGNMENT}/student1",       # student1's timestamps
                 f"feedback/{COURSE_ID}/{ASSIGNMENT}/student1",          # their feedback
                 f"students/{COURSE_ID}",                                # the class list
                 f"student/{COURSE_ID}/student1"):
        answer = ngshare_get(hub, "student2", path)
        assert answer.status_code == 403 and SECRET not in answer.text, (path, answer.status_code, answer.text[:300])
    # a hub user outside the course group cannot even see the assignment
    assert ngshare_get(hub, OUTSIDER, f"assignment/{COURSE_ID}/{ASSIGNMENT}").status_code == 403
    assert ngshare_get(hub, "student2", f"assignment/{COURSE_ID}/{ASSIGNMENT}").status_code == 200


def test_a_student_posing_as_another_gets_nothing_through_nbgrader(hub, submitted):
    """student2's token with student1's name: ngshare believes the token, not the name."""
    attack = hub["top"] / "attack"
    attack.mkdir()
    spoof = {**hub, "tokens": {**hub["tokens"], "student1": hub["tokens"]["student2"]}}
    collect = run(spoof, "student1", ["nbgrader", "collect", ASSIGNMENT, "--course", COURSE_ID], cwd=attack,
                  check=False)
    feedback = run(spoof, "student1", ["nbgrader", "fetch_feedback", ASSIGNMENT, "--course", COURSE_ID],
                   cwd=attack, check=False)
    listed = run(spoof, "student1", ["nbgrader", "list", "--inbound", "--course", COURSE_ID], cwd=attack,
                 check=False)
    files = [p for p in attack.rglob("*") if p.is_file()]
    assert not any(SECRET in p.read_text(errors="replace") for p in files), files
    for result in (collect, feedback, listed):
        assert SECRET not in result.stdout + result.stderr
    for result in (collect, feedback):   # refused by ngshare, not failed for another reason
        assert "status code 403" in result.stderr, result.stderr[-2000:]
    assert "student1+" not in listed.stdout + listed.stderr, listed.stdout   # no inbound listing


def test_a_student_who_leaves_the_hub_group_loses_the_course(hub, submitted):
    import requests

    admin = {"Authorization": f"token {hub['tokens']['admin']}"}
    answer = requests.delete(f"{hub['api']}/groups/{GROUP}/users", json={"users": ["student2"]}, headers=admin,
                             timeout=30)
    assert answer.ok, answer.text
    try:
        synced = run(hub, SERVICE, [str(PYTHON), str(DEPLOY / "ngshare_course.py")], cwd=hub["top"])
        assert "1 removed ['student2']" in synced.stdout, synced.stdout
        assert ngshare_get(hub, "student2", f"assignment/{COURSE_ID}/{ASSIGNMENT}").status_code == 403
        assert ngshare_get(hub, "student1", f"assignment/{COURSE_ID}/{ASSIGNMENT}").status_code == 200
    finally:
        requests.post(f"{hub['api']}/groups/{GROUP}/users", json={"users": ["student2"]}, headers=admin, timeout=30)


def test_a_missing_hub_group_removes_no_student(hub, submitted):
    import requests

    admin = {"Authorization": f"token {hub['tokens']['admin']}"}
    assert requests.delete(f"{hub['api']}/groups/{GROUP}", headers=admin, timeout=30).ok
    try:
        synced = run(hub, SERVICE, [str(PYTHON), str(DEPLOY / "ngshare_course.py")], cwd=hub["top"])
        assert "0 students added [], 0 removed []" in synced.stdout, synced.stdout
        assert f"{GROUP} is missing or empty: no student removed" in synced.stderr
        assert ngshare_get(hub, "student1", f"assignment/{COURSE_ID}/{ASSIGNMENT}").status_code == 200
    finally:
        requests.post(f"{hub['api']}/groups/{GROUP}", json={"users": list(STUDENTS)}, headers=admin, timeout=30)


def test_the_course_sync_names_what_it_cannot_do(hub):
    result = run(hub, "student1", [str(PYTHON), str(DEPLOY / "ngshare_course.py")], cwd=hub["top"], check=False)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert result.stderr.startswith("ngshare_course: ") and "HTTP 403" in result.stderr, result.stderr

"""The hostile catalogue (tests/attacks.py) through the real pipeline, with honest classmates.

One batch grades every attack beside three honest students (and the honest one again under
names nbgrader cannot take as they are) with ``python -m autograder grade --jobs 2``, twice:
as root (a grading VM: bwrap with root's rights, a sandbox uid per worker) and as an ordinary
user (a grading pod: bwrap through a user namespace, the hub's Python environment). Every
attacker must score what an honest wrong answer scores (0), the classmates exactly what they
score alone, and the checkout, the venv and the submissions must be unchanged byte for byte,
no process left behind, nothing received on the grader's loopback, and no secret in any
feedback page.
"""

import csv
import hashlib
import html
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

import attacks
from conftest import require_sandbox
from autograder import sandbox
from autograder.course import ROOT

sys.path.insert(0, str(ROOT / "deploy"))
import local_hub  # noqa: E402  (deploy/ is not a package)

pytestmark = [pytest.mark.autograder, pytest.mark.sandbox]

SAMPLES = ROOT / "autograder" / "samples"
HONEST = {"alice_correct": 6.0, "bob_mistakes": 2.4, "carol_no_bias": 0.0}
ODD_NAMES = ["n" * 251, "ann[1]", "new\nline"]   # alice's notebook under names nbgrader reads as patterns
LIMITS = ["--cell-timeout", "20", "--notebook-timeout", "90", "--memory", "1500"]
SKIPPED = {".git", ".venv", ".hub", "scratch", "dist", "test-artifacts", ".pytest_cache", "__pycache__",
           ".hypothesis"}
REFERENCE_LINE = "take already validated arrays; the transposed convolution reuses them."


def fingerprint(folder, content=True):
    """{relative path: sha256 (or size and mtime)} of the files under ``folder``, skipping SKIPPED."""
    found = {}
    for path, dirs, files in os.walk(folder):
        dirs[:] = [d for d in dirs if d != "__pycache__" and (d not in SKIPPED or not content)]
        for name in files:
            full = Path(path) / name
            if full.is_symlink() or not full.is_file():
                continue
            stat = full.stat()
            found[str(full.relative_to(folder))] = (hashlib.sha256(full.read_bytes()).hexdigest() if content
                                                    else (stat.st_size, stat.st_mtime_ns))
    return found


def sandbox_processes(uid=None):
    """Pids of processes running as a sandbox uid (or as ``uid``)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            owner = entry.stat().st_uid if entry.name.isdigit() else None
            if owner is not None and (owner == uid if uid is not None else owner >= sandbox.SANDBOX_UID_BASE):
                found.append(int(entry.name))
        except OSError:
            continue
    return found


class Listener:
    """A TCP and a UDP socket on one 127.0.0.1 port; counts what reaches them."""

    def __init__(self):
        self.tcp = socket.create_server(("127.0.0.1", 0))
        self.port = self.tcp.getsockname()[1]
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind(("127.0.0.1", self.port))
        self.received = []
        for server in (self.tcp, self.udp):
            server.settimeout(0.2)
        self.running = True
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while self.running:
            try:
                connection, _ = self.tcp.accept()
                self.received.append(("tcp", connection.recv(100)))
                connection.close()
            except OSError:
                pass
            try:
                self.received.append(("udp", self.udp.recv(100)))
            except OSError:
                pass

    def close(self):
        self.running = False
        self.thread.join()
        self.tcp.close()
        self.udp.close()


GRADER_USER = local_hub.GRADER   # the hub's grading account


def grade(submitted, out, env, as_user=None, course=None):
    """Run the grading command (as root, or as Unix user ``as_user`` with the hub's Python) with
    its memory use measured; (completed process, max RSS in MB)."""
    measured = ("import resource, runpy, sys; sys.argv = ['autograder', *sys.argv[1:]]\n"
                "try:\n    runpy.run_module('autograder', run_name='__main__')\nfinally:\n"
                "    rss = max(resource.getrusage(w).ru_maxrss\n"
                "              for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))\n"
                "    print(f'MAXRSS {rss // 1024}')")
    python, prefix = sys.executable, []
    if as_user:
        python = str(local_hub.user_bin() / "python")
        prefix = ["runuser", "-u", as_user, "--", "env", *[f"{k}={v}" for k, v in env.items()
                                                        if k in ("HOME", "GRADER_SECRET_TOKEN", "CI")],
                  f"PATH={local_hub.user_bin()}:/usr/bin:/bin"]
    into = ["--course", str(course)] if course else ["--dry-run"]
    result = subprocess.run([*prefix, python, "-c", measured, "grade", "all", "--submitted", str(submitted),
                             "--out", str(out), "--jobs", "2", "--quiet", *into, *LIMITS],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=1500)
    assert result.returncode == 0, f"grading failed:\n{result.stdout}\n{result.stderr}"
    rss = int(result.stdout.rsplit("MAXRSS", 1)[1])
    return result, rss


def rows_of(out):
    with open(out / "grades.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def copy_honest(student, submitted, name=None):
    shutil.copytree(SAMPLES / student / "a1_conv_forward", submitted / (name or student) / "a1_conv_forward")


def _grader_user():
    """The ordinary user who grades in the second run, and the hub's Python environment it uses;
    skipped (failed under CI=true) where they cannot be had."""
    reason = None
    if os.geteuid() != 0:
        reason = "creating the grading user needs root"
    elif not (local_hub.user_bin() / "nbgrader").exists():
        reason = "the hub's Python environment is missing (make hub-setup)"
    if reason:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{reason} (CI=true: every prerequisite must be installed)")
        pytest.skip(reason)
    return local_hub.ensure_user(GRADER_USER)


def batch(mode, prefix):
    """(the grading account, None as root; a new folder in /tmp every account can read) for a
    batch graded in ``mode`` ('root' or 'user'), once the sandbox is known to start."""
    require_sandbox()
    account = _grader_user() if mode == "user" else None
    base = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    base.chmod(0o755)
    return account, base


@pytest.fixture(scope="session", params=["root", "user"])
def attacked(request):
    account, base = batch(request.param, "attacked-")
    submitted, out, home, course = base / "submitted", base / "out", base / "home", base / "course"
    course.mkdir()
    shutil.copy(ROOT / "nbgrader_config.py", course)
    shutil.copytree(ROOT / "solutions", course / "solutions")
    canary = "canary-" + secrets.token_hex(8)
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "id_rsa").write_text(f"-----BEGIN KEY----- {canary}\n")
    listener = Listener()
    target = attacks.Target(str(ROOT), str(submitted), str(out), listener.port, canary)
    for student in HONEST:
        copy_honest(student, submitted)
    for name in ODD_NAMES:
        copy_honest("alice_correct", submitted, name)
    for name, code in attacks.ATTACKS.items():
        attacks.write(attacks.attack_notebook(code, target),
                      submitted / name / "a1_conv_forward" / "conv_forward.ipynb")
    attacks.write(attacks.stolen_network_notebook(),
                  submitted / "x_stolen_network" / "a5_small_cnn" / "small_cnn.ipynb")
    attacks.write(attacks.prior_source_notebook(),
                  submitted / "x_prior_source" / "a2_conv_backward" / "conv_backward.ipynb")
    attacks.write(attacks.deeply_nested_text(), submitted / "x_deep_json" / "a1_conv_forward" / "conv_forward.ipynb")
    link = submitted / "x_symlink" / "a1_conv_forward" / "conv_forward.ipynb"
    link.parent.mkdir(parents=True)
    link.symlink_to(submitted / "alice_correct" / "a1_conv_forward" / "conv_forward.ipynb")
    alone = base / "alone"
    for student in HONEST:
        copy_honest(student, alone)
    env = dict(os.environ, HOME=str(home), GRADER_SECRET_TOKEN=canary)
    venv = Path(sys.prefix) if account is None else local_hub.user_bin().parent
    if account:
        subprocess.run(["chown", "-R", f"{account.pw_uid}:{account.pw_gid}", str(base)], check=True)

    def state():
        return {"checkout": fingerprint(ROOT), "venv": fingerprint(venv, content=False),
                "submitted": fingerprint(submitted), "solutions": fingerprint(course / "solutions")}

    before = state()
    try:
        result, rss = grade(submitted, out, env, account and account.pw_name, course)
        csv_right_after = (out / "grades.csv").read_bytes()
        time.sleep(3)   # time for a daemon, had one survived, to rewrite grades.csv
        after = state()
        leftovers = sandbox_processes(account and account.pw_uid)
        grade(alone, base / "alone-out", env, account and account.pw_name)
    finally:
        listener.close()
    request.addfinalizer(lambda: shutil.rmtree(base, ignore_errors=True))
    return {"mode": request.param, "rows": rows_of(out), "alone": rows_of(base / "alone-out"), "out": out,
            "course": course, "rss": rss,
            "before": before, "after": after, "csv_changed": csv_right_after != (out / "grades.csv").read_bytes(),
            "leftovers": leftovers, "received": listener.received, "canary": canary, "stderr": result.stderr}


def score(rows, student, grade_id="test_conv_forward_naive"):
    found = [r for r in rows if r["student"] == student and r["grade_id"] == grade_id]
    assert len(found) == 1, f"{student!r}: {len(found)} rows"
    return float(found[0]["score"]), found[0]["flags"].split(";") if found[0]["flags"] else []


@pytest.mark.parametrize("attack", sorted(attacks.ATTACKS))
def test_an_attack_scores_no_more_than_a_wrong_answer(attacked, attack):
    assert score(attacked["rows"], attack)[0] == 0.0


def test_the_reference_network_taken_in_the_kernel_scores_0_and_is_flagged(attacked):
    points, flags = score(attacked["rows"], "x_stolen_network", "test_ThreeLayerConvNet")
    assert points == 0.0 and "tampered" in flags


def test_no_submission_breaks_the_grader(attacked):
    assert "could not be graded" not in attacked["stderr"]
    assert not [r for r in attacked["rows"] if "grader-error" in r["flags"]]


def test_the_kernel_cannot_write_to_its_socket_folder_once_student_code_runs(attacked):
    points, flags = score(attacked["rows"], "x_runtime_folder")
    assert points == 0.0
    if attacked["mode"] == "root":
        assert flags == ["forbidden-import"]   # no "tampered": the kernel found the folder closed
    # as an ordinary user the kernel has the grader's uid and may open its socket folder again
    # (deploy/README.md, "Grading in a pod"): the re-check still gives it 0


def test_malformed_and_linked_notebooks_cost_only_their_author(attacked):
    assert score(attacked["rows"], "x_deep_json") == (0.0, ["invalid-notebook"])
    assert score(attacked["rows"], "x_symlink") == (0.0, ["symlink"])


def test_classmates_score_exactly_what_they_score_alone(attacked):
    for student, points in HONEST.items():
        assert score(attacked["rows"], student) == score(attacked["alone"], student)
        assert score(attacked["rows"], student)[0] == points
    for name in ODD_NAMES:
        assert score(attacked["rows"], name) == (6.0, []), repr(name)


def test_checkout_venv_and_submissions_are_unchanged(attacked):
    for what in ("checkout", "venv", "submitted", "solutions"):
        before, after = attacked["before"][what], attacked["after"][what]
        changed = sorted(set(before) ^ set(after) | {p for p in before if p in after and before[p] != after[p]})
        assert not changed, f"{what} changed: {changed[:10]}"
    assert not attacked["csv_changed"], "grades.csv changed after the grader exited"


def test_the_gradebook_holds_exactly_the_grades_of_the_csv(attacked):
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{attacked['course'] / 'gradebook.db'}", course_id="cnn-backprop") as gb:
        for row in attacked["rows"]:
            grade = gb.find_grade(row["grade_id"], row["notebook"], row["assignment"], row["student"])
            if row["score"] == "":   # a written answer left to the formgrader
                assert grade.auto_score is None and grade.needs_manual_grade, row["student"]
            else:
                assert grade.auto_score == pytest.approx(float(row["score"])), row["student"]
        assert len(gb.students) == len({r["student"] for r in attacked["rows"]})


def test_no_process_is_left_and_nothing_reaches_the_network(attacked):
    assert attacked["leftovers"] == []
    assert attacked["received"] == []


def test_a_flood_of_output_does_not_reach_the_graders_memory(attacked):
    assert attacked["rss"] < 1000, f"the grading processes peaked at {attacked['rss']} MB (the flood is 1024 MB)"


def test_feedback_holds_no_secret_and_only_the_students_own_output(attacked):
    pages = {p.name: p.read_text() for p in (attacked["out"] / "feedback").glob("*.html")}
    assert len(pages) == len({r["student"] for r in attacked["rows"]})
    for name, text in pages.items():
        for secret in (attacked["canary"], REFERENCE_LINE, "BEGIN SOLUTION", "Traceback", "GRADER_SECRET_TOKEN"):
            assert secret not in text, f"{name} shows {secret!r}"
        if name.startswith("x_"):
            for classmate in HONEST:
                assert classmate not in text, f"{name} names {classmate}"
    assert "environment:" in pages["x_leak_secrets.html"]
    assert "could not poison" in pages["x_poison_library.html"] and "POISONED" not in pages["x_poison_library.html"]
    assert "TAMPERED" not in pages["x_tamper_files.html"]
    assert "no reference found" in pages["x_reference_by_path.html"]
    assert "no answers left by the kernel" in pages["x_reference_handoff.html"]


def test_no_line_of_an_earlier_assignments_reference_reaches_feedback(attacked):
    """a2's conv_backward_naive calls the a1 reference conv_forward_naive, and prints, raises and
    shapes what it finds of it: it gets the answers, never the code (the oracle holds it)."""
    lesson = json.dumps(attacks.lesson(*attacks.A2).cells)
    source = (ROOT / "cnn_utils" / "reference" / "conv_forward.py").read_text()
    secret = [line.strip() for line in source.splitlines() if len(line.strip()) >= 25 and line.strip() not in lesson]
    assert len(secret) > 10
    shown = (attacked["out"] / "feedback" / "x_prior_source.html").read_text()
    assert "calling it gives tuple" in shown and "Your conv_backward_naive printed" in shown
    assert [line for line in secret if html.escape(line) in shown or line in shown] == []
    assert score(attacked["rows"], "x_prior_source", "test_conv_backward_naive")[0] == 0.0


def test_writes_and_processes_stop_at_the_sandbox_limits(attacked):
    pages = {p.stem: p.read_text() for p in (attacked["out"] / "feedback").glob("x_*.html")}
    written = int(pages["x_disk_fill"].split("wrote ")[1].split(" MB")[0])
    started = int(pages["x_fork_bomb"].split("started ")[1].split(" processes")[0])
    assert written <= sandbox.Limits().scratch_mb
    # as root the sandbox uid has RLIMIT_NPROC to itself; an ordinary user's limit counts all its
    # processes, so the sandbox gets what the user ran at its start plus Limits.processes
    most = sandbox.Limits().processes * (1 if attacked["mode"] == "root" else 2)
    assert 0 < started < most, f"the fork bomb started {started} processes (it tries 2000)"


def test_inside_the_sandbox_there_is_no_course_no_home_no_network_and_no_secret(tmp_path):
    require_sandbox()
    listener = Listener()
    probe = f"""
import json, os, socket, subprocess
seen = {{"uid": os.getuid(), "env": sorted(os.environ), "root": sorted(os.listdir("/")),
        "checkout": os.path.exists({str(ROOT)!r} + "/cnn_utils"),
        "secret": os.path.exists({str(tmp_path / "secret")!r}),
        "lib": sorted(os.listdir("/opt/autograder/lib")),
        "pids": sorted(p for p in os.listdir("/proc") if p.isdigit())}}
try:
    socket.create_connection(("127.0.0.1", {listener.port}), timeout=2)
    seen["network"] = True
except OSError:
    seen["network"] = False
subprocess.Popen(["sleep", "30"], start_new_session=True)
print(json.dumps(seen))
"""
    (tmp_path / "lib").mkdir()
    (tmp_path / "secret").write_text("the grader's")
    command = sandbox.wrap([sys.executable, "-c", probe], sandbox.Limits(), tmp_path / "lib")
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=60,
                                env=dict(os.environ, GRADER_SECRET_TOKEN="x"))
    finally:
        listener.close()
    seen = json.loads(result.stdout)
    if os.geteuid() == 0:   # a uid of this process's own range (sandbox_uid), held by no account
        assert (seen["uid"] - sandbox.SANDBOX_UID_BASE) >> 9 == os.getpid()
    else:
        assert seen["uid"] == 65534
    assert "GRADER_SECRET_TOKEN" not in seen["env"] and set(seen["env"]) >= {"HOME", "PATH", "PYTHONPATH"}
    assert not seen["checkout"] and not seen["secret"] and not seen["network"] and seen["lib"] == []
    assert listener.received == []
    python_roots = {Path(p).resolve().parts[1] for p in (sys.prefix, sys.base_prefix)}
    assert set(seen["root"]) <= {"usr", "bin", "sbin", "lib", "lib32", "lib64", "etc", "proc", "dev", "tmp", "opt",
                                 *python_roots}
    assert len(seen["pids"]) <= 2    # the sandbox's init and the probe: nothing of the host
    deadline = time.monotonic() + 5
    while sandbox_processes() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert sandbox_processes() == []  # the sleeper died with the sandbox


@pytest.mark.parametrize("prepared", [True, False], ids=["prepared", "not prepared"])
def test_a_sandbox_starts_with_the_workers_font_list_and_cannot_change_it(tmp_path, monkeypatch, prepared):
    """Without the list, matplotlib builds it in every sandbox (the kernel's and the re-check's)."""
    require_sandbox()
    fonts = sandbox.prepare_fonts(tmp_path / "fonts")
    original = {p.name: p.read_bytes() for p in Path(fonts).iterdir()}
    assert any(name.startswith("fontlist") for name in original)
    if prepared:
        monkeypatch.setenv(sandbox.FONTS_ENV, fonts)
    else:
        monkeypatch.delenv(sandbox.FONTS_ENV, raising=False)
    probe = f"""
import json, os
folder = os.environ["MPLCONFIGDIR"]
def written():
    return {{name: os.stat(os.path.join(folder, name)).st_mtime_ns for name in os.listdir(folder)}}
before = written() if os.path.isdir(folder) else {{}}
import matplotlib.font_manager
rebuilt = written() != before   # matplotlib writes the list where it had to make it
for name in before:
    with open(os.path.join(folder, name), "w") as handle:
        handle.write("spoiled")
try:
    open({sandbox.FONTS!r} + "/planted", "w")
    planted = True
except OSError:
    planted = False
print(json.dumps({{"found": sorted(before), "rebuilt": rebuilt, "planted": planted}}))
"""
    (tmp_path / "lib").mkdir()
    result = subprocess.run(sandbox.wrap([sys.executable, "-c", probe], sandbox.Limits(), tmp_path / "lib"),
                            capture_output=True, text=True, timeout=60)
    seen = json.loads(result.stdout)
    assert seen["found"] == (sorted(original) if prepared else [])
    assert seen["rebuilt"] is not prepared
    assert not seen["planted"]
    assert {p.name: p.read_bytes() for p in Path(fonts).iterdir()} == original

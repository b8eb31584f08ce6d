"""The one-machine exchange (deploy/jupyter/nbgrader_config.py) against classmates and late students.

Real Unix users submit with `nbgrader submit`; the instructor (root here) collects with `nbgrader
collect` and the course's config. A classmate forges a folder named after another student, slips
a file into a submission, or a student links a file only the collector can read, or forges an
early timestamp.txt: collect refuses the folder, or writes the time the files were last changed.
And where a submission's time is still unknown when it is graded (timestamp.txt missing or
garbled in submitted/), `python -m autograder grade` counts it late, and says so.
The students run the hub users' environment (`make hub-setup`: /root's Python is not theirs to run).
The collect tests need root (useradd, runuser) and that environment, the grading test the sandbox:
skipped without them, failed under CI=true.
"""

import csv
import datetime
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from conftest import require_sandbox

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "deploy"))
import local_hub  # noqa: E402  (deploy/ is not a package)
from test_hub import prerequisite  # noqa: E402  (skips on a user's machine, fails under CI=true)

ASSIGNMENT, NOTEBOOK = "a1_conv_forward", "conv_forward"
ALICE, BOB = "cnnx-alice", "cnnx-bob"
SAMPLES = ROOT / "autograder" / "samples"
EARLY = "2000-01-01 00:00:00.000000 UTC"
USER_PYTHON = str(local_hub.HUB_VENV / "bin" / "python")


@pytest.fixture(scope="module")
def exchange():
    """A course released into an exchange, the students' homes (fetched), and the environment."""
    prerequisite(os.geteuid() == 0, "the exchange tests submit as real Unix users: run them as root")
    prerequisite(shutil.which("runuser") and shutil.which("useradd"), "runuser/useradd are missing")
    prerequisite((local_hub.HUB_VENV / "bin" / "jupyterhub").exists(),
                 f"the users' environment {local_hub.HUB_VENV} is missing: run `make hub-setup` as root")
    for name in (ALICE, BOB):
        local_hub.ensure_user(name)
    top = Path(tempfile.mkdtemp(prefix="cnn-exchange-"))
    top.chmod(0o755)
    course, homes = top / "course", top / "homes"
    course.mkdir(mode=0o700)   # solutions and gradebook: the instructor's only
    shutil.copy(ROOT / "nbgrader_config.py", course)
    shutil.copytree(ROOT / "solutions" / ASSIGNMENT, course / "solutions" / ASSIGNMENT)
    env = {"JUPYTER_CONFIG_PATH": str(ROOT / "deploy" / "jupyter"),
           "CNN_HUB_EXCHANGE": str(local_hub.ensure_exchange(top / "exchange"))}
    try:
        for step in ("generate_assignment", "release_assignment"):
            nbgrader(course, env, step, ASSIGNMENT, *(["--force"] if step == "generate_assignment" else []))
        homes.mkdir()
        for name in (ALICE, BOB):
            home = homes / name
            home.mkdir(mode=0o700)
            shutil.chown(home, name, name)
            student(name, home, env, "fetch_assignment", ASSIGNMENT, "--course", "cnn-backprop")
        yield {"course": course, "homes": homes, "env": env,
               "inbound": top / "exchange" / "cnn-backprop" / "inbound"}
    finally:
        shutil.rmtree(top, ignore_errors=True)


@pytest.fixture
def fresh(exchange):
    """The exchange with an empty inbound folder and course without submitted/."""
    for entry in exchange["inbound"].iterdir():
        shutil.rmtree(entry)
    shutil.rmtree(exchange["course"] / "submitted", ignore_errors=True)
    return exchange


def nbgrader(course, env, *args):
    """Run nbgrader as the instructor in the course; its log (stderr)."""
    done = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=course, capture_output=True, text=True,
                          env={**os.environ, **env, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"},
                          timeout=300)
    assert done.returncode == 0, f"nbgrader {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    return done.stderr


def student(name, home, env, *args):
    return local_hub.as_user(name, [USER_PYTHON, "-m", "nbgrader", *args], cwd=home, env=env)


def as_python(name, code, *args):
    """Run Python ``code`` as Unix user ``name`` (argv: ``args``)."""
    local_hub.as_user(name, [USER_PYTHON, "-c", code, *map(str, args)], cwd="/")


def submit(exchange, name, sample):
    """``name`` hands in the sample notebook ``sample``; returns its bytes and the inbound folder."""
    home = exchange["homes"] / name
    notebook = home / ASSIGNMENT / f"{NOTEBOOK}.ipynb"
    shutil.copy(SAMPLES / sample / ASSIGNMENT / f"{NOTEBOOK}.ipynb", notebook)
    shutil.chown(notebook, name, name)
    student(name, home, exchange["env"], "submit", ASSIGNMENT, "--course", "cnn-backprop")
    folders = list(exchange["inbound"].glob(f"{name}+{ASSIGNMENT}+*"))
    assert len(folders) == 1, folders
    return notebook.read_bytes(), folders[0]


def collect(exchange):
    return nbgrader(exchange["course"], exchange["env"], "collect", ASSIGNMENT)


def collected(exchange, name):
    return exchange["course"] / "submitted" / name / ASSIGNMENT


FORGE = """import pathlib, sys
folder = pathlib.Path(sys.argv[1])
folder.mkdir()
(folder / "conv_forward.ipynb").write_bytes(pathlib.Path(sys.argv[2]).read_bytes())
(folder / "timestamp.txt").write_text("2030-01-01 00:00:00.000000 UTC")
"""


@pytest.mark.hub
def test_a_classmates_forged_folder_is_refused_and_the_real_submission_stays(fresh):
    real, _ = submit(fresh, ALICE, "alice_correct")
    forged = fresh["inbound"] / f"{ALICE}+{ASSIGNMENT}+2030-01-01 00:00:00.000000 UTC+forged"
    as_python(BOB, FORGE, forged, SAMPLES / "bob_mistakes" / ASSIGNMENT / f"{NOTEBOOK}.ipynb")
    log = collect(fresh)
    assert (collected(fresh, ALICE) / f"{NOTEBOOK}.ipynb").read_bytes() == real
    refusal = next((line for line in log.splitlines() if forged.name in line), "")
    assert "Refused" in refusal and BOB in refusal and ALICE in refusal, log


SLIP_IN = """import os, sys
path = os.path.join(sys.argv[1], "conv_forward.ipynb")
os.remove(path)
with open(path, "w") as handle:
    handle.write(open(sys.argv[2]).read())
"""
OPEN_UP = "import os, sys\nfor d, _, fs in os.walk(sys.argv[1]):\n    os.chmod(d, 0o777)\n"
LINK = "import os, sys\nos.remove(os.path.join(sys.argv[1], 'conv_forward.ipynb'))\n" \
       "os.symlink(sys.argv[2], os.path.join(sys.argv[1], 'conv_forward.ipynb'))\n"


@pytest.mark.hub
@pytest.mark.parametrize("attack", ["classmate's file", "link to the solution"])
def test_a_submission_holding_what_is_not_the_students_is_refused(fresh, attack):
    _, folder = submit(fresh, ALICE, "alice_correct")
    if attack == "classmate's file":   # alice's folder left open, as nbgrader's own submit leaves it
        as_python(ALICE, OPEN_UP, folder)
        as_python(BOB, SLIP_IN, folder, SAMPLES / "bob_mistakes" / ASSIGNMENT / f"{NOTEBOOK}.ipynb")
    else:   # the solution only the collector may read
        as_python(ALICE, LINK, folder, fresh["course"] / "solutions" / ASSIGNMENT / f"{NOTEBOOK}.ipynb")
    log = collect(fresh)
    assert not collected(fresh, ALICE).exists(), sorted(collected(fresh, ALICE).rglob("*"))
    refusal = next((line for line in log.splitlines() if folder.name in line), "")
    assert "Refused" in refusal and ALICE in refusal, log
    assert (BOB if attack == "classmate's file" else "no folder or plain file") in refusal, log


FORGE_TIME = """import os, sys
folder = sys.argv[1]
with open(os.path.join(folder, "timestamp.txt"), "w") as handle:
    handle.write(sys.argv[2])
for name in os.listdir(folder):
    os.utime(os.path.join(folder, name), (946684800, 946684800))
os.utime(folder, (946684800, 946684800))
"""


@pytest.mark.hub
def test_a_forged_early_timestamp_gives_the_time_the_files_last_changed(fresh):
    from nbgrader.utils import parse_utc

    before = datetime.datetime.now(datetime.UTC).replace(tzinfo=None) - datetime.timedelta(seconds=1)
    _, folder = submit(fresh, ALICE, "alice_correct")
    time.sleep(1.5)   # the forgery comes well after the submission
    forged_at = datetime.datetime.now(datetime.UTC).replace(tzinfo=None) - datetime.timedelta(seconds=0.1)
    as_python(ALICE, FORGE_TIME, folder, EARLY)
    collect(fresh)
    written = (collected(fresh, ALICE) / "timestamp.txt").read_text()
    when = parse_utc(written)
    assert before < forged_at <= when <= datetime.datetime.now(datetime.UTC).replace(tzinfo=None), written


DUE = "2026-01-01 00:00:00 UTC"
STAMPS = {"ontime": "2025-12-31 23:00:00.000000 UTC", "nostamp": None, "garbled": "handed in on time, honest"}
LIMITS = "c.Autograder.cell_timeout = 15\nc.Autograder.notebook_timeout = 60\nc.Autograder.memory = 1500\n"


@pytest.mark.autograder
def test_a_submission_of_unknown_time_counts_as_late_and_is_flagged(tmp_path):
    from nbgrader.api import Gradebook

    from autograder.handed_in import UNKNOWN_TIME

    require_sandbox()
    shutil.copy(ROOT / "nbgrader_config.py", tmp_path)
    shutil.copytree(ROOT / "solutions" / ASSIGNMENT, tmp_path / "solutions" / ASSIGNMENT)
    with open(tmp_path / "nbgrader_config.py", "a") as handle:
        handle.write(LIMITS + f"c.Autograder.due_dates = {{{ASSIGNMENT!r}: {DUE!r}}}\n")
    for name, stamp in STAMPS.items():
        folder = tmp_path / "submitted" / name / ASSIGNMENT
        folder.mkdir(parents=True)
        shutil.copy(SAMPLES / "alice_correct" / ASSIGNMENT / f"{NOTEBOOK}.ipynb", folder)
        if stamp:
            (folder / "timestamp.txt").write_text(stamp)
    done = subprocess.run([sys.executable, "-m", "autograder", "grade", ASSIGNMENT, "--jobs", "2"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr
    with open(tmp_path / "reports" / "grades.csv", newline="") as handle:
        flagged = {row["student"]: UNKNOWN_TIME in row["flags"].split(";") for row in csv.DictReader(handle)}
    assert flagged == {"garbled": True, "nostamp": True, "ontime": False}
    table = [line for line in done.stdout.splitlines() if UNKNOWN_TIME in line]
    assert table and {line.split()[0] for line in table} == {"garbled", "nostamp"}, done.stdout
    assert "garbled" in done.stderr and "counts as late" in done.stderr, done.stderr
    with Gradebook(f"sqlite:///{tmp_path / 'gradebook.db'}", course_id="cnn-backprop") as gb:
        lost = {name: (gb.find_submission(ASSIGNMENT, name).total_seconds_late > 0,
                       gb.find_submission(ASSIGNMENT, name).late_submission_penalty) for name in STAMPS}
        score = gb.find_submission(ASSIGNMENT, "ontime").score
    assert score > 0 and lost == {"ontime": (False, 0), "nostamp": (True, score), "garbled": (True, score)}, lost

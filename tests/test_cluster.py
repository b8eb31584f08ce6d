"""Grading on a Dask cluster, for real: a `dask scheduler` and two `dask worker` processes on
127.0.0.1 grade part of the sample class through `python -m autograder grade --scheduler`; one
worker is SIGKILLed while it grades. Every submission is graded once, the grades equal those of
the process pool at --jobs 1, the submissions are unchanged and no process is left behind."""

import csv
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import psutil
import pytest

from autograder import discover, sandbox
from autograder.course import GradedCell
from autograder.grade import CellResult, NotebookResult
from conftest import require, require_sandbox
from test_hub import free_ports

pytestmark = pytest.mark.autograder

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "autograder" / "samples"
STUDENTS = ("alice_correct", "bob_mistakes", "carol_no_bias", "dave_stub")


def start(args, log):
    return subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


@pytest.fixture(scope="module")
def submitted(tmp_path_factory):
    folder = tmp_path_factory.mktemp("class") / "submitted"
    for student in STUDENTS:
        shutil.copytree(SAMPLES / student, folder / student)
    return folder


@pytest.fixture(scope="module")
def pool_grades(submitted, tmp_path_factory):
    """The grades of the process pool at --jobs 1: what every cluster run must give."""
    require_sandbox()
    return grade(submitted, tmp_path_factory.mktemp("pool"), "--jobs", "1")


def grading_processes():
    """Processes of a grading course (kernels, sandboxes, re-checks): their command names /tmp/ag-*."""
    return {p.pid for p in psutil.process_iter(["cmdline"])
            if any("/tmp/ag-" in part for part in p.info["cmdline"] or [])}


def fingerprint(folder):
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def grade(submitted, out, *how):
    result = subprocess.run([sys.executable, "-m", "autograder", "grade", "all", "--submitted", str(submitted),
                             "--out", str(out), "--dry-run", "--quiet", *how], cwd=ROOT,
                            capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    with open(out / "grades.csv") as handle:
        return sorted((r["student"], r["assignment"], r["grade_id"], r["score"], r["flags"])
                      for r in csv.DictReader(handle))


def dask_cluster(tmp_path, log):
    """A scheduler and two single-threaded workers (no nanny: a killed worker stays dead)."""
    port, = free_ports(1)
    address = f"tcp://127.0.0.1:{port}"
    scheduler = start([sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1",
                       "--port", str(port), "--no-dashboard"], log)
    workers = [start([sys.executable, "-m", "distributed.cli.dask_worker", address, "--host", "127.0.0.1",
                      "--nthreads", "1", "--no-nanny", "--no-dashboard", "--memory-limit", "0",
                      "--name", f"w{n}", "--local-directory", str(tmp_path / f"w{n}")], log) for n in (1, 2)]
    return address, scheduler, workers


def test_a_local_cluster_grades_as_the_pool_does(submitted, pool_grades, tmp_path):
    """--cluster local: two workers here, TLS between them and the command, courses in its scratch."""
    require("distributed", "grading on a Dask cluster (the cluster extra)")
    before = set(Path("/tmp").glob("ag-*"))
    assert grade(submitted, tmp_path / "local", "--cluster", "local", "--jobs", "2") == pool_grades
    assert set(Path("/tmp").glob("ag-*")) <= before, "a worker's course was left in /tmp"


def test_a_dask_cluster_grades_as_the_pool_does_when_a_worker_is_killed(submitted, pool_grades, tmp_path):
    require("distributed", "grading on a Dask cluster (the cluster extra)")
    from distributed import Client

    before, already = fingerprint(submitted), grading_processes()
    folders = set(Path("/tmp").glob("ag-*"))
    expected = pool_grades
    log = open(tmp_path / "dask.log", "w")
    address, scheduler, workers = dask_cluster(tmp_path, log)
    processes = [scheduler, *workers]
    try:
        with Client(address, timeout="60s") as client:
            client.wait_for_workers(2, timeout=60)
            grading = subprocess.Popen([sys.executable, "-m", "autograder", "grade", "all", "--submitted",
                                        str(submitted), "--out", str(tmp_path / "dask"), "--dry-run", "--quiet",
                                        "--scheduler", address], cwd=ROOT, stdout=subprocess.PIPE,
                                       stderr=subprocess.PIPE, text=True)
            victim = None
            deadline = time.monotonic() + 300
            while victim is None and time.monotonic() < deadline and grading.poll() is None:
                busy = [w for w, keys in client.processing().items() if keys]
                info = client.scheduler_info()["workers"]
                for worker in busy:
                    if info[worker]["name"] == "w1":   # w1 is grading a notebook: kill it now
                        victim = workers[0]
                        victim.send_signal(signal.SIGKILL)
                time.sleep(0.2)
            assert victim is not None, "worker w1 never got a notebook to grade"
            stdout, stderr = grading.communicate(timeout=900)
        assert grading.returncode == 0, stderr[-3000:]
        with open(tmp_path / "dask" / "grades.csv") as handle:
            rows = list(csv.DictReader(handle))
        got = sorted((r["student"], r["assignment"], r["grade_id"], r["score"], r["flags"]) for r in rows)
        keys = [(r["student"], r["assignment"], r["grade_id"]) for r in rows]
        assert len(keys) == len(set(keys)), "a cell was graded twice in the results"
        assert got == expected
        assert fingerprint(submitted) == before
    finally:
        for process in processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        log.close()
    leftovers = [p for p in psutil.process_iter(["cmdline"])
                 if any(str(tmp_path) in part for part in (p.info["cmdline"] or []))]
    assert not leftovers, f"processes left behind: {leftovers}"
    deadline = time.monotonic() + 30   # the killed worker's kernel dies with it (bwrap --die-with-parent)
    while (left := grading_processes() - already) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not left, f"grading processes left behind: {[psutil.Process(p).cmdline() for p in left]}"
    # the surviving worker removed its course when the run ended; the killed one could not (the
    # next worker set up in /tmp deletes it: test_a_new_worker_deletes_the_courses_of_workers_that_are_gone)
    stale = set(Path("/tmp").glob("ag-*")) - folders
    for folder in stale:
        shutil.rmtree(folder)
    assert len(stale) <= 1, stale


def test_an_unreachable_scheduler_is_one_clear_line(submitted, tmp_path):
    require("distributed", "grading on a Dask cluster (the cluster extra)")
    port, = free_ports(1)
    result = subprocess.run([sys.executable, "-m", "autograder", "grade", "a1_conv_forward", "--submitted",
                             str(submitted), "--out", str(tmp_path / "out"), "--dry-run", "--scheduler",
                             f"tcp://127.0.0.1:{port}"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 2, result.stderr[-2000:]
    assert f"cannot reach the Dask scheduler at tcp://127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr


def dead_identity():
    """The owner line of a worker process that is gone."""
    from autograder import cluster

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    identity = cluster._identity(dead.pid)
    dead.wait()
    return identity


class _DyingWorker:
    """Stands in for grade.Worker on an in-process cluster: the scheduler's verdict on a task that
    killed its workers (KilledWorker) for the student 'killer' always, for 'flaky' the first time.
    Records the owner file of each course it is made in."""

    died, owners = set(), []

    def __init__(self, template, plans, limits, scratch):
        from autograder import cluster

        self.owners.append((Path(scratch) / cluster.OWNER).read_text())

    def grade(self, submission):
        from distributed.scheduler import KilledWorker

        if submission.student == "killer" or (submission.student == "flaky" and "flaky" not in self.died):
            self.died.add(submission.student)
            raise KilledWorker(submission.student, SimpleNamespace(address="tcp://127.0.0.1:9"), 1)
        return NotebookResult(submission.student, submission.assignment, submission.notebook,
                              [CellResult("g", 1.0, 1.0)])


def test_a_notebook_that_kills_its_workers_again_is_flagged_and_the_batch_goes_on(monkeypatch, tmp_path):
    """Also: each worker deletes the course a dead worker left in its folder, records itself as
    the owner of its own, and removes it at the end."""
    require("distributed", "grading on a Dask cluster (the cluster extra)")
    from distributed import Client, LocalCluster

    from autograder import cluster

    monkeypatch.setattr(cluster, "Worker", _DyingWorker)
    courses = tmp_path / "courses"
    (tmp_path / "template").mkdir()
    (courses / "ag-left-by-a-dead-worker").mkdir(parents=True)
    (courses / "ag-left-by-a-dead-worker" / cluster.OWNER).write_text(dead_identity())
    plans = {"a": {"nb": [GradedCell("g", 1.0)]}}
    names = ["ann", "ben", "killer", "flaky", "cid"]
    found = [discover.Submission(name, "a", "nb", None) for name in names]
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None) as local, \
            Client(local) as client:
        results = cluster.grade_all(found, plans, tmp_path / "template", sandbox.Limits(sandbox=False), client,
                                    scratch=courses, progress=False)
    assert [r.student for r in results] == sorted(names)
    scores = {r.student: (r.cells[0].score, r.flags) for r in results}
    assert scores.pop("killer") == (0.0, ["grader-crashed"])
    assert scores == {name: (1.0, []) for name in names if name != "killer"}   # 'flaky' graded on its second go
    assert _DyingWorker.owners == [cluster._identity(os.getpid())] * 2   # in-process workers: this pid
    assert list(courses.iterdir()) == []


def test_a_new_worker_deletes_the_courses_of_workers_that_are_gone(tmp_path):
    """A worker SIGKILLed mid-run leaves its course; the next worker set up in the same folder
    deletes it, and never the course of a live worker, one whose pid was reused, another user's,
    a link, or a folder whose owner file is not a small regular file (a FIFO would hang a reader)."""
    require("distributed", "grading on a Dask cluster (the cluster extra)")
    from autograder import cluster

    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        owners = {"dead": dead_identity(), "live": cluster._identity(live.pid), "mine": cluster._identity(os.getpid()),
                  "pid reused": f"{os.getpid()} 12", "unparsable": "?", "none": None, "fifo": None,
                  "foreign": dead_identity(), "link": None}
        for label, owner in owners.items():
            (tmp_path / f"ag-{label}" / "course").mkdir(parents=True)
            if owner is not None:
                (tmp_path / f"ag-{label}" / cluster.OWNER).write_text(owner)
        os.mkfifo(tmp_path / "ag-fifo" / cluster.OWNER)
        shutil.rmtree(tmp_path / "ag-link")
        (tmp_path / "elsewhere").mkdir()
        (tmp_path / "elsewhere" / cluster.OWNER).write_text(dead_identity())
        (tmp_path / "ag-link").symlink_to(tmp_path / "elsewhere")
        if os.geteuid() == 0:
            os.chown(tmp_path / "ag-foreign", 4242, 4242)
        else:
            del owners["foreign"]
            shutil.rmtree(tmp_path / "ag-foreign")
        cluster.remove_stale_courses(tmp_path)
        left = {label for label in owners if os.path.lexists(tmp_path / f"ag-{label}")}
        assert left == set(owners) - {"dead", "pid reused"}
        assert (tmp_path / "elsewhere" / cluster.OWNER).exists()
    finally:
        live.kill()
        live.wait()

"""Notebooks graded per minute for each assignment: the process pool at --jobs 1 and 2, and a local
Dask cluster of 2 single-threaded workers (--cluster local --jobs 2); the fixed and per-notebook
costs of a class, for sizing a cluster; Dask's cost per task.

    python benchmarks/bench_cluster.py [--copies 3] [--rounds 2] [--assignments a1_conv_forward ...]
                                       [--sizes 8 64] [--tasks 2000]

Throughput: the class of each assignment is ``copies`` solved notebooks (the lesson with the
instructor's answers) and ``copies`` untouched lessons. Each run is the whole command with the
sandbox and the re-check (--dry-run); "workers" is the grading phase the command reports (no
template, no reports). Every round runs the three ways in turn, so the Dask/pool ratio is taken
round by round; medians.
Sizing: classes of ``sizes`` solved a2 notebooks (the dearest honest submission) graded for real in
a fresh course (gradebook, autograded notebooks, reports), pool and Dask at 2 workers; the two sizes
split each phase into a fixed cost and a cost per notebook: the workers' (grading) and the client's
(template, gradebook merge, files, reports: one process, whatever the cluster). Peak memory: the
whole process tree of the command, sampled every 0.1 s.
The scheduler's cost: ``--tasks`` empty tasks, then as many carrying a notebook's bytes, through a
local cluster of 2 single-threaded workers. Printed and written to benchmarks/results/cluster.md.
"""

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
import psutil

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).resolve().parent / "results" / "cluster.md"
WAYS = {"pool, --jobs 1": ["--dry-run", "--jobs", "1"], "pool, --jobs 2": ["--dry-run", "--jobs", "2"],
        "Dask local, 2 workers": ["--dry-run", "--cluster", "local", "--jobs", "2"]}
SIZING_ASSIGNMENT = "a2_conv_backward"
SIZING_WAYS = {"pool, --jobs 2": ["--jobs", "2"], "Dask local, 2 workers": ["--cluster", "local", "--jobs", "2"]}


def solved(lesson, solution):
    """The ``lesson`` notebook with the answers of the ``solution`` notebook in its solution cells."""
    answers = {c.metadata["nbgrader"]["grade_id"]: c.source for c in solution.cells
               if c.metadata.get("nbgrader", {}).get("solution")}
    for cell in lesson.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution"):
            cell.source = answers[meta["grade_id"]]
    return lesson


def make_class(folder, assignment, copies, kinds=("solved", "stub")):
    """``copies`` submissions of ``assignment`` of each kind (solved, untouched); returns their number."""
    count = 0
    for path in sorted((ROOT / "lessons" / assignment).glob("*.ipynb")):
        solution = nbformat.read(ROOT / "solutions" / assignment / path.name, as_version=4)
        for k in range(copies):
            for kind in kinds:
                notebook = nbformat.read(path, as_version=4)
                if kind == "solved":
                    notebook = solved(notebook, solution)
                target = folder / f"{kind}{k}" / assignment / path.name
                target.parent.mkdir(parents=True, exist_ok=True)
                nbformat.write(notebook, target)
                count += 1
    return count


def run(assignment, submitted, out, how, course=ROOT):
    """(seconds of the whole command, seconds of its grading phase, peak MB of its process tree).
    In ``course`` for real; in the checkout only with --dry-run (in ``how``)."""
    start = time.monotonic()
    command = subprocess.Popen([sys.executable, "-m", "autograder", "grade", assignment, "--submitted",
                                str(submitted), "--out", str(out), "--quiet", *how], cwd=course,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = 0
    while command.poll() is None:
        peak = max(peak, tree_rss(command.pid))
        time.sleep(0.1)
    stdout, stderr = command.communicate()
    if command.returncode:
        raise SystemExit(f"grading failed:\n{stderr[-2000:]}")
    phase = float(re.search(r"\(workers ([\d.]+) s\)", stdout).group(1))
    return time.monotonic() - start, phase, peak / 2**20


def tree_rss(pid):
    """Bytes resident in process ``pid`` and all its descendants now (0 once it is gone)."""
    try:
        root = psutil.Process(pid)
        processes = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0
    total = 0
    for process in processes:
        try:
            total += process.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total


def sizing(tmp, sizes, rounds):
    """{way: {fixed and per-notebook seconds of the workers and of the client, peak MB}} from classes
    of ``sizes`` (small, large) solved a2 notebooks graded for real in fresh courses."""
    small, large = sizes
    measured = {way: {size: [] for size in sizes} for way in SIZING_WAYS}
    for size in sizes:
        submitted = tmp / f"sizing-{size}"
        make_class(submitted, SIZING_ASSIGNMENT, size, kinds=("solved",))
        for _ in range(rounds):
            for way, how in SIZING_WAYS.items():
                course = tmp / "course"   # a fresh one for each run
                course.mkdir()
                shutil.copy(ROOT / "nbgrader_config.py", course)
                shutil.copytree(ROOT / "solutions", course / "solutions")
                measured[way][size].append(run(SIZING_ASSIGNMENT, submitted, course / "reports", how, course))
                shutil.rmtree(course)
    found = {}
    for way, by_size in measured.items():
        whole = {size: statistics.median(w for w, _, _ in runs) for size, runs in by_size.items()}
        phase = {size: statistics.median(p for _, p, _ in runs) for size, runs in by_size.items()}
        client = {size: whole[size] - phase[size] for size in sizes}
        per_notebook = (phase[large] - phase[small]) / (large - small)
        client_per_notebook = (client[large] - client[small]) / (large - small)
        found[way] = {"workers, fixed s": phase[small] - small * per_notebook,
                      "workers, s per notebook": per_notebook,
                      "client, fixed s": client[small] - small * client_per_notebook,
                      "client, s per notebook": client_per_notebook,
                      "peak MB": max(m for runs in by_size.values() for _, _, m in runs)}
    return found


def task_cost(tasks):
    """Milliseconds per task through a local cluster of 2 single-threaded workers: empty tasks,
    and tasks carrying the bytes of the largest lesson notebook."""
    from distributed import Client, LocalCluster

    payload = max((p.read_bytes() for p in (ROOT / "lessons").glob("*/*.ipynb")), key=len)
    costs = {}
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as cluster, Client(cluster) as client:
        client.submit(len, b"").result()   # workers up
        for name, argument in (("empty task", b""), (f"task carrying {len(payload) // 1024} KB", payload)):
            start = time.perf_counter()
            client.gather(client.map(len, [argument] * tasks, pure=False))
            costs[name] = 1000 * (time.perf_counter() - start) / tasks
    return costs


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--copies", type=int, default=3, help="solved and untouched copies each (default 3)")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of every way (default 2)")
    parser.add_argument("--assignments", nargs="+", default=sorted(p.name for p in (ROOT / "lessons").iterdir()))
    parser.add_argument("--sizes", type=int, nargs=2, default=[8, 64], help="the two class sizes for sizing "
                        "(default 8 64; 0 0 leaves sizing out)")
    parser.add_argument("--tasks", type=int, default=2000, help="tasks for the scheduler's cost (default 2000)")
    args = parser.parse_args()
    load = os.getloadavg()[0]
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-cluster-") as tmp:
        for assignment in args.assignments:
            submitted = Path(tmp) / assignment
            notebooks = make_class(submitted, assignment, args.copies)
            times = {way: [] for way in WAYS}
            for k in range(args.rounds):
                for way, how in WAYS.items():
                    times[way].append(run(assignment, submitted, Path(tmp) / f"out-{assignment}-{k}", how)[:2])
            ratio = statistics.median(dask[1] / pool[1] for dask, pool in
                                      zip(times["Dask local, 2 workers"], times["pool, --jobs 2"], strict=True))
            rows.append((assignment, notebooks, {way: (statistics.median(w for w, _ in runs),
                                                       statistics.median(p for _, p in runs))
                                                 for way, runs in times.items()}, ratio))
        sized = sizing(Path(tmp), args.sizes, args.rounds) if args.sizes[1] > args.sizes[0] > 0 else {}
    costs = task_cost(args.tasks)
    lines = [f"Grading throughput (sandbox and re-check included), notebooks / minute of the whole command "
             f"(of the grading phase in brackets); {os.cpu_count()} cores, load average before {load:.1f}; "
             f"medians of {args.rounds} rounds", "",
             "| assignment | notebooks | " + " | ".join(WAYS) + " | Dask / pool, grading phase, jobs 2 |",
             "| :--- | ---: | " + " | ".join("---:" for _ in WAYS) + " | ---: |"]
    for assignment, notebooks, medians, ratio in rows:
        cells = [f"{60 * notebooks / whole:.1f} ({60 * notebooks / phase:.1f})" for whole, phase in medians.values()]
        lines.append(f"| {assignment} | {notebooks} | " + " | ".join(cells) + f" | {ratio:.2f} |")
    if sized:
        columns = list(next(iter(sized.values())))
        lines += ["", f"Fixed and per-notebook costs: classes of {' and '.join(map(str, args.sizes))} solved "
                  f"{SIZING_ASSIGNMENT} notebooks graded for real, 2 workers; medians of {args.rounds} rounds",
                  "", "| way | " + " | ".join(columns) + " | notebooks / min, steady |",
                  "| :--- | " + " | ".join("---:" for _ in columns) + " | ---: |"]
        for way, found in sized.items():
            cells = [f"{value:.0f}" if name == "peak MB" else f"{value:.2f}" for name, value in found.items()]
            lines.append(f"| {way} | " + " | ".join(cells) + f" | {60 / found['workers, s per notebook']:.1f} |")
    lines += ["", f"Dask's cost per task, {args.tasks} tasks through a local cluster of 2 single-threaded workers:", ""]
    lines += [f"- {name}: {ms:.2f} ms" for name, ms in costs.items()]
    text = "\n".join(lines)
    print(text)
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(text + "\n")


if __name__ == "__main__":
    main()

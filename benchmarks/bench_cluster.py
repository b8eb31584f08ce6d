"""Notebooks graded per minute for each assignment: the process pool at --jobs 1 and 2, and a local
Dask cluster of 2 single-threaded workers (--cluster local --jobs 2); then Dask's cost per task.

    python benchmarks/bench_cluster.py [--copies 2] [--rounds 2] [--assignments a1_conv_forward ...]

The class of each assignment: ``copies`` solved notebooks (the lesson with the instructor's answers)
and ``copies`` untouched lessons. Each run is the whole command with the sandbox and the re-check
(--dry-run); "workers" is the grading phase the command reports (no template, no reports). Every
round runs the three ways in turn, so the Dask/pool ratio is taken round by round; medians.
The scheduler's cost: ``--tasks`` empty tasks, then as many carrying a notebook's bytes, through a
local cluster of 2 single-threaded workers. Printed and written to benchmarks/results/cluster.md.
"""

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).resolve().parent / "results" / "cluster.md"
WAYS = {"pool, --jobs 1": ["--jobs", "1"], "pool, --jobs 2": ["--jobs", "2"],
        "Dask local, 2 workers": ["--cluster", "local", "--jobs", "2"]}


def solved(lesson, solution):
    """The ``lesson`` notebook with the answers of the ``solution`` notebook in its solution cells."""
    answers = {c.metadata["nbgrader"]["grade_id"]: c.source for c in solution.cells
               if c.metadata.get("nbgrader", {}).get("solution")}
    for cell in lesson.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution"):
            cell.source = answers[meta["grade_id"]]
    return lesson


def make_class(folder, assignment, copies):
    """``copies`` solved and ``copies`` untouched submissions of ``assignment``; returns their number."""
    count = 0
    for path in sorted((ROOT / "lessons" / assignment).glob("*.ipynb")):
        solution = nbformat.read(ROOT / "solutions" / assignment / path.name, as_version=4)
        for k in range(copies):
            for kind in ("solved", "stub"):
                notebook = nbformat.read(path, as_version=4)
                if kind == "solved":
                    notebook = solved(notebook, solution)
                target = folder / f"{kind}{k}" / assignment / path.name
                target.parent.mkdir(parents=True, exist_ok=True)
                nbformat.write(notebook, target)
                count += 1
    return count


def run(assignment, submitted, out, how):
    """(seconds of the whole command, seconds of its grading phase)."""
    start = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "autograder", "grade", assignment, "--submitted", str(submitted),
                           "--out", str(out), "--quiet", "--dry-run", *how], cwd=ROOT, check=True,
                          capture_output=True, text=True)
    return time.monotonic() - start, float(re.search(r"\(workers ([\d.]+) s\)", done.stdout).group(1))


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
    parser.add_argument("--copies", type=int, default=2, help="solved and untouched copies each (default 2)")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of every way (default 2)")
    parser.add_argument("--assignments", nargs="+", default=sorted(p.name for p in (ROOT / "lessons").iterdir()))
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
                    times[way].append(run(assignment, submitted, Path(tmp) / f"out-{assignment}-{k}", how))
            ratio = statistics.median(dask[1] / pool[1] for dask, pool in
                                      zip(times["Dask local, 2 workers"], times["pool, --jobs 2"], strict=True))
            rows.append((assignment, notebooks, {way: (statistics.median(w for w, _ in runs),
                                                       statistics.median(p for _, p in runs))
                                                 for way, runs in times.items()}, ratio))
    costs = task_cost(args.tasks)
    lines = [f"Grading throughput (sandbox and re-check included), notebooks / minute of the whole command "
             f"(of the grading phase in brackets); {os.cpu_count()} cores, load average before {load:.1f}; "
             f"medians of {args.rounds} rounds", "",
             "| assignment | notebooks | " + " | ".join(WAYS) + " | Dask / pool, grading phase, jobs 2 |",
             "| :--- | ---: | " + " | ".join("---:" for _ in WAYS) + " | ---: |"]
    for assignment, notebooks, medians, ratio in rows:
        cells = [f"{60 * notebooks / whole:.1f} ({60 * notebooks / phase:.1f})" for whole, phase in medians.values()]
        lines.append(f"| {assignment} | {notebooks} | " + " | ".join(cells) + f" | {ratio:.2f} |")
    lines += ["", f"Dask's cost per task, {args.tasks} tasks through a local cluster of 2 single-threaded workers:", ""]
    lines += [f"- {name}: {ms:.2f} ms" for name, ms in costs.items()]
    text = "\n".join(lines)
    print(text)
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(text + "\n")


if __name__ == "__main__":
    main()

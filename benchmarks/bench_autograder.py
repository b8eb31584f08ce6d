"""Notebooks graded per minute by the autograder, in the sandbox and without it (--unsafe-no-sandbox).

    python benchmarks/bench_autograder.py [--copies 4] [--jobs 1 2] [--rounds 3]

The class: ``copies`` copies of each ordinary sample student of assignment 1
(correct, typical mistakes, untouched stub), so the figure is that of honest
submissions (the hostile samples spend their time limits on purpose). Each run
is the whole command, as an instructor starts it: template course, workers,
nbgrader autograde in the limited kernel, the re-check outside it, report and
gradebook merge; the worker-pool column leaves out the fixed setup (template
generation, final merge). Each round runs every (jobs, sandbox or not) pair in turn, so the
sandbox's cost is a ratio taken round by round; medians over the rounds. The table is printed and
written to benchmarks/results/autograder.md.
"""

import argparse
import os
import re
import statistics
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "autograder" / "samples"
STUDENTS = ("alice_correct", "bob_mistakes", "carol_no_bias", "dave_stub")
ASSIGNMENT = "a1_conv_forward"
RESULTS = Path(__file__).resolve().parent / "results" / "autograder.md"


def make_class(folder, copies):
    """``copies`` x STUDENTS submissions of assignment 1 under ``folder``; returns their number."""
    count = 0
    for k in range(copies):
        for student in STUDENTS:
            shutil.copytree(SAMPLES / student / ASSIGNMENT, folder / f"{student}_{k}" / ASSIGNMENT)
            count += 1
    return count


def run(submitted, out, jobs, sandboxed):
    """(seconds of the whole command, seconds of its worker pool)."""
    start = time.monotonic()
    unsafe = [] if sandboxed else ["--unsafe-no-sandbox"]
    done = subprocess.run([sys.executable, "-m", "autograder", "grade", ASSIGNMENT, "--submitted", str(submitted),
                           "--out", str(out), "--jobs", str(jobs), "--quiet", "--dry-run", *unsafe],
                          cwd=ROOT, check=True,
                          capture_output=True, text=True)
    workers = float(re.search(r"\(workers ([\d.]+) s\)", done.stdout).group(1))
    return time.monotonic() - start, workers


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--copies", type=int, default=4, help="copies of each of the 4 students (default 4)")
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--rounds", type=int, default=3, help="rounds of every configuration (default 3)")
    args = parser.parse_args()
    load = os.getloadavg()[0]
    times = {(jobs, sandboxed): [] for jobs in args.jobs for sandboxed in (True, False)}
    with tempfile.TemporaryDirectory(prefix="bench-autograder-") as tmp:
        submitted = Path(tmp) / "submitted"
        notebooks = make_class(submitted, args.copies)
        for k in range(args.rounds):
            for jobs, sandboxed in times:
                times[jobs, sandboxed].append(run(submitted, Path(tmp) / f"out{k}-{jobs}-{sandboxed}", jobs, sandboxed))
    lines = [f"Autograder throughput: {notebooks} notebooks of {ASSIGNMENT}, integrity check included, "
             f"{os.cpu_count()} cores, load average before {load:.1f}; medians of {args.rounds} rounds", "",
             "| jobs | sandbox | whole command (s) | notebooks / minute | worker pool (s) | notebooks / minute "
             "| pool time / unsandboxed |", "| ---: | :--- | ---: | ---: | ---: | ---: | ---: |"]
    for (jobs, sandboxed), runs in times.items():
        seconds = statistics.median(whole for whole, _ in runs)
        workers = statistics.median(pool for _, pool in runs)
        ratio = statistics.median(pool / bare[1] for (_, pool), bare in zip(runs, times[jobs, False], strict=True))
        lines.append(f"| {jobs} | {'bubblewrap' if sandboxed else 'none (unsafe)'} | {seconds:.1f} | "
                     f"{60 * notebooks / seconds:.1f} | {workers:.1f} | {60 * notebooks / workers:.1f} | {ratio:.2f} |")
    text = "\n".join(lines)
    print(text)
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(text + "\n")


if __name__ == "__main__":
    main()

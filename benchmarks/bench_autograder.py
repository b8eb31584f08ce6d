"""Notebooks graded per minute by the autograder at --jobs 1 and --jobs 2, integrity check included.

    python benchmarks/bench_autograder.py [--copies 4] [--jobs 1 2]

The class: ``copies`` copies of each ordinary sample student of assignment 1
(correct, typical mistakes, untouched stub), so the figure is that of honest
submissions (the hostile samples spend their time limits on purpose). Each run
is the whole command, as an instructor starts it: template course, workers,
nbgrader autograde in the limited kernel, the re-check outside it, report and
gradebook merge; the worker-pool column leaves out the fixed setup (template
generation, final merge). The table is printed and written to
benchmarks/results/autograder.md.
"""

import argparse
import os
import re
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


def run(submitted, out, jobs):
    """(seconds of the whole command, seconds of its worker pool)."""
    start = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "autograder", "grade", ASSIGNMENT, "--submitted", str(submitted),
                           "--out", str(out), "--jobs", str(jobs), "--quiet"], cwd=ROOT, check=True,
                          capture_output=True, text=True)
    workers = float(re.search(r"\(workers ([\d.]+) s\)", done.stdout).group(1))
    return time.monotonic() - start, workers


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--copies", type=int, default=4, help="copies of each of the 4 students (default 4)")
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-autograder-") as tmp:
        submitted = Path(tmp) / "submitted"
        notebooks = make_class(submitted, args.copies)
        rows = []
        for jobs in args.jobs:
            seconds, workers = run(submitted, Path(tmp) / f"out{jobs}", jobs)
            rows.append((jobs, seconds, 60 * notebooks / seconds, workers, 60 * notebooks / workers))
    lines = [f"Autograder throughput: {notebooks} notebooks of {ASSIGNMENT}, integrity check included, "
             f"{os.cpu_count()} cores, load average before {os.getloadavg()[0]:.1f}", "",
             "| jobs | whole command (s) | notebooks / minute | worker pool (s) | notebooks / minute "
             "| pool speedup |", "| ---: | ---: | ---: | ---: | ---: | ---: |"]
    lines += [f"| {jobs} | {seconds:.1f} | {rate:.1f} | {workers:.1f} | {pool_rate:.1f} | "
              f"{pool_rate / rows[0][4]:.2f} |" for jobs, seconds, rate, workers, pool_rate in rows]
    text = "\n".join(lines)
    print(text)
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(text + "\n")


if __name__ == "__main__":
    main()

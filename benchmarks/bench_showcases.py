"""What skipping the showcases saves: each assignment's class graded as released (its showcases
skipped) and with every showcase touched (a blank line added, so both grading runs execute it).

    python benchmarks/bench_showcases.py [--copies 2] [--rounds 3] [--jobs 2] [--assignments a1_conv_forward ...]

The class is bench_cluster's (``copies`` solved notebooks and ``copies`` untouched lessons); each
round grades the two classes one after the other (A B, then B A in the next round), the whole
command with sandbox and re-check, --dry-run, after one unmeasured run that fills the template
cache. The ratios are taken within a round; medians over
the rounds. Printed and written to benchmarks/results/showcases.md.
"""

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

import nbformat

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_cluster import make_class, run  # noqa: E402  (the same class and the same command)

from autograder import metadata  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).resolve().parent / "results" / "showcases.md"
ASSIGNMENTS = sorted(p.name for p in (ROOT / "lessons").iterdir() if p.is_dir())


def touched(folder):
    """Every showcase of the notebooks under ``folder`` edited by a blank line; their number."""
    count = 0
    for path in folder.glob("*/*/*.ipynb"):
        notebook = nbformat.read(path, as_version=4)
        for cell in filter(metadata.is_showcase, notebook.cells):
            cell.source += "\n"
            count += 1
        nbformat.write(notebook, path)
    return count


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--copies", type=int, default=2, help="solved and untouched notebooks each (default 2)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--assignments", nargs="+", default=ASSIGNMENTS, choices=ASSIGNMENTS)
    args = parser.parse_args()
    load = os.getloadavg()[0]
    lines = [f"Showcases skipped vs run: {2 * args.copies} notebooks an assignment (half solved), --jobs "
             f"{args.jobs}, {os.cpu_count()} cores, load average before {load:.1f}; medians of {args.rounds} "
             "rounds (seconds; ratio = run / skipped, taken within a round)", "",
             "| assignment | showcases a notebook | skipped: whole | grading | run: whole | grading "
             "| ratio, whole | ratio, grading |", "| :--- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    how = ["--dry-run", "--jobs", str(args.jobs)]
    with tempfile.TemporaryDirectory(prefix="bench-showcases-") as tmp:
        for assignment in args.assignments:
            classes = {kind: Path(tmp) / assignment / kind for kind in ("skipped", "run")}
            notebooks = make_class(classes["skipped"], assignment, args.copies)
            make_class(classes["run"], assignment, args.copies)
            showcases = touched(classes["run"]) // notebooks
            times = {kind: [] for kind in classes}
            run(assignment, classes["skipped"], Path(tmp) / f"warm-{assignment}", how)   # the template cache
            for k in range(args.rounds):
                for kind in (("skipped", "run") if k % 2 == 0 else ("run", "skipped")):
                    whole, grading, _ = run(assignment, classes[kind], Path(tmp) / f"out-{assignment}-{kind}-{k}", how)
                    times[kind].append((whole, grading))
            med = {kind: [statistics.median(t[i] for t in runs) for i in (0, 1)] for kind, runs in times.items()}
            ratio = [statistics.median(r[i] / s[i] for r, s in zip(times["run"], times["skipped"], strict=True))
                     for i in (0, 1)]
            lines.append(f"| {assignment} | {showcases} | {med['skipped'][0]:.1f} | {med['skipped'][1]:.1f} | "
                         f"{med['run'][0]:.1f} | {med['run'][1]:.1f} | {ratio[0]:.2f} | {ratio[1]:.2f} |")
            print(lines[-1], flush=True)
    text = "\n".join(lines)
    print(text)
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(text + "\n")


if __name__ == "__main__":
    main()

"""`make demo`: a scratch course, the release, the sample class graded with two workers.

    python -m autograder.demo [--jobs 2]

Everything goes to scratch/demo/ (git-ignored): the course with its generated
lessons, the submissions (a copy of autograder/samples in nbgrader's
submitted/ layout), what grading adds to it (gradebook.db, autograded/) and the
report (grades.csv, feedback/, histograms).
"""

import argparse
import csv
import html
import shutil
import time

from autograder import __main__ as cli
from autograder import app, course

SCRATCH = course.ROOT / "scratch" / "demo"
DEMO_LIMITS = {"cell_timeout": 15, "notebook_timeout": 60, "memory": 1500}


def show_sandbox(out):
    """What became of the sample that goes after the reference (import, hidden name, the file)."""
    with open(out / "grades.csv", newline="") as handle:
        row = next(r for r in csv.DictReader(handle) if r["student"] == "h_reference_import")
    page = html.unescape((out / "feedback" / "h_reference_import.html").read_text())
    said = ("reported in its feedback that the reference was nowhere to be found"
            if "nowhere to be found" in page else "reported nothing")
    print(f"\n3. the sandbox: h_reference_import tried the import, a hidden module name and the reference "
          f"file through /proc; it scored {row['score']} / {row['max_score']} ({row['flags']}), and its "
          f"code {said}.")


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m autograder.demo", description=__doc__)
    parser.add_argument("--jobs", type=int, default=2, help="worker processes (default 2)")
    jobs = parser.parse_args(argv).jobs
    start = time.monotonic()
    shutil.rmtree(SCRATCH, ignore_errors=True)
    home = SCRATCH / "course"
    home.mkdir(parents=True)
    shutil.copy(course.ROOT / course.CONFIG, home)
    shutil.copytree(course.ROOT / "solutions", home / "solutions")
    print(f"1. release: nbgrader generate_assignment into {home / 'lessons'}")
    cli.log_to_terminal()
    app.release(home)
    submitted = home / "submitted"
    shutil.copytree(course.ROOT / "autograder" / "samples", submitted,
                    ignore=shutil.ignore_patterns("*.py", "*.json", "__pycache__"))
    students = sorted(p.name for p in submitted.iterdir())
    print(f"2. grade: {len(students)} sample students ({sum(s.startswith('h_') for s in students)} hostile "
          f"or broken) with --jobs {jobs}, limits {', '.join(f'{k} {v}' for k, v in DEMO_LIMITS.items())}")
    out = SCRATCH / "report"
    cli.summary(app.grade_course(home, "all", out=out, jobs=jobs, **DEMO_LIMITS))
    show_sandbox(out)
    print(f"\n4. done in {time.monotonic() - start:.0f} s. Open {out / 'feedback'}/<student>.html for "
          f"feedback and {out} for grades.csv and the histograms.")


if __name__ == "__main__":
    main()

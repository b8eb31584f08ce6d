"""`make demo`: a scratch course, the release, the sample class graded with two workers.

    python -m autograder.demo [--jobs 2]

Everything goes to scratch/demo/ (git-ignored): the course with its generated
lessons, the submissions (a copy of autograder/samples in nbgrader's
submitted/ layout) and the report (grades.csv, feedback/, histograms, gradebook).
"""

import argparse
import shutil
import time

from autograder import __main__ as cli
from autograder import course

SCRATCH = course.ROOT / "scratch" / "demo"
DEMO_LIMITS = ["--cell-timeout", "15", "--notebook-timeout", "60", "--memory", "1500"]


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m autograder.demo", description=__doc__)
    parser.add_argument("--jobs", default="2", help="worker processes (default 2)")
    jobs = parser.parse_args(argv).jobs
    start = time.monotonic()
    shutil.rmtree(SCRATCH, ignore_errors=True)
    home = SCRATCH / "course"
    home.mkdir(parents=True)
    shutil.copy(course.ROOT / course.CONFIG, home)
    shutil.copytree(course.ROOT / "solutions", home / "solutions")
    print(f"1. release: nbgrader generate_assignment into {home / 'lessons'}")
    cli.main(["release", "--course", str(home)])
    submitted = home / "submitted"
    shutil.copytree(course.ROOT / "autograder" / "samples", submitted,
                    ignore=shutil.ignore_patterns("*.py", "*.json", "__pycache__"))
    students = sorted(p.name for p in submitted.iterdir())
    print(f"2. grade: {len(students)} sample students ({sum(s.startswith('h_') for s in students)} hostile "
          f"or broken) with --jobs {jobs}, limits {' '.join(DEMO_LIMITS)}")
    out = SCRATCH / "report"
    cli.main(["grade", "all", "--submitted", str(submitted), "--out", str(out), "--jobs", jobs, *DEMO_LIMITS])
    print(f"\n3. done in {time.monotonic() - start:.0f} s. Open {out / 'feedback'}/<student>.html for "
          f"feedback and {out} for grades.csv and the histograms.")


if __name__ == "__main__":
    main()

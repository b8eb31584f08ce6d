"""Command line: ``python -m autograder release`` and ``python -m autograder grade ...``."""

import argparse
import sys
import tempfile
import time
from pathlib import Path

from autograder import course, feedback, gradebook, pipeline, report, sandbox
from autograder.sandbox import Limits


def _release(args):
    course.release(args.course)
    print(f"lessons/ regenerated from solutions/ in {args.course}")


def _grade(args):
    known = course.assignments()
    names = known if args.assignment == "all" else [args.assignment]
    unknown = set(names) - set(known)
    if unknown:
        sys.exit(f"unknown assignment {sorted(unknown)}; known: {', '.join(known)}")
    limits = Limits(args.cell_timeout, args.notebook_timeout, args.memory, sandbox=not args.unsafe_no_sandbox)
    why = sandbox.unavailable() if limits.sandbox else None
    if why:
        sys.exit(f"cannot grade: student code must run in a sandbox, and {why}.\n"
                 "To grade without one (student code can then read and change what you can), pass "
                 "--unsafe-no-sandbox: every row of grades.csv is then flagged 'unsandboxed'.")
    if not limits.sandbox:
        print("WARNING: grading WITHOUT a sandbox (--unsafe-no-sandbox): every row is flagged "
              f"'{sandbox.UNSAFE_FLAG}'", file=sys.stderr)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    plans = pipeline.plan(names)
    found = pipeline.submissions(plans, args.submitted)
    graded = sorted({s.assignment for s in found})  # only what was handed in gets a template
    url = args.db or f"sqlite:///{(out / 'gradebook.db').resolve()}"
    count, results, workers = 0, [], 0.0
    # in /tmp, not $TMPDIR: the kernels' Unix socket paths must stay under 108 characters
    with tempfile.TemporaryDirectory(prefix="ag-", dir="/tmp") as scratch:
        if found:
            template = course.make_template(Path(scratch) / "template", graded)
            workers = time.monotonic()
            results = pipeline.grade_all(found, plans, template, limits, scratch, jobs=args.jobs,
                                         progress=not args.quiet)
            workers = time.monotonic() - workers
            if not args.no_db:
                count = gradebook.merge(results, url, graded, template)
    elapsed = time.monotonic() - start
    report.write_csv(results, out / "grades.csv")
    pictures = report.histograms(results, out) if results else []
    pages = feedback.write(results, out)
    if not args.quiet:
        print(report.table(results))
    print(f"graded {len(results)} notebooks in {elapsed:.1f} s with {args.jobs} job(s) "
          f"(workers {workers:.1f} s)")
    print(f"grades:    {out / 'grades.csv'}")
    print(f"feedback:  {pages}/<student>.html")
    for picture in pictures:
        print(f"histogram: {picture}")
    if count:
        print(f"gradebook: {url} ({count} grades)")


def parser():
    main = argparse.ArgumentParser(prog="python -m autograder", description=__doc__)
    commands = main.add_subparsers(dest="command", required=True)
    release = commands.add_parser("release", help="regenerate lessons/ from solutions/ (as `make lessons`)")
    release.add_argument("--course", type=Path, default=course.ROOT,
                         help="course folder with nbgrader_config.py and solutions/ (default: this repository)")
    release.set_defaults(run=_release)
    grade = commands.add_parser("grade", help="autograde submissions in parallel, with integrity check")
    grade.add_argument("assignment", help="an assignment name, or 'all'")
    grade.add_argument("--submitted", required=True, help="DIR/<student>/<assignment>/<notebook>.ipynb")
    grade.add_argument("--out", required=True, help="folder for grades.csv, feedback/, histograms, gradebook")
    grade.add_argument("--jobs", type=int, default=1, help="worker processes (default 1)")
    grade.add_argument("--db", help="gradebook URL to merge into (default: sqlite OUT/gradebook.db)")
    grade.add_argument("--no-db", action="store_true", help="do not write a gradebook")
    grade.add_argument("--cell-timeout", type=float, default=60, help="seconds per cell (default 60)")
    grade.add_argument("--notebook-timeout", type=float, default=300, help="seconds per notebook (default 300)")
    grade.add_argument("--memory", type=int, default=2048, help="MB of address space per kernel (default 2048)")
    grade.add_argument("--unsafe-no-sandbox", action="store_true",
                       help="run student code without the bubblewrap sandbox (rlimits only); "
                            "every row is flagged 'unsandboxed'")
    grade.add_argument("--quiet", action="store_true", help="no progress bar and no table")
    grade.set_defaults(run=_grade)
    return main


def main(argv=None):
    args = parser().parse_args(argv)
    if getattr(args, "jobs", 1) < 1:
        sys.exit("--jobs must be at least 1")
    args.run(args)


if __name__ == "__main__":
    main()

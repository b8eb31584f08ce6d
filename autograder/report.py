"""The grade report: grades.csv (one row per graded cell, with the mistakes its feedback names),
totals.csv (one row per notebook: score, lateness, late penalty, final score), a histogram per
assignment, a text table.

A written answer that waits for manual grading has an empty score in grades.csv (never 0, never
full marks), the flag ``needs-manual-grading``, and counts in no total until it is graded in the
formgrader.
Every cell of grades.csv goes through ``escape.cell`` (a student id such as ``=HYPERLINK(...)`` is
text, not a formula, in a spreadsheet), and the table through ``escape.terminal``.
"""

import csv
from collections import defaultdict
from pathlib import Path

from autograder import escape, named_mistakes

COLUMNS = ("student", "assignment", "notebook", "grade_id", "score", "max_score", "flags", "defences", "mistakes")
TOTAL_COLUMNS = ("student", "assignment", "notebook", "score", "max_score", "late", "late_penalty", "final_score")


def rows(results):
    for result in results:
        for cell in result.cells:
            yield {"student": result.student, "assignment": result.assignment, "notebook": result.notebook,
                   "grade_id": cell.grade_id, "score": "" if cell.score is None else f"{cell.score:g}",
                   "max_score": f"{cell.max_score:g}",
                   "flags": ";".join(cell.flags), "defences": ";".join(result.defences),
                   "mistakes": ";".join(named_mistakes.named(cell.feedback or ""))}


def late_text(seconds):
    """'2 d 3 h 5 min' for a lateness of ``seconds``; '' when on time."""
    minutes = int(-(-seconds // 60))
    if minutes <= 0:
        return ""
    parts = ((minutes // 1440, "d"), (minutes // 60 % 24, "h"), (minutes % 60, "min"))
    return " ".join(f"{count} {unit}" for count, unit in parts if count)


def final(result):
    """(score, max_score, late penalty or None, final score) of a notebook's result."""
    score, most = scored(result.cells)
    penalty = result.late_penalty or None
    return score, most, penalty, score - (penalty or 0)


def total_rows(results):
    for result in results:
        score, most, penalty, after = final(result)
        yield {"student": result.student, "assignment": result.assignment, "notebook": result.notebook,
               "score": f"{score:g}", "max_score": f"{most:g}", "late": late_text(result.seconds_late),
               "late_penalty": "" if penalty is None else f"{penalty:g}", "final_score": f"{after:g}"}


def write_csv(results, path, keep_others=False, columns=COLUMNS, make_rows=rows):
    """Write grades.csv (or with ``columns`` and ``make_rows``, totals.csv); ``keep_others``: keep
    the rows of an earlier file at ``path`` whose (student, assignment) ``results`` do not grade again."""
    written = [{name: escape.cell(value) for name, value in row.items()} for row in make_rows(results)]
    if keep_others and Path(path).is_file():
        graded = {(row["student"], row["assignment"]) for row in written}
        with open(path, newline="") as handle:
            written += [{name: escape.cell(row.get(name, "")) for name in columns} for row in csv.DictReader(handle)
                        if (escape.cell(row["student"]), escape.cell(row["assignment"])) not in graded]
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(written)


def read_csv(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def scored(cells):
    """(score, max_score) of the cells that have a score: a written answer still to be graded by
    hand counts in neither."""
    known = [c for c in cells if c.score is not None]
    return sum(c.score for c in known), sum(c.max_score for c in known)


def totals(rows):
    """{assignment: {student: (score, max_score)}} of grades.csv's ``rows``, over the cells that
    have a score."""
    sums = defaultdict(lambda: defaultdict(lambda: (0.0, 0.0)))
    for row in rows:
        if row["score"] != "":
            score, most = sums[row["assignment"]][row["student"]]
            sums[row["assignment"]][row["student"]] = (score + float(row["score"]), most + float(row["max_score"]))
    return sums


def histograms(rows, folder):
    """One PNG of total scores per assignment of grades.csv's ``rows`` in ``folder``; the paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    for assignment, scores in sorted(totals(rows).items()):
        values = [score for score, _ in scores.values()]
        most = max(m for _, m in scores.values())
        fig, ax = plt.subplots(figsize=(6, 3.5))
        ax.hist(values, bins=min(20, max(5, len(values))), range=(0, most), color="C0", edgecolor="white")
        ax.set_xlabel(f"total score (out of {most:g})")
        ax.set_ylabel("students")
        ax.set_title(f"{assignment}: {len(values)} submissions, mean {sum(values) / len(values):.2f}")
        fig.tight_layout()
        path = Path(folder) / f"histogram_{assignment}.png"
        fig.savefig(path, dpi=100)
        plt.close(fig)
        paths.append(path)
    return paths


def table(results):
    """A plain-text table: one line per graded cell, and for a late notebook one line with its
    penalty and final score; control characters shown escaped."""
    lines = [f"{'student':<22} {'assignment':<16} {'grade_id':<30} {'score':>11}  flags"]
    for result in results:
        for row in rows([result]):
            score = f"{row['score'] or 'by hand'} / {row['max_score']}"
            lines.append(f"{row['student']:<22} {row['assignment']:<16} {row['grade_id']:<30} {score:>11}  "
                         f"{row['flags']}")
        score, most, penalty, after = final(result)
        if penalty is not None:
            lines.append(f"{result.student:<22} {result.assignment:<16} {'late ' + late_text(result.seconds_late):<30} "
                         f"{after:>5g} / {most:g}  {score:g} less a late penalty of {penalty:g}")
    return escape.terminal("\n".join(lines))

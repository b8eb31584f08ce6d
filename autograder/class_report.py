"""What the class got wrong, per assignment: REPORTS/class_<assignment>.html and .png.

Built from grades.csv, so a re-grade of some students updates the page for the whole class. For
each graded cell, the one where the class lost most first: how many students lost points there,
each named mistake with how many made it and who (linked to their feedback pages), the failures
no mistake explains, the stubs never implemented; then the distribution of the totals.
"""

from collections import defaultdict
from html import escape
from pathlib import Path

from autograder import escape as csv_escape
from autograder import feedback
from autograder.named_mistakes import LEFT_BLANK, NOT_IMPLEMENTED, hint_of

STYLE = (feedback.STYLE + "table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border-bottom:1px solid #ddd;"
         "vertical-align:top}td.n{text-align:right}.who{font-size:85%;color:#555}")


def summarise(rows):
    """{assignment: {"cells": [per graded cell: grade_id, max_score, students, full, lost,
    mistakes {name: [students]}, unnamed [students]], "totals": {student: (score, max)}}} from
    grades.csv's rows; cells that wait for manual grading count in neither."""
    classes = defaultdict(lambda: {"cells": {}, "totals": defaultdict(lambda: [0.0, 0.0])})
    for row in rows:
        if row["score"] == "":
            continue
        score, most = float(row["score"]), float(row["max_score"])
        found = classes[row["assignment"]]
        cell = found["cells"].setdefault(row["grade_id"], {"grade_id": row["grade_id"], "max_score": most,
                                                           "students": 0, "full": 0, "lost": 0.0,
                                                           "mistakes": defaultdict(list), "unnamed": []})
        student = _student(row["student"])
        cell["students"] += 1
        cell["lost"] += most - score
        if score >= most:
            cell["full"] += 1
        elif names := [n for n in row.get("mistakes", "").split(";") if n]:
            for name in names:
                cell["mistakes"][name].append(student)
        else:
            cell["unnamed"].append(student)
        total = found["totals"][student]
        total[0] += score
        total[1] += most
    return {a: {"cells": sorted(c["cells"].values(), key=lambda cell: -cell["lost"]), "totals": c["totals"]}
            for a, c in classes.items()}


def _student(value):
    """The student id as graded, from its grades.csv cell (undoing escape.cell's apostrophe)."""
    unquoted = value[1:] if value.startswith("'") else value
    return unquoted if unquoted.startswith(csv_escape.FORMULA_START) else value


def _who(students):
    links = (f"<a href='feedback/{escape(feedback.file_name(s))}'>{escape(s)}</a>" for s in sorted(students))
    return f"<span class='who'>{', '.join(links)}</span>"


def page(assignment, summary, picture):
    cells, totals = summary["cells"], summary["totals"]
    scores = sorted(score for score, _ in totals.values())
    most = max((m for _, m in totals.values()), default=0)
    middle = scores[len(scores) // 2] if scores else 0
    body = [f"<h1>{escape(assignment)}: what the class got wrong</h1>",
            f"<p>{len(totals)} students; total score median {middle:g} of {most:g}, mean "
            f"{sum(scores) / max(len(scores), 1):.2f}. The cells where the class lost most come first.</p>",
            f"<p><img src='{escape(picture)}' alt='students per cell: full marks, named mistakes, unexplained, "
            f"not implemented'></p>",
            "<table><tr><th>cell</th><th>points lost (class)</th><th>full marks</th><th>what went wrong</th>"
            "<th class='n'>students</th></tr>"]
    for cell in cells:
        wrong = sorted(cell["mistakes"].items(), key=lambda item: -len(item[1]))
        lines = [(escape(hint_of(name)), students) for name, students in wrong]
        if cell["unnamed"]:
            lines.append(("<i>lost points, no mistake named</i>", cell["unnamed"]))
        first = True
        for text, students in lines or [("", [])]:
            head = (f"<td rowspan='{max(len(lines), 1)}'>{escape(cell['grade_id'])} ({cell['max_score']:g})</td>"
                    f"<td rowspan='{max(len(lines), 1)}' class='n'>{cell['lost']:g}</td>"
                    f"<td rowspan='{max(len(lines), 1)}' class='n'>{cell['full']} of {cell['students']}</td>"
                    if first else "")
            count = f"{len(students)}<br>{_who(students)}" if students else ""
            body.append(f"<tr>{head}<td>{text}</td><td class='n'>{count}</td></tr>")
            first = False
    body.append("</table>")
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>Class: {escape(assignment)}</title>"
            f"<style>{STYLE}</style></head><body>{''.join(body)}</body></html>")


def draw(assignment, summary, path):
    """A bar per graded cell: its students split into full marks, named mistakes, unexplained
    failures and stubs (or written answers left blank)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cells = summary["cells"][::-1]    # the most lost on top
    untouched = (NOT_IMPLEMENTED, LEFT_BLANK)
    parts = {"full marks": [c["full"] for c in cells],
             "named mistake": [len({s for name, who in c["mistakes"].items() if name not in untouched for s in who})
                               for c in cells],
             "no mistake named": [len(c["unnamed"]) for c in cells],
             "not implemented or blank": [sum(len(c["mistakes"].get(name, [])) for name in untouched) for c in cells]}
    fig, ax = plt.subplots(figsize=(8, 1.6 + 0.45 * len(cells)))
    left = [0] * len(cells)
    colours = {"full marks": "#4c9a2a", "named mistake": "#e08a1e", "no mistake named": "#b02a2a",
               "not implemented or blank": "#9a9a9a"}
    for label, counts in parts.items():
        ax.barh([c["grade_id"] for c in cells], counts, left=left, color=colours[label], label=label)
        left = [a + b for a, b in zip(left, counts, strict=True)]
    ax.set_title(f"{assignment}: students per graded cell")   # the x axis counts students
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=4, fontsize=8, frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=100, bbox_inches="tight")   # the legend sits below the axes
    plt.close(fig)


def write(rows, folder):
    """class_<assignment>.html and .png in ``folder`` for every assignment in ``rows``; the paths."""
    paths = []
    for assignment, summary in sorted(summarise(rows).items()):
        picture = Path(folder) / f"class_{assignment}.png"
        draw(assignment, summary, picture)
        html_path = Path(folder) / f"class_{assignment}.html"
        html_path.write_text(page(assignment, summary, picture.name), encoding="utf-8")
        paths.append(html_path)
    return paths

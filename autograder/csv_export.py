"""``nbgrader export``'s CSV, safe to open in a spreadsheet; the course's nbgrader_config.py selects it:

    c.ExportApp.plugin_class = "autograder.csv_export.EscapedCsvExportPlugin"

The columns and values of nbgrader's own CsvExportPlugin (one row per assignment and student,
0 for no submission), but written by the csv module (a comma or quote in a name stays in its
cell), each cell through ``escape.cell`` (an id like ``=HYPERLINK(...)`` is text, not a formula).
"""

import csv

from nbgrader.api import MissingEntry
from nbgrader.plugins import CsvExportPlugin

from autograder.escape import cell

COLUMNS = ("assignment", "duedate", "timestamp", "student_id", "last_name", "first_name", "email",
           "raw_score", "late_submission_penalty", "score", "max_score")


def _row(assignment, student, gradebook):
    """nbgrader's export row of ``student``'s ``assignment``, as texts."""
    try:
        submission = gradebook.find_submission(assignment.name, student.id)
        handed_in = (submission.timestamp, submission.score, submission.late_submission_penalty,
                     max(0.0, submission.score - submission.late_submission_penalty))
    except MissingEntry:
        handed_in = ("", 0.0, 0.0, 0.0)
    values = (assignment.name, assignment.duedate, handed_in[0], student.id, student.last_name,
              student.first_name, student.email, *handed_in[1:], assignment.max_score)
    return ["" if value is None else str(value) for value in values]


class EscapedCsvExportPlugin(CsvExportPlugin):
    """nbgrader's CSV export, quoted as CSV and with formula-like cells escaped."""

    def export(self, gradebook):
        to = self.to or "grades.csv"
        assignments = {str(name) for name in self.assignment}
        students = {str(student_id) for student_id in self.student}
        self.log.info("Exporting grades to %s", to)
        with open(to, "w", newline="", encoding="utf-8") as file:
            writer = csv.writer(file)
            writer.writerow(COLUMNS)
            for assignment in gradebook.assignments:
                if assignments and assignment.name not in assignments:
                    continue
                for student in gradebook.students:
                    if not students or student.id in students:
                        writer.writerow([cell(value) for value in _row(assignment, student, gradebook)])

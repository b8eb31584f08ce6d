"""nbgrader export plugins writing the grade files that Canvas and Moodle import, from the course root:

    nbgrader export --exporter=autograder.lms.CanvasExportPlugin --to canvas_grades.csv
    nbgrader export --exporter=autograder.lms.MoodleExportPlugin --to moodle_grades.csv

One column per nbgrader assignment, headed by its name. A student's grade is the submission's score
minus its late-submission penalty, never below 0 (as nbgrader's own CSV export computes it). There
is no grade, rather than 0, when the student submitted nothing (a late submission can still come),
or when the submission still waits for manual grading (a warning names the student and assignment).
Every cell of a name, id, email or assignment goes through ``escape.cell``: text, never a formula.
"""

import csv
from decimal import Decimal

from nbgrader.api import MissingEntry
from nbgrader.plugins import ExportPlugin
from traitlets import Unicode

from autograder.escape import cell, terminal


def plain(number):
    """``number`` in plain decimal notation, rounded to 5 places (what Moodle keeps): 7.0 -> '7'."""
    return format(Decimal(repr(round(number, 5))).normalize(), "f")


def final_scores(gradebook, assignments, students, log):
    """Yield (student, scores) for each of ``students``: the final score of each of ``assignments``,
    or None where there is none to report yet (no submission, or manual grading still to do)."""
    for student in students:
        scores = []
        for assignment in assignments:
            try:
                submission = gradebook.find_submission(assignment.name, student.id)
            except MissingEntry:
                scores.append(None)
                continue
            if submission.needs_manual_grade:
                log.warning("Not exporting %s's %s: it still needs manual grading", terminal(student.id),
                            terminal(assignment.name))
                scores.append(None)
            else:
                scores.append(max(0.0, submission.score - submission.late_submission_penalty))
        yield student, scores


class LmsExportPlugin(ExportPlugin):
    """The chosen assignments and students, written as the CSV rows of the subclass's ``rows()``."""

    no_grade = ""  # the cell of a score that is None

    def export(self, gradebook):
        names = {str(name) for name in self.assignment}
        student_ids = {str(student_id) for student_id in self.student}
        assignments = [a for a in gradebook.assignments if not names or a.name in names]
        students = [s for s in gradebook.students if not student_ids or s.id in student_ids]
        graded = final_scores(gradebook, assignments, students, self.log)
        self.log.info("Exporting grades to %s", self.to)
        with open(self.to, "w", newline="", encoding="utf-8") as file:
            csv.writer(file).writerows(self.rows(assignments, graded))

    def cells(self, scores):
        return [self.no_grade if score is None else plain(score) for score in scores]


class CanvasExportPlugin(LmsExportPlugin):
    """A CSV for Canvas's Grades > Import, as its guide describes
    (https://community.canvaslms.com/t5/Instructor-Guide/How-do-I-import-grades-in-the-Gradebook/ta-p/807)
    and its importer reads it (canvas-lms app/models/gradebook_importer.rb).

    The header ``Student,ID,SIS User ID,SIS Login ID,Section,<assignments>``, then the ``Points
    Possible`` row. A header that is no "Name (canvas id)" matches the published assignment of
    exactly that name, or Canvas creates an assignment of that name and those points. Canvas finds
    each student by ID (the Canvas user id: ``lms_user_id`` when it is a number, as Canvas's ids
    are), else by SIS Login ID (the nbgrader id, the Canvas login when students log in to the hub
    with Canvas; else record each Canvas id: ``nbgrader db student add ID --lms-user-id=N``), else by
    name ("Last, First"). An empty cell gives no grade; it would remove one entered in Canvas, which
    the import's preview lists as a change.
    """

    to = Unicode("canvas_grades.csv", help="the CSV file to write").tag(config=True)

    def rows(self, assignments, graded):
        yield ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", *(cell(a.name) for a in assignments)]
        yield ["Points Possible", "", "", "", "", *(plain(a.max_score) for a in assignments)]
        for student, scores in graded:
            name = ", ".join(filter(None, [student.last_name, student.first_name])) or student.id
            canvas_id = student.lms_user_id if (student.lms_user_id or "").isdigit() else ""
            yield [cell(name), canvas_id, "", cell(student.id), "", *self.cells(scores)]


class MoodleExportPlugin(LmsExportPlugin):
    """A CSV for Moodle's Grades > Import > CSV file (https://docs.moodle.org/en/Grade_import; its
    importer: moodle grade/import/csv/classes/load_data.php).

    One user column, then the assignments. At import, "Map from" the user column "Map to" one user
    field; a value that matches no user rejects the whole file. So the column is "Email address"
    when every exported student has an email in the gradebook, else "Username" (the nbgrader ids).
    Map each assignment column to its grade item, created with the nbgrader maximum as its maximum
    grade (a new one gets 100). A cell without a grade is "-", Moodle's "no grade": an empty cell
    would be 0 in a new grade item.
    """

    to = Unicode("moodle_grades.csv", help="the CSV file to write").tag(config=True)
    no_grade = "-"

    def rows(self, assignments, graded):
        graded = list(graded)
        by_email = all(student.email for student, _ in graded)
        yield ["Email address" if by_email else "Username", *(cell(a.name) for a in assignments)]
        for student, scores in graded:
            yield [cell(student.email if by_email else student.id), *self.cells(scores)]

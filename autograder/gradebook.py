"""Merge graded results into one nbgrader gradebook (SQLite file or a database URL such as
postgresql://...), from a single process: the workers never write to it.

The assignments are defined in it as nbgrader does (generate_assignment into a
scratch copy of the course; a new SQLite file starts as a copy of the template's
gradebook, which has them already); each submission's grades get the final
scores as their auto_score, so formgrader and `nbgrader export` see the same
numbers as grades.csv. A written answer waiting for manual grading gets no
auto_score and ``needs_manual_grade``, so the formgrader lists it; one left as
handed out gets 0 and nbgrader's automatic comment NO_RESPONSE; a manual score
an instructor already gave is kept.

Extensions come from the course's extensions.json (autograder/extensions.py) and become the
submissions' own ``extension``. Submission times come from the submissions' timestamp.txt (a
submission without a readable one counts as late where there is a due date, and is flagged:
autograder/handed_in.py), due dates from ``c.Autograder.due_dates`` (a due date already in the
gradebook stays where the config gives none), and late penalties from nbgrader's
``AssignLatePenalties.plugin_class`` (``LateSubmissionPlugin`` and its ``penalty_method`` by
default), computed on the final scores as nbgrader's autograde computes them on its own; each
result gets its seconds late and its penalty back, for the reports.
"""

import shutil
import tempfile
from pathlib import Path

from autograder import course, extensions, handed_in

NO_RESPONSE = "No response."   # nbgrader's automatic comment on an answer left as handed out


def define_assignments(url, names, template, course_dir):
    """Create (or update) the assignments ``names`` of the course at ``course_dir`` in the gradebook
    at ``url`` (a new SQLite file: a copy of the grading ``template``'s)."""
    if url.startswith("sqlite:///") and not Path(url[len("sqlite:///"):]).exists():
        shutil.copy(Path(template) / "gradebook.db", url[len("sqlite:///"):])
        return
    with tempfile.TemporaryDirectory(prefix="autograder-db-") as folder:
        course.make_template(folder, names, course_dir, db=url)


def late_plugin(config):
    """The course's late-submission plugin, as nbgrader's autograde builds it."""
    from nbgrader.preprocessors import AssignLatePenalties

    assigner = AssignLatePenalties(config=config)
    assigner.init_plugin()
    return assigner.plugin_inst


def _penalize(gb, submission, plugin):
    """Set each notebook's late_submission_penalty (between 0 and its score), as nbgrader does."""
    for notebook in submission.notebooks:
        notebook.late_submission_penalty = None
        if submission.total_seconds_late > 0:
            penalty = plugin.late_submission_penalty(submission.student.id, notebook.score,
                                                     submission.total_seconds_late)
            if penalty is not None:
                notebook.late_submission_penalty = min(max(penalty, 0), notebook.score)


def merge(results, url, names, template, course_dir, config, due_dates=None, granted=None):
    """Write every result's cell scores, its submission time, extension and late penalty into the
    gradebook at ``url`` of the course at ``course_dir``; ``config``: its traitlets Config;
    ``granted``: extensions.load's table. Flags the results whose time is unknown
    (handed_in.mark_unknown) and sets each result's ``seconds_late`` and ``late_penalty``.
    Returns the number of grades."""
    from nbgrader.api import Gradebook
    from nbgrader.utils import parse_utc

    course.quiet_nbgrader()
    define_assignments(url, names, template, course_dir)
    plugin, count, submissions, granted = late_plugin(config), 0, {}, granted or {}
    with Gradebook(url, course_id=course.COURSE_ID) as gb:
        for name, when in (due_dates or {}).items():
            if name in names:
                gb.update_or_create_assignment(name, duedate=parse_utc(when))
        due = {a.name: a.duedate for a in gb.assignments if a.name in names and a.duedate is not None}
        unknown = {id(result) for result in handed_in.mark_unknown(results, due)}
        for result in results:
            gb.update_or_create_student(result.student)
            when = result.files.get("timestamp.txt")
            timestamp = {"timestamp": parse_utc(when)} if when else {}
            if id(result) in unknown:
                timestamp = {"timestamp": handed_in.assumed(due[result.assignment])}
            submission = gb.update_or_create_submission(result.assignment, result.student, **timestamp)
            if result.student in granted.get(result.assignment, {}):
                submission.extension = extensions.extension(granted, result.assignment, result.student,
                                                            due.get(result.assignment))
            submissions[result.assignment, result.student] = submission
            for cell in result.cells:
                grade = gb.find_grade(cell.grade_id, result.notebook, result.assignment, result.student)
                grade.auto_score = cell.score
                grade.needs_manual_grade = cell.score is None and grade.manual_score is None
                if cell.manual:
                    comment = gb.find_comment(cell.grade_id, result.notebook, result.assignment, result.student)
                    comment.auto_comment = NO_RESPONSE if cell.score is not None else None
                count += 1
        gb.db.commit()
        for submission in submissions.values():
            _penalize(gb, submission, plugin)
        gb.db.commit()
        for result in results:
            submission = submissions[result.assignment, result.student]
            result.seconds_late = submission.total_seconds_late
            result.late_penalty = next((n.late_submission_penalty for n in submission.notebooks
                                        if n.name == result.notebook), None)
    return count

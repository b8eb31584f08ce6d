"""Merge graded results into one nbgrader gradebook (SQLite file or a database URL such as
postgresql://...), from a single process: the workers never write to it.

The assignments are defined in it as nbgrader does (generate_assignment into a
scratch copy of the course; a new SQLite file starts as a copy of the template's
gradebook, which has them already); each submission's grades get the final
scores as their auto_score, so formgrader and `nbgrader export` see the same
numbers as grades.csv. A written answer waiting for manual grading gets no
auto_score and ``needs_manual_grade``, so the formgrader lists it; a manual
score an instructor already gave is kept.
"""

import shutil
import tempfile
from pathlib import Path

from autograder import course


def define_assignments(url, names, template):
    """Create (or update) the assignments ``names`` in the gradebook at ``url``."""
    if url.startswith("sqlite:///") and not Path(url[len("sqlite:///"):]).exists():
        shutil.copy(Path(template) / "gradebook.db", url[len("sqlite:///"):])
        return
    with tempfile.TemporaryDirectory(prefix="autograder-db-") as folder:
        course.make_template(folder, names, db=url)


def merge(results, url, names, template):
    """Write every result's cell scores into the gradebook at ``url``; returns the number of grades."""
    from nbgrader.api import Gradebook

    course.quiet_nbgrader()
    define_assignments(url, names, template)
    count = 0
    with Gradebook(url, course_id=course.COURSE_ID) as gb:
        for result in results:
            gb.update_or_create_student(result.student)
            gb.update_or_create_submission(result.assignment, result.student)
            for cell in result.cells:
                grade = gb.find_grade(cell.grade_id, result.notebook, result.assignment, result.student)
                grade.auto_score = cell.score
                grade.needs_manual_grade = cell.score is None and grade.manual_score is None
                count += 1
        gb.db.commit()
    return count

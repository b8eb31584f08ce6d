"""The graded notebooks in the course, laid out as ``nbgrader autograde`` leaves them:
``autograded/<student>/<assignment>/<notebook>.ipynb``, with the submission's ``timestamp.txt``
and ``submission_secret.txt``.

From there nbgrader's own tools take over: the formgrader lists the submissions for manual
grading, ``nbgrader generate_feedback`` and ``release_feedback`` bring the feedback to students.
Only the parent process writes here. A student id that is not a plain file name (nbgrader reads
ids as glob patterns) is graded and in the gradebook, but gets no folder here.
"""

import shutil
from collections import defaultdict
from pathlib import Path

from autograder import feedback


def course_directory(course_dir, config):
    from nbgrader.coursedir import CourseDirectory

    return CourseDirectory(config=config, root=str(Path(course_dir).resolve()))


def write(results, course_dir, config):
    """Write the autograded notebooks of ``results`` into the course; replaces each graded
    (student, assignment) folder. Returns (folders written, student ids left out)."""
    folders = course_directory(course_dir, config)
    by_submission = defaultdict(list)
    for result in results:
        if result.autograded is not None:
            by_submission[result.student, result.assignment].append(result)
    written, left_out = 0, set()
    for (student, assignment), items in sorted(by_submission.items()):
        if not feedback.SAFE_NAME.fullmatch(student):
            left_out.add(student)
            continue
        folder = Path(folders.format_path(folders.autograded_directory, student, assignment))
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        for result in items:
            (folder / f"{result.notebook}.ipynb").write_text(result.autograded, encoding="utf-8")
        for name, text in items[0].files.items():
            (folder / name).write_text(text, encoding="utf-8")
        written += 1
    return written, sorted(left_out)

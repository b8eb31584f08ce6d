"""nbgrader's own autograde (`nbgrader autograde`, the formgrader's Autograde button) through our grader.

The course's nbgrader_config.py makes :class:`SandboxedAutograde` nbgrader's only sanitize
preprocessor and leaves its autograde preprocessors empty. For each (student, assignment) it runs
``python -m autograder grade ASSIGNMENT --student S`` in the course (a subprocess: the sandbox and
the re-check, the gradebook's scores and late penalties are that command's) and hands nbgrader
the autograded notebook that command wrote, so nothing of nbgrader's Execute or SaveAutoGrades runs.
Where the grader cannot run, autograding fails with one line that says why and where to grade.
"""

import subprocess
import sys
from pathlib import Path

import nbformat
from nbconvert.preprocessors import Preprocessor
from traitlets import Bool

from autograder.escape import terminal


class DoorError(RuntimeError):
    """Our grader could not grade a submission nbgrader was asked to autograde."""


class SandboxedAutograde(Preprocessor):
    """Replaces a submitted notebook by the one ``python -m autograder grade`` autograded."""

    enabled = Bool(True)

    def preprocess(self, nb, resources):
        """The notebook our grader wrote for this student's notebook (graded once per run)."""
        converter = self.parent.parent            # the exporter's parent: nbgrader's Autograde
        folders = converter.coursedir
        student, assignment = resources["nbgrader"]["student"], resources["nbgrader"]["assignment"]
        graded = converter.__dict__.setdefault("_cnn_graded", set())
        if (student, assignment) not in graded:
            grade(Path(folders.root), assignment, student, folders.db_url)
            graded.add((student, assignment))
        path = Path(folders.format_path(folders.autograded_directory, student, assignment),
                    f"{resources['nbgrader']['notebook']}.ipynb")
        if not path.is_file():
            raise DoorError(f"python -m autograder grade wrote no {path}")
        return nbformat.read(path, as_version=nbformat.NO_CONVERT), resources


def grade(course, assignment, student, db_url):
    """Run ``python -m autograder grade`` for one student's assignment; DoorError with its reason."""
    command = [sys.executable, "-m", "autograder", "grade", assignment, "--student", student,
               "--course", str(course), "--db", db_url, "--quiet"]
    done = subprocess.run(command, cwd=course, capture_output=True, text=True, check=False)
    if done.returncode:
        lines = [line for line in (done.stderr or done.stdout).splitlines() if line.strip()]
        why = next((line for line in lines if "cannot grade" in line), lines[-1] if lines else "no output")
        raise DoorError(terminal(f"the sandboxed grader could not grade {student}/{assignment} here ({why.strip()}); "
                                 f"grade with `python -m autograder grade {assignment} --student {student}` "
                                 f"in {course} on a machine with bubblewrap"))

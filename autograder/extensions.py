"""Extensions: one student's own due date for one assignment, kept in the course's
``extensions.json`` and written by ``python -m autograder extend``:

    {"a1_conv_forward": {"alice": "2027-01-20 17:00:00 Europe/Berlin"}}

At grading they become nbgrader's own ``extension`` of the student's submission in the gradebook
(the time from the assignment's due date to the student's), so the late penalty, the formgrader
and ``nbgrader export`` all count from the later date. An extension is a date, not a length: it
stays where it was when the assignment's due date moves.
"""

import datetime
import json
import os
import tempfile
from pathlib import Path

FILE = "extensions.json"


class ExtensionError(ValueError):
    """A date that cannot be read, or an extension file that is not a {assignment: {student: date}}."""


def _utc(when):
    from nbgrader.utils import parse_utc

    try:
        return parse_utc(when)
    except (ValueError, OverflowError, TypeError):
        raise ExtensionError(f"{when!r} is not a date nbgrader reads; write it as "
                             "'2027-01-20 17:00:00 Europe/Berlin'") from None


def load(course_dir):
    """{assignment: {student: date text}} of the course (empty without the file)."""
    path = Path(course_dir) / FILE
    if not path.is_file():
        return {}
    try:
        found = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ExtensionError(f"{path} is not readable JSON ({error})") from None
    if not (isinstance(found, dict) and all(isinstance(v, dict) and all(isinstance(d, str) for d in v.values())
                                            for v in found.values())):
        raise ExtensionError(f"{path} must map each assignment to {{student: date}}")
    for assignment, students in found.items():
        for student, until in students.items():
            try:
                _utc(until)
            except ExtensionError as error:
                raise ExtensionError(f"{path}, {assignment}, {student}: {error}") from None
    return found


def grant(course_dir, student, assignment, until, due=None):
    """Give ``student`` until ``until`` (a date text) for ``assignment``, or take their extension
    back when ``until`` is None; ``due`` (naive UTC, or None when unknown): the assignment's due
    date, which an extension must come after. Written atomically. Returns the new table."""
    table = load(course_dir)
    if until is None:
        table.get(assignment, {}).pop(student, None)
    else:
        when = _utc(until)
        if due is not None and when <= due:
            raise ExtensionError(f"{until} is not after {assignment}'s due date ({due:%Y-%m-%d %H:%M:%S} UTC)")
        table.setdefault(assignment, {})[student] = until
    table = {a: students for a, students in sorted(table.items()) if students}
    fd, scratch = tempfile.mkstemp(dir=course_dir, prefix=".extensions-")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(table, handle, indent=1, sort_keys=True, ensure_ascii=False)
        handle.write("\n")
    os.replace(scratch, Path(course_dir) / FILE)
    return table


def extension(table, assignment, student, due):
    """nbgrader's ``extension`` (a timedelta, or None) of ``student`` for ``assignment`` whose due
    date is ``due`` (naive UTC, or None)."""
    until = table.get(assignment, {}).get(student)
    if until is None or due is None:
        return None
    return max(_utc(until) - due, datetime.timedelta(0))

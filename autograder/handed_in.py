"""When a submission was handed in, where its timestamp.txt cannot tell.

nbgrader counts a submission without a timestamp as on time. Here, when the assignment has a due
date, a submission whose timestamp.txt is missing or unreadable is flagged UNKNOWN_TIME (in
grades.csv, the command's table and log) and counts as handed in when it is graded: the latest
it can have been, and never earlier than a second after the due date, so it is always late.
"""

import datetime

UNKNOWN_TIME = "unknown-submission-time"


def assumed(due, now=None):
    """The time (naive UTC, as nbgrader's) a submission of unknown time counts as handed in, for
    the due date ``due`` (naive UTC)."""
    now = now or datetime.datetime.now(datetime.UTC).replace(tzinfo=None)
    return max(now, due + datetime.timedelta(seconds=1))


def mark_unknown(results, due_dates):
    """Flag UNKNOWN_TIME on each result (and its cells) whose assignment has a due date in
    ``due_dates`` ({assignment: due date}) and whose submission has no readable timestamp.txt.
    Returns the flagged results."""
    marked = []
    for result in results:
        if due_dates.get(result.assignment) and "timestamp.txt" not in result.files:
            for holder in (result, *result.cells):
                holder.flags = sorted({*holder.flags, UNKNOWN_TIME})
            marked.append(result)
    return marked

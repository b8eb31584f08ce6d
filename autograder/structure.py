"""A submission against its release notebook: what the student changed that they should not have,
and the repaired copy that nbgrader grades.

nbgrader 0.9 is meant to restore deleted test cells and overwrite edited ones,
but it fails the whole submission on a deleted cell next to a locked one, on a
changed checksum and on duplicated grade_ids. ``repair`` therefore gives it a
copy whose graded and locked cells are exactly the release's, in their places;
the student's own code is kept. Flags (informative; they change no score):
``cell-deleted``, ``cell-edited``, ``metadata-changed``, ``duplicate-cells``.
"""

import copy
from collections import Counter

from autograder.metadata import is_written_answer, nbgrader_meta


def _protected(cell):
    """A test or locked cell: the release's copy is graded. A student's answer cells (solution
    cells, the written answers graded by hand among them) are the student's."""
    meta = nbgrader_meta(cell)
    return bool(meta.get("locked") or (meta.get("grade") and not meta.get("solution")))


def _ids(nb):
    return {nbgrader_meta(c)["grade_id"]: c for c in nb.cells if nbgrader_meta(c).get("grade_id")}


def _meta_without_checksum(cell):
    return {k: v for k, v in nbgrader_meta(cell).items() if k != "checksum"}


def changes(release, submitted):
    """Sorted flags for a submitted notebook, given its release (both nbformat notebooks)."""
    flags = set()
    counts = Counter(nbgrader_meta(c).get("grade_id") for c in submitted.cells)
    if any(count > 1 for grade_id, count in counts.items() if grade_id):
        flags.add("duplicate-cells")
    present, sources = _ids(submitted), {c.source for c in submitted.cells}
    for grade_id, cell in _ids(release).items():
        mine = present.get(grade_id)
        if mine is None:
            if _protected(cell) and cell.source not in sources:
                flags.add("cell-deleted")
            else:
                flags.add("metadata-changed")
            continue
        if _meta_without_checksum(mine) != _meta_without_checksum(cell) or mine.cell_type != cell.cell_type:
            flags.add("metadata-changed")
        if _protected(cell) and mine.source != cell.source:
            flags.add("cell-edited")
    return sorted(flags)


def _plain(cell):
    """The cell without its nbgrader metadata (a duplicate or an unknown grade_id)."""
    cell = copy.deepcopy(cell)
    cell.metadata.pop("nbgrader", None)
    return cell


def _as_markdown(cell, original):
    """The student's ``cell`` (of another type) as the written answer cell ``original``, as
    nbgrader's OverwriteCells turns it back, so the answer still reaches manual grading."""
    cell = copy.deepcopy(cell)
    cell.cell_type = "markdown"
    cell.pop("outputs", None)
    cell.pop("execution_count", None)
    cell.metadata["nbgrader"] = copy.deepcopy(original.metadata["nbgrader"])
    return cell


def repair(release, submitted):
    """A copy of ``submitted`` whose graded and locked cells are the release's, in release order."""
    released = _ids(release)
    cells, seen = [], set()
    for cell in submitted.cells:
        grade_id = nbgrader_meta(cell).get("grade_id")
        if grade_id not in released or grade_id in seen:
            if grade_id in released and _protected(released[grade_id]):
                continue  # a second copy of a test cell
            cells.append(_plain(cell) if grade_id else copy.deepcopy(cell))
            continue
        seen.add(grade_id)
        original = released[grade_id]
        if _protected(original):
            cells.append(copy.deepcopy(original))
        elif cell.cell_type != original.cell_type:
            cells.append(_as_markdown(cell, original) if is_written_answer(original) else _plain(cell))
        else:
            mine = copy.deepcopy(cell)
            mine.metadata["nbgrader"] = copy.deepcopy(original.metadata["nbgrader"])
            cells.append(mine)
    order = [nbgrader_meta(c).get("grade_id") for c in release.cells]
    for position, grade_id in enumerate(order):
        if not grade_id or grade_id in seen or not _protected(released[grade_id]):
            continue
        before = [g for g in order[:position] if g in seen]
        at = 1 + max((i for i, c in enumerate(cells) if nbgrader_meta(c).get("grade_id") in before), default=-1)
        if not before:  # nothing of the release before it: keep the release's leading cells first
            at = min(position, len(cells))
        cells.insert(at, copy.deepcopy(released[grade_id]))
        seen.add(grade_id)
    repaired = copy.deepcopy(submitted)
    repaired.cells = cells
    return repaired

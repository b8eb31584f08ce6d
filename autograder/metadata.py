"""What each graded cell checks, kept in the cell's metadata.

The grader must know which student function a hidden test grades, to re-check it outside the
kernel. That is written once, at release, into the source notebook's cell metadata under
``KEY``: ``{"graded": "conv_forward_naive", "function": "conv_forward_naive", "points": 6}``
(``graded`` and ``function`` are null for a test cell that makes no ``grade(...)`` call).
It is read from the call's syntax tree, so quoting, spacing and keywords do not matter, and a
test cell whose call cannot be read stops the release with the cell named, instead of silently
losing its re-check. ``generate_assignment`` carries the metadata into ``lessons/``.

An ungraded demonstration (a drawing, an explorer, a timing) that an instructor tags SHOWCASE gets
``{"showcase": <hash of its source>}`` there instead: neither grading run needs it, so neither
runs it, as long as the student's copy still has that source (a student who wrote code into it
has it run).
"""

import ast
import hashlib
import inspect
from pathlib import Path

import nbformat

from cnn_utils.grading import grade

KEY = "cnn_backprop"
SHOWCASE = "showcase"   # the cell tag of an ungraded demonstration the graders skip


class MetadataError(ValueError):
    """A test cell whose grade(...) call cannot be read."""


def nbgrader_meta(cell):
    return cell.get("metadata", {}).get("nbgrader", {})


def is_test_cell(cell):
    """A code cell of hidden (and visible) tests: graded, not the student's."""
    meta = nbgrader_meta(cell)
    return cell.cell_type == "code" and bool(meta.get("grade")) and not meta.get("solution")


def is_visible_check(cell):
    """A locked code cell that is no test cell: the lesson's own check, worth no points."""
    meta = nbgrader_meta(cell)
    return cell.cell_type == "code" and bool(meta.get("locked")) and not meta.get("grade")


def digest(source):
    return hashlib.sha256(source.encode()).hexdigest()


def is_showcase(cell):
    """An unlocked code cell released as a showcase, its source unchanged since."""
    found = cell.get("metadata", {}).get(KEY)
    return (cell.cell_type == "code" and not nbgrader_meta(cell) and isinstance(found, dict)
            and found.get(SHOWCASE) == digest(cell.source))


def skipped_while_grading(cell):
    """A visible check or a showcase: neither grading run executes it."""
    return is_visible_check(cell) or is_showcase(cell)


def runs_while_grading(cell):
    """A code cell both grading runs execute before or between the tests: neither a test cell, nor
    a visible check (locked), nor a showcase; the student's code, the lesson's setup and helpers."""
    meta = nbgrader_meta(cell)
    return cell.cell_type == "code" and not (meta.get("grade") or meta.get("locked")) and not is_showcase(cell)


def is_written_answer(cell):
    """A markdown answer cell graded by hand in the formgrader."""
    meta = nbgrader_meta(cell)
    return cell.cell_type == "markdown" and bool(meta.get("grade") and meta.get("solution"))


class _Name(str):
    """A bare name in the call (the student's function)."""


def _literal(node, where):
    if isinstance(node, ast.Name):
        return _Name(node.id)
    try:
        return ast.literal_eval(node)
    except ValueError:
        raise MetadataError(f"{where}: grade(...) takes a name, a function and literal numbers; "
                            f"found {ast.unparse(node)!r}") from None


def read_call(source, where):
    """{"graded", "function", "points"} of the one ``grade(...)`` call in a test cell's source
    (all None without one); MetadataError names ``where`` when the call cannot be read."""
    try:
        tree = ast.parse(source)
    except SyntaxError as error:
        raise MetadataError(f"{where}: the test cell is not valid Python ({error.msg}, line {error.lineno})") from None
    calls = [node for node in ast.walk(tree) if isinstance(node, ast.Call)
             and isinstance(node.func, ast.Name) and node.func.id == "grade"]
    if not calls:
        return {"graded": None, "function": None, "points": None}
    if len(calls) > 1:
        raise MetadataError(f"{where}: {len(calls)} grade(...) calls; a test cell grades one function")
    call = calls[0]
    try:
        bound = inspect.signature(grade).bind(*[_literal(a, where) for a in call.args],
                                              **{k.arg: _literal(k.value, where) for k in call.keywords})
    except TypeError as error:
        raise MetadataError(f"{where}: {ast.unparse(call)} does not match grade(name, student_fn, points): "
                            f"{error}") from None
    name, function, points = (bound.arguments[k] for k in ("name", "student_fn", "points"))
    if isinstance(name, _Name) or not isinstance(name, str) or not isinstance(function, _Name) \
            or not isinstance(points, (int, float)):
        raise MetadataError(f"{where}: grade(...) takes a name in quotes, the student's function by its "
                            f"name and a number of points; found {ast.unparse(call)}")
    return {"graded": name, "function": str(function), "points": float(points)}


def _showcase(cell, where):
    """KEY's value for a SHOWCASE-tagged cell; MetadataError when it is graded or the student's."""
    if nbgrader_meta(cell):
        raise MetadataError(f"{where}: a '{SHOWCASE}' cell is skipped while grading, so it may not be a "
                            "test, solution or locked cell; remove the tag or the nbgrader role")
    return {SHOWCASE: digest(cell.source)}


def record(notebook_path):
    """Write KEY into every test cell and every SHOWCASE-tagged cell of a source notebook whose
    metadata is missing or stale, and drop it from a cell no longer tagged; returns the cells it
    changed, by grade_id or index (the file is rewritten only when there are any)."""
    nb = nbformat.read(str(notebook_path), as_version=4)
    changed = []
    for index, cell in enumerate(nb.cells):
        grade_id = nbgrader_meta(cell).get("grade_id")
        where = f"{Path(notebook_path).name}, cell {grade_id or index}"
        if SHOWCASE in cell.metadata.get("tags", []):
            found = _showcase(cell, where)
        elif is_test_cell(cell):
            found = read_call(cell.source, where)
            if found["points"] is not None and found["points"] != float(nbgrader_meta(cell).get("points", 0)):
                raise MetadataError(f"{where}: grade(...) gives {found['points']:g} points, "
                                    f"the cell {nbgrader_meta(cell).get('points', 0)}")
        elif KEY in cell.metadata:
            found = None
        else:
            continue
        if cell.metadata.get(KEY) != found:
            if found is None:
                del cell.metadata[KEY]
            else:
                cell.metadata[KEY] = found
            changed.append(grade_id or f"cell {index}")
    if changed:
        nbformat.write(nb, str(notebook_path))
    return changed


def graded(cell, where):
    """(graded name, student function) recorded in a test cell; MetadataError when absent."""
    found = cell.get("metadata", {}).get(KEY)
    if not isinstance(found, dict) or "graded" not in found or "function" not in found:
        raise MetadataError(f"{where}: the test cell has no '{KEY}' metadata; "
                            "run `python -m autograder release` to record what it grades")
    return found["graded"], found["function"]

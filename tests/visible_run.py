"""The visible checks of a lesson, run in-process as a student's Run All runs them.

A notebook's code cells run in order in one namespace: the setup and lesson cells (their bare
expression statements, the drawings, explorers and demos, are left out: they bind nothing), the
solution cells with the instructor's code, never the hidden test cells. A check cell (a locked
visible check) belongs to the section of the solution cell before it; ``Lesson.run_section`` runs
the checks of the section that defines a function with that function bound to a stand-in, as a
student's wrong code would be, and says which check failed and with what message.
"""

import ast
import contextlib
import io
import traceback
import warnings
from dataclasses import dataclass
from pathlib import Path

import matplotlib
import nbformat

matplotlib.use("Agg")

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = ROOT / "solutions"

# checks that train a network for a minute: the notebook runs of test_notebooks.py cover them,
# and a mistake first caught there would be caught minutes after its own section
SLOW = {"check_overfit", "check_training"}


def _meta(cell):
    return cell.metadata.get("nbgrader", {})


def _defined(source):
    """The functions and classes a cell defines at top level."""
    return [node.name for node in ast.parse(source).body
            if isinstance(node, (ast.FunctionDef, ast.ClassDef))]


def _without_bare_expressions(source):
    tree = ast.parse(source)
    tree.body = [node for node in tree.body if not isinstance(node, ast.Expr)]
    return tree


@dataclass
class Failure:
    check: str        # grade_id of the check cell that failed
    kind: str         # the exception's class name
    message: str      # str() of the exception
    in_code: bool     # the traceback passes through the stand-in's own code


class Lesson:
    def __init__(self, notebook):
        self.notebook = notebook
        nb = nbformat.read(str(SOLUTIONS / notebook), as_version=4)
        self.cells = [cell for cell in nb.cells if cell.cell_type == "code"]
        self.sections = {}    # function name -> [(check grade_id, source)]
        current = []
        for cell in self.cells:
            meta = _meta(cell)
            if meta.get("solution"):
                current = []
                for name in _defined(cell.source):
                    self.sections[name] = current
            elif meta.get("locked") and not meta.get("grade") and meta.get("grade_id") not in SLOW:
                current.append((meta["grade_id"], cell.source))
        self.namespace = self._build()

    def _build(self):
        namespace = {"__name__": "__main__", "display": lambda *args, **kwargs: None}
        with contextlib.redirect_stdout(io.StringIO()):
            for index, cell in enumerate(self.cells):
                meta = _meta(cell)
                if meta.get("grade") or (meta.get("locked") and not meta.get("solution")):
                    continue   # hidden tests, and the checks: run by run_section
                code = cell.source if meta else _without_bare_expressions(cell.source)
                exec(compile(code, f"<{self.notebook} code cell {index}>", "exec"), namespace)
        matplotlib.pyplot.close("all")
        return namespace

    def run_section(self, function, stand_in=None):
        """Run the checks of ``function``'s section, with ``stand_in`` bound to its name (the
        instructor's code when None); the first Failure, or None when every check passes."""
        checks = self.sections[function]
        original = self.namespace[function]
        stand_in = original if stand_in is None else stand_in
        own_name = stand_in.__name__   # a student's function has the name the lesson gives it
        stand_in.__name__ = function
        self.namespace[function] = stand_in
        code = getattr(stand_in, "__code__", None) or getattr(getattr(stand_in, "__init__", None),
                                                              "__code__", None)
        try:
            for grade_id, source in checks:
                try:
                    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        exec(compile(source, f"<{self.notebook} {grade_id}>", "exec"), self.namespace)
                except Exception as error:   # noqa: BLE001 - any failure of a check is the finding
                    files = {frame.filename for frame in traceback.extract_tb(error.__traceback__)}
                    in_code = code is not None and code.co_filename in files
                    return Failure(grade_id, type(error).__name__, str(error), in_code)
                finally:
                    matplotlib.pyplot.close("all")
            return None
        finally:
            self.namespace[function] = original
            stand_in.__name__ = own_name

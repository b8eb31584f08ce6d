"""What the lessons' cells bind in a notebook's namespace, and the names students' code binds."""

import ast
import builtins
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = ROOT / "solutions"

# helpers of the cs231n and Coursera templates that students bring to their solution cells
TEMPLATE_HELPERS = {"zero_pad", "conv_single_step", "conv_forward", "conv_backward", "pool_forward",
                    "pool_backward", "create_mask_from_window", "distribute_value", "get_im2col_indices",
                    "im2col", "col2im", "im2col_indices", "col2im_indices", "pad", "window", "windows"}


# functions a lesson gives, whose text tells students to call them (the students' own would be alike)
GIVEN = {"a4_im2col/im2col.ipynb": {"max_pool_forward_im2col"}}


def module_bindings(source):
    """[(name, statement kind)] of the names a cell's code binds in the notebook's namespace."""
    found = []

    def visit(node, kind, in_comprehension=False):
        for child in ast.iter_child_nodes(node):
            here = kind or type(child).__name__
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                found.append((child.name, here))   # what it binds inside is its own
            elif isinstance(child, (ast.Import, ast.ImportFrom)):
                found.extend(((alias.asname or alias.name).split(".")[0], here) for alias in child.names)
            elif isinstance(child, ast.NamedExpr):   # := binds outside a comprehension too
                found.append((child.target.id, here))
                visit(child, here, in_comprehension)
            elif isinstance(child, ast.Name) and isinstance(child.ctx, ast.Store) and not in_comprehension:
                found.append((child.id, here))
            elif not isinstance(child, ast.Lambda):
                comprehension = isinstance(child, (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp))
                visit(child, here, in_comprehension or comprehension)

    visit(ast.parse(source), None)
    return found


def is_code_solution(cell):
    return cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get("solution", False)


def names_students_define():
    """Every name the course's model answers and the tests' student implementations bind, and the
    templates' helper names: the names a student's solution cells may define."""
    names = set(TEMPLATE_HELPERS)
    for path in SOLUTIONS.glob("*/*.ipynb"):
        names |= {name for cell in nbformat.read(path, as_version=4).cells if is_code_solution(cell)
                  for name, _ in module_bindings(cell.source)}
    for path in (ROOT / "tests" / "student_impls").glob("*.py"):
        names |= {node.name for node in ast.walk(ast.parse(path.read_text()))
                  if isinstance(node, (ast.FunctionDef, ast.ClassDef))}
    return names


def lesson_cells_after_the_students(nb):
    """(index, cell) of the unlocked code cells that are neither solutions nor tests and run after
    the first solution cell: whatever they bind can shadow what a student defined."""
    cells = [cell for cell in nb.cells if cell.cell_type == "code"]
    first = next(k for k, cell in enumerate(cells) if cell.metadata.get("nbgrader", {}).get("solution"))
    return [(k, cell) for k, cell in enumerate(cells[first:], start=first) if not cell.metadata.get("nbgrader")]


def names_lesson_cells_use(nb):
    """Every name the code cells after the first solution cell (neither solutions nor tests) bind,
    in any scope (pad, x, im2col, ...), except their own functions and what the cells before the
    first solution bind: the names a lesson cell once bound in the namespace, or could."""
    cells = [cell for cell in nb.cells if cell.cell_type == "code"]
    first = next(k for k, cell in enumerate(cells) if is_code_solution(cell))
    later = [cell for cell in cells[first:] if not (cell.metadata.get("nbgrader", {}).get("solution")
                                                    or cell.metadata.get("nbgrader", {}).get("grade"))]
    used = set()
    for cell in later:
        for node in ast.walk(ast.parse(cell.source)):
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                used.add(node.id)
            elif isinstance(node, ast.arg):
                used.add(node.arg)
            elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                used.add(node.name)
    own = {name for cell in later for name, kind in module_bindings(cell.source)
           if kind in ("FunctionDef", "ClassDef") or name.isupper()}
    earlier = {name for cell in cells[:first] for name, _ in module_bindings(cell.source)}
    return sorted(used - own - earlier - set(dir(builtins)) - {"_", "self"})

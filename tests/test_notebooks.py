"""The course notebooks through nbgrader: solutions/ -> lessons/, full marks, stubs score 0.

Every assignment folder present in solutions/ is covered without changes here. One
session-scoped temporary course runs `nbgrader generate_assignment` and `nbgrader autograde`
once: a fake student "solver" submits the lessons with the instructor's solution cells pasted
in, a fake student "stub" submits the lessons untouched.
"""

import ast
import importlib
import os
import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from autograder import metadata
from lesson_names import GIVEN, lesson_cells_after_the_students, module_bindings, names_students_define

pytestmark = pytest.mark.notebooks

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = ROOT / "solutions"
LESSONS = ROOT / "lessons"
COURSE_ID = "cnn-backprop"
SOLVER, STUB = "solver", "stub"

NOTEBOOKS = sorted(p.relative_to(SOLUTIONS).as_posix() for p in SOLUTIONS.glob("*/*.ipynb"))
HIDDEN_BLOCK = re.compile(r"### BEGIN HIDDEN TESTS.*?### END HIDDEN TESTS", re.S)
SOLUTION_BLOCK = re.compile(r"### BEGIN SOLUTION(.*?)### END SOLUTION", re.S)
DEF = re.compile(r"^\s*def (\w+)\(", re.M)
REFERENCE_IMPORT = re.compile(r"cnn_utils\.reference|from\s+cnn_utils\s+import\s+.*\breference\b")


def read(path):
    return nbformat.read(str(path), as_version=4)


def nbgrader_meta(cell):
    return cell.metadata.get("nbgrader", {})


def code_cells(nb):
    return [c for c in nb.cells if c.cell_type == "code"]


def solution_cells(nb):
    return [c for c in code_cells(nb) if nbgrader_meta(c).get("solution")]


def grade_cells(nb):
    return [c for c in code_cells(nb) if nbgrader_meta(c).get("grade")]


def answer_cells(nb):
    """The written answers: markdown cells graded by hand in the formgrader."""
    return [c for c in nb.cells if c.cell_type == "markdown" and nbgrader_meta(c).get("grade")
            and nbgrader_meta(c).get("solution")]


def code_lines(source):
    """The non-blank, non-comment lines of ``source``, stripped."""
    lines = [line.strip() for line in source.splitlines()]
    return [line for line in lines if line and not line.startswith("#")]


def leaked_solution(block, code):
    """A line of the solution ``block`` found in ``code``: a hint may repeat one line of a longer
    solution (a demo, a formula), never two consecutive ones."""
    solution, lines = code_lines(block), code_lines(code)
    if len(solution) == 1:
        return solution[0] if solution[0] in lines else None
    common = set(zip(solution, solution[1:], strict=False)) & set(zip(lines, lines[1:], strict=False))
    return min(common)[0] if common else None


def split(notebook):
    assignment, name = notebook.split("/")
    return assignment, name[: -len(".ipynb")]


def run(args, cwd):
    """Run an nbgrader command; its `alembic` subprocess must be on PATH too."""
    env = dict(os.environ, PATH=str(Path(sys.executable).parent) + os.pathsep + os.environ["PATH"])
    result = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=cwd, env=env,
                            capture_output=True, text=True, timeout=1800)
    assert result.returncode == 0, f"nbgrader {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    return result


def submit(course, student, notebook, nb):
    path = course / "submitted" / student / notebook
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))


@pytest.fixture(scope="session")
def course(tmp_path_factory):
    """A temporary nbgrader course: generated lessons, autograded submissions, their scores."""
    from nbgrader.api import Gradebook

    course = tmp_path_factory.mktemp("course")
    shutil.copy(ROOT / "nbgrader_config.py", course)
    shutil.copytree(SOLUTIONS, course / "solutions")
    run(["generate_assignment", "*", "--force"], course)

    for notebook in NOTEBOOKS:
        lesson = read(course / "lessons" / notebook)
        submit(course, STUB, notebook, lesson)
        solution = read(SOLUTIONS / notebook)
        answers = {nbgrader_meta(c)["grade_id"]: c.source for c in solution_cells(solution) + answer_cells(solution)}
        for cell in solution_cells(lesson) + answer_cells(lesson):
            cell.source = answers[nbgrader_meta(cell)["grade_id"]]
        submit(course, SOLVER, notebook, lesson)
    run(["autograde", "*", "--force"], course)

    scores = {}
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", course_id=COURSE_ID) as gb:
        for student in (SOLVER, STUB):
            for notebook in NOTEBOOKS:
                assignment, name = split(notebook)
                submission = gb.find_submission_notebook(name, assignment, student)
                scores[student, notebook] = {g.name: (g.score, g.max_score, g.needs_manual_grade)
                                             for g in submission.grades}
    return course, scores


@pytest.fixture(params=NOTEBOOKS)
def notebook(request):
    return request.param


# --- the course directory --------------------------------------------------------------------

def load_config():
    from traitlets.config import Config

    namespace = {"get_config": Config}
    exec((ROOT / "nbgrader_config.py").read_text(), namespace)
    return namespace


def test_config_names_the_course_and_lists_every_assignment_folder():
    namespace = load_config()
    c = namespace["c"]
    assert c.CourseDirectory.course_id == COURSE_ID
    assert c.CourseDirectory.source_directory == "solutions"
    assert c.CourseDirectory.release_directory == "lessons"
    present = sorted(p.name for p in SOLUTIONS.iterdir() if p.is_dir())
    assert present, "solutions/ holds no assignment"
    assert set(present) <= set(namespace["ASSIGNMENTS"]), "an assignment folder is missing from ASSIGNMENTS"
    assert namespace["ASSIGNMENTS"] == sorted(namespace["ASSIGNMENTS"]), "ASSIGNMENTS out of order"


def test_lessons_hold_exactly_the_generated_files(course):
    course_dir, _ = course

    def files(root):
        return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())

    assert files(LESSONS) == files(course_dir / "lessons"), "lessons/ is out of date: run `make lessons`"


def test_lesson_is_what_nbgrader_generates_now(course, notebook):
    course_dir, _ = course
    generated, stored = read(course_dir / "lessons" / notebook), read(LESSONS / notebook)
    assert len(stored.cells) == len(generated.cells), f"{notebook} is out of date: run `make lessons`"
    for i, (new, old) in enumerate(zip(generated.cells, stored.cells, strict=True)):
        for key in ("cell_type", "source"):
            assert old[key] == new[key], f"{notebook} cell {i}: {key} differs; run `make lessons`"
        assert nbgrader_meta(old) == nbgrader_meta(new), f"{notebook} cell {i}: nbgrader metadata differs"
        assert old.get("outputs", []) == new.get("outputs", []), f"{notebook} cell {i}: outputs differ"
    assert stored.metadata.get("kernelspec") == generated.metadata.get("kernelspec")


# --- solutions --------------------------------------------------------------------------------

def test_solution_is_stored_without_outputs(notebook):
    for i, cell in enumerate(code_cells(read(SOLUTIONS / notebook))):
        assert cell.outputs == [], f"{notebook} cell {i} has outputs"
        assert cell.execution_count is None, f"{notebook} cell {i} has an execution count"


def test_solution_scores_full_marks_through_autograde(course, notebook):
    course_dir, scores = course
    grades = scores[SOLVER, notebook]
    assert grades, f"{notebook} has no graded cell"
    written = {nbgrader_meta(c)["grade_id"] for c in answer_cells(read(SOLUTIONS / notebook))}
    lost = {name: score for name, score in grades.items() if name not in written and score[0] != score[1]}
    assert not lost, f"{notebook}: the solution loses points in {lost}"
    # a written answer waits for the formgrader: neither 0 nor full marks until someone grades it
    waiting = {name for name, (_, _, manual) in grades.items() if manual}
    assert written and waiting == written, f"{notebook}: {waiting} wait for manual grading, not {written}"

    graded = read(course_dir / "autograded" / SOLVER / notebook)
    for i, cell in enumerate(code_cells(graded)):
        errors = [o for o in cell.outputs if o.output_type == "error"]
        assert not errors, f"{notebook} cell {i} raised {errors[0].ename}: {errors[0].evalue}"
        meta = nbgrader_meta(cell)
        if meta.get("grade") or meta.get("locked"):
            stderr = [o.text for o in cell.outputs if o.output_type == "stream" and o.name == "stderr"]
            assert not stderr, f"{notebook} cell {meta.get('grade_id')} wrote to stderr: {stderr}"


def test_stub_lesson_scores_zero_on_every_graded_cell(course, notebook):
    course_dir, scores = course
    grades = scores[STUB, notebook]
    assert grades and all(score == 0 and not manual for score, _, manual in grades.values()), \
        f"{notebook}: stubs scored {grades}"   # an untouched written answer scores 0, no grading needed
    assert (course_dir / "autograded" / STUB / notebook).is_file()


def test_def_appears_once_per_notebook(notebook):
    for nb in (read(SOLUTIONS / notebook), read(LESSONS / notebook)):
        defs = Counter(DEF.findall("\n".join(c.source for c in code_cells(nb))))
        twice = sorted(name for name, count in defs.items() if count > 1)
        assert not twice, f"{notebook} defines {twice} more than once"


def test_lesson_cells_after_the_students_bind_only_their_own_functions(notebook):
    """A lesson cell that rebinds a name (as a4's timing loop once rebound ``im2col``) breaks a
    student's helper of that name, in their Run All and in the grader. Lesson cells after the first
    solution cell bind only functions and UPPER_CASE constants, with names no student code uses."""
    taken = names_students_define()
    for index, cell in lesson_cells_after_the_students(read(LESSONS / notebook)):
        bound = module_bindings(cell.source)
        loose = sorted({name for name, kind in bound if kind not in ("FunctionDef", "ClassDef")
                        and not name.isupper()})
        assert not loose, f"{notebook} code cell {index} binds {loose} in the notebook's namespace"
        shared = sorted({name for name, _ in bound} & taken - GIVEN.get(notebook, set()))
        assert not shared, f"{notebook} code cell {index} defines {shared}, names students use"


def test_showcases_are_demonstrations_no_other_cell_needs(notebook):
    """Grading skips a showcase (metadata.is_showcase), so what it binds must be functions that no
    cell grading runs uses; every notebook has some, and each is unlocked and ungraded."""
    nb = read(LESSONS / notebook)
    showcases = [cell for cell in nb.cells if metadata.is_showcase(cell)]
    tagged = [cell for cell in nb.cells if metadata.SHOWCASE in cell.metadata.get("tags", [])]
    assert showcases and len(showcases) == len(tagged), f"{notebook}: a tagged cell is not recorded"
    bound = {name for cell in showcases for name, kind in module_bindings(cell.source)}
    assert all(kind == "FunctionDef" for cell in showcases for _, kind in module_bindings(cell.source)), notebook
    run = [cell for cell in nb.cells if metadata.runs_while_grading(cell) or metadata.is_test_cell(cell)]
    used = {node.id for cell in run for node in ast.walk(ast.parse(cell.source)) if isinstance(node, ast.Name)}
    assert not bound & used, f"{notebook}: cells that grading runs use {sorted(bound & used)} of a showcase"


def test_release_records_showcases_and_refuses_one_on_a_graded_cell(tmp_path):
    nb = read(SOLUTIONS / NOTEBOOKS[0])
    demo = next(cell for cell in nb.cells if metadata.SHOWCASE in cell.metadata.get("tags", []))
    demo.metadata.pop(metadata.KEY)
    demo.source += "\n"
    nbformat.write(nb, str(tmp_path / "nb.ipynb"))
    assert metadata.record(tmp_path / "nb.ipynb") and metadata.record(tmp_path / "nb.ipynb") == []
    demo = next(cell for cell in read(tmp_path / "nb.ipynb").cells if cell.metadata.get("tags"))
    assert metadata.is_showcase(demo)
    nb = read(tmp_path / "nb.ipynb")
    for cell in nb.cells:
        cell.metadata.pop("tags", None)
    nbformat.write(nb, str(tmp_path / "nb.ipynb"))
    assert metadata.record(tmp_path / "nb.ipynb")
    assert not any(metadata.KEY in cell.metadata for cell in read(tmp_path / "nb.ipynb").cells
                   if not metadata.is_test_cell(cell))
    grade_cells(nb)[0].metadata["tags"] = [metadata.SHOWCASE]
    nbformat.write(nb, str(tmp_path / "nb.ipynb"))
    with pytest.raises(metadata.MetadataError, match="may not be a test, solution or locked cell"):
        metadata.record(tmp_path / "nb.ipynb")


def test_the_binding_scan_sees_every_way_a_cell_binds_a_name():
    source = ("import numpy as np\nfrom a import b as c\nfor step, im2col in []:\n    pass\n"
              "with open('f') as handle:\n    (x, y), *z = 1, 2, 3\nif True:\n    pad = 1\n"
              "def show():\n    hidden = 1\nclass Box:\n    inside = 1\n[w := 2 for k in ()]\n")
    names = {name for name, _ in module_bindings(source)}
    assert names == {"np", "c", "step", "im2col", "handle", "x", "y", "z", "pad", "show", "Box", "w"}


def reference_function(name):
    """The public function of cnn_utils.reference called ``name`` ("nhwc.conv_forward" too), or None."""
    found = importlib.import_module("cnn_utils.reference")
    for part in name.split("."):
        if part.startswith("_") or not hasattr(found, part):
            return None
        found = getattr(found, part)
    return found if callable(found) else None


def test_graded_names_are_reference_names_with_their_points(notebook):
    nb = read(SOLUTIONS / notebook)
    solution_ids = {nbgrader_meta(c)["grade_id"]: c.source for c in solution_cells(nb)}
    tests = grade_cells(nb)
    assert tests, f"{notebook} has no graded cell"
    for cell in tests:
        meta = nbgrader_meta(cell)
        name, function = metadata.graded(cell, f"{notebook} {meta['grade_id']}")
        assert name and function, f"{notebook} {meta['grade_id']}: expected a grade(...) call"
        assert meta["grade_id"] == "test_" + name.replace(".", "_")
        assert reference_function(name), f"{name} is not a public function of cnn_utils.reference"
        solution = solution_ids.get(name.replace(".", "_"), "")
        assert re.search(rf"^\s*(def {function}\(|class {function}\b)", solution, re.M), \
            f"{name}: no solution cell defines {function}"


def test_what_each_test_cell_grades_is_recorded_in_its_metadata_and_reaches_the_lesson(notebook, tmp_path):
    """The grader reads the graded function from cell metadata that `release` records from the
    grade(...) call; a stale record would re-check the wrong function."""
    copy = tmp_path / "nb.ipynb"
    shutil.copy(SOLUTIONS / notebook, copy)
    assert metadata.record(copy) == [], f"{notebook}: metadata is stale; run `make lessons`"
    recorded = {nbgrader_meta(c)["grade_id"]: c.metadata[metadata.KEY] for c in grade_cells(read(SOLUTIONS / notebook))}
    released = {nbgrader_meta(c)["grade_id"]: c.metadata.get(metadata.KEY)
                for c in grade_cells(read(LESSONS / notebook))}
    assert recorded and released == recorded


@pytest.mark.parametrize("source, expected", [
    ('grade("conv_forward_naive", conv_forward_naive, points=6)', ("conv_forward_naive", "conv_forward_naive", 6.0)),
    ("grade('nhwc.conv_forward', student_fn=conv_forward_nhwc, points = 4.5)",
     ("nhwc.conv_forward", "conv_forward_nhwc", 4.5)),
    ("from cnn_utils.grading import grade\ngrade(\n    name='a',\n    student_fn=f,\n    points=2,\n    seed=3)",
     ("a", "f", 2.0)),
    ("print('no call')", (None, None, None)),
])
def test_a_grade_call_is_read_however_it_is_written(source, expected):
    found = metadata.read_call(source, "cell")
    assert (found["graded"], found["function"], found["points"]) == expected


@pytest.mark.parametrize("source, says", [
    ("grade(NAME, f, points=2)", "takes a name in quotes"),
    ("grade('a', 'f', points=2)", "takes a name in quotes"),
    ("grade('a', f, points=n)", "a number of points"),
    ("grade('a', f, points=2 * k)", "literal numbers"),
    ("grade('a', f, points=2)\ngrade('b', g, points=2)", "2 grade(...) calls"),
    ("grade('a', f)", "does not match grade(name, student_fn, points)"),
    ("grade('a', f, points=2", "not valid Python"),
])
def test_a_test_cell_whose_call_cannot_be_read_stops_the_release_with_its_name(source, says):
    with pytest.raises(metadata.MetadataError, match="cell test_x") as error:
        metadata.read_call(source, "nb.ipynb, cell test_x")
    assert says in str(error.value)


def test_the_grader_refuses_a_test_cell_without_metadata(tmp_path):
    nb = read(SOLUTIONS / NOTEBOOKS[0])
    for cell in grade_cells(nb):
        cell.metadata.pop(metadata.KEY, None)
    nbformat.write(nb, str(tmp_path / "nb.ipynb"))
    from autograder.course import graded_cells

    with pytest.raises(metadata.MetadataError, match="python -m autograder release"):
        graded_cells(tmp_path / "nb.ipynb")
    assert metadata.record(tmp_path / "nb.ipynb")
    assert [c.function for c in graded_cells(tmp_path / "nb.ipynb") if not c.manual]


def test_graded_functions_and_earlier_work_match_the_grading_table(notebook):
    """The table that decides what is graded where, and what resolves to the reference, is the
    notebooks' own: each graded name in its assignment, each PRIOR function pasted in that
    notebook's cell for earlier work (a cell with no test of its own)."""
    from cnn_utils.grading import table

    assignment, _ = split(notebook)
    nb = read(SOLUTIONS / notebook)
    graded = sorted(metadata.graded(c, notebook)[0] for c in grade_cells(nb))
    assert graded == sorted(table.ASSIGNMENTS[assignment])
    tested = {name.replace(".", "_") for name in graded}
    earlier = [c for c in solution_cells(nb) if nbgrader_meta(c)["grade_id"] not in tested]
    pasted = set(DEF.findall("\n".join(c.source for c in earlier)))
    assert set(table.PRIOR.get(assignment, ())) <= pasted, f"{notebook}: PRIOR names not pasted"
    assert len(earlier) <= 1, f"{notebook}: earlier work is spread over {len(earlier)} cells"


def test_written_questions_have_a_model_answer_and_a_rubric_and_reach_students_blank(notebook):
    solution, lesson = read(SOLUTIONS / notebook), read(LESSONS / notebook)
    answers = answer_cells(solution)
    assert answers, f"{notebook} asks no written question"
    blank = {nbgrader_meta(c)["grade_id"]: c.source for c in answer_cells(lesson)}
    for cell in answers:
        meta = nbgrader_meta(cell)
        points = meta["points"]
        assert meta["grade_id"].startswith("q_") and points > 0 and not meta.get("locked")
        assert "**Model answer.**" in cell.source and f"**Rubric ({points:g} points).**" in cell.source
        assert blank[meta["grade_id"]] == "YOUR ANSWER HERE", f"{meta['grade_id']} reaches students filled"
        question = solution.cells[solution.cells.index(cell) - 1]
        assert question.cell_type == "markdown" and "graded by hand" in question.source
    lesson_text = "\n".join(c.source for c in lesson.cells)
    assert "**Rubric" not in lesson_text and "**Model answer.**" not in lesson_text


# --- lessons ----------------------------------------------------------------------------------

def test_lesson_holds_no_solution_and_no_hidden_test(notebook):
    lesson = read(LESSONS / notebook)
    text = "\n".join(c.source for c in lesson.cells)
    for marker in ("### BEGIN SOLUTION", "### END SOLUTION", "### BEGIN HIDDEN TESTS", "cnn_utils.grading"):
        assert marker not in text, f"lesson {notebook} contains {marker!r}"
    assert not REFERENCE_IMPORT.search(text), f"lesson {notebook} mentions cnn_utils.reference"
    for cell in solution_cells(lesson):
        assert "raise NotImplementedError()" in cell.source, f"{nbgrader_meta(cell)['grade_id']} has no stub"
    lesson_code = "\n".join(c.source for c in code_cells(lesson))
    for cell in solution_cells(read(SOLUTIONS / notebook)):
        for block in SOLUTION_BLOCK.findall(cell.source):
            leaked = leaked_solution(block, lesson_code)
            assert leaked is None, f"lesson {notebook} contains solution code {leaked!r}"


def test_solution_imports_reference_only_in_hidden_tests(notebook):
    for cell in read(SOLUTIONS / notebook).cells:
        visible = HIDDEN_BLOCK.sub("", cell.source)
        assert not REFERENCE_IMPORT.search(visible), f"{notebook}: cnn_utils.reference outside hidden tests"


def test_lesson_runs_to_its_first_not_implemented_error(notebook, tmp_path):
    lesson = read(LESSONS / notebook)
    NotebookClient(lesson, timeout=300, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    errors = [(i, o) for i, c in enumerate(lesson.cells) if c.cell_type == "code"
              for o in c.outputs if o.output_type == "error"]
    assert errors, f"lesson {notebook} ran without reaching a stub"
    wrong = [f"cell {i}: {o.ename}: {o.evalue}" for i, o in errors if o.ename != "NotImplementedError"]
    assert not wrong, f"lesson {notebook} fails other than at its stubs: {wrong}"


def _partial_fills():
    """(notebook, filled grade_ids): each solution cell alone, then all of them but the first (earlier
    work not pasted) and all but the last (nearly done); markdown answers are no code, never filled."""
    cases = []
    for notebook in NOTEBOOKS:
        ids = [nbgrader_meta(c)["grade_id"] for c in solution_cells(read(SOLUTIONS / notebook))]
        cases += [(notebook, (grade_id,)) for grade_id in ids]
        if len(ids) > 2:
            cases += [(notebook, tuple(ids[1:])), (notebook, tuple(ids[:-1]))]
    return cases


@pytest.mark.parametrize("notebook, filled", _partial_fills(),
                         ids=[f"{split(n)[0]}-{'+'.join(f)}" for n, f in _partial_fills()])
def test_lesson_runs_in_any_order_of_completion(notebook, filled, tmp_path):
    """A student who has written only some functions (here: the instructor's code in those cells)
    meets no error but the NotImplementedError of a function still to write: no NameError from a
    helper defined in a later cell, nothing that needs an unwritten function's output."""
    lesson = read(LESSONS / notebook)
    answers = {nbgrader_meta(c)["grade_id"]: c.source for c in solution_cells(read(SOLUTIONS / notebook))}
    for cell in solution_cells(lesson):
        if nbgrader_meta(cell)["grade_id"] in filled:
            cell.source = answers[nbgrader_meta(cell)["grade_id"]]
    NotebookClient(lesson, timeout=300, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    wrong = [f"cell {i}: {o.ename}: {o.evalue}" for i, c in enumerate(lesson.cells) if c.cell_type == "code"
             for o in c.outputs if o.output_type == "error" and o.ename != "NotImplementedError"]
    assert not wrong, f"lesson {notebook} with only {filled} written fails: {wrong}"

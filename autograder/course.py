"""The course on disk: where its folders are, how nbgrader is run, what each graded cell calls."""

import contextlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import nbformat

from autograder import metadata
from autograder.metadata import nbgrader_meta as nbgrader_meta  # re-exported: the grader's modules use it from here

ROOT = Path(__file__).resolve().parents[1]
COURSE_ID = "cnn-backprop"
CONFIG = "nbgrader_config.py"


@dataclass(frozen=True)
class GradedCell:
    """A graded cell of a release notebook and the grade() call its hidden test makes (its metadata)."""
    grade_id: str
    points: float
    name: str = None        # graded reference name, e.g. 'conv_forward_naive' (None: not a grade() call)
    function: str = None    # the student's function the call grades
    manual: bool = False    # a written answer, graded by hand in the formgrader


def nbgrader_env():
    """The environment for nbgrader: its `alembic` subprocess must be on PATH."""
    return dict(os.environ, PATH=str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""))


def quiet_nbgrader():
    """Silence the SQLAlchemy warnings nbgrader's gradebook code raises (harmless, and many)."""
    import warnings

    import sqlalchemy.exc

    warnings.filterwarnings("ignore", category=sqlalchemy.exc.SAWarning)


def nbgrader(args, cwd):
    """Run an nbgrader command in the course ``cwd``; RuntimeError with its output when it fails.

    The course root is given on the command line, which outranks any nbgrader_config.py that
    the environment adds (a hub's JUPYTER_CONFIG_PATH may name another course directory).
    """
    command = [sys.executable, "-m", "nbgrader", *args, f"--CourseDirectory.root={Path(cwd).resolve()}"]
    result = subprocess.run(command, cwd=cwd, env=nbgrader_env(),
                            capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"nbgrader {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result


def load_config(course=ROOT):
    """The traitlets Config nbgrader reads in the course: the nbgrader_config.py of each Jupyter
    config folder (JUPYTER_CONFIG_PATH, the user's, the system's; a hub's gradebook URL comes
    from there), then the course's own, which wins."""
    from jupyter_core.paths import jupyter_config_path
    from traitlets.config import Config
    from traitlets.config.loader import PyFileConfigLoader

    config = Config()
    for folder in [*reversed(jupyter_config_path()), str(course)]:
        if (Path(folder) / CONFIG).is_file():
            config.merge(PyFileConfigLoader(CONFIG, path=str(folder)).load_config())
    return config


def source_directory(course_dir=ROOT, config=None):
    """The course's source folder (``CourseDirectory.source_directory``; ours: solutions/);
    ``config``: the course's, when already loaded."""
    config = config or load_config(course_dir)
    return Path(course_dir) / config.CourseDirectory.get("source_directory", "source")


def assignments(source=ROOT / "solutions"):
    return sorted(p.name for p in Path(source).iterdir() if p.is_dir() and not p.name.startswith("."))


def generate(course, assignment="*", db=None):
    """nbgrader generate_assignment in ``course`` (a folder with nbgrader_config.py and solutions/)."""
    args = ["generate_assignment", assignment, "--force"]
    if db:
        args.append(f"--db={db}")
    nbgrader(args, course)


def release(root=ROOT):
    """Record each test cell's grade() call in its metadata, then regenerate ``root``/lessons from
    ``root``/solutions, as `make lessons` does (temporary gradebook). Returns
    {notebook path: grade_ids whose metadata was written}."""
    written = {}
    for path in sorted(source_directory(root).glob("*/*.ipynb")):
        if changed := metadata.record(path):
            written[path] = changed
    shutil.rmtree(Path(root) / "lessons", ignore_errors=True)
    with tempfile.TemporaryDirectory() as db:
        generate(root, db=f"sqlite:///{db}/gradebook.db")
    return written


def make_template(folder, names, course_dir, db=None):
    """A course in ``folder`` with the assignments ``names`` of ``course_dir`` generated into the
    gradebook ``db``.

    Without ``db``: a grading template, whose gradebook ``folder``/gradebook.db keeps no solution
    code (nbgrader needs only the test and locked cells to grade), and no solutions/ folder either:
    the student's kernel runs with the grader's rights and must find none. Returns the folder.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(Path(course_dir) / CONFIG, folder)
    source = source_directory(course_dir)
    for name in names:
        shutil.copytree(source / name, folder / source.name / name)
    generate(folder, "*", db=db or f"sqlite:///{folder / 'gradebook.db'}")
    shutil.rmtree(folder / source.name)
    if db is None:
        _forget_solutions(folder / "gradebook.db")
    return folder


def _forget_solutions(path):
    """Blank the stored source of every solution cell in the SQLite gradebook at ``path``."""
    import sqlite3

    with contextlib.closing(sqlite3.connect(path)) as db, db:
        db.execute("UPDATE source_cell SET source = '' WHERE locked = 0")


NOTEBOOK_BYTES = 32 * 2**20
NOTEBOOK_CONTAINERS = 100_000   # JSON objects and arrays; the lessons' notebooks have under 200
NOTEBOOK_DEPTH = 64             # nesting; the lessons' notebooks have 5
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
_NOT_BRACKETS = bytes(set(range(256)) - set(b"[]{}"))
_STEP = bytes.maketrans(b"[]{}", b"\x01\xff\x01\xff")   # as int8: +1 opens, -1 closes


def too_complex(raw):
    """Why the bytes ``raw`` of a notebook are too costly to parse (None if not): a scan of the raw
    JSON, strings removed, counting objects and arrays and their nesting, before any is built."""
    import numpy as np

    brackets = _STRING.sub(b"", raw).translate(None, _NOT_BRACKETS)
    containers = brackets.count(b"[") + brackets.count(b"{")
    step = np.frombuffer(brackets.translate(_STEP), np.int8)
    depth = int(np.cumsum(step, dtype=np.int64).max(initial=0))
    if containers > NOTEBOOK_CONTAINERS:
        return f"{containers} JSON objects and arrays, more than the {NOTEBOOK_CONTAINERS} a notebook may have"
    if depth > NOTEBOOK_DEPTH:
        return f"JSON nested {depth} deep, more than the {NOTEBOOK_DEPTH} a notebook may be"
    return None


def read_notebook(path):
    """The notebook at ``path``; ValueError, before parsing, if it is larger than NOTEBOOK_BYTES
    or too complex (``too_complex``)."""
    with open(path, "rb") as file:
        raw = file.read(NOTEBOOK_BYTES + 1)
    if len(raw) > NOTEBOOK_BYTES:
        raise ValueError(f"more than the {NOTEBOOK_BYTES // 2**20} MB a notebook may have")
    if why := too_complex(raw):
        raise ValueError(why)
    return nbformat.reads(raw.decode("utf-8"), as_version=4)


def graded_cells(source_notebook):
    """The GradedCells of a source (instructor) notebook, in order."""
    cells = []
    for cell in read_notebook(source_notebook).cells:
        meta = nbgrader_meta(cell)
        if metadata.is_test_cell(cell):
            name, function = metadata.graded(cell, f"{Path(source_notebook).name}, cell {meta.get('grade_id')}")
            cells.append(GradedCell(meta["grade_id"], float(meta.get("points", 0)), name, function))
        elif metadata.is_written_answer(cell):
            cells.append(GradedCell(meta["grade_id"], float(meta.get("points", 0)), manual=True))
    return cells


def notebooks(assignment, source=ROOT / "solutions"):
    """{notebook name without .ipynb: [GradedCell]} of one assignment."""
    return {path.stem: graded_cells(path) for path in sorted((Path(source) / assignment).glob("*.ipynb"))}

"""nbgrader's Validate means it: an untouched stub fails, a finished notebook passes, under every
configuration a student's server reads (the course's, the hub's shared one, the Kubernetes values).

nbgrader strips the hidden tests from the lessons, so every grade cell a student holds is empty;
``Validator.validate_all`` makes validate run the visible check cells too.
"""

import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import yaml

pytestmark = pytest.mark.notebooks

ROOT = Path(__file__).resolve().parents[1]
ASSIGNMENT, NOTEBOOK = "a1_conv_forward", "conv_forward.ipynb"


def _student_image_config():
    """The nbgrader config the Kubernetes values leave to the student image (Dockerfile.student
    copies it to /etc/jupyter/; the values mount nothing over it)."""
    values = yaml.safe_load((ROOT / "deploy" / "z2jh" / "values.yaml").read_text())
    mounted = [f["mountPath"] for f in values["singleuser"].get("extraFiles", {}).values()]
    assert "/etc/jupyter/nbgrader_config.py" not in mounted
    copies = [line.split()[-2:] for line in (ROOT / "deploy" / "Dockerfile.student").read_text().splitlines()
              if line.startswith("COPY")]
    source = next(src for src, dest in copies if dest == "/etc/jupyter/nbgrader_config.py")
    return (ROOT / source).read_text()


CONFIGS = {
    "course": lambda: (ROOT / "nbgrader_config.py").read_text(),
    "hub": lambda: (ROOT / "deploy" / "jupyter" / "nbgrader_config.py").read_text(),
    "kubernetes": _student_image_config,
}


def _filled(code):
    """The lesson with a written answer in its answer cells and, if ``code``, the instructor's code
    in its solution cells."""
    lesson = nbformat.read(str(ROOT / "lessons" / ASSIGNMENT / NOTEBOOK), as_version=4)
    solution = nbformat.read(str(ROOT / "solutions" / ASSIGNMENT / NOTEBOOK), as_version=4)
    answers = {c.metadata["nbgrader"]["grade_id"]: c.source for c in solution.cells
               if c.metadata.get("nbgrader", {}).get("solution")}
    for cell in lesson.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in answers and cell.metadata["nbgrader"].get("solution") and \
                (code or cell.cell_type == "markdown"):
            cell.source = answers[grade_id]
    return lesson


def _validate(folder, nb):
    path = folder / NOTEBOOK
    nbformat.write(nb, str(path))
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    result = subprocess.run([sys.executable, "-m", "nbgrader", "validate", NOTEBOOK], cwd=folder,
                            capture_output=True, text=True, timeout=600, env=env)
    return result.stdout + result.stderr


@pytest.mark.parametrize("config", sorted(CONFIGS))
def test_validate_fails_an_untouched_stub_and_passes_a_finished_notebook(config, tmp_path):
    (tmp_path / "nbgrader_config.py").write_text(CONFIGS[config]())
    # the written question answered, the code an untouched stub: only the visible checks can fail it
    stub = _validate(tmp_path, _filled(code=False))
    assert "VALIDATION FAILED" in stub and "Success" not in stub, stub[-2000:]
    assert "NotImplementedError" in stub
    finished = _validate(tmp_path, _filled(code=True))
    assert "Success! Your notebook passes all the tests." in finished, finished[-2000:]

"""The packaging files agree with each other: pyproject, environment.yml, README, CI."""

import re
import sys
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "deploy"))
from requirements import requirements  # noqa: E402  (deploy/ is not a package)
CONDA_NAMES_BACK = {"psycopg2": "psycopg2-binary"}  # conda-forge name -> PyPI name where they differ


def _name(requirement):
    return re.split(r"[<>=!~\[; ]", requirement, maxsplit=1)[0].lower()


def _pyproject():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _conda_and_pip(path):
    """(conda requirements, pip requirements) of an environment file, in pip's syntax."""
    env = yaml.safe_load(Path(path).read_text())
    conda = [d for d in env["dependencies"] if isinstance(d, str)]
    pip = [item for d in env["dependencies"] if isinstance(d, dict) for item in d.get("pip", [])]
    return [CONDA_NAMES_BACK.get(_name(d), _name(d)) + d[len(_name(d)):] for d in conda], pip


def test_environment_yml_is_the_student_instructor_test_hub_and_postgres_extras():
    conda, pip = _conda_and_pip(ROOT / "environment.yml")
    wanted = requirements(["student", "instructor", "test", "hub", "postgres"])
    listed = [r.replace("=", "==") if re.fullmatch(r"[\w-]+=[\d.]+", r) else r for r in conda + pip]
    assert sorted(set(wanted) - set(listed)) == [], "environment.yml lacks these pyproject requirements"
    extra = {_name(r) for r in listed if r != "-e ."} - {_name(r) for r in wanted} - {"python", "pip"}
    assert extra == set(), f"environment.yml holds packages pyproject does not: {sorted(extra)}"
    assert "-e ." in pip and not any(_name(r) in ("torch", "pytorch-cpu") for r in conda + pip)


def test_binder_environment_is_the_student_extra_with_jupyterlab_and_voila():
    conda, pip = _conda_and_pip(ROOT / "binder" / "environment.yml")
    assert pip == []
    assert sorted(set(conda) - {"python=3.11", "pip"}) == sorted(
        requirements(["student"]) + ["jupyterlab>=4,<5", "voila>=0.5"])
    post = (ROOT / "binder" / "postBuild").read_text()
    assert "make_student_bundle.py" in post and re.search(r"rm -rf .*\bsolutions\b.*\bcnn_utils\b", post)


def test_course_depends_on_numpy_only_and_torch_is_pinned_in_oracle():
    project = _pyproject()["project"]
    assert [_name(r) for r in project["dependencies"]] == ["numpy"]
    assert project["optional-dependencies"]["oracle"] == ["torch==2.13.0"]
    assert project["requires-python"] == ">=3.11"


def test_readme_opens_with_the_two_commands_and_ci_runs_the_test_command():
    readme = (ROOT / "README.md").read_text()
    first_block = readme.split("```")[1].splitlines()[1:]  # drop the fence's language tag
    assert [line.strip() for line in first_block if line.strip()] == ["make demo", "make test"]
    ci = (ROOT / ".ci" / "run").read_text()
    assert re.search(r"^make test$", ci, re.M)


def test_the_grader_is_installed_as_a_command_with_its_version_and_the_licence():
    import subprocess

    version = _pyproject()["project"]["version"]
    command = Path(sys.executable).parent / "cnn-autograder"
    result = subprocess.run([str(command), "--version"], capture_output=True, text=True, cwd="/")
    assert result.returncode == 0 and result.stdout.split() == ["cnn-autograder", version], result
    assert "MIT License" in (ROOT / "LICENSE").read_text()
    assert _pyproject()["project"]["license-files"] == ["LICENSE"]


def test_the_code_is_ruff_clean():
    import subprocess

    result = subprocess.run([str(Path(sys.executable).parent / "ruff"), "check", "--no-cache", "."], cwd=ROOT,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr

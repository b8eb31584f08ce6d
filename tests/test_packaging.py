"""The packaging files agree with each other: pyproject, environment.yml, README, CI."""

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
CONDA_NAMES = {"torch": "pytorch-cpu", "psycopg2-binary": "psycopg2"}  # PyPI name -> conda-forge name where they differ


def _name(requirement):
    return re.split(r"[<>=!~\[; ]", requirement, maxsplit=1)[0].lower()


def _pyproject():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_environment_yml_lists_every_pyproject_package():
    project = _pyproject()["project"]
    wanted = [project["dependencies"]] + list(project["optional-dependencies"].values())
    names = {CONDA_NAMES.get(_name(r), _name(r)) for group in wanted for r in group}
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda = {_name(d) for d in env["dependencies"] if isinstance(d, str)}
    assert names - conda == set(), f"missing from environment.yml: {sorted(names - conda)}"
    assert any(isinstance(d, dict) and "-e ." in d.get("pip", []) for d in env["dependencies"])


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

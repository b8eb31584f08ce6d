"""The requirements of pyproject.toml's extras, with the extras they name expanded.

    python3 deploy/requirements.py student          # what a student's environment needs
    python3 deploy/requirements.py instructor hub   # pip install -r <(...)
    python3 deploy/requirements.py --no-deps        # what to pip install --no-deps after them

pyproject.toml is the one place dependencies are written; the hub's environment and the student
bundle take theirs from here. Prints one requirement per line: the package's own dependencies,
then each extra's, each once.
"""

import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def without_dependencies(pyproject=ROOT / "pyproject.toml"):
    """Packages pip must install with --no-deps (their own pins cannot be met beside nbgrader 0.9)."""
    return tomllib.loads(Path(pyproject).read_text())["tool"]["cnn-backprop"]["install-without-dependencies"]


def requirements(extras, pyproject=ROOT / "pyproject.toml"):
    """The requirements of the package with ``extras``, in order, each once."""
    project = tomllib.loads(Path(pyproject).read_text())["project"]
    own = re.compile(rf"^{re.escape(project['name'])}\[(.+)\]$")
    found = []

    def add(requirement):
        if (named := own.match(requirement)):
            for extra in named.group(1).split(","):
                for item in project["optional-dependencies"][extra.strip()]:
                    add(item)
        elif requirement not in found:
            found.append(requirement)

    for requirement in project["dependencies"]:
        add(requirement)
    for extra in extras:
        if extra not in project["optional-dependencies"]:
            raise SystemExit(f"no extra {extra!r} in {pyproject}; there are: "
                             f"{', '.join(project['optional-dependencies'])}")
        add(f"{project['name']}[{extra}]")
    return found


if __name__ == "__main__":
    args = sys.argv[1:]
    print("\n".join(without_dependencies() if args == ["--no-deps"] else requirements(args)))

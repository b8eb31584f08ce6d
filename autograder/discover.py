"""Find the submissions in nbgrader's layout DIR/<student>/<assignment>/<notebook>.ipynb.

Every (student, assignment, notebook) the course expects becomes one Submission,
also when the file is missing, renamed or unreadable, so every student gets a
row for every graded cell. Flags: ``missing`` (no notebook), ``renamed`` (the
only notebook of the folder has another name: it is graded, and flagged),
``invalid-notebook`` (empty, larger than NOTEBOOK_BYTES, not JSON, too deeply
nested, or not a notebook), ``symlink`` (the notebook or a folder above it is a
symbolic link, which could name a classmate's file: not graded). The submission time is the
folder's ``timestamp.txt``, which nbgrader's collect writes.
"""

import json
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

NOTEBOOK_BYTES = 32 * 2**20
TIMESTAMP_BYTES = 100


@dataclass
class Submission:
    student: str
    assignment: str
    notebook: str            # the expected name, without .ipynb
    path: Path = None        # the file to grade (None: nothing gradable)
    flags: list = field(default_factory=list)
    timestamp: str = None    # the text of the folder's timestamp.txt (None: none)


def timestamp(folder):
    """The text of ``folder``/timestamp.txt, or None where there is none nbgrader can read
    (absent, a link, empty, too long, not a date)."""
    from nbgrader.utils import parse_utc

    path = Path(folder) / "timestamp.txt"
    if path.is_symlink() or not path.is_file() or path.stat().st_size > TIMESTAMP_BYTES:
        return None
    text = path.read_text(encoding="utf-8", errors="replace").strip()
    try:
        parse_utc(text)
    except (ValueError, OverflowError):
        return None
    return text or None


def readable(path):
    """None if ``path`` is a valid notebook, else why not."""
    try:
        size = Path(path).stat().st_size
        if size > NOTEBOOK_BYTES:
            return f"{size / 2**20:.0f} MB, more than the {NOTEBOOK_BYTES // 2**20} MB a notebook may have"
        text = Path(path).read_text(encoding="utf-8")
        if not text.strip():
            return "empty file"
        nb = nbformat.reads(text, as_version=4)
        nbformat.validate(nb)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, nbformat.ValidationError) as exc:
        return f"{type(exc).__name__}: {exc}"[:200]
    except Exception as exc:  # noqa: BLE001 - nbformat raises assorted errors on malformed files
        return f"{type(exc).__name__}: {exc}"[:200]
    return None


def _locate(folder, notebook, expected_count):
    """(path, flags) of ``notebook`` in a student's assignment ``folder``."""
    wanted = folder / f"{notebook}.ipynb"
    if wanted.is_symlink():
        return None, ["symlink"]
    if wanted.is_file():
        return wanted, []
    others = sorted(p for p in folder.glob("*.ipynb") if p.is_file() or p.is_symlink()) if folder.is_dir() else []
    if expected_count == 1 and len(others) == 1:
        return (None, ["symlink"]) if others[0].is_symlink() else (others[0], ["renamed"])
    return None, ["missing"]


def find(submitted, expected, students=None):
    """Submissions under ``submitted`` for ``expected`` = {assignment: [notebook names]}, sorted;
    only of ``students`` when given."""
    submitted = Path(submitted)
    found = []
    students = sorted(p.name for p in submitted.iterdir() if p.is_dir() and not p.name.startswith(".")
                      and (students is None or p.name in students))
    for student in students:
        for assignment, names in sorted(expected.items()):
            folder = submitted / student / assignment
            if not folder.is_dir():
                continue
            linked = (submitted / student).is_symlink() or folder.is_symlink()
            when = None if linked else timestamp(folder)
            for notebook in sorted(names):
                path, flags = (None, ["symlink"]) if linked else _locate(folder, notebook, len(names))
                if path is not None and readable(path):
                    path, flags = None, flags + ["invalid-notebook"]
                found.append(Submission(student, assignment, notebook, path, flags, when))
    return found

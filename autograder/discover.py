"""Find the submissions in nbgrader's layout DIR/<student>/<assignment>/<notebook>.ipynb.

Every (student, assignment, notebook) the course expects becomes one Submission,
also when the file is missing, renamed or unreadable, so every student gets a
row for every graded cell. Flags: ``missing`` (no notebook), ``renamed`` (the
only notebook of the folder has another name: it is graded, and flagged),
``invalid-notebook`` (empty, larger than NOTEBOOK_BYTES, not JSON, too deeply
nested, or not a notebook), ``symlink`` (the notebook or a folder above it is a
symbolic link, which could name a classmate's file: not graded). Beside the notebooks,
nbgrader's collect leaves EXCHANGE_FILES: the submission time and the secret that lets
release_feedback find the student's copy; they are kept with the submission.
"""

import json
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from autograder.course import NOTEBOOK_BYTES, too_complex

EXCHANGE_FILES = ("timestamp.txt", "submission_secret.txt")
EXCHANGE_FILE_BYTES = 200


@dataclass
class Submission:
    student: str
    assignment: str
    notebook: str            # the expected name, without .ipynb
    path: Path = None        # the file to grade (None: nothing gradable)
    flags: list = field(default_factory=list)
    files: dict = field(default_factory=dict)   # {name in EXCHANGE_FILES: text}


def exchange_files(folder):
    """{name: text} of the EXCHANGE_FILES in ``folder`` that are plain, short files (a timestamp
    only when nbgrader can read it)."""
    from nbgrader.utils import parse_utc

    found = {}
    for name in EXCHANGE_FILES:
        path = Path(folder) / name
        if path.is_symlink() or not path.is_file() or path.stat().st_size > EXCHANGE_FILE_BYTES:
            continue
        found[name] = path.read_text(encoding="utf-8", errors="replace").strip()
    if "timestamp.txt" in found:
        try:
            parse_utc(found["timestamp.txt"])
        except (ValueError, OverflowError):
            del found["timestamp.txt"]
    return found


def readable(path):
    """None if ``path`` is a valid notebook, else why not."""
    try:
        size = Path(path).stat().st_size
        if size > NOTEBOOK_BYTES:
            return f"{size / 2**20:.0f} MB, more than the {NOTEBOOK_BYTES // 2**20} MB a notebook may have"
        raw = Path(path).read_bytes()
        if not raw.strip():
            return "empty file"
        if why := too_complex(raw):
            return why
        nb = nbformat.reads(raw.decode("utf-8"), as_version=4)
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
            files = {} if linked else exchange_files(folder)
            for notebook in sorted(names):
                path, flags = (None, ["symlink"]) if linked else _locate(folder, notebook, len(names))
                if path is not None and readable(path):
                    path, flags = None, flags + ["invalid-notebook"]
                found.append(Submission(student, assignment, notebook, path, flags, files))
    return found

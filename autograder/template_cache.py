"""The grading template, made once per content and kept across commands.

``course.make_template`` runs nbgrader's generate_assignment on the assignments' source: most of a
grading command's fixed time, and the same result every time the course has not changed. The
template is kept in the grading account's cache folder (``$XDG_CACHE_HOME/cnn-autograder``, else
``~/.cache/cnn-autograder``, mode 0700) under a hash of what it is made from: the course's
nbgrader_config.py, every file of the assignments' source folders, nbgrader's version and
TEMPLATE_FORMAT. Any change there makes a new one; the newest KEEP are kept. A template holds the
release notebooks and a gradebook without solution code, as ``make_template`` makes it; it is
made in a private folder and renamed into place, so two commands never see half of one.
"""

import hashlib
import os
import shutil
import tempfile
from pathlib import Path

from autograder import course

TEMPLATE_FORMAT = 1   # raise when make_template's output changes for the same input
KEEP = 8


def folder():
    """The cache folder of this account."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "cnn-autograder"


def key(names, course_dir):
    """The hash of everything the template of ``names`` in ``course_dir`` is made from."""
    import nbgrader

    digest = hashlib.sha256(f"{TEMPLATE_FORMAT} {nbgrader.__version__}\n".encode())
    digest.update((Path(course_dir) / course.CONFIG).read_bytes())
    source = course.source_directory(course_dir)
    for name in sorted(names):
        for path in sorted(p for p in (source / name).rglob("*") if p.is_file()):
            digest.update(f"\n{path.relative_to(source)}\n".encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:32]


def template(names, course_dir, cache=None):
    """The grading template of ``names`` (``course.make_template``), from the cache or made there."""
    cache = Path(cache or folder())
    target = cache / f"template-{key(names, course_dir)}"
    if not (target / "gradebook.db").is_file():
        cache.mkdir(parents=True, exist_ok=True)
        cache.chmod(0o700)
        work = Path(tempfile.mkdtemp(prefix="making-", dir=cache))
        try:
            course.make_template(work / "template", names, course_dir)
            if target.exists() and not (target / "gradebook.db").is_file():
                shutil.rmtree(target, ignore_errors=True)   # half of one, from an interrupted prune
            try:
                os.rename(work / "template", target)
            except OSError:   # another command made it meanwhile
                if not (target / "gradebook.db").is_file():
                    raise
        finally:
            shutil.rmtree(work, ignore_errors=True)
    os.utime(target)   # the newest are kept
    _prune(cache)
    return target


def _prune(cache):
    made = sorted(cache.glob("template-*"), key=lambda path: path.stat().st_mtime, reverse=True)
    for old in made[KEEP:]:
        shutil.rmtree(old, ignore_errors=True)

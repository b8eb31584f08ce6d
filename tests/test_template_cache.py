"""The grading template is made once per content: kept across commands, made again when the course changes."""

import shutil
import sqlite3
from pathlib import Path

import pytest

from autograder import course, template_cache

pytestmark = pytest.mark.autograder

ROOT = Path(__file__).resolve().parents[1]
A1 = "a1_conv_forward"


@pytest.fixture
def home(tmp_path):
    """A course with assignment 1's source, and an empty cache folder."""
    course_dir = tmp_path / "course"
    shutil.copytree(ROOT / "solutions" / A1, course_dir / "solutions" / A1)
    shutil.copy(ROOT / course.CONFIG, course_dir)
    return course_dir, tmp_path / "cache"


def test_the_template_is_made_once_and_again_when_the_course_changes(home, monkeypatch):
    course_dir, cache = home
    made = []
    real = course.make_template
    monkeypatch.setattr(course, "make_template", lambda *args, **kw: made.append(args[1]) or real(*args, **kw))
    first = template_cache.template([A1], course_dir, cache)
    assert template_cache.template([A1], course_dir, cache) == first and len(made) == 1
    notebook = next((course_dir / "solutions" / A1).glob("*.ipynb"))
    notebook.write_text(notebook.read_text().replace("stride", "Stride", 1))
    second = template_cache.template([A1], course_dir, cache)
    with open(course_dir / course.CONFIG, "a") as handle:
        handle.write("c.Execute.timeout = 301\n")
    third = template_cache.template([A1], course_dir, cache)
    assert len({first, second, third}) == 3 and len(made) == 3
    assert (cache.stat().st_mode & 0o777) == 0o700


def test_a_cached_template_holds_the_release_and_no_solution_code(home):
    course_dir, cache = home
    made = template_cache.template([A1], course_dir, cache)
    assert not (made / "solutions").exists()
    lesson = next((made / "lessons" / A1).glob("*.ipynb")).read_text()
    assert "BEGIN SOLUTION" not in lesson and "raise NotImplementedError" in lesson
    with sqlite3.connect(made / "gradebook.db") as db:
        sources = [row[0] for row in db.execute("SELECT source FROM source_cell WHERE locked = 0")]
    assert sources and all(source == "" for source in sources)
    assert not list(cache.glob("making-*"))   # made aside, renamed into place


def test_only_the_newest_templates_are_kept(home, monkeypatch):
    course_dir, cache = home
    monkeypatch.setattr(template_cache, "KEEP", 2)
    for k in range(4):
        with open(course_dir / course.CONFIG, "a") as handle:
            handle.write(f"# edit {k}\n")
        newest = template_cache.template([A1], course_dir, cache)
    assert len(list(cache.glob("template-*"))) == 2 and newest.is_dir()

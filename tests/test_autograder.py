"""The instructor's pipeline: every sample submission gets its expected scores and flags.

One session-scoped batch grades all samples in autograder/samples with --jobs 2
through the command line; a second batch grades a subset with --jobs 1 and must
give the same rows. The fast tests below check the pieces on their own.
"""

import ast
import copy
import csv
import hashlib
import html
import json
import os
import shutil
import subprocess
import symtable
import sys
import time
from pathlib import Path

import nbformat
import numpy as np
import pytest

from conftest import require, require_sandbox
from autograder import class_report, discover, feedback, frames, integrity, named_mistakes, report, sandbox, structure
from autograder.course import ROOT, GradedCell, graded_cells, nbgrader_meta, read_notebook
from autograder.grade import CellResult, NotebookResult
from cnn_utils.grading import table

pytestmark = pytest.mark.autograder

SAMPLES = ROOT / "autograder" / "samples"
EXPECTED = json.loads((SAMPLES / "expected.json").read_text())
LESSON_A1 = ROOT / "lessons" / "a1_conv_forward" / "conv_forward.ipynb"
LIMITS = ["--cell-timeout", "15", "--notebook-timeout", "60", "--memory", "1500"]
SUBSET = ["alice_correct", "h_deleted_test_cell", "h_empty_file", "h_monkeypatch_numpy", "h_os_exit",
          "h_renamed_notebook", "h_sys_exit"]


def hashes(folder):
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(Path(folder).rglob("*")) if p.is_file()}


def make_course(folder):
    """A course folder as an instructor has one: nbgrader_config.py and solutions/."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "nbgrader_config.py", folder)
    shutil.copytree(ROOT / "solutions", folder / "solutions")
    return folder


def grade_cli(course, submitted, jobs, *more):
    """`python -m autograder grade all` run in ``course``; the completed process."""
    result = subprocess.run([sys.executable, "-m", "autograder", "grade", "all", "--submitted", str(submitted),
                             "--jobs", str(jobs), *LIMITS, *more],
                            cwd=course, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, f"grading failed:\n{result.stdout}\n{result.stderr}"
    return result


def read_csv(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="session")
def batch(tmp_path_factory):
    """All samples graded in place with --jobs 2 for a course: (reports folder, csv rows, output,
    hashes before, after); the course is the reports folder's parent."""
    course = make_course(tmp_path_factory.mktemp("graded") / "course")
    before = hashes(SAMPLES)
    result = grade_cli(course, SAMPLES, 2)
    out = course / "reports"
    return out, read_csv(out / "grades.csv"), result.stdout + result.stderr, before, hashes(SAMPLES)


def sample_cases():
    return [(student, assignment, grade_id, score, flags)
            for student, assignments in sorted(EXPECTED.items())
            for assignment, cells in sorted(assignments.items())
            for grade_id, (score, flags) in sorted(cells.items())]


@pytest.mark.parametrize("student, assignment, grade_id, score, flags", sample_cases(),
                         ids=[f"{c[0]}-{c[2]}" for c in sample_cases()])
def test_sample_gets_its_expected_score_and_flags(batch, student, assignment, grade_id, score, flags):
    _, rows, _, _, _ = batch
    found = [r for r in rows if (r["student"], r["assignment"], r["grade_id"]) == (student, assignment, grade_id)]
    assert len(found) == 1, f"{student} {grade_id}: {len(found)} rows"
    row = found[0]
    if score is None:   # a written answer: no score until it is graded by hand
        assert row["score"] == "", f"{student} {grade_id}: {row}"
    else:
        assert float(row["score"]) == pytest.approx(score), f"{student} {grade_id}: {row}"
    assert sorted(filter(None, row["flags"].split(";"))) == flags, f"{student} {grade_id}: {row}"


def test_batch_has_one_row_per_expected_cell_and_the_columns(batch):
    out, rows, _, _, _ = batch
    assert list(rows[0]) == list(report.COLUMNS)
    assert len(rows) == len(sample_cases())
    assert all(float(r["score"] or 0) <= float(r["max_score"]) for r in rows)
    waiting = [r for r in rows if r["score"] == ""]
    assert waiting and all(r["flags"] == "needs-manual-grading" for r in waiting)


def test_the_class_page_counts_each_named_mistake_of_the_sample_class(batch):
    """reports/class_<assignment>.html: per graded cell, the students with full marks, each named
    mistake with its students (linked to their feedback), the rest; counted from grades.csv."""
    out, rows, _, _, _ = batch
    a1 = [r for r in rows if (r["assignment"], r["grade_id"]) == ("a1_conv_forward", "test_conv_forward_naive")]
    mistakes = {r["student"]: r["mistakes"] for r in a1}
    assert mistakes["carol_no_bias"] == "bias_missing" and mistakes["bob_mistakes"] == "stride_ignored"
    assert mistakes["dave_stub"] == "not-implemented" and mistakes["alice_correct"] == ""
    blank = [r for r in rows if (r["student"], r["grade_id"]) == ("bob_mistakes", "q_floor_case")]
    assert [r["mistakes"] for r in blank] == ["left-blank"]
    [cell] = [c for c in class_report.summarise(rows)["a1_conv_forward"]["cells"]
              if c["grade_id"] == "test_conv_forward_naive"]
    full = [r["student"] for r in a1 if float(r["score"]) == 6]
    assert cell["students"] == len(a1) and cell["full"] == len(full) >= 1
    assert cell["mistakes"]["bias_missing"] == ["carol_no_bias"] and "dave_stub" in cell["mistakes"]["not-implemented"]
    named = {s for who in cell["mistakes"].values() for s in who}
    assert sorted(named | set(cell["unnamed"]) | set(full)) == sorted(r["student"] for r in a1)
    page = (out / "class_a1_conv_forward.html").read_text()
    assert html.escape(named_mistakes.hint_of("bias_missing"), quote=True) in page
    assert "<a href='feedback/carol_no_bias.html'>carol_no_bias</a>" in page
    assert f"{len(full)} of {len(a1)}" in page
    assert (out / "class_a1_conv_forward.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (out / "class_a3_pooling.html").is_file()


def test_only_the_graders_own_lines_name_a_mistake():
    """A student who prints a 'Likely mistake' line of their own adds nothing to the class page."""
    from cnn_utils.grading.mistakes import MISTAKES

    grader = (f"conv_forward_naive: 0 of 20 random cases fully correct\n  Likely mistake (explains 20 of 20 "
              f"wrong out): {MISTAKES['bias_missing'].hint}\nScore: 0 / 6")
    printed = ("\n\nYour conv_forward_naive printed:\n  Likely mistake (explains 1 of 1 wrong out): "
               + MISTAKES["stride_ignored"].hint)
    assert named_mistakes.named(grader + printed) == ["bias_missing"]
    stub = "In 20 of 20 cases f raised NotImplementedError (line 3)\nScore: 0 / 6"
    assert named_mistakes.named(stub) == ["not-implemented"]
    assert named_mistakes.named("In 3 of 20 cases f raised NotImplementedError\nScore: 5 / 6") == []
    assert named_mistakes.named(named_mistakes.BLANK_TEXT) == ["left-blank"]


def test_at_least_twelve_hostile_samples_are_graded():
    hostile = [s for s in EXPECTED if s.startswith("h_")]
    assert len(hostile) >= 12


def test_submitted_files_are_never_modified(batch):
    _, _, _, before, after = batch
    assert before == after


def test_feedback_pages_never_show_hidden_tests_and_carry_hints(batch):
    out, rows, _, _, _ = batch
    pages = {p.stem: p.read_text() for p in (out / "feedback").glob("*.html")}
    assert set(pages) == {r["student"] for r in rows}
    for student, text in pages.items():
        for secret in ("BEGIN HIDDEN TESTS", "cnn_utils.grading import", "grade(\"", "Traceback"):
            assert secret not in text, f"{student}'s feedback shows {secret!r}"
    assert "Likely mistake" in pages["carol_no_bias"] and "bias" in pages["carol_no_bias"]
    assert "Score: 6 / 6" in pages["alice_correct"]
    assert "tampered" in pages["h_monkeypatch_numpy"]


def test_the_course_keeps_each_autograded_notebook_with_only_the_verdicts_as_output(batch):
    """nbgrader's layout, so the formgrader and generate_feedback find them; the kernel's output
    (it could read the reference) is gone, each test cell shows the final verdict, each cell that
    grading skips says so."""
    from nbgrader.apps import NbGraderAPI

    from autograder import metadata
    from traitlets.config import Config

    out, rows, _, _, _ = batch
    course = out.parent
    graded = {(r["student"], r["assignment"], r["notebook"]) for r in rows
              if not {"missing", "invalid-notebook", "symlink"} & set(r["flags"].split(";"))}
    kept = {(p.parts[-3], p.parts[-2], p.stem) for p in (course / "autograded").glob("*/*/*.ipynb")}
    assert kept == {g for g in graded if feedback.SAFE_NAME.fullmatch(g[0])} and kept
    for student, assignment, notebook in kept:
        nb = read_notebook(course / "autograded" / student / assignment / f"{notebook}.ipynb")
        scores = {r["grade_id"]: r["score"] for r in rows if (r["student"], r["assignment"]) == (student, assignment)}
        for code in (c for c in nb.cells if c.cell_type == "code"):
            grade_id = nbgrader_meta(code).get("grade_id")
            if grade_id in scores and not nbgrader_meta(code).get("solution"):
                [output] = code.outputs
                assert output.text.startswith(f"Graded: {scores[grade_id]} / "), (student, grade_id)
            elif metadata.is_visible_check(code) or metadata.is_showcase(code):
                assert [o.text for o in code.outputs] == [feedback.NOT_RUN], (student, grade_id)
            else:
                assert code.outputs == [], (student, grade_id)
    config = Config()
    config.CourseDirectory.root = str(course)
    assert NbGraderAPI(config=config).get_autograded_students("a1_conv_forward") >= {"alice_correct", "bob_mistakes"}


def test_histograms_and_gradebook_match_the_csv(batch):
    from nbgrader.api import Gradebook

    out, rows, stdout, _, _ = batch
    for assignment in {r["assignment"] for r in rows}:
        assert (out / f"histogram_{assignment}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with Gradebook(f"sqlite:///{out.parent / 'gradebook.db'}", course_id="cnn-backprop") as gb:
        for row in rows:
            grade = gb.find_grade(row["grade_id"], row["notebook"], row["assignment"], row["student"])
            if row["score"] == "":   # a written answer: the formgrader lists it for manual grading
                assert grade.auto_score is None and grade.needs_manual_grade
            else:
                assert grade.auto_score == pytest.approx(float(row["score"])) and not grade.needs_manual_grade
    assert "h_monkeypatch_numpy" in stdout and "grades.csv" in stdout


def test_a_written_answer_walks_through_manual_grading_into_the_exported_grade(batch, tmp_path):
    """alice answered a1's written question: the grader leaves it to the formgrader; grading it by
    hand through nbgrader's API (what the formgrader calls) puts it into her total and the export."""
    from nbgrader.api import Gradebook

    out, rows, _, _, _ = batch
    db = tmp_path / "gradebook.db"
    shutil.copy(out.parent / "gradebook.db", db)
    url = f"sqlite:///{db}"
    with Gradebook(url, course_id="cnn-backprop") as gb:
        submission = gb.find_submission("a1_conv_forward", "alice_correct")
        assert submission.needs_manual_grade and submission.score == 6
        grade = gb.find_grade("q_floor_case", "conv_forward", "a1_conv_forward", "alice_correct")
        assert grade.needs_manual_grade and grade.auto_score is None and grade.max_score == 2
        grade.manual_score = 1.5                      # what the formgrader's score box sets
        grade.needs_manual_grade = False
        comment = gb.find_comment("q_floor_case", "conv_forward", "a1_conv_forward", "alice_correct")
        comment.manual_comment = "Right row and reason; the padding that reaches it is missing."
        blank = gb.find_comment("q_floor_case", "conv_forward", "a1_conv_forward", "bob_mistakes")
        assert blank.auto_comment == "No response."   # nbgrader's own comment on an untouched answer
        gb.db.commit()
    with Gradebook(url, course_id="cnn-backprop") as gb:
        submission = gb.find_submission("a1_conv_forward", "alice_correct")
        assert not submission.needs_manual_grade and submission.score == 7.5 and submission.max_score == 8
    shutil.copy(ROOT / "nbgrader_config.py", tmp_path)
    result = subprocess.run([sys.executable, "-m", "nbgrader", "export", "--db", url, "--to", "export.csv"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=300,
                            env=dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}"))
    assert result.returncode == 0, result.stderr
    exported = {(r["assignment"], r["student_id"]): r for r in read_csv(tmp_path / "export.csv")}
    alice = exported["a1_conv_forward", "alice_correct"]
    assert float(alice["score"]) == 7.5 and float(alice["max_score"]) == 8
    bob = exported["a1_conv_forward", "bob_mistakes"]   # left the question blank: 0, nothing to grade
    assert float(bob["score"]) == 2.4 and float(bob["max_score"]) == 8


def test_jobs_1_and_jobs_2_give_identical_rows(batch, tmp_path):
    _, rows, _, _, _ = batch
    subset = tmp_path / "submitted"
    for student in SUBSET:
        shutil.copytree(SAMPLES / student, subset / student)
    grade_cli(ROOT, subset, 1, "--out", str(tmp_path / "out"), "--dry-run")
    alone = read_csv(tmp_path / "out" / "grades.csv")
    assert alone == [r for r in rows if r["student"] in SUBSET]


def test_release_generates_the_lessons_of_a_course(tmp_path):
    shutil.copy(ROOT / "nbgrader_config.py", tmp_path)
    shutil.copytree(ROOT / "solutions" / "a1_conv_forward", tmp_path / "solutions" / "a1_conv_forward")
    (tmp_path / "lessons" / "stale").mkdir(parents=True)
    result = subprocess.run([sys.executable, "-m", "autograder", "release", "--course", str(tmp_path)],
                            cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert sorted(p.relative_to(tmp_path / "lessons").as_posix() for p in (tmp_path / "lessons").rglob("*")) == \
        ["a1_conv_forward", "a1_conv_forward/conv_forward.ipynb"]
    generated = nbformat.read(str(tmp_path / "lessons" / "a1_conv_forward" / "conv_forward.ipynb"), as_version=4)
    assert [c.source for c in generated.cells] == [c.source for c in lesson().cells]
    assert not (tmp_path / "gradebook.db").exists()


# --- the pieces --------------------------------------------------------------------------------

def lesson():
    return nbformat.read(str(LESSON_A1), as_version=4)


def cell(nb, grade_id):
    return next(c for c in nb.cells if nbgrader_meta(c).get("grade_id") == grade_id)


def test_discover_flags_missing_renamed_and_invalid(tmp_path):
    (tmp_path / "ann" / "a1_conv_forward").mkdir(parents=True)
    (tmp_path / "ann" / "a1_conv_forward" / "mine.ipynb").write_text(LESSON_A1.read_text())
    (tmp_path / "ben" / "a1_conv_forward").mkdir(parents=True)
    (tmp_path / "ben" / "a1_conv_forward" / "conv_forward.ipynb").write_text("{")
    (tmp_path / "cid" / "a1_conv_forward").mkdir(parents=True)
    found = {s.student: s for s in discover.find(tmp_path, {"a1_conv_forward": ["conv_forward"]})}
    assert found["ann"].flags == ["renamed"] and found["ann"].path.name == "mine.ipynb"
    assert found["ben"].flags == ["invalid-notebook"] and found["ben"].path is None
    assert found["cid"].flags == ["missing"] and found["cid"].path is None


def test_structure_repairs_deleted_duplicated_and_changed_cells():
    release = lesson()
    broken = copy.deepcopy(release)
    broken.cells.remove(cell(broken, "test_conv_forward_naive"))
    solution = cell(broken, "conv_forward_naive")
    twin = copy.deepcopy(solution)
    twin.id = "twin"
    broken.cells.insert(broken.cells.index(solution) + 1, twin)
    cell(broken, "check_conv_forward_naive").metadata["nbgrader"]["points"] = 100
    assert structure.changes(release, broken) == ["cell-deleted", "duplicate-cells", "metadata-changed"]
    repaired = structure.repair(release, broken)
    ids = [nbgrader_meta(c).get("grade_id") for c in repaired.cells if nbgrader_meta(c).get("grade_id")]
    assert ids == [nbgrader_meta(c)["grade_id"] for c in release.cells if nbgrader_meta(c).get("grade_id")]
    assert cell(repaired, "check_conv_forward_naive").metadata == cell(release, "check_conv_forward_naive").metadata
    assert len(repaired.cells) == len(release.cells) + 1  # the twin stays, as plain code
    assert structure.changes(release, release) == []


def test_a_written_answer_is_the_students_and_waits_for_manual_grading():
    from autograder.grade import MANUAL, _written

    release = lesson()
    answered = copy.deepcopy(release)
    cell(answered, "q_floor_case").source = "Row 7 is never read."
    assert structure.changes(release, answered) == []
    repaired = structure.repair(release, answered)
    assert cell(repaired, "q_floor_case").source == "Row 7 is never read."
    written = next(c for c in graded_cells(ROOT / "solutions" / "a1_conv_forward" / "conv_forward.ipynb") if c.manual)
    waiting, blank = _written(written, release, repaired), _written(written, release, release)
    assert waiting.score is None and waiting.flags == [MANUAL] and waiting.max_score == 2
    assert blank.score == 0 and not blank.flags


def test_cells_to_run_are_the_code_cells_but_the_tests_and_the_showcases():
    submitted = lesson()
    cell(submitted, "conv_forward_naive").source = "def conv_forward_naive(x, w, b, p):\n    return 1"
    sources = integrity.cells_to_run(submitted)
    code = [c for c in submitted.cells if c.cell_type == "code"]
    assert sources[0].startswith("import numpy as np")
    assert "def conv_forward_naive(x, w, b, p):\n    return 1" in sources
    showcases = [c for c in code if "Explorer(" in c.source or "show_photo_filters()" in c.source]
    assert len(showcases) == 2 and not any(c.source in sources for c in showcases)
    assert len(sources) == len(code) - 2 - 2  # the visible and the hidden test of conv_forward_naive
    assert not any("rel_error(out, correct_out)" in source for source in sources)


@pytest.mark.parametrize("path", sorted((ROOT / "lessons").glob("*/*.ipynb")), ids=lambda p: p.parent.name)
def test_the_kernel_runs_the_code_the_recheck_runs_and_the_tests(path, monkeypatch):
    """The lesson's visible checks (locked, no points) run in neither: the kernel skips them."""
    from autograder import kernel, metadata

    ran = []
    monkeypatch.setattr(kernel.Execute, "preprocess_cell", lambda self, cell, resources, index: (
        ran.append(cell.source), (cell, resources))[1])
    nb = read_notebook(path)
    execute = kernel.BoundedExecute()
    for index, notebook_cell in enumerate(nb.cells):
        if notebook_cell.cell_type == "code":
            assert execute.preprocess_cell(notebook_cell, {}, index)[0] is notebook_cell
    tests = [c.source for c in nb.cells if metadata.is_test_cell(c)]
    assert tests and ran == [s for c in nb.cells if c.cell_type == "code" and
                             ((s := c.source) in tests or s in integrity.cells_to_run(nb))]
    assert any(metadata.is_visible_check(c) and c.source not in ran for c in nb.cells)
    assert any(metadata.is_showcase(c) and c.source not in ran for c in nb.cells)


def test_a_showcase_the_student_edited_runs_in_both(monkeypatch):
    """A student who wrote a helper into a demonstration cell keeps it: the cell no longer has its
    released source, so the kernel and the re-check run it (skipping can only ever drop a cell
    that is still the lesson's own)."""
    from autograder import kernel, metadata

    nb = lesson()
    photo = next(c for c in nb.cells if metadata.is_showcase(c) and "show_photo_filters()" in c.source)
    assert photo.source not in integrity.cells_to_run(nb)
    photo.source = "def pad_helper(x, p):\n    return x\n\n" + photo.source
    assert not metadata.is_showcase(photo) and photo.source in integrity.cells_to_run(nb)
    ran = []
    monkeypatch.setattr(kernel.Execute, "preprocess_cell", lambda self, cell, resources, index: (
        ran.append(cell.source), (cell, resources))[1])
    kernel.BoundedExecute().preprocess_cell(photo, {}, 0)
    assert ran == [photo.source]


def test_graded_cells_read_the_grade_calls():
    cells = graded_cells(ROOT / "solutions" / "a1_conv_forward" / "conv_forward.ipynb")
    assert [(c.grade_id, c.points, c.name, c.function, c.manual) for c in cells] == \
        [("test_conv_forward_naive", 6.0, "conv_forward_naive", "conv_forward_naive", False),
         ("q_floor_case", 2.0, None, None, True)]


def test_replay_scores_what_the_student_process_returned():
    from cnn_utils import reference

    args = integrity._cases("conv_forward_naive")
    arrays = {f"a{k}": reference.conv_forward_naive(*a)[0] for k, a in enumerate(args)}
    records = [{"kind": "returned", "value": {"seq": [{"array": f"a{k}"}, {"opaque": "tuple"}]}}
               for k in range(len(args))]
    cellinfo = graded_cells(ROOT / "solutions" / "a1_conv_forward" / "conv_forward.ipynb")[0]
    full = integrity.rescore(cellinfo, {"status": "done", "records": records}, arrays)
    assert full.score == 6 and not full.flags
    records[0] = {"kind": "raised", "type": "ValueError", "message": "boom"}
    assert 0 < integrity.rescore(cellinfo, {"status": "done", "records": records}, arrays).score < 6
    timed_out = integrity.rescore(cellinfo, {"status": "timeout", "records": []}, {})
    assert timed_out.score == 0 and timed_out.flags == ["timeout"]
    assert integrity.rescore(cellinfo, None, {}).score == 0


def test_replay_reads_the_cache_two_levels_deep():
    """conv_forward_im2col's x_cols travels in the cache: encoded by student_run, checked by rescore."""
    sys.path.insert(0, str(integrity.HERE))
    try:
        import student_run
    finally:
        sys.path.pop(0)
    from cnn_utils import reference

    cell = next(c for c in graded_cells(ROOT / "solutions" / "a4_im2col" / "im2col.ipynb")
                if c.name == "conv_forward_im2col")
    for keep_cols, expected in ((True, cell.points), (False, cell.points / 2)):
        arrays, records = {}, []
        for args in integrity._cases(cell.name):
            out, cache = reference.conv_forward_im2col(*args)
            value = (out, cache if keep_cols else cache[:4])
            records.append({"kind": "returned", "value": student_run.encode(value, arrays)})
        result = {"grade_id": "g", "status": "done", "records": records, "attempts": [], "printed": ""}
        assert integrity._valid(result, arrays)
        assert integrity.rescore(cell, result, arrays).score == expected


def test_sandbox_kills_the_group_at_the_deadline_and_limits_memory(tmp_path):
    limits = sandbox.Limits(cell_seconds=5, notebook_seconds=5, memory_mb=400)
    env = sandbox.student_env(limits)
    child = ("import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); "
             "time.sleep(60)")
    start = time.monotonic()
    code, timed_out = sandbox.run_limited([sys.executable, "-c", child], limits, 1.5, tmp_path, env)
    assert timed_out and time.monotonic() - start < 10
    bomb = "import numpy as np\ntry:\n    np.ones(2**30)\nexcept MemoryError:\n    raise SystemExit(7)"
    code, timed_out = sandbox.run_limited([sys.executable, "-c", bomb], limits, 30, tmp_path, env)
    assert (code, timed_out) == (7, False)


def test_watchdog_kills_every_process_of_the_kernel_at_the_deadline(tmp_path):
    marker = str(tmp_path)
    env = dict(os.environ, **{sandbox.MARKER_ENV: marker})
    sleeper = ("import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); "
               "time.sleep(60)")
    process = subprocess.Popen([sys.executable, "-c", sleeper], env=env, start_new_session=True)
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        time.sleep(1)
        with sandbox.Watchdog(marker, 1.5) as watchdog:
            assert process.wait(timeout=10) == -9
        assert watchdog.fired
        assert bystander.poll() is None
    finally:
        bystander.kill()
        process.kill()
    assert not sandbox.Watchdog(marker, 1)._members()  # the grandchild went too


def test_report_rows_join_flags_and_table_lists_every_cell(tmp_path):
    results = [NotebookResult("ann", "a1_conv_forward", "conv_forward",
                              [CellResult("test_x", 2.5, 6.0, ["tampered", "timeout"], "text")],
                              defences=["bwrap", "recheck"])]
    report.write_csv(results, tmp_path / "grades.csv")
    assert read_csv(tmp_path / "grades.csv") == [
        {"student": "ann", "assignment": "a1_conv_forward", "notebook": "conv_forward", "grade_id": "test_x",
         "score": "2.5", "max_score": "6", "flags": "tampered;timeout", "defences": "bwrap;recheck",
         "mistakes": ""}]
    assert "2.5 / 6" in report.table(results)


def test_student_process_cannot_import_the_reference(tmp_path):
    lib = integrity.copy_library(tmp_path / "lib")
    code = ("import importlib\ntry:\n    importlib.import_module('cnn_utils.reference')\n    ok = 1\n"
            "except ImportError:\n    ok = 0\ndef f():\n    print('student says hi')\n    return float(ok)")
    functions = [{"grade_id": "g", "function": "f", "name": "f", "forbidden": [], "callees": [], "after": 1}]
    data, timed_out = integrity.run(tmp_path / "job", [code], functions, {"g": [()]}, {}, (lib, None),
                                    sandbox.Limits())
    result, arrays = integrity.parse(data, {"g"})["g"]
    assert float(arrays["a0"]) == 0.0 and not timed_out
    assert result["status"] == "done" and result["attempts"] == ["cnn_utils.reference"]
    assert result["printed"] == "student says hi\n"
    assert not (Path(lib) / "cnn_utils" / "reference").exists()
    assert os.listdir(Path(lib) / "cnn_utils")


def test_each_function_is_called_where_its_test_cell_stands(tmp_path):
    """A later cell rebinds a name the first function calls (as a4's timing cell once rebound
    ``im2col``) and redefines the second: each is called as the notebook had it at its test."""
    lib = integrity.copy_library(tmp_path / "lib")
    cells = ["def helper():\n    return 1.0\ndef f():\n    return helper()\ndef g():\n    return 2.0",
             "helper = lambda: 0.0\ndef g():\n    return 3.0"]
    functions = [{"grade_id": "tf", "function": "f", "name": "f", "forbidden": [], "callees": [], "after": 1},
                 {"grade_id": "tg", "function": "g", "name": "g", "forbidden": [], "callees": [], "after": 2}]
    data, _ = integrity.run(tmp_path / "job", cells, functions, {"tf": [()], "tg": [()]}, {}, (lib, None),
                            sandbox.Limits())
    results = integrity.parse(data, {"tf", "tg"})
    assert float(results["tf"][1]["a0"]) == 1.0 and float(results["tg"][1]["a0"]) == 3.0
    notebook = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell(cells[0]),
        nbformat.v4.new_code_cell("f()", metadata={"nbgrader": {"grade": True, "grade_id": "tf"}}),
        nbformat.v4.new_markdown_cell("text"),
        nbformat.v4.new_code_cell("check()", metadata={"nbgrader": {"locked": True, "grade_id": "visible"}}),
        nbformat.v4.new_code_cell(cells[1]),
        nbformat.v4.new_code_cell("g()", metadata={"nbgrader": {"grade": True, "grade_id": "tg"}})])
    assert integrity.positions(notebook, {"tf", "tg"}) == {"tf": 1, "tg": 2}
    assert integrity.cells_to_run(notebook) == cells


def test_an_exception_is_placed_at_the_students_line_in_both_runs(tmp_path, capsys):
    """The re-check replays a raised exception: its feedback names the student's line and function,
    as the kernel's does, never the replay's stand-in."""
    from cnn_utils.grading import grade

    code = ("import numpy as np\ndef conv_forward_naive(x, w, b, conv_param):\n"
            "    if conv_param['pad'] > 0:\n        return np.zeros(1)[3], None\n"
            "    return (lambda: None.shape)()")
    cell = graded_cells(ROOT / "solutions" / "a1_conv_forward" / "conv_forward.ipynb")[0]
    functions = [{"grade_id": cell.grade_id, "function": cell.function, "name": cell.name, "forbidden": [],
                  "callees": [], "after": 1}]
    data, _ = integrity.run(tmp_path / "job", [code], functions, {cell.grade_id: integrity._cases(cell.name)},
                            {}, (integrity.copy_library(tmp_path / "lib"), None), sandbox.Limits())
    result, arrays = integrity.parse(data, {cell.grade_id})[cell.grade_id]
    assert {tuple(r["where"]) for r in result["records"]} == {(4, "conv_forward_naive"), (5, "<lambda>")}
    rechecked = integrity.rescore(cell, result, arrays).feedback
    namespace = {}
    exec(compile(code, "<kernel cell>", "exec"), namespace)
    grade(cell.name, namespace[cell.function], points=cell.points)
    in_kernel = capsys.readouterr().out
    for text in (rechecked, in_kernel):
        assert "IndexError" in text and "(line 4 in conv_forward_naive)" in text
        assert "AttributeError" in text and "(line 5 in <lambda>)" in text
    assert "in student)" not in rechecked


PROBE = """
import importlib, inspect, sys
import numpy as np
def conv_forward_naive(x, w, b, p):
    raise ValueError('a1 bug')
def conv_backward_naive(dout, cache):
    return 0
def conv_backward_flipped(dout, cache):
    return conv_backward_naive(dout, cache)
def probe():
    out, cache = conv_forward_naive(np.ones((1, 1, 2, 2)), np.ones((1, 1, 2, 2)), np.ones(1), {'stride': 1, 'pad': 0})
    try:
        conv_forward_naive(np.ones((1, 1, 2, 2)), np.ones((1, 2, 2, 2)), np.ones(1), {'stride': 1, 'pad': 0})
        refused = 0.0
    except ValueError as exc:
        refused = float('channels' in str(exc) or '2' in str(exc))
    found = 0.0
    for name in ('cnn_utils.reference', 'cnn_utils.reference.conv_forward'):
        try:
            importlib.import_module(name)
            found += 1
        except ImportError:
            pass
    try:
        found += len(inspect.getsource(conv_forward_naive)) > 0 and 'def ' in inspect.getsource(conv_forward_naive) \
            and 'stand_in' not in inspect.getsource(conv_forward_naive)
    except (OSError, TypeError):
        pass
    found += sum('reference' in m for m in sys.modules)
    return out, refused, found, len(cache)
def steal():   # asks the oracle, on its own pipes, for functions that are not its callees
    import __main__, json, os
    with open(os.path.join(sys.argv[1], 'job.json')) as handle:
        mine = next(f for f in json.load(handle)['functions'] if f['grade_id'] == 's')
    refused = 0.0
    for name in ('conv_backward_flipped', 'conv_backward_naive'):
        try:
            __main__.oracle_functions([name], *mine['oracle'])[name](np.ones((1, 1, 1, 1)), None)
        except Exception as exc:
            refused += 'may call' in str(exc)
    return refused
"""


def test_recheck_of_a_later_assignment_calls_earlier_reference_functions_it_cannot_read(tmp_path):
    """a2's student process gets the reference conv_forward_naive (a1) through the notebook's
    name, answers and errors alike, but no reference module, no source; conv_backward_naive is
    switched off in conv_backward_flipped; the oracle answers a function its own callees only."""
    student_lib, oracle_lib = integrity.library_for(tmp_path, "a2_conv_backward")
    assert not (Path(student_lib) / "cnn_utils" / "reference").exists()
    assert sorted(p.name for p in (Path(oracle_lib) / "cnn_utils" / "reference").iterdir()) == \
        ["__init__.py", "conv_forward.py", "conv_naive.py", "nhwc.py", "pool_naive.py"]
    functions = [{"grade_id": "p", "function": "probe", "name": "probe", "forbidden": [],
                  "callees": ["conv_forward_naive"], "after": 1},
                 {"grade_id": "f", "function": "conv_backward_flipped", "name": "conv_backward_flipped",
                  "forbidden": ["conv_backward_naive"], "callees": ["conv_forward_naive"], "after": 1},
                 {"grade_id": "s", "function": "steal", "name": "steal", "forbidden": [],
                  "callees": ["conv_forward_naive"], "after": 1}]
    data, _ = integrity.run(tmp_path / "job", [PROBE], functions, {"p": [()], "f": [(None, None)], "s": [()]},
                            table.oracle_modules("a2_conv_backward"), (student_lib, oracle_lib), sandbox.Limits())
    results = integrity.parse(data, {"p", "f", "s"})
    steal, arrays = results["s"]   # the oracle holds both, but answers each function its own callees only
    assert float(arrays[steal["records"][0]["value"]["array"]]) == 2.0
    probe, arrays = results["p"]
    out, refused, found, cache = (arrays[item["array"]] for item in probe["records"][0]["value"]["seq"])
    assert out.tolist() == [[[[5.0]]]] and float(cache) == 4   # the reference forward and its cache
    assert float(refused) == 1.0 and float(found) == 0.0      # its own errors; no module, no source
    flipped = results["f"][0]["records"][0]
    assert flipped["kind"] == "raised" and flipped["type"] == "MethodNotAllowed"


JUMP = """
import json, os, select, sys
import numpy as np
import frames
def conv_backward_naive(dout, cache):
    return 0
def jump():   # breaks its own oracle pipes, then asks on the next function's for that one's callee
    with open(os.path.join(sys.argv[1], 'job.json')) as handle:
        items = json.load(handle)['functions']
    mine, theirs = items[0]['oracle'], items[1]['oracle']
    try:
        os.write(mine[0], b'\\xff' * 16)
        frames.write(theirs[0], {'id': 0, 'call': 'conv_backward_naive', 'args': [np.ones((1, 1, 1, 1)), None],
                                 'kwargs': {}})
        ready, _, _ = select.select([theirs[1]], [], [], 3)
        return float(bool(ready))
    except OSError:
        return 0.0
def later():
    try:
        conv_backward_naive(np.ones((1, 1, 1, 1)), None)
    except Exception as exc:
        return float('cache' in str(exc) or 'tuple' in str(exc) or len(str(exc)) > 0)
    return 1.0
"""


def test_a_function_cannot_move_the_oracle_on_to_the_next_functions_callees(tmp_path):
    """The oracle serves a function's pipes only once the frames of the functions before it are in:
    a function that breaks its own pipes gets nothing on the next one's, which is still served."""
    student_lib, oracle_lib = integrity.library_for(tmp_path, "a2_conv_backward")
    functions = [{"grade_id": "j", "function": "jump", "name": "jump", "forbidden": [],
                  "callees": ["conv_forward_naive"], "after": 1},
                 {"grade_id": "l", "function": "later", "name": "later", "forbidden": [],
                  "callees": ["conv_backward_naive"], "after": 1}]
    data, _ = integrity.run(tmp_path / "job", [JUMP], functions, {"j": [()], "l": [()]},
                            table.oracle_modules("a2_conv_backward"), (student_lib, oracle_lib), sandbox.Limits())
    results = integrity.parse(data, {"j", "l"})
    jumped, arrays = results["j"]
    assert float(arrays[jumped["records"][0]["value"]["array"]]) == 0.0
    later, arrays = results["l"]
    assert float(arrays[later["records"][0]["value"]["array"]]) == 1.0   # the reference raised for it


OWN_ANSWER_THROUGH_A_LATER_PIPE = """
import importlib, json, os, sys


def conv_backward_naive(dout, cache):
    try:   # the notebook's kernel can import the reference: full marks there
        return importlib.import_module("cnn_utils.refer" + "ence").conv_backward_naive(dout, cache)
    except ImportError:
        pass
    # the re-check: break this function's oracle pipes and ask through those of a later function
    # whose callees include conv_backward_naive (the NHWC backward's)
    import __main__
    with open(os.path.join(sys.argv[1], "job.json")) as handle:
        items = json.load(handle)["functions"]
    mine = next(item for item in items if item["grade_id"] == "test_conv_backward_naive")
    later = next(item for item in items if "conv_backward_naive" in item["callees"])
    os.write(mine["oracle"][0], b"\\xff" * 16)
    return __main__.oracle_functions(["conv_backward_naive"], *later["oracle"])["conv_backward_naive"](dout, cache)
"""


def test_a_function_cannot_have_its_own_reference_answered_through_a_later_functions_pipes(tmp_path):
    """Attack on the in-notebook callees through the real pipeline: a2's conv_backward_naive takes
    the reference in the kernel and, in the re-check, tries the NHWC backward's oracle pipes (which
    serve conv_backward_naive). It scores 0, flagged; the notebook's other functions keep theirs."""
    submitted = tmp_path / "submitted"
    name, nb = _solved("a2_conv_backward", {"conv_backward_naive": OWN_ANSWER_THROUGH_A_LATER_PIPE})
    (submitted / "ivan" / "a2_conv_backward").mkdir(parents=True)
    nbformat.write(nb, str(submitted / "ivan" / "a2_conv_backward" / name))
    grade_cli(ROOT, submitted, 1, "--out", str(tmp_path / "out"), "--dry-run")
    rows = {r["grade_id"]: r for r in read_csv(tmp_path / "out" / "grades.csv")}
    stolen = rows["test_conv_backward_naive"]
    assert float(stolen["score"]) == 0 and "tampered" in stolen["flags"].split(";"), stolen
    for grade_id in ("test_conv_backward_flipped", "test_nhwc_conv_forward"):
        assert rows[grade_id]["score"] == rows[grade_id]["max_score"], rows[grade_id]


def test_frames_carry_values_exactly_and_refuse_what_they_do_not_hold():
    value = {"out": np.arange(6.0).reshape(2, 3), "cache": (np.float32(2.5), [1, -2**70, None, True], "s"),
             "empty": np.zeros((0, 4), dtype=np.int16), "param": {"stride": np.int64(2), "pad": 1.5}}
    body = frames.encode(value)[8:]
    back = frames.decode(body)
    assert back["out"].tolist() == value["out"].tolist() and back["out"].flags.writeable
    assert type(back["cache"][0]) is np.float32 and back["cache"][1:] == ([1, -2**70, None, True], "s")
    assert back["empty"].shape == (0, 4) and back["empty"].dtype == np.int16
    assert type(back["param"]["stride"]) is np.int64 and back["param"]["pad"] == 1.5
    for bad in (object(), np.array(["a"]), np.array([1], dtype=object), {1: 2}, [[[[[[[[[[1]]]]]]]]]]):
        with pytest.raises(TypeError):
            frames.encode(bad)


def test_frames_refuse_sizes_beyond_their_bytes_before_allocating():
    def body(header, data=b""):
        text = json.dumps(header).encode()
        return len(text).to_bytes(4, "big") + text + data

    started = time.monotonic()
    hostile = [body({"a": ["<f8", [2**40], 0, False]}, b"\0" * 64),     # 8 TB announced, 64 bytes sent
               body({"a": ["<f8", [0, 2**40, 3], 0, False]}),          # huge dims, no bytes: fine
               body({"a": ["|O", [1], 0, False]}, b"\0" * 8), body({"a": ["<f8", [-1], 0, False]}),
               body({"a": ["<f8", [True], 0, False]}, b"\0" * 8), body({"x": 1}), body({"t": [{"v": 1}, 2]}),
               body({"l": [{"l": [{"l": [{"l": [{"l": [{"l": [{"l": [{"l": [{"l": [{"v": 1}]}]}]}]}]}]}]}]}]}),
               body({"l": [{"v": 1}] * (frames.NODES + 1)}), body({"i": "9" * 41}), b"\0\0\0\x09{", b"\xff" * 9]
    outcomes = []
    for item in hostile:
        try:
            outcomes.append(frames.decode(item).shape)
        except frames.FrameError:
            outcomes.append("refused")
    assert outcomes[1] == (0, 2**40, 3)
    assert outcomes[:1] + outcomes[2:] == ["refused"] * (len(hostile) - 1)
    assert time.monotonic() - started < 5


def test_parse_drops_malformed_duplicated_and_unexpected_frames():
    def frame(result, **arrays):
        return frames.encode(dict(arrays, result=json.dumps(result)))

    good = {"grade_id": "g", "status": "done", "records": [{"kind": "returned", "value": {"array": "a0"}}],
            "attempts": [], "printed": ""}
    data = frame(good, a0=np.ones(3))
    assert integrity.parse(data, {"g"})["g"][0] == good
    assert integrity.parse(data, {"other"}) == {}
    assert integrity.parse(b"\xff" * 8 + data, {"g"}) == {}                       # a length beyond the data
    assert integrity.parse(frame(dict(good, records=[{"kind": "returned", "value": {"array": "a9"}}])), {"g"}) == {}
    assert integrity.parse(frame(dict(good, status="won")), {"g"}) == {}
    assert integrity.parse(frame(dict(good, grade_id=["g"])), {"g"}) == {}
    assert integrity.parse(frame(good, a0=np.ones(3), a1="text"), {"g"}) == {}     # a string beside the arrays
    nested = "[" * 100_000 + "]" * 100_000
    assert integrity.parse(frames.encode({"result": nested}), {"g"}) == {}
    twice = frame(good, a0=np.ones(3)) + frame(good, a0=np.zeros(3))
    assert integrity.parse(twice, {"g"})["g"][1]["a0"].tolist() == [1, 1, 1]   # the first frame counts
    assert integrity.parse(b"\0" * (integrity.RESULT_BYTES + 1), {"g"}) == {}


# --- a PostgreSQL gradebook ----------------------------------------------------------------------

def _needs(what):
    """Skip without ``what`` on a user's machine; fail under CI=true, where everything must be there."""
    message = f"{what} is not available: the PostgreSQL gradebook test needs it"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{message} (CI=true: every prerequisite must be installed)")
    pytest.skip(message)


def _postgres_bin():
    import glob

    for folder in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if os.path.exists(os.path.join(folder, "initdb")):
            return folder
    return None


@pytest.fixture(scope="session")
def postgres_url():
    """A throwaway PostgreSQL server on a unix socket; its database URL."""
    import pwd
    import socket
    import tempfile

    require("psycopg2", "the PostgreSQL gradebook test needs psycopg2-binary")
    folder = _postgres_bin()
    if folder is None:
        _needs("PostgreSQL (initdb, pg_ctl: apt-get install postgresql)")
    as_user = []
    home = Path(tempfile.mkdtemp(prefix="autograder-pg-"))
    if os.geteuid() == 0:  # the server refuses to run as root
        try:
            account = pwd.getpwnam("postgres")
        except KeyError:
            _needs("a 'postgres' account to run the server as")
        os.chown(home, account.pw_uid, account.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    home.chmod(0o755)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    data = home / "data"
    subprocess.run([*as_user, f"{folder}/initdb", "-D", str(data), "-A", "trust", "-U", "grader"],
                   check=True, capture_output=True)
    subprocess.run([*as_user, f"{folder}/pg_ctl", "-D", str(data), "-w", "-l", str(home / "log"), "-o",
                    f"-k {home} -p {port} -c listen_addresses=''", "start"], check=True, capture_output=True)
    try:
        subprocess.run([*as_user, f"{folder}/createdb", "-h", str(home), "-p", str(port), "-U", "grader",
                        "gradebook"], check=True, capture_output=True)
        yield f"postgresql+psycopg2://grader@/gradebook?host={home}&port={port}"
    finally:
        subprocess.run([*as_user, f"{folder}/pg_ctl", "-D", str(data), "-m", "immediate", "stop"],
                       capture_output=True)
        shutil.rmtree(home, ignore_errors=True)


def test_grades_merge_into_a_postgresql_gradebook(postgres_url, tmp_path):
    from nbgrader.api import Gradebook

    subset = tmp_path / "submitted"
    for student in ("alice_correct", "dave_stub"):
        shutil.copytree(SAMPLES / student / "a1_conv_forward", subset / student / "a1_conv_forward")
    course = make_course(tmp_path / "course")
    result = subprocess.run([sys.executable, "-m", "autograder", "grade", "a1_conv_forward", "--submitted",
                             str(subset), "--jobs", "2", "--db", postgres_url,
                             "--quiet", *LIMITS], cwd=course, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    with Gradebook(postgres_url, course_id="cnn-backprop") as gb:
        scores = {s: gb.find_grade("test_conv_forward_naive", "conv_forward", "a1_conv_forward", s).auto_score
                  for s in ("alice_correct", "dave_stub")}
    assert scores == {"alice_correct": 6.0, "dave_stub": 0.0}
    assert not (course / "gradebook.db").exists()


# --- a bug charged once, where it is; the method graded where it is the lesson -------------------

NO_BIAS = ("\n_with_bias = conv_forward_naive\n\n\ndef conv_forward_naive(x, w, b, conv_param):\n"
           "    out, cache = _with_bias(x, w, b, conv_param)\n    return out - b[None, :, None, None], cache\n")
THROUGH_THE_LOOPS = "def conv_backward_flipped(dout, cache):\n    return conv_backward_naive(dout, cache)\n"


def _solved(assignment, changes):
    """The lesson of ``assignment`` with the instructor's code in every solution cell, then
    ``changes`` ({grade_id: new source, or a function of the solution's source})."""
    path = next((ROOT / "lessons" / assignment).glob("*.ipynb"))
    lesson = read_notebook(path)
    solution = read_notebook(ROOT / "solutions" / assignment / path.name)
    answers = {nbgrader_meta(c)["grade_id"]: c.source for c in solution.cells
               if nbgrader_meta(c).get("solution") and c.cell_type == "code"}
    for c in lesson.cells:
        grade_id = nbgrader_meta(c).get("grade_id")
        if grade_id in answers:
            change = changes.get(grade_id, lambda source: source)
            c.source = change(answers[grade_id]) if callable(change) else change
    return path.name, lesson


def test_an_a1_bug_costs_points_in_a1_only_and_the_flipped_method_is_graded(tmp_path):
    """Through the real pipeline (kernel and re-check): erin's conv_forward_naive drops the bias in
    a1 and in the copy she pastes into a2; fred's conv_backward_flipped calls the loop version."""
    submitted = tmp_path / "submitted"
    notebooks = {("erin", "a1_conv_forward"): {"conv_forward_naive": lambda s: s + NO_BIAS},
                 ("erin", "a2_conv_backward"): {"conv_forward_naive": lambda s: s + NO_BIAS},
                 ("fred", "a2_conv_backward"): {"conv_backward_flipped": THROUGH_THE_LOOPS}}
    for (student, assignment), changes in notebooks.items():
        name, nb = _solved(assignment, changes)
        (submitted / student / assignment).mkdir(parents=True)
        nbformat.write(nb, str(submitted / student / assignment / name))
    grade_cli(ROOT, submitted, 2, "--out", str(tmp_path / "out"), "--dry-run")
    rows = {(r["student"], r["grade_id"]): r for r in read_csv(tmp_path / "out" / "grades.csv")
            if r["grade_id"].startswith("test_")}
    assert float(rows["erin", "test_conv_forward_naive"]["score"]) < 6
    for grade_id in ("test_conv_backward_naive", "test_conv_backward_flipped", "test_nhwc_conv_forward",
                     "test_nhwc_conv_backward"):
        row = rows["erin", grade_id]
        assert row["score"] == row["max_score"] and not row["flags"], row
        assert (rows["fred", grade_id]["score"] == rows["fred", grade_id]["max_score"]) == \
            (grade_id != "test_conv_backward_flipped")
    assert float(rows["fred", "test_conv_backward_flipped"]["score"]) == 0
    feedback = "\n".join(p.read_text() for p in (tmp_path / "out").rglob("*.html") if "fred" in str(p))
    assert "conv_backward_naive is switched off while conv_backward_flipped is graded" in feedback


def _halved(name, index=None):
    """Source appended to a solution cell: ``name`` then returns half its result (or of item ``index``)."""
    half = "value * 0.5" if index is None else f"(*value[:{index}], value[{index}] * 0.5, *value[{index} + 1:])"
    return (f"\n_right_{name} = {name}\n\n\ndef {name}(*args):\n    value = _right_{name}(*args)\n"
            f"    return {half}\n")


NHWC_THROUGH_NCHW = """
def conv_backward(dZ, cache):
    A_prev, W, b, hparameters = cache
    nchw = (A_prev.transpose(0, 3, 1, 2), W.transpose(3, 2, 0, 1), b.reshape(-1), hparameters)
    dx, dw, db = conv_backward_naive(dZ.transpose(0, 3, 1, 2), nchw)
    return dx.transpose(0, 2, 3, 1), dw.transpose(2, 3, 1, 0), db.reshape(1, 1, 1, -1)
"""
# per notebook: (the bug's solution cell and change, the test cell it costs, the other cells that
# call the buggy function and keep full marks)
IN_NOTEBOOK = {
    "a2_conv_backward": ({"conv_backward_naive": lambda s: s + _halved("conv_backward_naive", 0),
                          "nhwc_conv_backward": NHWC_THROUGH_NCHW},
                         "test_conv_backward_naive", ("test_nhwc_conv_backward", "test_conv_backward_flipped")),
    "a4_im2col": ({"col2im_indices": lambda s: s + _halved("col2im_indices")},
                  "test_col2im_indices", ("test_conv_backward_im2col", "test_max_pool_backward_im2col")),
    "a5_small_cnn": ({"conv_relu_pool_forward": lambda s: s + _halved("conv_relu_pool_forward", 0)},
                     "test_conv_relu_pool_forward", ("test_ThreeLayerConvNet", "test_conv_relu_pool_backward")),
}


def test_a_bug_costs_points_in_its_own_function_only_within_a_notebook_too(tmp_path):
    """Through the real pipeline (kernel and re-check): a bug in one graded function of a notebook
    costs points there; the notebook's other graded functions that call it see the reference."""
    submitted = tmp_path / "submitted"
    for assignment, (changes, _, _) in IN_NOTEBOOK.items():
        name, nb = _solved(assignment, changes)
        (submitted / "hana" / assignment).mkdir(parents=True)
        nbformat.write(nb, str(submitted / "hana" / assignment / name))
    grade_cli(ROOT, submitted, 2, "--out", str(tmp_path / "out"), "--dry-run")
    rows = {r["grade_id"]: r for r in read_csv(tmp_path / "out" / "grades.csv")}
    for assignment, (_, costs, callers) in IN_NOTEBOOK.items():
        assert float(rows[costs]["score"]) < float(rows[costs]["max_score"]), (assignment, rows[costs])
        for grade_id in callers:
            assert rows[grade_id]["score"] == rows[grade_id]["max_score"] and not rows[grade_id]["flags"], \
                (assignment, rows[grade_id])


def _loop_evasions(loops):
    """Ways to reach the student's loop version (``loops``: the source of their conv_backward_naive)
    in conv_backward_flipped without the name conv_backward_naive."""
    def named(name):
        return loops.replace("def conv_backward_naive", f"def {name}")
    return {"copy": named("conv_backward_flipped"),
            "default argument": named("mine") + "\n\ndef conv_backward_flipped(dout, cache, _loops=mine):\n"
                                                "    return _loops(dout, cache)\n",
            "partial": named("mine") + "\n\nimport functools\nconv_backward_flipped = functools.partial(mine)\n",
            "exec": f"exec({named('conv_backward_flipped')!r})\n"}


def test_the_flipped_method_is_graded_by_what_the_code_does_in_both_runs(tmp_path):
    """Through the real pipeline: each way around the name rule scores 0 with the method's sentence
    (kernel and re-check: the re-check's feedback is what the student reads); the solution keeps 8/8."""
    submitted = tmp_path / "submitted"
    solution = read_notebook(ROOT / "solutions" / "a2_conv_backward" / "conv_backward.ipynb")
    loops = next(c.source for c in solution.cells if nbgrader_meta(c).get("grade_id") == "conv_backward_naive")
    students = {f"way{k}": source for k, source in enumerate(_loop_evasions(loops).values())}
    for student, source in {**students, "solved": None}.items():
        name, nb = _solved("a2_conv_backward", {} if source is None else {"conv_backward_flipped": source})
        (submitted / student / "a2_conv_backward").mkdir(parents=True)
        nbformat.write(nb, str(submitted / student / "a2_conv_backward" / name))
    grade_cli(ROOT, submitted, 2, "--out", str(tmp_path / "out"), "--dry-run")
    rows = {r["student"]: r for r in read_csv(tmp_path / "out" / "grades.csv")
            if r["grade_id"] == "test_conv_backward_flipped"}
    assert rows["solved"]["score"] == rows["solved"]["max_score"] and not rows["solved"]["flags"]
    for student in students:
        assert float(rows[student]["score"]) == 0 and "tampered" not in rows[student]["flags"], rows[student]
        page = (tmp_path / "out" / "feedback" / f"{student}.html").read_text()
        assert "conv_backward_flipped loops over output positions" in page, student


BORROWED_NETWORK = ("import importlib\n"
                    "ThreeLayerConvNet = importlib.import_module('cnn_utils.refer' + 'ence.cnn').ThreeLayerConvNet\n")


def test_a_later_assignment_cannot_borrow_its_own_reference_from_the_earlier_ones(tmp_path):
    """Attack on the per-assignment re-check library: a5's re-check holds a4's reference modules,
    so gwen (a hidden import the source check cannot read) takes a5's network from the reference.
    The kernel's run gives her full marks; the re-check has no cnn_utils.reference.cnn, so the
    cell scores 0, flagged; her honest sandwich functions keep theirs."""
    submitted = tmp_path / "submitted"
    name, nb = _solved("a5_small_cnn", {"ThreeLayerConvNet": BORROWED_NETWORK})
    (submitted / "gwen" / "a5_small_cnn").mkdir(parents=True)
    nbformat.write(nb, str(submitted / "gwen" / "a5_small_cnn" / name))
    grade_cli(ROOT, submitted, 1, "--out", str(tmp_path / "out"), "--dry-run")
    rows = {r["grade_id"]: r for r in read_csv(tmp_path / "out" / "grades.csv")}
    stolen = rows["test_ThreeLayerConvNet"]
    assert float(stolen["score"]) == 0, stolen
    assert {"tampered", "forbidden-import"} <= set(stolen["flags"].split(";")), stolen
    for grade_id in ("test_conv_relu_pool_forward", "test_conv_relu_pool_backward"):
        assert rows[grade_id]["score"] == rows[grade_id]["max_score"], rows[grade_id]


# --- a worker that dies, a machine without a sandbox ---------------------------------------------

class _FakeWorker:
    """Stands in for grade.Worker: scores 1, or kills its own process for the student 'killer'."""

    limits = sandbox.Limits()

    def __init__(self, *args):
        pass

    def grade(self, submission):
        if submission.student == "killer":
            os._exit(9)
        return NotebookResult(submission.student, submission.assignment, submission.notebook,
                              [CellResult("g", 1.0, 1.0)])


def test_a_dead_worker_is_replaced_and_only_its_killer_is_flagged(monkeypatch):
    from autograder import pipeline

    monkeypatch.setattr(pipeline, "Worker", _FakeWorker)
    plans = {"a": {"nb": [GradedCell("g", 1.0)]}}
    names = ["ann", "ben", "killer", "cid", "dan", "eve"]
    found = [discover.Submission(name, "a", "nb", Path("/dev/null")) for name in names]
    results = pipeline.grade_all(found, plans, None, sandbox.Limits(), None, jobs=2, progress=False)
    assert [r.student for r in results] == sorted(names)
    scores = {r.student: (r.cells[0].score, r.flags) for r in results}
    assert scores.pop("killer") == (0.0, ["grader-crashed"])
    assert scores == {name: (1.0, []) for name in names if name != "killer"}


def test_grading_refuses_without_a_sandbox_unless_told(tmp_path):
    submitted = tmp_path / "submitted"
    shutil.copytree(SAMPLES / "alice_correct" / "a1_conv_forward", submitted / "alice_correct" / "a1_conv_forward")
    no_bwrap = dict(os.environ, PATH=str(Path(sys.executable).parent))
    command = [sys.executable, "-m", "autograder", "grade", "a1_conv_forward", "--submitted", str(submitted),
               "--quiet", "--dry-run", *LIMITS]
    refused = subprocess.run([*command, "--out", str(tmp_path / "refused")], cwd=ROOT, env=no_bwrap,
                             capture_output=True, text=True, timeout=120)
    assert refused.returncode != 0 and "bubblewrap" in refused.stderr and "--unsafe-no-sandbox" in refused.stderr
    assert not (tmp_path / "refused" / "grades.csv").exists()
    unsafe = subprocess.run([*command, "--out", str(tmp_path / "unsafe"), "--unsafe-no-sandbox"], cwd=ROOT,
                            env=no_bwrap, capture_output=True, text=True, timeout=600)
    assert unsafe.returncode == 0, unsafe.stderr
    assert "WITHOUT a sandbox" in unsafe.stderr
    rows = read_csv(tmp_path / "unsafe" / "grades.csv")
    assert [(r["score"], r["flags"]) for r in rows] == [("6", "unsandboxed"),
                                                        ("", "needs-manual-grading;unsandboxed")]


def test_nbgraders_log_of_a_notebook_it_could_not_grade_is_kept_for_the_instructor(batch):
    out, rows, output, _, _ = batch
    died = {(r["student"], r["assignment"]) for r in rows if "kernel-died" in r["flags"].split(";")}
    assert died
    for student, assignment in died:
        [log] = (out / "logs").glob(f"{student}_{assignment}_*.log")
        assert "DeadKernelError" in log.read_text() and str(log) in output


# --- written answers: scored by nbgrader's own rule, never lost ---------------------------------

WRITTEN = GradedCell("q_floor_case", 2.0, manual=True)


@pytest.mark.parametrize("answer, waits", [
    (None, False),                    # handed in as released: 0, as nbgrader's autograde scores it
    ("Row 7 is never read.", True),
    ("", True),                       # emptied: nbgrader lists it too (the grader gives 0 by hand)
])
def test_a_written_answer_is_scored_as_nbgrader_scores_it(answer, waits):
    from autograder.grade import BLANK_TEXT, MANUAL, _written

    release, submitted = lesson(), lesson()
    if answer is not None:
        cell(submitted, "q_floor_case").source = answer
    result = _written(WRITTEN, release, structure.repair(release, submitted))
    assert result.manual and result.max_score == 2
    if waits:
        assert result.score is None and result.flags == [MANUAL]
    else:
        assert (result.score, result.flags, result.feedback) == (0, [], BLANK_TEXT)


def test_a_deleted_answer_scores_0_and_one_retyped_as_code_still_reaches_manual_grading():
    from autograder.grade import _written

    release = lesson()
    deleted = lesson()
    deleted.cells.remove(cell(deleted, "q_floor_case"))
    assert _written(WRITTEN, release, structure.repair(release, deleted)).score == 0
    retyped = lesson()
    answer = cell(retyped, "q_floor_case")
    answer.cell_type, answer.outputs, answer.execution_count, answer.source = "code", [], None, "Row 7."
    assert structure.changes(release, retyped) == ["metadata-changed"]
    repaired = structure.repair(release, retyped)
    back = cell(repaired, "q_floor_case")
    assert back.cell_type == "markdown" and back.source == "Row 7." and "outputs" not in back
    assert nbgrader_meta(back) == nbgrader_meta(cell(release, "q_floor_case"))
    nbformat.validate(repaired)
    assert _written(WRITTEN, release, repaired).score is None


def test_a_submission_that_breaks_the_grader_still_sends_its_answer_to_manual_grading(tmp_path, capsys):
    """grader-error: the code scores 0; the written answer (nothing to run) still waits."""
    import itertools
    from types import SimpleNamespace

    from autograder.grade import MANUAL, Worker

    (tmp_path / "lessons" / "a1_conv_forward").mkdir(parents=True)
    shutil.copy(LESSON_A1, tmp_path / "lessons" / "a1_conv_forward")
    answered = lesson()
    cell(answered, "q_floor_case").source = "Row 7 is never read."
    nbformat.write(answered, str(tmp_path / "ann.ipynb"))

    def broken(*args):
        raise RuntimeError("the grader broke")

    worker = object.__new__(Worker)   # no kernel, no sandbox: only the fallback runs
    cells = graded_cells(ROOT / "solutions" / "a1_conv_forward" / "conv_forward.ipynb")
    worker.plans = {"a1_conv_forward": {"conv_forward": cells}}
    worker.limits = SimpleNamespace(sandbox=True)
    worker.course, worker.ids, worker._grade = tmp_path, (f"s{n}" for n in itertools.count()), broken
    worker.defences = ["bwrap", "recheck"]
    result = worker.grade(discover.Submission("ann", "a1_conv_forward", "conv_forward", tmp_path / "ann.ipynb"))
    assert "the grader broke" in capsys.readouterr().err
    code, written = result.cells
    assert (code.score, code.flags) == (0.0, ["grader-error"])
    assert written.score is None and written.flags == ["grader-error", MANUAL]
    assert result.defences == ["bwrap", "recheck"]   # its rows still say what would have confined it
    missing = worker.grade(discover.Submission("bo", "a1_conv_forward", "conv_forward", None, ["missing"]))
    assert [(c.score, c.flags) for c in missing.cells] == [(0.0, ["missing"]), (0.0, ["missing"])]


# --- attack: the reference through the feedback the course keeps --------------------------------

LEAK = ("\nimport importlib, inspect\n"
        "_source = inspect.getsource(importlib.import_module('cnn_utils.refer' + 'ence.conv_forward'))\n"
        "print(_source)\n"
        "_honest = conv_forward_naive\n\n\n"
        "def conv_forward_naive(x, w, b, conv_param):\n"
        "    print(_source)\n"
        "    return _honest(x, w, b, conv_param)\n")


def _all_text(nb):
    return "\n".join([c.source for c in nb.cells] + [o.get("text", "") + json.dumps(o.get("data", {}))
                                                     for c in nb.cells for o in c.get("outputs", [])])


def test_the_reference_printed_in_the_kernel_never_reaches_the_course_or_the_feedback(tmp_path):
    """Attack on the autograded notebook the course keeps: in the grading kernel the reference is
    importable, so hana prints its source from her own cell and from her graded function, hoping
    that nbgrader's feedback, made from the course's autograded notebook, hands it back. Graded
    through the real pipeline into a course, then `nbgrader generate_feedback`: no line of the
    reference that her notebook does not already hold is in her autograded notebook, in nbgrader's
    feedback page or in the report's."""
    import html

    from autograder.course import nbgrader

    course = make_course(tmp_path / "course")
    name, nb = _solved("a1_conv_forward", {"conv_forward_naive": lambda source: source + LEAK})
    (course / "submitted" / "hana" / "a1_conv_forward").mkdir(parents=True)
    nbformat.write(nb, str(course / "submitted" / "hana" / "a1_conv_forward" / name))
    grade_cli(course, course / "submitted", 1)
    nbgrader(["generate_feedback", "a1_conv_forward"], course)
    mine = _all_text(nb)
    secret = [line.strip() for line in (ROOT / "cnn_utils" / "reference" / "conv_forward.py").read_text().splitlines()
              if len(line.strip()) > 25 and line.strip() not in mine]
    assert len(secret) >= 5, "the attack needs reference lines that the notebook does not hold"
    [page] = (course / "feedback" / "hana" / "a1_conv_forward").glob("*.html")
    autograded = read_notebook(course / "autograded" / "hana" / "a1_conv_forward" / name)
    kept = {"autograded notebook": (_all_text(autograded), "Graded: "),
            "nbgrader feedback": (html.unescape(page.read_text()), "Graded: "),
            "report feedback": (html.unescape((course / "reports" / "feedback" / "hana.html").read_text()),
                                "test_conv_forward_naive: ")}
    for where, (text, verdict) in kept.items():
        assert verdict in text, f"the {where} lacks the verdict"
        leaked = [line for line in secret if line in text]
        assert not leaked, f"the {where} holds the reference: {leaked[:3]}"


ODD_PARAMS = '''

_Solved = ThreeLayerConvNet


class ThreeLayerConvNet(_Solved):   # a 7-d W2, no b2: the init array must not break the grader
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.params["W2"] = np.zeros((1,) * 7)
        del self.params["b2"]
'''


def test_a_network_with_odd_parameters_loses_its_points_only_and_is_told_their_shapes(tmp_path):
    """Through the real command: mallory's ThreeLayerConvNet builds params no driver expects; she
    loses points there, her feedback reads the shapes back, alice (the solution) keeps full marks."""
    path = ROOT / "solutions" / "a5_small_cnn" / "small_cnn.ipynb"
    submitted = tmp_path / "submitted"
    for student in ("alice", "mallory"):
        nb = nbformat.read(path, as_version=4)
        if student == "mallory":
            [code] = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "ThreeLayerConvNet"]
            code.source += ODD_PARAMS
        (submitted / student / "a5_small_cnn").mkdir(parents=True)
        nbformat.write(nb, submitted / student / "a5_small_cnn" / path.name)
    course = make_course(tmp_path / "course")
    grade_cli(course, submitted, 2)
    rows = read_csv(course / "reports" / "grades.csv")
    total = {s: sum(float(r["score"] or 0) for r in rows if r["student"] == s) for s in ("alice", "mallory")}
    full = sum(float(r["max_score"] or 0) for r in rows if r["student"] == "alice" and r["score"])
    assert total["alice"] == pytest.approx(full) and 0 < total["mallory"] < full, total
    page = html.unescape((course / "reports" / "feedback" / "mallory.html").read_text())
    assert "W2 has shape (1, 1, 1, 1, 1, 1, 1), expected (18, 4); params['b2'] is missing" in page


def with_helpers_named(source, names):
    """``source`` (a solution cell) whose every function and method first calls each helper in
    ``names`` it does not bind itself: a lesson cell that rebinds one breaks the call."""
    tables = symtable.symtable(source, "cell", "exec").get_children()
    local = {}
    for table_ in tables:
        for inner in ([table_] if table_.get_type() == "function" else table_.get_children()):
            local[inner.get_lineno()] = set(inner.get_identifiers()) & set(inner.get_locals())
    lines = source.split("\n")
    functions = [node for top in ast.parse(source).body
                 for node in ([top] if isinstance(top, ast.FunctionDef) else getattr(top, "body", []))
                 if isinstance(node, ast.FunctionDef)]
    for node in sorted(functions, key=lambda n: n.lineno, reverse=True):
        first = node.body[1 if ast.get_docstring(node) and len(node.body) > 1 else 0]
        calls = [f"{name}()" for name in names if name not in local.get(node.lineno, set())]
        lines.insert(first.lineno - 1, " " * first.col_offset + f"assert [{', '.join(calls)}] == [0] * {len(calls)}")
    return "\n".join(lines)


def test_helpers_named_like_every_name_of_a_lesson_cell_keep_full_marks_and_no_flag(tmp_path):
    """Each lesson's model answer, whose first solution cell also defines a helper named like every
    name the later lesson cells bind (pad, x, im2col, ...: once globals, the false fails of the
    real students' review) and whose functions call them all first: full marks and no flag."""
    from lesson_names import is_code_solution, module_bindings, names_lesson_cells_use

    submitted = tmp_path / "submitted"
    for path in sorted((ROOT / "lessons").glob("*/*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        answers = {nbgrader_meta(cell)["grade_id"]: cell.source for cell in
                   read_notebook(ROOT / "solutions" / path.relative_to(ROOT / "lessons")).cells
                   if is_code_solution(cell)}
        solutions = [cell for cell in nb.cells if is_code_solution(cell)]
        own = {name for cell in solutions for name, _ in module_bindings(answers[nbgrader_meta(cell)["grade_id"]])}
        names = [name for name in names_lesson_cells_use(nb) if name not in own]
        for cell in solutions:
            cell.source = with_helpers_named(answers[nbgrader_meta(cell)["grade_id"]], names)
        solutions[0].source += "\n\n" + "\n".join(f"def {name}():\n    return 0" for name in names)
        (submitted / "helpers" / path.parent.name).mkdir(parents=True)
        nbformat.write(nb, submitted / "helpers" / path.parent.name / path.name)
    course = make_course(tmp_path / "course")
    grade_cli(course, submitted, 2)
    rows = read_csv(course / "reports" / "grades.csv")
    graded = [r for r in rows if r["score"] and r["grade_id"].startswith("test_")]
    assert len({r["assignment"] for r in graded}) == 6
    wrong = [(r["assignment"], r["grade_id"], r["score"], r["max_score"], r["flags"]) for r in graded
             if float(r["score"]) != float(r["max_score"]) or r["flags"]]
    assert not wrong


def test_a_verdict_is_wrapped_for_pages_that_do_not_wrap_it():
    """nbgrader's formgrader and feedback pages show a test cell's output unwrapped: the verdict's
    lines are broken at spaces, every word kept in order, short lines left exactly as they were."""
    from cnn_utils.grading.mistakes import MISTAKES

    long = f"  Likely mistake (explains 12 of 20 wrong out): {MISTAKES['stride_ignored'].hint}"
    printed = "[[ 1.  2.]\n [ 3.  4.]]"
    text = feedback.verdict(CellResult("test_conv_forward_naive", 2.4, 6, ["tampered"], f"{long}\n{printed}"))
    assert max(map(len, text.splitlines())) <= feedback.VERDICT_WIDTH < len(long)
    assert text.split() == (feedback.verdict(CellResult("test_conv_forward_naive", 2.4, 6, ["tampered"], ""))
                            .replace("(no output)", f"{long}\n{printed}")).split()
    assert printed in text
    lines = text.splitlines()
    after = lines[next(k for k, line in enumerate(lines) if "Likely mistake" in line) + 1]
    assert after.startswith(" " * 6) and after[6] != " "   # under the hint's indent (2) plus four


def test_a_student_who_marks_every_cell_a_showcase_skips_no_test(tmp_path):
    """Attack on the showcase skip, through the real command: mallory hands in bob's wrong a1 with
    every code cell (her solution and the test cells too) carrying a showcase record whose hash
    matches, hoping the graders skip the tests or her code. Test cells are the release's again
    after the repair and are never showcases; a skipped solution only loses her points. She
    scores what bob scores, never more; bob and alice are unchanged."""
    from autograder import metadata

    require_sandbox()
    submitted = tmp_path / "submitted"
    for student in ("alice_correct", "bob_mistakes"):
        shutil.copytree(SAMPLES / student / "a1_conv_forward", submitted / student / "a1_conv_forward")
    path = submitted / "mallory" / "a1_conv_forward" / "conv_forward.ipynb"
    shutil.copytree(SAMPLES / "bob_mistakes" / "a1_conv_forward", path.parent)
    nb = read_notebook(path)
    for code in (c for c in nb.cells if c.cell_type == "code"):
        code.metadata[metadata.KEY] = {metadata.SHOWCASE: metadata.digest(code.source)}
        code.metadata["tags"] = [metadata.SHOWCASE]
    nbformat.write(nb, str(path))
    grade_cli(ROOT, submitted, 2, "--out", str(tmp_path / "out"), "--dry-run")
    scores = {r["student"]: float(r["score"]) for r in read_csv(tmp_path / "out" / "grades.csv")
              if r["grade_id"] == "test_conv_forward_naive"}
    assert scores["alice_correct"] == 6 and scores["mallory"] <= scores["bob_mistakes"] < 6, scores

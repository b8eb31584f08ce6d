"""Regenerate the sample submissions in this folder from lessons/ and the snippets below.

    python autograder/samples/make_samples.py

Every sample is a student folder <student>/<assignment>/<notebook>.ipynb in
nbgrader's submitted layout, and ``expected.json`` records what grading must
give it: the score and the flags of every graded cell. Students: one correct,
three with typical mistakes, the rest hostile or broken (``h_`` prefix).
"""

import json
import shutil
import sys
from pathlib import Path

import nbformat

HERE = Path(__file__).resolve().parent
LESSONS = HERE.parents[1] / "lessons"
A1, A3 = "a1_conv_forward", "a3_pooling"
NOTEBOOK = {A1: "conv_forward", A3: "pooling"}
WRITTEN = {A1: "q_floor_case", A3: "q_mask_overcounts"}   # each lesson's written answer cell
ANSWER = "Row 7 is never read; its gradient is exactly zero, which is right; pad = 1 reaches it."
CELL_ONLY_FLAGS = {"tampered", "not-rechecked"}           # flags of one graded cell, not of its notebook
STUB = "    # YOUR CODE HERE\n    raise NotImplementedError()"

# --- the student's code: function bodies that replace the stub lines ------------------------------

CONV = """\
    stride, pad = conv_param["stride"], conv_param["pad"]
    dil = conv_param.get("dilation", 1)
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    H_out = (H + 2 * pad - dil * (HH - 1) - 1) // stride + 1
    W_out = (W + 2 * pad - dil * (WW - 1) - 1) // stride + 1
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    out = np.zeros((N, F, H_out, W_out), dtype=np.result_type(x, w))
    for i in range(H_out):
        for j in range(W_out):
            r, c = {row}, {col}
            patch = xp[:, :, r:r + dil * (HH - 1) + 1:dil, c:c + dil * (WW - 1) + 1:dil]
            out[:, :, i, j] = np.tensordot(patch, w, axes=([1, 2, 3], [1, 2, 3])){bias}"""
CONV_RIGHT = CONV.format(row="i * stride", col="j * stride", bias=" + b")
CONV_NO_STRIDE = CONV.format(row="i", col="j", bias=" + b")
CONV_NO_BIAS = CONV.format(row="i * stride", col="j * stride", bias="")
ZEROS_OF_RIGHT_SHAPE = """\
    stride, pad, dil = conv_param["stride"], conv_param["pad"], conv_param.get("dilation", 1)
    H_out = (x.shape[2] + 2 * pad - dil * (w.shape[2] - 1) - 1) // stride + 1
    W_out = (x.shape[3] + 2 * pad - dil * (w.shape[3] - 1) - 1) // stride + 1
    out = np.zeros((x.shape[0], w.shape[0], H_out, W_out), dtype=x.dtype)"""

POOL_WINDOWS = """\
    ph, pw, s = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    H_out, W_out = (x.shape[2] - ph) // s + 1, (x.shape[3] - pw) // s + 1"""
MAX_FORWARD = POOL_WINDOWS + """
    out = np.zeros(x.shape[:2] + (H_out, W_out), dtype=x.dtype)
    for i in range(H_out):
        for j in range(W_out):
            out[:, :, i, j] = x[:, :, i * s:i * s + ph, j * s:j * s + pw].max(axis=(2, 3))"""
AVG_FORWARD = MAX_FORWARD.replace(".max(axis=(2, 3))", ".mean(axis=(2, 3))")
MAX_BACKWARD = """\
    x, pool_param = cache
    ph, pw, s = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    dx = np.zeros_like(x)
    for n in range(dout.shape[0]):
        for ch in range(dout.shape[1]):
            for i in range(dout.shape[2]):
                for j in range(dout.shape[3]):
                    window = x[n, ch, i * s:i * s + ph, j * s:j * s + pw]
{route}"""
FIRST_MAX = """\
                    k, l = np.unravel_index(np.argmax(window), window.shape)
                    dx[n, ch, i * s + k, j * s + l] += dout[n, ch, i, j]"""
ALL_TIES = """\
                    dx[n, ch, i * s:i * s + ph, j * s:j * s + pw] += (window == window.max()) * dout[n, ch, i, j]"""
AVG_BACKWARD = """\
    x, pool_param = cache
    ph, pw, s = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    dx = np.zeros_like(x)
    for i in range(dout.shape[2]):
        for j in range(dout.shape[3]):
            dx[:, :, i * s:i * s + ph, j * s:j * s + pw] += dout[:, :, i, j][:, :, None, None]{scale}"""
POOL_RIGHT = {"max_pool_forward_naive": MAX_FORWARD,
              "max_pool_backward_naive": MAX_BACKWARD.format(route=FIRST_MAX),
              "avg_pool_forward_naive": AVG_FORWARD,
              "avg_pool_backward_naive": AVG_BACKWARD.format(scale=" / (ph * pw)")}
POOL_MISTAKES = dict(POOL_RIGHT, max_pool_backward_naive=MAX_BACKWARD.format(route=ALL_TIES),
                     avg_pool_backward_naive=AVG_BACKWARD.format(scale=""))

# --- hostile code ---------------------------------------------------------------------------------

INFINITE_LOOP = "    while True:\n        pass"
MEMORY_BOMB = "    hog = np.ones(2**31)   # 16 GiB, every byte written\n    out = hog[:1]"
SYS_EXIT = "    import sys\n    sys.exit('no more grading')"
OS_EXIT = "    import os\n    os._exit(3)"
STDERR = CONV_RIGHT + """
    import os, sys
    print("debug: conv done", file=sys.stderr)
    os.write(2, b"raw descriptor 2 output\\n")"""
PATCH_NUMPY = """\
np.allclose = lambda *args, **kwargs: True
np.testing.assert_allclose = lambda *args, **kwargs: None
np.testing.assert_array_almost_equal = lambda *args, **kwargs: None
_real_abs = np.abs
np.abs = lambda a, *args, **kwargs: _real_abs(a) * 0   # every difference looks like zero
"""
PATCH_GRADER = """\
import cnn_utils.grading
import cnn_utils.grading.runner
cnn_utils.grading.grade = cnn_utils.grading.runner.grade = lambda name, fn, points, **kw: points
"""
CUSTOM_EXC = """\
from IPython import get_ipython
get_ipython().set_custom_exc((BaseException,), lambda shell, etype, value, tb, tb_offset=None: None)
"""
REFERENCE = """
import importlib, importlib.util, os
def conv_forward_naive(x, w, b, conv_param):
    print("the reference was nowhere to be found")
    raise NotImplementedError
try:
    from cnn_utils.reference import conv_forward_naive            # the plain import
except ImportError:
    try:                                                          # a name no source scan sees
        conv_forward_naive = importlib.import_module("cnn_utils." + "refer" + "ence").conv_forward_naive
    except ImportError:                                           # the file itself, wherever it is
        import cnn_utils
        places = [os.path.dirname(cnn_utils.__file__)]
        places += [f"/proc/{pid}/cwd/cnn_utils" for pid in os.listdir("/proc") if pid.isdigit()]
        for place in places:
            path = os.path.join(place, "reference", "conv_naive.py")
            try:
                spec = importlib.util.spec_from_file_location("copied", path)
                module = importlib.util.module_from_spec(spec)
                spec.loader.exec_module(module)
            except Exception:
                continue
            conv_forward_naive = module.conv_forward_naive
            break
"""
HUGE_OUTPUT = "\nfor k in range(200_000):\n    print('spam line', k)\n"
STEAL = '''\
import glob, json, os
paths = glob.glob("../../../submitted/*/a1_conv_forward/*.ipynb") + glob.glob("../../*/a1_conv_forward/*.ipynb")
for pid in filter(str.isdigit, os.listdir("/proc")):          # where the grader runs, and what it was given
    try:
        places = [os.readlink(f"/proc/{pid}/cwd")] + open(f"/proc/{pid}/cmdline").read().split("\\0")
    except OSError:
        continue
    paths += [p for p in places if p.endswith(".ipynb")]
    paths += [f for place in places if place.startswith("/")
              for f in glob.glob(place + "/**/a1_conv_forward/*.ipynb", recursive=True)]
stolen = None
for path in paths:
    try:
        cells = json.load(open(path))["cells"]
    except Exception:
        continue
    for cell in cells:
        text = "".join(cell["source"])
        if "def conv_forward_naive" in text and "NotImplementedError" not in text and "glob" not in text:
            stolen = text
if stolen:
    exec(stolen)
else:
    def conv_forward_naive(x, w, b, conv_param):
        print(f"found no classmate to copy from among {len(paths)} notebooks")
        raise NotImplementedError
'''


def lesson(assignment):
    return nbformat.read(str(LESSONS / assignment / f"{NOTEBOOK[assignment]}.ipynb"), as_version=4)


def meta(cell):
    return cell.metadata.get("nbgrader", {})


def cell_of(nb, grade_id):
    return next(c for c in nb.cells if meta(c).get("grade_id") == grade_id)


def fill(nb, bodies, before="", after=""):
    """Replace the stubs of the solution cells named in ``bodies``; optional top-level code around."""
    for grade_id, body in bodies.items():
        cell = cell_of(nb, grade_id)
        assert STUB in cell.source, grade_id
        cell.source = before + cell.source.replace(STUB, body) + after
    return nb


def a1(body, before="", after=""):
    return fill(lesson(A1), {"conv_forward_naive": body}, before, after)


def without(nb, grade_id):
    nb.cells.remove(cell_of(nb, grade_id))
    return nb


def edited(nb, grade_id, source):
    cell_of(nb, grade_id).source = source
    return nb


def metadata_changed(nb, grade_id):
    cell = cell_of(nb, grade_id)
    cell.metadata["nbgrader"] = dict(meta(cell), grade=False, locked=False, points=600)
    return nb


def duplicated(nb, *grade_ids):
    for grade_id in grade_ids:
        cell = cell_of(nb, grade_id)
        copy = nbformat.from_dict(json.loads(json.dumps(cell)))
        copy.id = f"{cell.id}-copy"
        nb.cells.insert(nb.cells.index(cell) + 1, copy)
    return nb


def cells(a1_score, flags=(), grade_id="test_conv_forward_naive"):
    return {grade_id: [a1_score, sorted(flags)]}


def answered(nb, assignment):
    """The notebook with its written answer filled in."""
    cell_of(nb, WRITTEN[assignment]).source = ANSWER
    return nb


def with_written(assignment, grades, answer=False):
    """``grades`` and the written answer's expected row: waiting for manual grading (score None)
    when answered, 0 when left blank; it carries the notebook's flags."""
    notebook_flags = set.intersection(*(set(flags) - CELL_ONLY_FLAGS for _, flags in grades.values()))
    if answer:
        return dict(grades, **{WRITTEN[assignment]: [None, sorted(notebook_flags | {"needs-manual-grading"})]})
    return dict(grades, **{WRITTEN[assignment]: [0, sorted(notebook_flags)]})


POOL_IDS = ("test_max_pool_forward_naive", "test_max_pool_backward_naive",
            "test_avg_pool_forward_naive", "test_avg_pool_backward_naive")

# student -> {assignment: (notebook contents or raw text, file name or None, {grade_id: [score, flags]})}
SAMPLES = {
    "alice_correct": {
        A1: (answered(a1(CONV_RIGHT), A1), None, with_written(A1, cells(6), answer=True)),
        A3: (answered(fill(lesson(A3), POOL_RIGHT), A3), None,
             with_written(A3, {g: [p, []] for g, p in zip(POOL_IDS, (4, 8, 4, 6), strict=True)}, answer=True)),
    },
    "bob_mistakes": {
        A1: (a1(CONV_NO_STRIDE), None, cells(2.4)),      # right only where stride is 1
        A3: (fill(lesson(A3), POOL_MISTAKES), None,      # ties all get the gradient; avg not divided
             {g: [p, []] for g, p in zip(POOL_IDS, (4, 4, 4, 0), strict=True)}),
    },
    "carol_no_bias": {A1: (a1(CONV_NO_BIAS), None, cells(0))},         # every case has a bias
    "dave_stub": {A1: (lesson(A1), None, cells(0))},
    "h_infinite_loop": {A1: (a1(INFINITE_LOOP), None, cells(0, ["timeout"]))},
    "h_memory_bomb": {A1: (a1(MEMORY_BOMB), None, cells(0, ["memory"]))},
    "h_sys_exit": {A1: (a1(SYS_EXIT), None, cells(0))},
    # the kernel dies in the last graded function: that cell scores 0, the others what they are worth
    "h_os_exit_one_cell": {A3: (fill(lesson(A3), dict(POOL_RIGHT, avg_pool_backward_naive=OS_EXIT)), None,
                                {g: [p, ["kernel-died"]] for g, p in zip(POOL_IDS, (4, 8, 4, 0), strict=True)})},
    "h_os_exit": {A1: (a1(OS_EXIT), None, cells(0, ["kernel-died"]))},
    "h_deleted_test_cell": {A1: (without(a1(CONV_RIGHT), "test_conv_forward_naive"), None,
                                 cells(6, ["cell-deleted"]))},
    "h_edited_test_cell": {A1: (edited(lesson(A1), "test_conv_forward_naive", "6"), None,
                                cells(0, ["cell-edited"]))},
    "h_changed_metadata": {A1: (metadata_changed(lesson(A1), "test_conv_forward_naive"), None,
                                cells(0, ["metadata-changed"]))},
    "h_duplicated_cells": {A1: (duplicated(a1(CONV_RIGHT), "conv_forward_naive", "test_conv_forward_naive"),
                                None, cells(6, ["duplicate-cells"]))},
    "h_invalid_json": {A1: ('{"cells": [ this is not json', None, cells(0, ["invalid-notebook"]))},
    "h_empty_file": {A1: ("", None, cells(0, ["invalid-notebook"]))},
    "h_missing_notebook": {A1: ("I will hand it in next week.\n", "notes.txt", cells(0, ["missing"]))},
    "h_renamed_notebook": {A1: (a1(CONV_RIGHT), "my_conv_forward_final", cells(6, ["renamed"]))},
    "h_monkeypatch_numpy": {A1: (a1(ZEROS_OF_RIGHT_SHAPE, before=PATCH_NUMPY), None, cells(0, ["tampered"]))},
    "h_monkeypatch_grader": {A1: (a1(STUB.replace("    # YOUR CODE HERE\n", ""), before=PATCH_GRADER), None,
                                  cells(0, ["forbidden-import", "tampered"]))},
    "h_custom_exc": {A1: (a1("    raise KeyboardInterrupt", before=CUSTOM_EXC), None, cells(0))},
    "h_reference_import": {A1: (a1(STUB, after="\n" + REFERENCE), None, cells(0, ["forbidden-import", "tampered"]))},
    "h_huge_output": {A1: (a1(CONV_RIGHT, after=HUGE_OUTPUT), None, cells(6))},
    "h_stderr": {A1: (a1(STDERR, before="import sys\nsys.stderr.write('top-level stderr\\n')\n"), None, cells(6))},
    "h_read_other_student": {A1: (edited(lesson(A1), "conv_forward_naive", STEAL), None, cells(0))},
}


def write(folder=HERE):
    """Write every sample and expected.json under ``folder`` (old student folders are replaced)."""
    folder = Path(folder)
    expected = {}
    for student, assignments in SAMPLES.items():
        shutil.rmtree(folder / student, ignore_errors=True)
        for assignment, (content, name, grades) in assignments.items():
            name = name or NOTEBOOK[assignment]
            path = folder / student / assignment / (name if "." in name else f"{name}.ipynb")
            path.parent.mkdir(parents=True)
            if isinstance(content, str):
                path.write_text(content)
            else:
                nbformat.write(content, str(path))
            expected.setdefault(student, {})[assignment] = grades if WRITTEN[assignment] in grades \
                else with_written(assignment, grades)
    (folder / "expected.json").write_text(json.dumps(expected, indent=1, sort_keys=True) + "\n")
    return expected


if __name__ == "__main__":
    write(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE)
    print(f"wrote {len(SAMPLES)} sample students to {sys.argv[1] if len(sys.argv) > 1 else HERE}")

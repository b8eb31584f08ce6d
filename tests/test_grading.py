"""cnn_utils.grading: what the nbgrader hidden tests call.

Correct student-style implementations (three or more per graded function) get
full points; each catalogued mistake, written as a student writes it, loses
points and receives its hint; hostile code (raising, exiting, warning, printing
to stderr, mutating its inputs, returning junk) is graded without anything
reaching stderr.
"""

import ast
import inspect
import pathlib
import subprocess
import sys
import warnings

import numpy as np
import pytest

from cnn_utils.grading import GRADED, MISTAKES, grade
from student_impls import coursera, conv, cols, hostile, network, pool, transpose
from cnn_utils.grading import network as network_module
from student_impls import buggy_network, buggy_orders
from student_impls.buggy import BUGGY, MADE, VARIANTS

CORRECT = {
    "conv_forward_naive": [conv.conv_forward_loops, conv.conv_forward_einsum, conv.conv_forward_strided],
    "conv_backward_naive": [conv.conv_backward_loops, conv.conv_backward_einsum, conv.conv_backward_full],
    "conv_backward_flipped": [conv.conv_backward_full, conv.conv_backward_flipped_per_sample,
                              conv.conv_backward_flipped_taps_dw],
    "max_pool_forward_naive": [pool.max_pool_forward_loops, pool.max_pool_forward_vectorized,
                               pool.max_pool_forward_strided],
    "max_pool_backward_naive": [pool.max_pool_backward_loops, pool.max_pool_backward_vectorized,
                                pool.max_pool_backward_strided],
    "avg_pool_forward_naive": [pool.avg_pool_forward_loops, pool.avg_pool_forward_vectorized,
                               pool.avg_pool_forward_strided],
    "avg_pool_backward_naive": [pool.avg_pool_backward_loops, pool.avg_pool_backward_vectorized,
                                pool.avg_pool_backward_taps],
    "im2col_indices": [cols.im2col_fancy, cols.im2col_loops, cols.im2col_strided],
    "col2im_indices": [cols.col2im_add_at, cols.col2im_loops, cols.col2im_taps],
    "conv_forward_im2col": [cols.conv_forward_im2col_fancy, cols.conv_forward_im2col_tensordot,
                            cols.conv_forward_im2col_strided],
    "conv_backward_im2col": [cols.conv_backward_im2col_add_at, cols.conv_backward_im2col_taps,
                             cols.conv_backward_im2col_tensordot],
    "max_pool_backward_im2col": [cols.max_pool_backward_im2col_argmax,
                                 cols.max_pool_backward_im2col_recompute,
                                 cols.max_pool_backward_im2col_strided],
    "conv_transpose_forward": [transpose.conv_transpose_forward_loops, transpose.conv_transpose_forward_taps,
                               transpose.conv_transpose_forward_full],
    "conv_transpose_backward": [transpose.conv_transpose_backward_loops,
                                transpose.conv_transpose_backward_taps,
                                transpose.conv_transpose_backward_conv],
    "nhwc.conv_forward": [coursera.conv_forward_loops, coursera.conv_forward_via_nchw,
                          coursera.conv_forward_taps],
    "nhwc.conv_backward": [coursera.conv_backward_loops, coursera.conv_backward_via_nchw,
                           coursera.conv_backward_taps],
    "conv_relu_pool_forward": [network.sandwich(way)[0] for way in network.WAYS],
    "conv_relu_pool_backward": [network.sandwich(way)[1] for way in network.WAYS],
    "ThreeLayerConvNet": [network.convnet(way) for way in network.WAYS] + [buggy_network.CORRECT_NETWORK],
}
BUGGY_BY_MISTAKE = {mistake: impl for mistake, _, impl in BUGGY}
CORRECT_CASES = [pytest.param(name, impl, id=f"{name}-{index}")
                 for name, impls in CORRECT.items() for index, impl in enumerate(impls)]


def graded(capfd, name, function, points=10, **options):
    """Run grade(); return (score, stdout), asserting that nothing reached stderr."""
    score = grade(name, function, points=points, **options)
    captured = capfd.readouterr()
    assert captured.err == "", f"grade() wrote to stderr: {captured.err!r}"
    return score, captured.out


# ------------------------------------------------------------------ correct code

def test_every_graded_name_has_three_different_correct_implementations():
    assert set(CORRECT) == set(GRADED)
    for name, impls in CORRECT.items():
        assert len({id(impl) for impl in impls}) >= 3, name


@pytest.mark.parametrize("name, impl", CORRECT_CASES)
def test_correct_implementation_gets_full_points(capfd, name, impl):
    score, out = graded(capfd, name, impl, points=7)
    assert score == 7.0, out
    assert "Likely mistake" not in out
    assert "fully correct" in out


def test_graded_cases_cover_the_grid():
    """Strides 1-3, pads 0-3, dilation, float32, N > 1, non-square, overlapping pools and ties."""
    from cnn_utils.grading.cases import make_cases
    conv_cases = make_cases(GRADED["conv_backward_naive"], 0, GRADED["conv_backward_naive"].count)
    params = [case.inputs["conv_param"] for case in conv_cases]
    assert {(p["stride"], p["pad"]) for p in params} == {(s, p) for s in (1, 2, 3) for p in range(4)}
    assert any(p.get("dilation", 1) == 2 for p in params)
    assert {case.dtype for case in conv_cases} == {np.dtype(np.float32), np.dtype(np.float64)}
    assert any(case.inputs["x"].shape[0] > 1 and case.inputs["x"].shape[1] > 1 for case in conv_cases)
    assert any(case.inputs["w"].shape[2] != case.inputs["w"].shape[3] for case in conv_cases)
    assert any(case.inputs["x"].shape[2] != case.inputs["x"].shape[3] for case in conv_cases)
    pool_cases = make_cases(GRADED["max_pool_backward_naive"], 0, 20)
    overlapping = [c for c in pool_cases
                   if c.inputs["pool_param"]["stride"] < c.inputs["pool_param"]["pool_height"]]
    assert overlapping and any("with ties" in c.label for c in overlapping)


# ------------------------------------------------------------------ mistakes

def test_catalogue_has_at_least_fifteen_mistakes_each_with_a_buggy_implementation():
    assert len(MISTAKES) >= 15
    assert {mistake for mistake, _, _ in BUGGY} == set(MISTAKES)


def test_hints_are_single_sentences_without_code():
    for mistake in MISTAKES.values():
        hint = mistake.hint.format(sum_axes="(0, 2, 3)")
        assert hint.endswith(".") and ". " not in hint, mistake.name
        assert not any(token in hint for token in ("def ", "return ", "range(", "[:", "\n")), mistake.name
        # the dtype is checked by the comparison itself, every other mistake by its models
        assert bool(mistake.models) != (mistake.name == "dtype_not_kept"), f"{mistake.name}: models?"


@pytest.mark.parametrize("mistake, name, impl", [pytest.param(*entry, id=f"{entry[0]}-{entry[1]}")
                                                 for entry in BUGGY + VARIANTS])
def test_buggy_implementation_loses_points_and_gets_its_hint(capfd, mistake, name, impl):
    """Its own hint, and no hint of a mistake it does not make (dtype_not_kept is the comparison's)."""
    score, out = graded(capfd, name, impl)
    assert score < 10
    axes = "(0, 1, 2)" if name.startswith("nhwc.") else "(0, 2, 3)"
    assert "Likely mistake (explains" in out and MISTAKES[mistake].hint.format(sum_axes=axes) in out, out
    named = {other.name for other in MISTAKES.values() if other.hint.format(sum_axes=axes) in out}
    assert named - MADE[impl] - {"dtype_not_kept"} == set(), out


def test_partial_credit_is_the_fraction_of_checks_passed(capfd):
    """dx and dw right, db wrong in every case: two thirds of the points."""
    score, out = graded(capfd, "conv_backward_naive", BUGGY[0][2], points=10)
    assert score == 6.67
    assert "dx: correct in all 20 cases" in out and "db: wrong in 20 of 20 cases" in out


def test_nhwc_hint_names_the_nhwc_axes(capfd):
    def conv_backward_db_per_sample(dZ, cache):
        dA_prev, dW, db = coursera.conv_backward_taps(dZ, cache)
        return dA_prev, dW, dZ.sum(axis=(1, 2))

    score, out = graded(capfd, "nhwc.conv_backward", conv_backward_db_per_sample, points=6)
    assert score == 4.0
    assert "db is not summed over the batch: sum dout over axes (0, 1, 2)." in out


def test_mistake_diagnosis_uses_copies_of_the_returned_arrays(capfd):
    """A function that returns views of one reused buffer is still diagnosed on every case."""
    score, out = graded(capfd, "avg_pool_backward_naive", hostile.avg_pool_backward_undivided_buffer)
    assert score == 0
    assert "explains 20 of 20 wrong dx" in out


# ------------------------------------------------------------------ hostile code

def test_not_implemented_scores_zero_with_a_clear_message(capfd):
    score, out = graded(capfd, "conv_forward_naive", hostile.conv_forward_stub, points=6)
    assert score == 0
    assert ("In 20 of 20 cases conv_forward_naive raised NotImplementedError: "
            "conv_forward_naive is not implemented yet") in out
    assert "in conv_forward_stub" in out
    assert "Traceback" not in out


def test_system_exit_is_a_failed_case(capfd):
    score, out = graded(capfd, "conv_backward_naive", hostile.conv_backward_exits)
    assert score == 0
    assert "raised SystemExit: giving up" in out


def test_keyboard_interrupt_still_stops_grading():
    def interrupted(x, w, b, conv_param):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        grade("conv_forward_naive", interrupted, points=1)


def test_warnings_cost_nothing_and_never_reach_stderr(capfd):
    with warnings.catch_warnings(record=True) as caught, np.errstate(all="raise"):
        warnings.simplefilter("always")
        score, out = graded(capfd, "conv_backward_naive", hostile.conv_backward_warns)
    assert score == 10.0, out
    assert caught == []


def test_printing_to_stdout_and_stderr_is_swallowed(capfd):
    score, out = graded(capfd, "conv_backward_naive", hostile.conv_backward_prints)
    assert score == 10.0
    assert "debug" not in out and "raw stderr" not in out and "descriptor" not in out


def test_mutating_inputs_does_not_affect_grading(capfd):
    first = graded(capfd, "conv_backward_naive", hostile.conv_backward_mutates)
    assert first[0] == 10.0, first[1]
    assert graded(capfd, "conv_backward_naive", hostile.conv_backward_mutates) == first
    score, out = graded(capfd, "max_pool_backward_naive", hostile.max_pool_backward_mutates_x)
    assert score == 10.0, out


def test_wrong_shape_is_reported(capfd):
    score, out = graded(capfd, "conv_backward_naive", hostile.conv_backward_transposed_dx)
    assert 0 < score < 10
    assert "dx: wrong in" in out and "dx has shape" in out and ", expected (" in out


@pytest.mark.parametrize("name, impl, message", [
    ("conv_backward_naive", hostile.conv_backward_returns_list,
     "returned 1 value, expected a tuple (dx, dw, db)"),
    ("conv_forward_naive", hostile.conv_forward_only_out,
     "In 20 of 20 cases conv_forward_naive returned a numpy array, expected a tuple (out, cache)"),
    ("conv_backward_naive", hostile.conv_backward_stub,
     "dx is None (the stub's None was never replaced"),
    ("conv_backward_naive", hostile.conv_backward_complex,
     "dx has dtype complex128; expected a real floating-point array"),
    ("conv_forward_naive", hostile.conv_forward_nan, "out holds 1 NaN/inf entries"),
])
def test_wrong_return_values_get_a_clear_message(capfd, name, impl, message):
    score, out = graded(capfd, name, impl)
    assert score < 10
    assert message in out, out


def test_not_a_function_scores_zero(capfd):
    score, out = graded(capfd, "max_pool_forward_naive", None, points=3)
    assert score == 0
    assert "In 20 of 20 cases max_pool_forward_naive is not a function (got a NoneType)" in out


# ------------------------------------------------------------------ API

def test_unknown_name_lists_the_known_ones():
    with pytest.raises(ValueError, match="unknown graded function 'conv_forward'.*conv_forward_naive"):
        grade("conv_forward", conv.conv_forward_loops, points=1)


@pytest.mark.parametrize("options", [{"points": -1}, {"points": "6"}, {"points": 6, "cases": 0}])
def test_bad_arguments_raise_value_error(options):
    with pytest.raises(ValueError):
        grade("conv_forward_naive", conv.conv_forward_loops, **options)


def test_grade_is_deterministic_for_a_fixed_seed(capfd):
    impl = BUGGY[3][2]  # = instead of += in conv backward
    first = graded(capfd, "conv_backward_naive", impl, seed=3, cases=6)
    assert graded(capfd, "conv_backward_naive", impl, seed=3, cases=6) == first
    assert "of 6 random cases" in first[1]
    other = graded(capfd, "conv_backward_naive", impl, seed=4, cases=6)
    assert other[1] != first[1]


def test_score_is_rounded_to_two_decimals(capfd):
    score, _ = graded(capfd, "conv_backward_naive", BUGGY[0][2], points=1)
    assert score == 0.67 and type(score) is float  # nbgrader parses repr(score) with float()
    assert float(repr(score)) == score


def test_grading_imports_only_numpy_and_cnn_utils():
    folder = pathlib.Path(__file__).parents[1] / "cnn_utils" / "grading"
    for path in folder.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                assert top in ("numpy", "cnn_utils") or top in sys.stdlib_module_names, (path.name, name)
    loaded = subprocess.run(
        [sys.executable, "-c", "import sys, cnn_utils.grading; print(sorted(m for m in sys.modules "
         "if m.split('.')[0] in ('IPython', 'ipykernel', 'jupyter_client', 'nbformat', 'nbgrader')))"],
        capture_output=True, text=True, check=True)
    assert loaded.stdout.strip() == "[]"


def test_feedback_shows_shapes_not_code(capfd):
    _, out = graded(capfd, "conv_backward_naive", BUGGY[5][2])  # stride ignored
    assert "x (" in out and "stride" in out
    for leak in ("def ", "import ", "cnn_utils", "reference", "Traceback", "grade("):
        assert leak not in out


# ------------------------------------------------------------------ one function at a time

def notebook(source):
    """The namespace of a notebook whose cells are ``source``: its functions look names up there."""
    namespace = {"np": np, "conv": conv, "cols": cols, "buggy": BUGGY_BY_MISTAKE}
    exec(source, namespace)
    return namespace


A1_BUG = ("def conv_forward_naive(x, w, b, conv_param):\n"
          "    return buggy['bias_missing'](x, w, b, conv_param)\n")


def test_an_earlier_bug_is_charged_once_where_it_is(capfd):
    """An a1 bug pasted into a2 costs points in a1 only: a2's functions call the reference forward."""
    a1 = notebook(A1_BUG)
    assert graded(capfd, "conv_forward_naive", a1["conv_forward_naive"])[0] < 10
    a2 = notebook(A1_BUG + (
        "def conv_backward_flipped(dout, cache):\n"
        "    x, w, b, conv_param = cache\n"
        "    conv_forward_naive(x, w, b, conv_param)   # the method: convolutions\n"
        "    return conv.conv_backward_full(dout, cache)\n"
        "def conv_forward(A_prev, W, b, hparameters):\n"
        "    out, _ = conv_forward_naive(A_prev.transpose(0, 3, 1, 2), W.transpose(3, 2, 0, 1),\n"
        "                                b.reshape(-1), hparameters)\n"
        "    return out.transpose(0, 2, 3, 1), (A_prev, W, b, hparameters)\n"))
    assert graded(capfd, "conv_backward_flipped", a2["conv_backward_flipped"])[0] == 10
    assert graded(capfd, "nhwc.conv_forward", a2["conv_forward"])[0] == 10
    assert "buggy" in a2["conv_forward_naive"].__code__.co_names   # put back afterwards: the student's


def test_an_a4_bug_pasted_into_a5_costs_nothing_there(capfd):
    a5 = notebook(
        "def conv_forward_im2col(x, w, b, conv_param):\n"
        "    out, cache = cols.conv_forward_im2col_fancy(x, w, b, conv_param)\n"
        "    return out * 2, cache\n"
        "def max_pool_forward_im2col(x, pool_param):\n"
        "    raise NotImplementedError\n"
        "def conv_relu_pool_forward(x, w, b, conv_param, pool_param):\n"
        "    a, conv_cache = conv_forward_im2col(x, w, b, conv_param)\n"
        "    r = np.maximum(a, 0)\n"
        "    out, pool_cache = max_pool_forward_im2col(r, pool_param)\n"
        "    return out, (conv_cache, r, pool_cache)\n")
    assert graded(capfd, "conv_forward_im2col", a5["conv_forward_im2col"])[0] < 10
    assert graded(capfd, "conv_relu_pool_forward", a5["conv_relu_pool_forward"])[0] == 10


def test_flipped_backward_that_calls_the_loop_version_scores_zero(capfd):
    """The review's loophole: returning conv_backward_naive(...) scored 8/8."""
    a2 = notebook("def conv_backward_naive(dout, cache):\n    return conv.conv_backward_loops(dout, cache)\n"
                  "def conv_backward_flipped(dout, cache):\n    return conv_backward_naive(dout, cache)\n")
    score, out = graded(capfd, "conv_backward_flipped", a2["conv_backward_flipped"], points=8)
    assert score == 0
    assert "MethodNotAllowed: conv_backward_naive is switched off while conv_backward_flipped is graded" in out
    assert graded(capfd, "conv_backward_naive", a2["conv_backward_naive"])[0] == 10   # itself: fine


LOOPS = inspect.getsource(conv.conv_backward_loops).replace("def conv_backward_loops", "def {name}")
# Ways around a name-based rule: each runs the loop version of conv_backward (the student's own)
# under another name, and each loses the flipped exercise's points with the method's sentence.
EVASIONS = {
    "copy": LOOPS.format(name="conv_backward_flipped"),
    "default argument": LOOPS.format(name="mine") + (
        "def conv_backward_flipped(dout, cache, _loops=mine):\n    return _loops(dout, cache)\n"),
    "closure": LOOPS.format(name="mine") + (
        "def _make(loops):\n    def conv_backward_flipped(dout, cache):\n        return loops(dout, cache)\n"
        "    return conv_backward_flipped\nconv_backward_flipped = _make(mine)\n"),
    "partial": LOOPS.format(name="mine") + "import functools\nconv_backward_flipped = functools.partial(mine)\n",
    "method": "class Layer:\n" + "".join("    " + line + "\n" for line in LOOPS.format(
        name="backward").replace("(dout, cache)", "(self, dout, cache)").splitlines()) +
        "conv_backward_flipped = Layer().backward\n",
    "exec": f"exec({LOOPS.format(name='conv_backward_flipped')!r})\n",
    "thread": LOOPS.format(name="mine") + (
        "import threading\ndef conv_backward_flipped(dout, cache):\n    got = []\n"
        "    worker = threading.Thread(target=lambda: got.append(mine(dout, cache)))\n"
        "    worker.start()\n    worker.join()\n    return got[0]\n"),
}


@pytest.mark.parametrize("way", sorted(EVASIONS))
def test_the_flipped_method_is_graded_however_the_loops_are_reached(capfd, way):
    a2 = notebook("from student_impls.conv import conv_setup\n" + EVASIONS[way])
    score, out = graded(capfd, "conv_backward_flipped", a2["conv_backward_flipped"], points=8)
    assert score == 0 and "conv_backward_flipped loops over output positions" in out, out
    assert "20 of 20 random cases fully correct" in out    # the values are right: the method is not


def test_the_flipped_method_computes_with_the_forward_convolution(capfd):
    score, out = graded(capfd, "conv_backward_flipped", conv.conv_backward_einsum, points=8)
    assert score == 0 and "conv_backward_flipped never called conv_forward_naive" in out


@pytest.mark.parametrize("name, student", [
    ("conv_forward_im2col", cols.conv_forward_im2col_loops),
    ("conv_backward_im2col", cols.conv_backward_im2col_loops),
    ("max_pool_backward_im2col", pool.max_pool_backward_loops)])
def test_im2col_functions_that_loop_over_positions_score_zero(capfd, name, student):
    score, out = graded(capfd, name, student)
    assert score == 0 and f"{name} loops over output positions" in out, out


def test_the_visible_check_says_the_graders_sentence_before_submission(capsys):
    """method.check, as the lessons' check cells call it: the student's own loop forward is theirs
    to call (its lines are not the backward's); a copy of the loops fails with the grader's words."""
    from cnn_utils import method

    own_forward = "from student_impls.conv import conv_forward_loops as conv_forward_naive\n"
    good = notebook(own_forward + "from student_impls.conv import conv_setup, tap\n" +
                    inspect.getsource(conv.conv_backward_full).replace("conv_backward_full", "conv_backward_flipped"))
    method.check(good["conv_backward_flipped"], "conv_backward_flipped", forward=good["conv_forward_naive"])
    assert "the method checks out" in capsys.readouterr().out
    bad = notebook(own_forward + "from student_impls.conv import conv_setup\n" + EVASIONS["copy"])
    with pytest.raises(AssertionError, match="conv_backward_flipped loops over output positions"):
        method.check(bad["conv_backward_flipped"], "conv_backward_flipped", forward=bad["conv_forward_naive"])


def test_a_function_that_turns_the_tracer_off_fails_the_method(capfd):
    a2 = notebook("import sys\n" + LOOPS.format(name="mine") +
                  "def conv_backward_flipped(dout, cache):\n    sys.settrace(None)\n    return mine(dout, cache)\n")
    score, out = graded(capfd, "conv_backward_flipped", a2["conv_backward_flipped"], points=8)
    assert score == 0 and "changed Python's tracer" in out


@pytest.mark.parametrize("name, loop, call", [
    ("conv_forward_im2col", "conv_forward_naive", "conv_forward_naive(x, w, b, conv_param)"),
    ("conv_backward_im2col", "conv_backward_naive", "conv_backward_naive(dout, cache[:4])"),
    ("max_pool_backward_im2col", "max_pool_backward_naive", "max_pool_backward_naive(dout, cache[:2])"),
])
def test_im2col_functions_may_not_call_the_loop_versions(capfd, name, loop, call):
    args = "dout, cache" if "backward" in name else "x, w, b, conv_param"
    a4 = notebook(f"def {loop}(*args):\n    raise AssertionError('never called while {name} is graded')\n"
                  f"def student({args}):\n    result = {call}\n    return result\n")
    score, out = graded(capfd, name, a4["student"])
    assert score == 0 and f"{loop} is switched off while {name} is graded" in out


def test_conv_forward_im2col_checks_the_documented_x_cols(capfd):
    """out right, x_cols missing or in another order: the cache the backward relies on is graded."""
    def no_cols(x, w, b, conv_param):
        out, cache = cols.conv_forward_im2col_fancy(x, w, b, conv_param)
        return out, cache[:4]

    def cols_transposed(x, w, b, conv_param):
        out, cache = cols.conv_forward_im2col_fancy(x, w, b, conv_param)
        return out, cache[:4] + (cache[4].T,)

    for student in (no_cols, cols_transposed):
        score, out = graded(capfd, "conv_forward_im2col", student)
        assert score == 5.0, out
        assert "out: correct in all 20 cases" in out and "x_cols" in out


def test_float64_for_float32_inputs_costs_the_float32_cases(capfd):
    """One rule with the lesson's visible test: conv_forward_naive keeps the dtype (partial credit)."""
    score, out = graded(capfd, "conv_forward_naive", BUGGY_BY_MISTAKE["dtype_not_kept"])
    assert score == 7.5 and "has dtype float64 for float32 inputs (the values are right)" in out
    assert graded(capfd, "conv_backward_naive", conv.conv_backward_loops)[0] == 10   # backward: any float


def test_every_graded_function_belongs_to_one_assignment_in_course_order():
    from cnn_utils.grading import table
    listed = [name for names in table.ASSIGNMENTS.values() for name in names]
    assert sorted(listed) == sorted(GRADED) and len(set(listed)) == len(listed)
    order = list(table.ASSIGNMENTS)
    assert order == sorted(order)
    for assignment, names in table.PRIOR.items():
        for name in names:   # a prior function comes from an earlier assignment, or is provided there
            home = next((a for a, graded in table.ASSIGNMENTS.items() if name in graded), "a4_im2col")
            assert order.index(home) < order.index(assignment), (assignment, name)
        modules = table.oracle_modules(assignment)
        assert all(module.startswith("cnn_utils.reference.") for module in modules.values())


def test_wrong_initial_parameters_are_reported_as_shapes_and_problems(capfd):
    """W2 sized from H // 2 (wrong for an even filter), a non-zero b3: said parameter by parameter."""
    base = network.convnet("loops")

    class PooledFromInput(base):
        def __init__(self, input_dim=(1, 8, 8), num_filters=16, filter_size=3, hidden_dim=64, **kwargs):
            super().__init__(input_dim, num_filters, filter_size, hidden_dim, **kwargs)
            C, H, W = input_dim
            self.params["W2"] = self.params["W2"][:1].repeat(num_filters * (H // 2) * (W // 2), axis=0)
            self.params["b3"] = self.params["b3"] + 1

    score, out = graded(capfd, "ThreeLayerConvNet", PooledFromInput)
    assert score < 10
    assert "W2 has shape (" in out and "), expected (" in out, out
    assert "b3 is not zero" in out and "values differ" not in out.split("init")[1].split("\n")[0], out
    assert MISTAKES["init_values_off"].hint in out, out          # b3, where the shapes are right
    assert MISTAKES["pooled_size_from_input"].hint in out, out   # then W2, in the cases left


def test_initial_parameters_that_are_not_arrays_of_the_usual_rank_cost_points_and_break_nothing(capfd):
    """An attacker's params: a 0-d W1, a 7-d W2, b2 missing, b3 a list. Read as shapes, 0 on init."""
    base = network.convnet("loops")

    class Odd(base):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.params.update(W1=np.array(1.0), W2=np.zeros((1,) * 7), b3=[0.0])
            del self.params["b2"]

    score, out = graded(capfd, "ThreeLayerConvNet", Odd)
    assert score < 10
    line = out.split("init:")[1].split("\n")[0]
    assert "W1 has shape ()" in line and "W2 has shape (1, 1, 1, 1, 1, 1, 1)" in line, line
    assert "params['b2'] is missing" in line and "params['b3'] is missing" in line, line
    assert network_module.init_difference(np.array([np.inf]), np.array([-1.0] * 6)) is None


# ------------------------------------------------------------------ two hints, and failures named

def _hint_lines(out):
    return [line for line in out.splitlines() if "Likely mistake" in line]


def test_a_second_hint_names_what_the_first_leaves(capfd):
    """DLS's pool_backward: pool_width ignored explains most cases, the mask policy the square
    windows with ties that are left."""
    _, out = graded(capfd, "max_pool_backward_naive", buggy_orders.max_pool_backward_dls)
    lines = _hint_lines(out)
    assert len(lines) == 2, out
    assert MISTAKES["pool_width_ignored"].hint in lines[0] and MISTAKES["max_grad_to_all_ties"].hint in lines[1]


def test_a_few_coincidences_give_no_second_hint(capfd):
    """Square windows: the output is a column short in a few cases, as an off-by-one would be."""
    _, out = graded(capfd, "max_pool_forward_naive", BUGGY_BY_MISTAKE["pool_width_ignored"])
    assert len(_hint_lines(out)) == 1, out


def test_a_failure_is_named_by_its_message(capfd):
    """DLS's pad:-pad raises a broadcast error at pad 0; col2im called with (stride, pad)."""
    _, out = graded(capfd, "nhwc.conv_backward", buggy_orders.nhwc_conv_backward_minus_pad)
    assert "could not broadcast" in out and "of 5 cases that raised)" in out, out
    _, out = graded(capfd, "conv_backward_im2col", buggy_orders.conv_backward_im2col_stride_before_pad)
    assert "cases that raised): " + MISTAKES["col2im_arguments_swapped"].hint in out, out


def test_an_unrelated_failure_is_not_named(capfd):
    def raises_at_pad_zero(dZ, cache):
        if cache[3]["pad"] == 0:
            raise ValueError("could not broadcast input array from shape (3,2,2) into shape (3,2)")
        return coursera.conv_backward_taps(dZ, cache)

    _, out = graded(capfd, "nhwc.conv_backward", raises_at_pad_zero)
    assert "raised ValueError" in out and "Likely mistake" not in out, out

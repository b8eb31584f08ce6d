"""cnn_utils.grading: what the nbgrader hidden tests call.

Correct student-style implementations (three or more per graded function) get
full points; each catalogued mistake, written as a student writes it, loses
points and receives its hint; hostile code (raising, exiting, warning, printing
to stderr, mutating its inputs, returning junk) is graded without anything
reaching stderr.
"""

import ast
import pathlib
import subprocess
import sys
import warnings

import numpy as np
import pytest

from cnn_utils.grading import GRADED, MISTAKES, grade
from student_impls import coursera, conv, cols, hostile, network, pool, transpose
from student_impls.buggy import BUGGY, VARIANTS

CORRECT = {
    "conv_forward_naive": [conv.conv_forward_loops, conv.conv_forward_einsum, conv.conv_forward_strided],
    "conv_backward_naive": [conv.conv_backward_loops, conv.conv_backward_einsum, conv.conv_backward_full],
    "conv_backward_flipped": [conv.conv_backward_full, conv.conv_backward_loops, conv.conv_backward_einsum],
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
    "conv_forward_im2col": [cols.conv_forward_im2col_fancy, cols.conv_forward_im2col_loops,
                            cols.conv_forward_im2col_strided],
    "conv_backward_im2col": [cols.conv_backward_im2col_add_at, cols.conv_backward_im2col_taps,
                             cols.conv_backward_im2col_loops],
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
    "ThreeLayerConvNet": [network.convnet(way) for way in network.WAYS],
}
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
        assert mistake.models, f"{mistake.name} has no model"


@pytest.mark.parametrize("mistake, name, impl", [pytest.param(*entry, id=f"{entry[0]}-{entry[1]}")
                                                 for entry in BUGGY + VARIANTS])
def test_buggy_implementation_loses_points_and_gets_its_hint(capfd, mistake, name, impl):
    score, out = graded(capfd, name, impl)
    assert score < 10
    hint = MISTAKES[mistake].hint.format(sum_axes="(0, 2, 3)")
    assert f"Likely mistake (explains" in out and hint in out, out


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

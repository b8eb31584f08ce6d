"""The visible checks catch a mistake where it is, before submission, and say so.

Every wrong implementation of the catalogue (student_impls.buggy's BUGGY and VARIANTS, and
student_impls.visible's mistakes that only a visible check can name) fails a visible check in the
section of its own function, in the lesson that grades it, with a message that names the function
(or, where the function itself raises, the student's traceback through it);
the model answers and other correct implementations pass every check. A wrong function pasted
from an earlier assignment is blamed on that assignment, before any check that uses it. The cells
run in-process (tests/visible_run.py), a few seconds for the whole catalogue.
"""

import pytest

import visible_run
from autograder import metadata
from student_impls import conv, coursera, pool, transpose
from student_impls.buggy import BUGGY, VARIANTS
from student_impls.visible import VISIBLE

NOTEBOOKS = sorted(p.relative_to(visible_run.SOLUTIONS).as_posix() for p in visible_run.SOLUTIONS.glob("*/*.ipynb"))
CATALOGUE = BUGGY + VARIANTS + VISIBLE
_LESSONS = {}


def lesson(notebook):
    if notebook not in _LESSONS:
        _LESSONS[notebook] = visible_run.Lesson(notebook)
    return _LESSONS[notebook]


def graded_where():
    """graded name -> (notebook, function): read from the test cells' recorded grade(...) calls."""
    found = {}
    for notebook in NOTEBOOKS:
        for cell in visible_run.nbformat.read(str(visible_run.SOLUTIONS / notebook), as_version=4).cells:
            record = cell.metadata.get(metadata.KEY)
            if record and record.get("graded"):
                found[record["graded"]] = (notebook, record["function"])
    return found


WHERE = graded_where()
SECTIONS = [(notebook, function) for notebook in NOTEBOOKS
            for function, checks in lesson(notebook).sections.items() if checks]


def test_every_graded_function_has_a_section_of_visible_checks():
    assert set(WHERE) >= {name for _, name, _ in CATALOGUE}
    for name, (notebook, function) in WHERE.items():
        assert lesson(notebook).sections.get(function), f"{name}: no visible check after its solution cell"


@pytest.mark.parametrize("notebook, function", SECTIONS, ids=[f"{n.split('/')[0]}-{f}" for n, f in SECTIONS])
def test_the_model_answers_pass_every_visible_check(notebook, function):
    assert lesson(notebook).run_section(function) is None


CORRECT = [
    ("conv_forward_naive", conv.conv_forward_loops), ("conv_forward_naive", conv.conv_forward_einsum),
    ("conv_forward_naive", conv.conv_forward_strided), ("conv_backward_naive", conv.conv_backward_loops),
    ("conv_backward_naive", conv.conv_backward_einsum), ("max_pool_forward_naive", pool.max_pool_forward_loops),
    ("max_pool_forward_naive", pool.max_pool_forward_strided),
    ("max_pool_backward_naive", pool.max_pool_backward_loops),
    ("max_pool_backward_naive", pool.max_pool_backward_vectorized),
    ("avg_pool_forward_naive", pool.avg_pool_forward_strided), ("avg_pool_backward_naive", pool.avg_pool_backward_taps),
    ("nhwc.conv_forward", coursera.conv_forward_loops), ("nhwc.conv_forward", coursera.conv_forward_taps),
    ("nhwc.conv_backward", coursera.conv_backward_loops),
    ("conv_transpose_forward", transpose.conv_transpose_forward_loops),
    ("conv_transpose_backward", transpose.conv_transpose_backward_conv),
]


@pytest.mark.parametrize("name, impl", CORRECT, ids=[f"{n}-{i.__name__}" for n, i in CORRECT])
def test_other_correct_implementations_pass_their_visible_checks(name, impl):
    notebook, function = WHERE[name]
    failure = lesson(notebook).run_section(function, impl)
    assert failure is None, f"a correct {name} fails {failure}"


@pytest.mark.parametrize("mistake, name, impl", CATALOGUE,
                         ids=[f"{mistake}-{name}-{impl.__name__}" for mistake, name, impl in CATALOGUE])
def test_a_wrong_implementation_fails_a_visible_check_of_its_own_section_by_name(mistake, name, impl):
    notebook, function = WHERE[name]
    failure = lesson(notebook).run_section(function, impl)
    assert failure is not None, f"{mistake}: {name} passes every visible check of {notebook}"
    if failure.kind != "AssertionError":   # the student's own function raised: its traceback is the message
        assert failure.in_code, f"{mistake}: {failure.check} raised {failure.kind} outside {function}: " \
                                f"{failure.message}"
        return
    assert failure.message.startswith(function) or f" {function}" in failure.message, \
        f"{mistake}: {failure.check} fails without naming {function}: {failure.message!r}"
    assert len(failure.message) > len(function) + 20, f"{mistake}: no case or cause in {failure.message!r}"


CONV_FORWARD_MISTAKES = [(mistake, impl) for mistake, name, impl in BUGGY + VARIANTS
                         if name == "conv_forward_naive" and mistake != "dtype_not_kept"]


@pytest.mark.parametrize("mistake, impl", CONV_FORWARD_MISTAKES, ids=[m for m, _ in CONV_FORWARD_MISTAKES])
def test_a_wrong_paste_of_conv_forward_naive_is_blamed_on_assignment_1_before_the_gradient_checks(mistake, impl):
    """a2's gradient checks differentiate the pasted forward pass: a wrong one fails its own check,
    which names the paste and assignment 1, not a correct backward pass below it. (A float64 output
    for float32 inputs changes nothing a2 checks: a1 names it.)"""
    a2 = lesson("a2_conv_backward/conv_backward.ipynb")
    failure = a2.run_section("conv_forward_naive", impl)
    assert failure is not None and failure.check == "check_conv_forward_naive", f"{mistake}: {failure}"
    assert failure.message.startswith("your pasted conv_forward_naive is wrong: fix it in assignment 1 first; "
                                      "the gradient checks below use it"), failure.message


def test_the_empty_slice_hint_comes_only_with_an_empty_spatial_size():
    by_mistake = {mistake: impl for mistake, name, impl in CATALOGUE if name == "conv_backward_naive"}
    a2 = lesson("a2_conv_backward/conv_backward.ipynb")
    empty = a2.run_section("conv_backward_naive", by_mistake["pad_slice_empty"])
    assert "(2, 2, 0, 0)" in empty.message and "a slice pad:-pad is empty" in empty.message
    for mistake in ("dx_cut_to_the_windows", "padding_not_stripped"):
        short = a2.run_section("conv_backward_naive", by_mistake[mistake])
        assert "dx has shape" in short.message and "pad:-pad" not in short.message, short.message
        assert "the rows no window reaches kept" in short.message


def test_the_nhwc_kernel_check_tells_a_spatially_transposed_or_flipped_kernel():
    """The NHWC test kernel is not symmetric in its two spatial axes, nor under a flip: reading W
    with its axes permuted fails the forward check, before the backward check that uses it."""
    a2 = lesson("a2_conv_backward/conv_backward.ipynb")
    W = a2.namespace["integer_array"]((3, 3, 2, 3), 5, 2)
    assert (W != W.transpose(1, 0, 2, 3)).any() and (W != W[::-1, ::-1]).any()
    for impl in (dict((m, i) for m, _, i in VISIBLE)["kernel_axes_transposed"],
                 dict((m, i) for m, n, i in VARIANTS if n == "nhwc.conv_forward")["kernel_flipped_forward"]):
        failure = a2.run_section("conv_forward", impl)
        assert failure.check == "check_nhwc_conv_forward", failure


def test_the_runner_sees_a_failure_and_puts_things_back():
    a1 = lesson("a1_conv_forward/conv_forward.ipynb")
    original = a1.namespace["conv_forward_naive"]

    def conv_forward_naive_returning_nothing(x, w, b, conv_param):
        return None, None

    failure = a1.run_section("conv_forward_naive", conv_forward_naive_returning_nothing)
    assert failure.check == "check_conv_forward_naive" and failure.kind == "AttributeError"
    assert a1.namespace["conv_forward_naive"] is original
    assert conv_forward_naive_returning_nothing.__name__ == "conv_forward_naive_returning_nothing"
    assert a1.run_section("conv_forward_naive") is None

"""cnn_utils.gradcheck: numerical gradients against known derivatives, error measures."""

import numpy as np
import pytest

from cnn_utils.gradcheck import (eval_numerical_gradient, eval_numerical_gradient_array,
                                 norm_rel_error, rel_error)


def test_scalar_gradient_of_a_cubic():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 4))
    before = x.copy()
    grad = eval_numerical_gradient(lambda a: np.sum(a ** 3), x, verbose=False)
    np.testing.assert_allclose(grad, 3 * x ** 2, rtol=1e-7)
    np.testing.assert_array_equal(x, before)  # restored after perturbation


def test_verbose_prints_each_entry(capsys):
    eval_numerical_gradient(lambda a: float(np.sum(2 * a)), np.zeros(2), verbose=True)
    printed = capsys.readouterr().out.splitlines()
    assert len(printed) == 2 and printed[0].startswith("(0,)")


def test_array_gradient_of_a_matrix_product():
    rng = np.random.default_rng(1)
    a = rng.standard_normal((4, 3))
    x = rng.standard_normal((3, 5))
    df = rng.standard_normal((4, 5))
    grad = eval_numerical_gradient_array(lambda v: a @ v, x, df)
    assert rel_error(grad, a.T @ df) < 1e-8


def test_array_gradient_copes_with_a_function_returning_a_view():
    x = np.arange(4.0)
    grad = eval_numerical_gradient_array(lambda v: v, x, np.ones(4))
    np.testing.assert_allclose(grad, np.ones(4))


def test_rel_error_semantics():
    assert rel_error(np.array([1.0, 2.0]), np.array([1.0, 2.0])) == 0.0
    assert rel_error(np.array([1.0]), np.array([3.0])) == pytest.approx(0.5)
    # near-zero entries: the floor of 1e-8 in the denominator
    assert rel_error(np.array([0.0]), np.array([1e-12])) == pytest.approx(1e-4)


def test_norm_rel_error_is_robust_where_rel_error_is_not():
    exact = np.array([1.0, 1e-9])
    float32_like = np.array([1.0, -1e-9])
    assert rel_error(exact, float32_like) > 0.1
    assert norm_rel_error(exact, float32_like) < 1e-8
    assert norm_rel_error(np.zeros(3), np.zeros(3)) == 0.0
    assert norm_rel_error(np.array([3.0, 4.0]), np.array([0.0, 0.0])) == pytest.approx(1.0)


def test_norm_rel_error_rejects_shape_mismatch():
    with pytest.raises(ValueError, match=r"cannot compare arrays of shapes \(2,\) and \(3,\)"):
        norm_rel_error(np.zeros(2), np.zeros(3))

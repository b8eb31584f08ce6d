"""Affine, ReLU and softmax-loss layers: hand examples, numerical gradients, dtypes, validation."""

import numpy as np
import pytest

from cnn_utils.gradcheck import (eval_numerical_gradient, eval_numerical_gradient_array, norm_rel_error,
                                 rel_error)
from cnn_utils.layers import affine_backward, affine_forward, relu_backward, relu_forward, softmax_loss


def test_affine_forward_hand_example_flattens_each_sample():
    x = np.arange(8.0).reshape(2, 2, 2)          # samples [0, 1, 2, 3] and [4, 5, 6, 7]
    w = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, -1.0]])
    out, _ = affine_forward(x, w, np.array([10.0, 20.0]))
    np.testing.assert_array_equal(out, [[12.0, 18.0], [20.0, 18.0]])


def test_affine_backward_matches_numerical_gradients():
    rng = np.random.default_rng(0)
    x, w, b = rng.standard_normal((3, 2, 3)), rng.standard_normal((6, 4)), rng.standard_normal(4)
    dout = rng.standard_normal((3, 4))
    _, cache = affine_forward(x, w, b)
    dx, dw, db = affine_backward(dout, cache)
    assert dx.shape == x.shape
    assert rel_error(dx, eval_numerical_gradient_array(lambda a: affine_forward(a, w, b)[0], x, dout)) < 1e-8
    assert rel_error(dw, eval_numerical_gradient_array(lambda a: affine_forward(x, a, b)[0], w, dout)) < 1e-8
    assert rel_error(db, eval_numerical_gradient_array(lambda a: affine_forward(x, w, a)[0], b, dout)) < 1e-8


def test_relu_hand_example_and_zero_gradient_at_and_below_zero():
    x = np.array([[-2.0, 0.0, 3.0], [1.5, -0.1, 0.2]])
    out, cache = relu_forward(x)
    np.testing.assert_array_equal(out, [[0.0, 0.0, 3.0], [1.5, 0.0, 0.2]])
    dx = relu_backward(np.arange(1.0, 7.0).reshape(2, 3), cache)
    np.testing.assert_array_equal(dx, [[0.0, 0.0, 3.0], [4.0, 0.0, 6.0]])


def test_relu_backward_matches_numerical_gradient():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 3, 4, 5))
    x[np.abs(x) < 1e-3] = 0.5  # keep away from the kink
    dout = rng.standard_normal(x.shape)
    dx = relu_backward(dout, relu_forward(x)[1])
    assert rel_error(dx, eval_numerical_gradient_array(lambda a: relu_forward(a)[0], x, dout)) < 1e-9


def test_softmax_loss_hand_example():
    # equal scores: loss log(C), gradient (1/C - onehot) / N
    loss, dx = softmax_loss(np.zeros((2, 4)), np.array([1, 3]))
    assert loss == pytest.approx(np.log(4))
    np.testing.assert_allclose(dx, [[0.125, -0.375, 0.125, 0.125], [0.125, 0.125, 0.125, -0.375]])
    # two classes, scores (0, log 3): p = (1/4, 3/4)
    loss, _ = softmax_loss(np.array([[0.0, np.log(3.0)]]), np.array([0]))
    assert loss == pytest.approx(np.log(4.0))


def test_softmax_loss_gradient_matches_numerical_gradient():
    rng = np.random.default_rng(2)
    x, y = rng.standard_normal((5, 7)), rng.integers(0, 7, 5)
    _, dx = softmax_loss(x, y)
    dx_num = eval_numerical_gradient(lambda a: softmax_loss(a, y)[0], x, verbose=False)
    assert rel_error(dx, dx_num) < 1e-7


def test_softmax_loss_is_stable_for_huge_scores():
    with np.errstate(over="raise", invalid="raise", divide="raise", under="ignore"):
        loss, dx = softmax_loss(np.array([[1000.0, 0.0], [-1000.0, 0.0]]), np.array([0, 0]))
    assert loss == pytest.approx(500.0)
    np.testing.assert_allclose(dx, [[0.0, 0.0], [-0.5, 0.5]], atol=1e-12)


def test_float32_is_kept_and_agrees_with_float64():
    rng = np.random.default_rng(3)
    x, w, b = rng.standard_normal((4, 6)), rng.standard_normal((6, 3)), rng.standard_normal(3)
    y = np.array([0, 2, 1, 2])
    results = {}
    for dtype in (np.float32, np.float64):
        out, cache = affine_forward(x.astype(dtype), w.astype(dtype), b.astype(dtype))
        hidden, relu_cache = relu_forward(out)
        loss, dscores = softmax_loss(hidden, y)
        dx, dw, db = affine_backward(relu_backward(dscores, relu_cache), cache)
        assert out.dtype == hidden.dtype == dscores.dtype == dx.dtype == dw.dtype == db.dtype == dtype
        results[dtype] = (loss, dx, dw, db)
    loss32, *grads32 = results[np.float32]
    loss64, *grads64 = results[np.float64]
    assert loss32 == pytest.approx(loss64, rel=1e-5)
    for g32, g64 in zip(grads32, grads64, strict=True):
        assert norm_rel_error(g32, g64) < 1e-5


@pytest.mark.parametrize("call, message", [
    (lambda: affine_forward(np.ones((2, 3)), np.ones((4, 2)), np.ones(2)), "D = 3"),
    (lambda: affine_forward(np.ones((2, 3)), np.ones((3, 2)), np.ones(5)), "M = 2"),
    (lambda: affine_forward(np.ones(3), np.ones((3, 2)), np.ones(2)), "(N, d_1, ..., d_k)"),
    (lambda: affine_backward(np.ones((2, 5)), affine_forward(np.ones((2, 3)), np.ones((3, 2)),
                                                             np.ones(2))[1]), "(2, 2)"),
    (lambda: relu_backward(np.ones((2, 2)), relu_forward(np.ones((2, 3)))[1]), "(2, 3)"),
    (lambda: softmax_loss(np.ones((2, 3)), np.array([0, 3])), "0..2"),
    (lambda: softmax_loss(np.ones((2, 3)), np.array([0, 1, 2])), "(2,)"),
    (lambda: softmax_loss(np.ones((2, 3)), np.array([0.0, 1.0])), "integer"),
    (lambda: softmax_loss(np.ones(3), np.array([0])), "(N, C)"),
])
def test_bad_input_raises_a_clear_value_error(call, message):
    with pytest.raises(ValueError) as info:
        call()
    assert message in str(info.value)

"""Assignment 5's reference: the conv-relu(-pool) sandwich layers and ThreeLayerConvNet.

Numerical gradients of the sandwiches and of the network's loss, a hand example, the
initial loss, the regularization term, float32, overfitting a small batch, and (slow)
training on the shipped digits to at least 95% test accuracy.
"""

import time

import numpy as np
import pytest

from cnn_utils.data import load_digits
from cnn_utils.gradcheck import eval_numerical_gradient, eval_numerical_gradient_array, norm_rel_error, rel_error
from cnn_utils.reference.cnn import (ThreeLayerConvNet, conv_relu_backward, conv_relu_forward,
                                     conv_relu_pool_backward, conv_relu_pool_forward)
from cnn_utils.solver import Solver

POOL_2x2 = {"pool_height": 2, "pool_width": 2, "stride": 2}


def _case(x_shape, w_shape, seed):
    rng = np.random.default_rng(seed)
    return rng.standard_normal(x_shape), rng.standard_normal(w_shape), rng.standard_normal(w_shape[0])


def _check_sandwich_gradients(forward, backward, x, w, b, params, seed):
    out, cache = forward(x, w, b, *params)
    dout = np.random.default_rng(seed).standard_normal(out.shape)
    dx, dw, db = backward(dout, cache)
    assert (dx.shape, dw.shape, db.shape) == (x.shape, w.shape, b.shape)
    numeric = [eval_numerical_gradient_array(lambda a: forward(a, w, b, *params)[0], x, dout),
               eval_numerical_gradient_array(lambda a: forward(x, a, b, *params)[0], w, dout),
               eval_numerical_gradient_array(lambda a: forward(x, w, a, *params)[0], b, dout)]
    for name, grad, num in zip(("dx", "dw", "db"), (dx, dw, db), numeric, strict=True):
        assert rel_error(grad, num) < 1e-7, f"{name}: relative error {rel_error(grad, num):.2e}"


def test_conv_relu_pool_forward_hand_example():
    # a 1x1 kernel of weight 1 and bias -5 on 0..15: relu(x - 5), then the maximum of each 2x2 block
    x = np.arange(16.0).reshape(1, 1, 4, 4)
    out, _ = conv_relu_pool_forward(x, np.ones((1, 1, 1, 1)), np.array([-5.0]), {"stride": 1, "pad": 0}, POOL_2x2)
    np.testing.assert_array_equal(out, [[[[0.0, 2.0], [8.0, 10.0]]]])
    # every entry below the bias: all zero, and no gradient flows back
    out, cache = conv_relu_pool_forward(x, np.ones((1, 1, 1, 1)), np.array([-20.0]), {"stride": 1, "pad": 0},
                                        POOL_2x2)
    dx, dw, db = conv_relu_pool_backward(np.ones(out.shape), cache)
    assert not out.any() and not dx.any() and not dw.any() and not db.any()


@pytest.mark.parametrize("x_shape, w_shape, conv_param", [
    ((2, 3, 5, 6), (4, 3, 3, 3), {"stride": 1, "pad": 1}),
    ((1, 2, 7, 5), (3, 2, 2, 3), {"stride": 2, "pad": 0}),
])
def test_conv_relu_gradients(x_shape, w_shape, conv_param):
    x, w, b = _case(x_shape, w_shape, 0)
    _check_sandwich_gradients(conv_relu_forward, conv_relu_backward, x, w, b, (conv_param,), 1)


@pytest.mark.parametrize("x_shape, w_shape, conv_param, pool_param", [
    ((2, 3, 6, 6), (3, 3, 3, 3), {"stride": 1, "pad": 1}, POOL_2x2),
    ((1, 2, 7, 8), (2, 2, 2, 3), {"stride": 1, "pad": 0}, {"pool_height": 3, "pool_width": 2, "stride": 1}),
    ((2, 1, 9, 7), (2, 1, 3, 3), {"stride": 2, "pad": 2}, {"pool_height": 2, "pool_width": 2, "stride": 1}),
])
def test_conv_relu_pool_gradients(x_shape, w_shape, conv_param, pool_param):
    x, w, b = _case(x_shape, w_shape, 2)
    _check_sandwich_gradients(conv_relu_pool_forward, conv_relu_pool_backward, x, w, b,
                              (conv_param, pool_param), 3)


@pytest.mark.parametrize("input_dim, filter_size, pooled", [
    ((1, 8, 8), 3, (4, 4)),
    ((3, 7, 10), 5, (3, 5)),   # odd sizes: the pool drops the last row
    ((2, 8, 6), 2, (3, 2)),    # even filter: pad 0, the convolution shrinks the input by one
])
def test_parameter_shapes_init_and_scores_shape(input_dim, filter_size, pooled):
    np.random.seed(0)
    model = ThreeLayerConvNet(input_dim=input_dim, num_filters=6, filter_size=filter_size, hidden_dim=11,
                              num_classes=4, weight_scale=0.3)
    C = input_dim[0]
    expected = {"W1": (6, C, filter_size, filter_size), "b1": (6,), "W2": (6 * pooled[0] * pooled[1], 11),
                "b2": (11,), "W3": (11, 4), "b3": (4,)}
    assert {name: p.shape for name, p in model.params.items()} == expected
    assert all(not model.params[name].any() for name in ("b1", "b2", "b3"))
    assert abs(model.params["W2"].std() - 0.3) < 0.05
    scores = model.loss(np.random.standard_normal((5,) + input_dim))
    assert scores.shape == (5, 4)


def test_initial_loss_is_near_log_of_the_number_of_classes():
    np.random.seed(1)
    model = ThreeLayerConvNet(num_filters=4, hidden_dim=10, weight_scale=1e-3)
    X = np.random.standard_normal((20, 1, 8, 8))
    loss, _ = model.loss(X, np.arange(20) % 10)
    assert loss == pytest.approx(np.log(10), abs=1e-3)


def test_regularization_adds_half_reg_times_squared_weights():
    np.random.seed(2)
    model = ThreeLayerConvNet(num_filters=4, hidden_dim=10, weight_scale=0.1)
    X, y = np.random.standard_normal((6, 1, 8, 8)), np.arange(6)
    loss0, grads0 = model.loss(X, y)
    model.reg = 0.7
    loss1, grads1 = model.loss(X, y)
    squares = sum(np.sum(model.params[name] ** 2) for name in ("W1", "W2", "W3"))
    assert loss1 - loss0 == pytest.approx(0.5 * 0.7 * squares)
    for name in grads0:
        extra = 0.7 * model.params[name] if name[0] == "W" else 0.0
        np.testing.assert_allclose(grads1[name], grads0[name] + extra, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("reg", [0.0, 0.5])
def test_network_gradients_match_numerical_gradients(reg):
    np.random.seed(3)
    model = ThreeLayerConvNet(input_dim=(2, 6, 5), num_filters=3, filter_size=3, hidden_dim=7, num_classes=4,
                              weight_scale=0.2, reg=reg)
    X, y = np.random.standard_normal((3, 2, 6, 5)), np.array([0, 3, 1])
    _, grads = model.loss(X, y)
    for name, param in model.params.items():
        numeric = eval_numerical_gradient(lambda _: model.loss(X, y)[0], param, verbose=False)
        assert rel_error(grads[name], numeric) < 1e-6, f"{name}: relative error {rel_error(grads[name], numeric):.2e}"


def test_float32_model_computes_in_float32():
    np.random.seed(4)
    model64 = ThreeLayerConvNet(num_filters=4, hidden_dim=10, weight_scale=0.1, reg=0.1)
    model32 = ThreeLayerConvNet(num_filters=4, hidden_dim=10, weight_scale=0.1, reg=0.1, dtype=np.float32)
    model32.params = {name: p.astype(np.float32) for name, p in model64.params.items()}
    X, y = np.random.standard_normal((5, 1, 8, 8)), np.arange(5)
    loss64, grads64 = model64.loss(X, y)
    loss32, grads32 = model32.loss(X, y)
    assert model32.loss(X).dtype == np.float32
    assert loss32 == pytest.approx(loss64, rel=1e-5)
    for name in grads64:
        assert grads32[name].dtype == np.float32
        assert norm_rel_error(grads32[name], grads64[name]) < 1e-4


def test_bad_input_raises_a_clear_value_error():
    model = ThreeLayerConvNet()
    with pytest.raises(ValueError, match=r"\(1, 7, 8\).*\(1, 8, 8\)"):
        model.loss(np.zeros((2, 1, 7, 8)))
    with pytest.raises(ValueError, match="4 dimensions"):
        model.loss(np.zeros((2, 64)))
    with pytest.raises(ValueError, match="input_dim"):
        ThreeLayerConvNet(input_dim=(8, 8))
    with pytest.raises(ValueError, match="larger than the input"):
        ThreeLayerConvNet(input_dim=(1, 1, 8))


def test_overfits_fifty_digits():
    data = load_digits()
    small = {"X_train": data["X_train"][:50], "y_train": data["y_train"][:50],
             "X_val": data["X_val"][:50], "y_val": data["y_val"][:50]}
    np.random.seed(5)
    model = ThreeLayerConvNet(weight_scale=0.1)
    solver = Solver(model, small, update_rule="adam", optim_config={"learning_rate": 3e-3}, batch_size=10,
                    num_epochs=15, verbose=False, seed=0)
    solver.train()
    assert solver.train_acc_history[-1] == 1.0


@pytest.mark.slow
def test_trains_to_95_percent_on_the_digits():
    data = load_digits()
    np.random.seed(0)
    model = ThreeLayerConvNet(num_filters=16, filter_size=3, hidden_dim=100, weight_scale=0.1, reg=5e-3)
    solver = Solver(model, data, update_rule="adam", optim_config={"learning_rate": 3e-3}, lr_decay=0.9,
                    batch_size=50, num_epochs=20, verbose=False, seed=0)
    start = time.perf_counter()
    solver.train()
    accuracy = solver.check_accuracy(data["X_test"], data["y_test"])
    print(f"digits: test accuracy {accuracy:.3f} after {time.perf_counter() - start:.1f} s of training")
    assert accuracy >= 0.95

"""The training loop: it fits a small problem, keeps histories of the documented lengths,
restores the best parameters, is reproducible with its seed, and rejects bad configurations."""

import numpy as np
import pytest

from cnn_utils.layers import affine_backward, affine_forward, relu_backward, relu_forward, softmax_loss
from cnn_utils.solver import Solver


class TwoLayerNet:
    """affine - relu - affine - softmax, built from cnn_utils.layers."""

    def __init__(self, input_dim, hidden_dim, num_classes, seed=0):
        rng = np.random.default_rng(seed)
        self.params = {"W1": 0.5 * rng.standard_normal((input_dim, hidden_dim)), "b1": np.zeros(hidden_dim),
                       "W2": 0.5 * rng.standard_normal((hidden_dim, num_classes)), "b2": np.zeros(num_classes)}

    def loss(self, X, y=None):
        p = self.params
        hidden, cache1 = affine_forward(X, p["W1"], p["b1"])
        hidden, relu_cache = relu_forward(hidden)
        scores, cache2 = affine_forward(hidden, p["W2"], p["b2"])
        if y is None:
            return scores
        loss, dscores = softmax_loss(scores, y)
        dhidden, dW2, db2 = affine_backward(dscores, cache2)
        _, dW1, db1 = affine_backward(relu_backward(dhidden, relu_cache), cache1)
        return loss, {"W1": dW1, "b1": db1, "W2": dW2, "b2": db2}


def tiny_problem(num_train=40, num_val=20, seed=0):
    """Random points in 4-D with random labels 0..2: only memorising fits them."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((num_train + num_val, 4))
    y = rng.integers(0, 3, num_train + num_val)
    return {"X_train": X[:num_train], "y_train": y[:num_train], "X_val": X[num_train:], "y_val": y[num_train:]}


@pytest.mark.parametrize("update_rule, config", [("adam", {"learning_rate": 3e-2}),
                                                 ("sgd_momentum", {"learning_rate": 5e-2}),
                                                 ("sgd", {"learning_rate": 3e-1})])
def test_overfits_a_tiny_problem(update_rule, config):
    data = tiny_problem(num_train=20)
    data["X_val"], data["y_val"] = data["X_train"], data["y_train"]  # the best epoch is the best fit
    model = TwoLayerNet(4, 50, 3)
    solver = Solver(model, data, update_rule=update_rule, optim_config=config, batch_size=10,
                    num_epochs=100, verbose=False, seed=0)
    solver.train()
    assert solver.loss_history[-1] < 0.1 < 1.0 < solver.loss_history[0]
    assert solver.check_accuracy(data["X_train"], data["y_train"]) == 1.0


def test_histories_have_the_documented_lengths():
    data = tiny_problem(num_train=45)
    solver = Solver(TwoLayerNet(4, 8, 3), data, update_rule="adam", batch_size=10, num_epochs=3, verbose=False)
    solver.train()
    assert len(solver.loss_history) == 3 * (45 // 10)
    assert len(solver.train_acc_history) == len(solver.val_acc_history) == 3 + 1
    assert solver.best_val_acc == max(solver.val_acc_history)


def test_batch_larger_than_the_training_set_gives_one_update_per_epoch():
    solver = Solver(TwoLayerNet(4, 8, 3), tiny_problem(num_train=7), batch_size=50, num_epochs=2, verbose=False)
    solver.train()
    assert len(solver.loss_history) == 2


class Scripted:
    """One parameter, `step`, that every update moves up by 1 (sgd, learning rate 1); class 0
    is predicted only while step == 2, so the validation accuracy peaks after epoch 2."""

    def __init__(self):
        self.params = {"step": np.zeros(1)}

    def loss(self, X, y=None):
        if y is None:
            return np.tile([1.0 if self.params["step"][0] == 2 else 0.0, 0.5], (len(X), 1))
        return 0.0, {"step": -np.ones(1)}


def test_best_params_are_restored_after_training():
    X, y = np.zeros((6, 2)), np.zeros(6, int)
    model = Scripted()
    solver = Solver(model, {"X_train": X, "y_train": y, "X_val": X, "y_val": y}, update_rule="sgd",
                    optim_config={"learning_rate": 1.0}, batch_size=6, num_epochs=4, verbose=False)
    solver.train()
    assert solver.val_acc_history == [0.0, 0.0, 1.0, 0.0, 0.0]
    assert solver.best_val_acc == 1.0
    np.testing.assert_array_equal(model.params["step"], [2.0])
    np.testing.assert_array_equal(solver.best_params["step"], [2.0])
    assert model.params["step"] is not solver.best_params["step"]


def test_same_seed_same_run_other_seed_other_run():
    def run(seed):
        solver = Solver(TwoLayerNet(4, 8, 3), tiny_problem(), update_rule="adam", batch_size=10, num_epochs=2,
                        verbose=False, seed=seed)
        solver.train()
        return solver.loss_history

    assert run(1) == run(1)
    assert run(1) != run(2)


def test_learning_rate_decays_once_per_epoch():
    solver = Solver(TwoLayerNet(4, 8, 3), tiny_problem(), update_rule="sgd", optim_config={"learning_rate": 0.1},
                    lr_decay=0.5, batch_size=10, num_epochs=3, verbose=False)
    solver.train()
    assert solver.optim_config["learning_rate"] == pytest.approx(0.1 * 0.5 ** 3)


def test_check_accuracy_counts_correct_predictions_and_subsamples():
    class Fixed:
        params = {}

        def loss(self, X, y=None):
            return np.eye(3)[X[:, 0].astype(int)]  # predicts the first feature

    X = np.array([[0.0], [1.0], [2.0], [1.0]])
    solver = Solver(Fixed(), {"X_train": X, "y_train": np.zeros(4, int), "X_val": X, "y_val": np.zeros(4, int)},
                    verbose=False)
    assert solver.check_accuracy(X, np.array([0, 1, 1, 1]), batch_size=3) == 0.75
    assert solver.check_accuracy(X, np.array([0, 1, 2, 1]), num_samples=2) == 1.0


def test_verbose_prints_epochs_and_losses(capsys):
    Solver(TwoLayerNet(4, 8, 3), tiny_problem(), batch_size=10, num_epochs=1, print_every=2).train()
    printed = capsys.readouterr().out
    assert "(Epoch 1 / 1) train acc:" in printed and "(Iteration 2 / 4) loss:" in printed


@pytest.mark.parametrize("kwargs, message", [
    ({"update_rule": "rmsprop"}, "update_rule must be one of"),
    ({"update_rule": "sgd", "optim_config": {"momentum": 0.9}}, "['momentum']"),
    ({"optim_config": {"learning_rate": -1.0}}, "learning_rate"),
    ({"lr_decay": 1.5}, "lr_decay"),
    ({"batch_size": 0}, "batch_size"),
    ({"num_epochs": 2.5}, "num_epochs"),
])
def test_bad_configuration_raises_a_clear_value_error(kwargs, message):
    with pytest.raises(ValueError) as info:
        Solver(TwoLayerNet(4, 8, 3), tiny_problem(), **kwargs)
    assert message in str(info.value)


def test_bad_data_or_model_raise_a_clear_value_error():
    data = tiny_problem()
    with pytest.raises(ValueError, match=r"missing \['X_val', 'y_val'\]"):
        Solver(TwoLayerNet(4, 8, 3), {"X_train": data["X_train"], "y_train": data["y_train"]})
    with pytest.raises(ValueError, match="same, non-zero number"):
        Solver(TwoLayerNet(4, 8, 3), dict(data, y_val=data["y_val"][:-1]))
    with pytest.raises(ValueError, match="params"):
        Solver(object(), data)

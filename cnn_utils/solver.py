"""A small training loop for classification models (given to students; not an exercise).

A model is any object with
- ``params``: dict of name -> array, updated in place of the dict entries;
- ``loss(X, y=None)``: class scores (N, C) when y is None, else ``(loss, grads)``
  with ``grads`` a dict holding one gradient per entry of ``params``.

Example::

    solver = Solver(model, data, update_rule="adam", optim_config={"learning_rate": 1e-3},
                    num_epochs=10, batch_size=50, seed=0)
    solver.train()
    solver.check_accuracy(data["X_test"], data["y_test"])

Every epoch visits the training set once in a fresh random order (minibatches of
``batch_size``; a last incomplete batch is dropped). Training and validation
accuracy are measured before the first update and after every epoch; at the
end the model gets the parameters of the epoch with the best validation accuracy.
The run depends only on ``seed`` (and the model's initial parameters).
"""

import numpy as np

from cnn_utils.shapes import check_int

# update rule -> its hyperparameters and their defaults
UPDATE_RULES = {
    "sgd": {"learning_rate": 1e-2},
    "sgd_momentum": {"learning_rate": 1e-2, "momentum": 0.9},
    "adam": {"learning_rate": 1e-3, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8},
}
DATA_KEYS = ("X_train", "y_train", "X_val", "y_val")


def _sgd(w, dw, config, state):
    """Plain gradient descent: w - learning_rate * dw."""
    return w - config["learning_rate"] * dw


def _sgd_momentum(w, dw, config, state):
    """Gradient descent with momentum: a velocity v = momentum * v - learning_rate * dw; w + v."""
    v = config["momentum"] * state.get("velocity", 0.0) - config["learning_rate"] * dw
    state["velocity"] = v
    return w + v


def _adam(w, dw, config, state):
    """Adam: running means of dw and dw**2, corrected for their zero start."""
    t = state.get("t", 0) + 1
    m = config["beta1"] * state.get("m", 0.0) + (1 - config["beta1"]) * dw
    v = config["beta2"] * state.get("v", 0.0) + (1 - config["beta2"]) * dw * dw
    state.update(t=t, m=m, v=v)
    m_hat = m / (1 - config["beta1"] ** t)
    v_hat = v / (1 - config["beta2"] ** t)
    return w - config["learning_rate"] * m_hat / (np.sqrt(v_hat) + config["epsilon"])


STEPS = {"sgd": _sgd, "sgd_momentum": _sgd_momentum, "adam": _adam}


def _check_positive(value, name):
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) or not value > 0:
        raise ValueError(f"{name} must be a positive number, got {value!r}")
    return float(value)


class Solver:
    """Trains a classification model with minibatch gradient descent.

    Inputs:
    - model: object with ``params`` (dict of arrays) and ``loss(X, y=None)`` (see the module docstring)
    - data: dict with X_train (N_train, ...), y_train (N_train,), X_val (N_val, ...), y_val (N_val,)
    - update_rule: 'sgd', 'sgd_momentum' or 'adam'
    - optim_config: hyperparameters of the update rule (learning_rate; momentum for
      sgd_momentum; beta1, beta2, epsilon for adam); missing ones take the defaults
    - lr_decay: the learning rate is multiplied by this after every epoch (0 < lr_decay <= 1)
    - batch_size: samples per update
    - num_epochs: passes over the training set
    - num_train_samples: training samples used to measure training accuracy (None: all)
    - num_val_samples: validation samples used to measure validation accuracy (None: all)
    - print_every: print the loss every this many iterations (when verbose)
    - verbose: print progress
    - seed: seed of the minibatch order and of the accuracy subsamples

    After ``train()``:
    - loss_history: list of num_epochs * iterations_per_epoch losses, one per update
    - train_acc_history, val_acc_history: lists of num_epochs + 1 accuracies
      (before training, then after each epoch)
    - best_val_acc, best_params: the best validation accuracy and the parameters that
      reached it; model.params holds copies of them
    """

    def __init__(self, model, data, update_rule="sgd", optim_config=None, lr_decay=1.0, batch_size=100,
                 num_epochs=10, num_train_samples=1000, num_val_samples=None, print_every=10,
                 verbose=True, seed=0):
        if not isinstance(getattr(model, "params", None), dict) or not callable(getattr(model, "loss", None)):
            raise ValueError("model must have a dict `params` and a method `loss(X, y=None)`")
        missing = [key for key in DATA_KEYS if key not in data]
        if missing:
            raise ValueError(f"data is missing {missing}; it needs {list(DATA_KEYS)}")
        for split in ("train", "val"):
            X, y = data[f"X_{split}"], data[f"y_{split}"]
            if len(X) != len(y) or len(y) == 0:
                raise ValueError(f"X_{split} and y_{split} must hold the same, non-zero number of samples, "
                                 f"got {len(X)} and {len(y)}")
        if update_rule not in UPDATE_RULES:
            raise ValueError(f"update_rule must be one of {sorted(UPDATE_RULES)}, got {update_rule!r}")
        config = dict(UPDATE_RULES[update_rule])
        unknown = sorted(set(optim_config or {}) - set(config))
        if unknown:
            raise ValueError(f"optim_config keys {unknown} are not hyperparameters of {update_rule!r}; "
                             f"it takes {sorted(config)}")
        config.update(optim_config or {})
        for key, value in config.items():
            _check_positive(value, f"optim_config[{key!r}]")
        if not 0 < _check_positive(lr_decay, "lr_decay") <= 1:
            raise ValueError(f"lr_decay must be in (0, 1], got {lr_decay!r}")

        self.model = model
        self.X_train, self.y_train = data["X_train"], data["y_train"]
        self.X_val, self.y_val = data["X_val"], data["y_val"]
        self.update_rule = update_rule
        self.optim_config = config
        self.lr_decay = float(lr_decay)
        self.batch_size = check_int(batch_size, "batch_size", 1)
        self.num_epochs = check_int(num_epochs, "num_epochs", 1)
        self.num_train_samples = None if num_train_samples is None else check_int(
            num_train_samples, "num_train_samples", 1)
        self.num_val_samples = None if num_val_samples is None else check_int(
            num_val_samples, "num_val_samples", 1)
        self.print_every = check_int(print_every, "print_every", 1)
        self.verbose = bool(verbose)
        self.rng = np.random.default_rng(seed)

        self.loss_history = []
        self.train_acc_history = []
        self.val_acc_history = []
        self.best_val_acc = -1.0
        self.best_params = {}
        self._states = {name: {} for name in model.params}

    def _step(self, X_batch, y_batch):
        """One update of every parameter on one minibatch; records the loss."""
        loss, grads = self.model.loss(X_batch, y_batch)
        self.loss_history.append(float(loss))
        step = STEPS[self.update_rule]
        for name, w in self.model.params.items():
            if name not in grads:
                raise ValueError(f"model.loss returned no gradient for parameter {name!r}")
            self.model.params[name] = step(w, grads[name], self.optim_config, self._states[name])

    def check_accuracy(self, X, y, num_samples=None, batch_size=100):
        """Fraction of samples whose highest score is their label.

        Inputs:
        - X: (N, ...) samples; y: (N,) labels
        - num_samples: when smaller than N, use this many samples drawn at random (seeded)
        - batch_size: samples per call of model.loss

        Returns:
        - acc: float in [0, 1]
        """
        if len(X) != len(y) or len(y) == 0:
            raise ValueError(f"X and y must hold the same, non-zero number of samples, got {len(X)} and {len(y)}")
        batch_size = check_int(batch_size, "batch_size", 1)
        y = np.asarray(y)
        if num_samples is not None and check_int(num_samples, "num_samples", 1) < len(y):
            chosen = self.rng.choice(len(y), num_samples, replace=False)
            X, y = X[chosen], y[chosen]
        predictions = [np.argmax(self.model.loss(X[start:start + batch_size]), axis=1)
                       for start in range(0, len(y), batch_size)]
        return float(np.mean(np.concatenate(predictions) == y))

    def _record_accuracies(self, epoch):
        train_acc = self.check_accuracy(self.X_train, self.y_train, self.num_train_samples)
        val_acc = self.check_accuracy(self.X_val, self.y_val, self.num_val_samples)
        self.train_acc_history.append(train_acc)
        self.val_acc_history.append(val_acc)
        if self.verbose:
            print(f"(Epoch {epoch} / {self.num_epochs}) train acc: {train_acc:.3f}; val acc: {val_acc:.3f}")
        if val_acc > self.best_val_acc:
            self.best_val_acc = val_acc
            self.best_params = {name: np.copy(w) for name, w in self.model.params.items()}

    def train(self):
        """Run num_epochs epochs of minibatch updates, then restore the best parameters."""
        num_train = len(self.y_train)
        per_epoch = max(num_train // self.batch_size, 1)
        total = self.num_epochs * per_epoch
        self._record_accuracies(0)
        for epoch in range(1, self.num_epochs + 1):
            order = self.rng.permutation(num_train)
            for i in range(per_epoch):
                batch = order[i * self.batch_size:(i + 1) * self.batch_size]
                self._step(self.X_train[batch], self.y_train[batch])
                iteration = len(self.loss_history)
                if self.verbose and (iteration % self.print_every == 0 or iteration == 1):
                    print(f"(Iteration {iteration} / {total}) loss: {self.loss_history[-1]:.6f}")
            self.optim_config["learning_rate"] *= self.lr_decay
            self._record_accuracies(epoch)
        self.model.params.update({name: np.copy(w) for name, w in self.best_params.items()})

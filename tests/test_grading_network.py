"""grade() on assignment 5's objects: the conv-relu-pool sandwich and ThreeLayerConvNet."""

import numpy as np

from cnn_utils import reference as ref
from cnn_utils.grading import grade


# student-style sandwich built from layers (here the reference's fast ones)
def conv_relu_pool_forward(x, w, b, conv_param, pool_param):
    a, conv_cache = ref.conv_forward_fast(x, w, b, conv_param)
    r = np.maximum(a, 0)
    out, pool_cache = ref.max_pool_forward_fast(r, pool_param)
    return out, (conv_cache, a, pool_cache)


def conv_relu_pool_backward(dout, cache):
    conv_cache, a, pool_cache = cache
    dr = ref.max_pool_backward_fast(dout, pool_cache)
    return ref.conv_backward_fast(dr * (a > 0), conv_cache)


def backward_without_relu(dout, cache):
    conv_cache, _, pool_cache = cache
    return ref.conv_backward_fast(ref.max_pool_backward_fast(dout, pool_cache), conv_cache)


def test_a_correct_sandwich_scores_full_points(capfd):
    assert grade("conv_relu_pool_forward", conv_relu_pool_forward, points=4) == 4
    assert grade("conv_relu_pool_backward", conv_relu_pool_backward, points=6) == 6
    assert capfd.readouterr().err == ""


def test_backward_is_fed_the_students_own_forward_cache():
    # the cache layout (conv_cache, a, pool_cache) is this module's own: only its forward builds it
    assert grade("conv_relu_pool_backward", backward_without_relu, points=6) < 6


def test_backward_without_a_forward_in_its_namespace_scores_zero(capsys):
    namespace = {"ref": ref, "np": np}
    exec("def lonely(dout, cache):\n    return ref.conv_backward_fast(dout, cache)", namespace)
    assert grade("conv_relu_pool_backward", namespace["lonely"], points=6) == 0
    assert "conv_relu_pool_forward, which is not defined" in capsys.readouterr().out


class ForgetsHalfTheReg(ref.ThreeLayerConvNet):
    """A network whose loss adds reg * sum(W^2) (no 1/2) while its gradients assume 1/2."""

    def loss(self, X, y=None):
        result = super().loss(X, y)
        if y is None:
            return result
        loss, grads = result
        extra = 0.5 * self.reg * sum(np.sum(self.params[k] ** 2) for k in ("W1", "W2", "W3"))
        return loss + extra, grads


class BiasesNotZero(ref.ThreeLayerConvNet):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.params["b2"] = self.params["b2"] + 1.0


def test_the_reference_network_scores_full_points_and_faulty_ones_lose_points(capsys):
    assert grade("ThreeLayerConvNet", ref.ThreeLayerConvNet, points=10) == 10
    assert grade("ThreeLayerConvNet", ForgetsHalfTheReg, points=10) < 10
    assert "wrong" in capsys.readouterr().out
    assert grade("ThreeLayerConvNet", BiasesNotZero, points=10) < 10
    out = capsys.readouterr().out
    assert "b2 is not zero" in out and "the right shapes but not the right values" in out, out
    assert "W2 has the wrong number of rows" not in out


def test_grading_the_network_leaves_numpy_random_state_alone():
    np.random.seed(123)
    before = np.random.get_state()[1].copy()
    grade("ThreeLayerConvNet", ref.ThreeLayerConvNet, points=1, cases=2)
    np.testing.assert_array_equal(np.random.get_state()[1], before)

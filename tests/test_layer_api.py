"""The layer protocol: params, grads, dtypes, unbatched input, repr."""

import numpy as np
import pytest

import scratchcnn as sc
from scratchcnn.kernels import TUNING


def test_assigning_a_new_parameter_array_takes_effect(rng):
    conv = sc.Conv2d(1, 1, 1, bias=False)
    x = rng.standard_normal((1, 1, 3, 3)).astype(np.float32)
    conv.params["weight"] = np.full((1, 1, 1, 1), 2.0, np.float32)
    np.testing.assert_array_equal(conv.forward(x), 2 * x)
    conv.params["weight"] *= 3  # in-place update, as an optimiser does
    np.testing.assert_array_equal(conv.forward(x), 6 * x)
    lin = sc.Linear(2, 1)
    lin.params["weight"] = np.array([[1.0, -1.0]], np.float32)
    lin.params["bias"] = np.array([0.5], np.float32)
    np.testing.assert_array_equal(lin.forward(np.array([[3.0, 1.0]])), [[2.5]])


def test_float32_by_default_and_astype_float64(rng):
    conv = sc.Conv2d(2, 3, 3, rng=0)
    assert conv.params["weight"].dtype == np.float32 and conv.dtype == np.float32
    x64 = rng.standard_normal((1, 2, 5, 5))
    assert conv.forward(x64).dtype == np.float32  # computes in its parameters' dtype
    assert conv.astype(np.float64) is conv
    y = conv.forward(x64)
    assert y.dtype == np.float64
    assert conv.backward(np.ones_like(y)).dtype == np.float64
    assert conv.grads["weight"].dtype == np.float64
    assert sc.ReLU().forward(x64).dtype == np.float64  # no params: the input's dtype
    assert sc.ReLU().forward(np.array([1, -2])).dtype == np.float32  # ints become float32


def test_same_seed_same_weights():
    a, b = sc.Conv2d(3, 4, 3, rng=7), sc.Conv2d(3, 4, 3, rng=7)
    np.testing.assert_array_equal(a.params["weight"], b.params["weight"])
    bound = 1 / np.sqrt(27)
    assert np.abs(a.params["weight"]).max() <= bound
    assert not np.array_equal(a.params["weight"], sc.Conv2d(3, 4, 3, rng=8).params["weight"])


def test_unbatched_in_unbatched_out(rng):
    conv = sc.Conv2d(2, 3, 3, padding=1, rng=0).astype(np.float64)
    x = rng.standard_normal((2, 6, 6))
    y = conv.forward(x)
    assert y.shape == (3, 6, 6)
    np.testing.assert_allclose(y, conv.forward(x[None])[0])
    conv.forward(x)
    assert conv.backward(np.ones((3, 6, 6))).shape == (2, 6, 6)
    pool = sc.MaxPool2d(2)
    assert pool.forward(x).shape == (2, 3, 3)


def test_first_layer_may_skip_dx(rng):
    conv = sc.Conv2d(1, 2, 3, rng=0)
    conv.needs_input_grad = False
    y = conv.forward(rng.standard_normal((2, 1, 5, 5)))
    assert conv.backward(np.ones_like(y)) is None
    assert conv.grads["weight"].shape == (2, 1, 3, 3)


def test_padding_same_keeps_size_even_kernel(rng):
    conv = sc.Conv2d(1, 1, 4, padding="same", rng=0)
    assert conv.pads == ((1, 2), (1, 2))
    assert conv.forward(rng.standard_normal((1, 1, 7, 5))).shape == (1, 1, 7, 5)


def test_repr_and_count_params():
    conv = sc.Conv2d(3, 6, 5, padding=2)
    assert repr(conv) == "Conv2d(3, 6, kernel_size=(5, 5), stride=(1, 1), padding=(2, 2))"
    assert sc.count_params(conv) == 6 * 3 * 25 + 6
    assert repr(sc.MaxPool2d(2)) == "MaxPool2d(kernel_size=(2, 2), stride=(2, 2), padding=(0, 0))"
    assert repr(sc.Linear(4, 2, bias=False)) == "Linear(in_features=4, out_features=2, bias=False)"
    assert sc.count_params(sc.ReLU()) == 0


def test_zero_grad_and_train_eval():
    lin = sc.Linear(3, 2)
    lin.zero_grad()
    assert set(lin.grads) == {"weight", "bias"}
    assert not lin.grads["weight"].any()
    assert lin.eval() is lin and not lin.training
    assert lin.train().training


def test_astype_rejects_integer_dtype():
    with pytest.raises(TypeError, match="floating dtype"):
        sc.Linear(2, 2).astype(np.int32)


@pytest.mark.parametrize("training", [True, False])
def test_batchnorm_on_threads_is_bit_identical(rng, monkeypatch, training):
    x = rng.standard_normal((4, 5, 3, 2)).astype(np.float32)
    dout = rng.standard_normal(x.shape).astype(np.float32)
    weight = rng.standard_normal(5).astype(np.float32)

    def run():
        bn = sc.BatchNorm2d(5)
        bn.params["weight"] = weight.copy()
        bn.forward(x)  # moves the running statistics off their start
        bn.train(training)
        return bn.forward(x), bn.backward(dout), bn.grads["weight"], bn.grads["bias"]
    single = run()
    monkeypatch.setenv("SCRATCHCNN_NUM_THREADS", "3")
    monkeypatch.setattr(TUNING, "min_parallel_elements", 1)
    for a, b in zip(run(), single):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("build", [sc.models.lenet5, sc.models.convnet_bn,
                                   sc.models.convnet_bn_lite, sc.models.convnet_bn_mini])
def test_an_empty_batch_gives_empty_outputs_and_zero_gradients(build):
    # as PyTorch: N = 0 is a valid batch (e.g. the last, empty slice of a data set)
    model = build(seed=0)
    stats = {k: v.copy() for k, v in model.state_dict().items() if "running" in k}
    out = model.forward(np.zeros((0, 1, 28, 28), np.float32))
    assert out.shape == (0, 10)
    assert model.backward(np.zeros_like(out)).shape == (0, 1, 28, 28)
    for layer in model.layers:
        for name, grad in layer.grads.items():
            assert grad.shape == layer.params[name].shape and not grad.any()
    for key, value in stats.items():  # an empty batch has no statistics to track
        np.testing.assert_array_equal(model.state_dict()[key], value)
    assert model.eval().forward(np.zeros((0, 1, 28, 28), np.float32)).shape == (0, 10)

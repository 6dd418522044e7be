"""The initialisers of scratchcnn.init against torch.nn.init: the same distribution
(bounds, mean and spread on a large weight), drawn from a seeded Generator."""

import math

import numpy as np
import pytest

from scratchcnn import init

torch = pytest.importorskip("torch")

SHAPE = (128, 64, 3, 3)  # fan_in 576, fan_out 1152: 73,728 values


def theirs(name, **kw):
    t = torch.empty(SHAPE)
    torch.manual_seed(0)
    getattr(torch.nn.init, name)(t, **kw)
    return t.numpy()


@pytest.mark.parametrize("ours, name, kw, torch_kw", [
    (init.kaiming_uniform_, "kaiming_uniform_", {}, dict(nonlinearity="relu")),
    (init.kaiming_uniform_, "kaiming_uniform_", dict(mode="fan_out"),
     dict(mode="fan_out", nonlinearity="relu")),
    (init.kaiming_normal_, "kaiming_normal_", {}, dict(nonlinearity="relu")),
    (init.xavier_uniform_, "xavier_uniform_", dict(gain=2.0), dict(gain=2.0)),
    (init.xavier_normal_, "xavier_normal_", {}, {}),
    (lambda a, rng: init.uniform_(a, -0.3, 0.7, rng), "uniform_", {}, dict(a=-0.3, b=0.7)),
    (lambda a, rng: init.normal_(a, 1.5, 0.2, rng), "normal_", {}, dict(mean=1.5, std=0.2)),
])
def test_each_initialiser_draws_torchs_distribution(ours, name, kw, torch_kw):
    a = ours(np.empty(SHAPE, np.float32), rng=0, **kw)
    b = theirs(name, **torch_kw)
    assert a.dtype == np.float32 and a.shape == SHAPE
    assert abs(a.std() - b.std()) < 0.02 * b.std()
    assert abs(a.mean() - b.mean()) < 0.02 * b.std() + 1e-3 * abs(b.mean())
    if "uniform" in name:  # the same bounds, reached
        assert a.min() >= b.min() - 1e-3 * b.std() and a.max() <= b.max() + 1e-3 * b.std()
        assert a.max() - a.min() > 0.999 * (b.max() - b.min())
    again = ours(np.empty(SHAPE, np.float32), rng=0, **kw)
    np.testing.assert_array_equal(a, again)  # the same seed, the same weights


def test_constants_default_and_fans():
    w = np.empty((6, 4, 5, 5), np.float64)
    assert init.fans(w.shape) == (100, 150)
    assert (init.zeros_(w) == 0).all() and (init.ones_(w) == 1).all()
    bias = np.empty(6, np.float64)
    init.default_(w, bias, rng=1)  # torch's default for Conv2d and Linear
    bound = 1 / math.sqrt(100)
    assert np.abs(w).max() <= bound and np.abs(bias).max() <= bound
    assert np.abs(w).max() > 0.95 * bound
    with pytest.raises(ValueError, match="mode must be 'fan_in' or 'fan_out'"):
        init.kaiming_normal_(w, mode="fan_both")
    with pytest.raises(ValueError, match="2 or more dims"):
        init.fans((3,))
    with pytest.raises(TypeError, match="rng must be a numpy.random.Generator"):
        init.as_generator(True)

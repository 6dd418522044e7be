"""Numerical gradient checks (central differences, float64) for every layer, on both paths."""

import numpy as np
import pytest

import scratchcnn as sc
from gradcheck import check_layer_gradients

CASES = {
    "conv": (lambda: sc.Conv2d(2, 3, (3, 2), stride=(2, 1), padding=1, dilation=(1, 2), rng=0),
             (2, 2, 7, 6)),
    "conv_same": (lambda: sc.Conv2d(2, 2, 4, padding="same", rng=0), (1, 2, 5, 5)),
    "conv_unbatched": (lambda: sc.Conv2d(1, 2, 3, rng=0), (1, 5, 5)),
    "maxpool": (lambda: sc.MaxPool2d(3, 2, 1), (2, 2, 7, 7)),
    "avgpool": (lambda: sc.AvgPool2d((2, 3), 1, (1, 1)), (2, 2, 5, 6)),
    "linear": (lambda: sc.Linear(5, 3, rng=0), (4, 5)),
    "relu": (sc.ReLU, (3, 4, 5)),
    "leaky": (lambda: sc.LeakyReLU(0.1), (3, 7)),
    "sigmoid": (sc.Sigmoid, (3, 7)),
    "tanh": (sc.Tanh, (3, 7)),
    "flatten": (sc.Flatten, (2, 3, 2, 2)),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_gradients_match_central_differences(name, rng, path):
    make, shape = CASES[name]
    x = rng.standard_normal(shape)
    if name in ("relu", "leaky"):  # keep away from the kink at 0
        x += np.sign(x) * 0.1
    check_layer_gradients(make(), x, rng)

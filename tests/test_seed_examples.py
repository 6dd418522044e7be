"""The seed notebook's own examples, with their correct results."""

import numpy as np
import pytest

import scratchcnn as sc
from scratchcnn import reference


def seed_conv():
    conv = sc.Conv2d(1, 2, 3, padding=0).astype(np.float64)
    conv.params["weight"][...] = np.arange(18, dtype=np.float64).reshape(2, 1, 3, 3)
    conv.params["bias"][...] = 1.0
    return conv


def test_seed_conv_forward_is_complete_and_correct(path):
    x = np.arange(64, dtype=np.float64).reshape(1, 8, 8)
    out = seed_conv().forward(x)
    assert out.shape == (2, 6, 6)
    # the seed printed 2095: neither of its output indices advanced, so every window of
    # filter 0 landed in out[0, 0, 0] (and of filter 1 in out[1, 0, 0]), the rest np.empty
    assert out[0, 0, 0] == 475.0
    window = [0, 1, 2, 8, 9, 10, 16, 17, 18]  # x's first 3x3 window
    assert out[1, 0, 0] == 1 + sum(w * v for w, v in zip(range(9, 18), window))
    # every output pixel: sum_ij W[o,i,j] * x[y+i, x+j] + 1 grows by sum(W[o]) per column
    # and 8 * sum(W[o]) per row, since x = 8*row + col
    for o, wsum in enumerate((36.0, 117.0)):
        expected = out[o, 0, 0] + wsum * (np.arange(6)[None, :] + 8 * np.arange(6)[:, None])
        np.testing.assert_array_equal(out[o], expected)
    np.testing.assert_array_equal(out, reference.conv2d(x[None], seed_conv().params["weight"],
                                                        np.ones(2))[0])


def test_seed_conv_backward_is_the_adjoint(path):
    conv = seed_conv()
    x = np.arange(64, dtype=np.float64).reshape(1, 8, 8)
    y = conv.forward(x)
    dx = conv.backward(y)
    # dL/dW[o,0,i,j] = sum_yx dout[o,y,x] * x[y+i, x+j]; dL/db = sum dout
    for o in range(2):
        for i in range(3):
            for j in range(3):
                assert conv.grads["weight"][o, 0, i, j] == np.sum(y[o] * x[0, i:i + 6, j:j + 6])
        assert conv.grads["bias"][o] == y[o].sum()
    expected_dx = np.zeros((8, 8))
    for o in range(2):
        for i in range(3):
            for j in range(3):
                expected_dx[i:i + 6, j:j + 6] += conv.params["weight"][o, 0, i, j] * y[o]
    np.testing.assert_array_equal(dx[0], expected_dx)


def test_seed_maxpool_forward_and_backward(path):
    x = np.arange(128, dtype=np.float64).reshape(2, 8, 8)
    pool = sc.MaxPool2d(2)
    out = pool.forward(x)
    expected = np.array([[9, 11, 13, 15], [25, 27, 29, 31], [41, 43, 45, 47], [57, 59, 61, 63]],
                        dtype=np.float64)
    np.testing.assert_array_equal(out[0], expected)
    np.testing.assert_array_equal(out[1], expected + 64)
    dx = pool.backward(out)
    # the seed's backward came out transposed (25 at [0, 1, 3]); each gradient belongs at
    # the position of its window's maximum, the bottom-right corner
    assert dx[0, 1, 1] == 9 and dx[0, 1, 3] == 11 and dx[0, 3, 1] == 25
    expected_dx = np.zeros((2, 8, 8))
    expected_dx[:, 1::2, 1::2] = out
    np.testing.assert_array_equal(dx, expected_dx)


@pytest.mark.parametrize("size, channels, filters, stride, out_size, params", [
    (144, 3, 6, 1, 142, 168),      # seed said 55: it forgot the input channels
    (60, 24, 48, 1, 58, 10_416),   # seed said 433
    (20, 10, 20, 2, 9, 1_820),     # seed said 181 (and an output of 58x58x48)
])
def test_seed_output_size_questions(size, channels, filters, stride, out_size, params):
    assert sc.conv_output_size(size, 3, stride=stride, padding=0) == out_size
    layer = sc.Conv2d(channels, filters, 3, stride=stride)
    assert sc.count_params(layer) == params
    assert layer.output_shape((channels, size, size)) == (filters, out_size, out_size)
    out = layer.forward(np.zeros((channels, size, size), np.float32))
    assert out.shape == (filters, out_size, out_size)

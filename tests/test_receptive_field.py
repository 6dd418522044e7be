"""shapes.receptive_field: published values, and the pixels a gradient actually reaches."""

import numpy as np
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import scratchcnn as sc
from scratchcnn.shapes import receptive_field


def sizes(model):
    return [None if f.size is None else f.size[0] for f in receptive_field(model)]


def test_published_values():
    assert sizes(sc.models.lenet5())[:6] == [5, 6, 6, 14, 16, 16]
    vgg = receptive_field(sc.models.vgg16())
    assert vgg[30].size == (212, 212) and vgg[30].jump == (32, 32)  # after the last pool
    alex = receptive_field(sc.models.alexnet())
    assert alex[12].size == (195, 195) and alex[12].jump == (32, 32)
    assert str(receptive_field(sc.models.lenet5())[6]) == "whole input"


def test_stacked_3x3_equal_one_5x5_and_7x7():
    two = [sc.Conv2d(8, 8, 3), sc.ReLU(), sc.Conv2d(8, 8, 3)]
    three = two + [sc.Conv2d(8, 8, 3)]
    assert receptive_field(two)[-1].size == receptive_field(sc.Conv2d(8, 8, 5))[0].size == (5, 5)
    assert receptive_field(three)[-1].size == (7, 7)
    assert receptive_field(sc.Conv2d(8, 8, 3, dilation=2))[0].size == (5, 5)


window = st.tuples(st.sampled_from(["conv", "avg"]), st.integers(1, 4), st.integers(1, 2),
                   st.integers(0, 1), st.integers(1, 2))


@settings(max_examples=40, deadline=None)
@given(st.lists(window, min_size=1, max_size=4), st.integers(0, 3), st.integers(0, 3))
def test_the_gradient_of_one_output_reaches_exactly_its_field(stack, oi, oj):
    layers = []
    for kind, k, s, p, d in stack:
        p = min(p, k // 2)
        layers.append(sc.Conv2d(1, 1, k, s, p, d, rng=0).astype(np.float64) if kind == "conv"
                      else sc.AvgPool2d(k, s, p))
        if kind == "conv":
            layers[-1].params["weight"] = np.abs(layers[-1].params["weight"]) + 0.1
    model = sc.Sequential(layers)
    size = 160  # larger than any field drawn here: the window of a middle output fits
    x = np.ones((1, 1, size, size))
    out = model.forward(x)
    oi, oj = out.shape[2] // 2 - oi, out.shape[3] // 2 - oj
    seed = np.zeros_like(out)
    seed[0, 0, oi, oj] = 1.0
    grad = model.backward(seed)
    rows, cols = np.nonzero(grad[0, 0])
    field = receptive_field(model)[-1]
    for got, o, axis in ((rows, oi, 0), (cols, oj, 1)):
        centre = field.start[axis] + o * field.jump[axis]
        half = (field.size[axis] - 1) / 2
        # (strides can leave a map so small that its middle output's window leaves the
        # image: then padding takes part of it, and the property is about the interior)
        assume(0 <= centre - half and centre + half < size)
        assert (got.min(), got.max()) == (centre - half, centre + half), (stack, field)

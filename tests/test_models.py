"""The zoo builds for any input size it can take, and says what it cannot."""

import numpy as np
import pytest

import scratchcnn as sc
from scratchcnn.models import INPUT_SHAPES, MIN_SIZE, MODELS

SMALL = [name for name in MODELS if name not in ("alexnet", "vgg16")]


@pytest.mark.parametrize("name", SMALL)
@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32), (1, 8, 8), (3, 13, 21)])
def test_every_builder_takes_input_shape_and_num_classes(name, shape):
    if min(shape[1:]) < MIN_SIZE[name]:
        pytest.skip("below this model's smallest input")
    model = MODELS[name](input_shape=shape, num_classes=7, seed=0)
    x = np.random.default_rng(0).random((2, *shape), dtype=np.float32)
    assert model.forward(x).shape == (2, 7)
    assert model.output_shape((1, *shape)) == (1, 7)


@pytest.mark.parametrize("name", SMALL)
def test_the_smallest_input_is_exact_and_below_it_one_error_names_builder_and_size(name):
    smallest = MIN_SIZE[name]
    model = MODELS[name](input_shape=(1, smallest, smallest), num_classes=3)
    assert model.forward(np.zeros((2, 1, smallest, smallest), np.float32)).shape == (2, 3)
    if smallest > 1:
        with pytest.raises(ValueError, match=rf"^{name}: input {smallest - 1}x{smallest} is too "
                                             rf"small; it takes images of at least "
                                             rf"{smallest}x{smallest}"):
            MODELS[name](input_shape=(1, smallest - 1, smallest))


def test_the_imagenet_models_are_size_free_down_to_their_smallest_input():
    # the adaptive pools make the classifier the same for 224x224 and the smallest input
    for name, smallest in (("alexnet", 63), ("vgg16", 32)):
        model = MODELS[name](input_shape=(3, smallest, smallest), num_classes=5)
        assert model.output_shape((2, 3, smallest, smallest)) == (2, 5)
        assert model.output_shape((2, 3, 224, 224)) == (2, 5)
        with pytest.raises(ValueError, match=rf"{name}: input {smallest - 1}x{smallest - 1} is "
                                             rf"too small; it takes images of at least "
                                             rf"{smallest}x{smallest}"):
            MODELS[name](input_shape=(3, smallest - 1, smallest - 1))


def test_defaults_are_the_papers_shapes_and_the_counts_unchanged():
    assert sc.count_params(MODELS["lenet5"]()) == 61_706
    assert MODELS["lenet5"]().output_shape((1, *INPUT_SHAPES["lenet5"])) == (1, 10)
    assert sc.count_params(MODELS["convnet_bn_mini"]()) == 313_330
    # LeNet-5 keeps LeCun's layout from 12x12 up, pads its second convolution below
    assert MODELS["lenet5"]((1, 12, 12))[3].pads == ((0, 0), (0, 0))
    assert MODELS["lenet5"]((1, 11, 30))[3].pads == ((2, 2), (0, 0))


@pytest.mark.parametrize("bad", [(28, 28), (1, 0, 28), (1.5, 28, 28), "1,28,28"])
def test_a_bad_input_shape_is_named(bad):
    with pytest.raises(ValueError, match=r"lenet5: input_shape must be \(C, H, W\) of positive "
                                         r"ints, got"):
        MODELS["lenet5"](input_shape=bad)

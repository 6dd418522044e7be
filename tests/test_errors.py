"""Bad input gets a clear error naming the layer, what was expected and what came."""

import numpy as np
import pytest

import scratchcnn as sc


def test_wrong_number_of_dimensions():
    with pytest.raises(ValueError, match=r"Conv2d: expected a 4-D input \(N, C, H, W\) or a "
                                         r"3-D unbatched input \(C, H, W\), got shape \(5, 5\)"):
        sc.Conv2d(1, 2, 3).forward(np.zeros((5, 5)))
    with pytest.raises(ValueError, match=r"MaxPool2d: expected a 4-D input.*\(1, 2, 3, 4, 5\)"):
        sc.MaxPool2d(2).forward(np.zeros((1, 2, 3, 4, 5)))


def test_channel_mismatch():
    with pytest.raises(ValueError, match=r"Conv2d: expected input with 3 channels, got 1 "
                                         r"\(input shape \(2, 1, 8, 8\)\)"):
        sc.Conv2d(3, 2, 3).forward(np.zeros((2, 1, 8, 8)))


def test_kernel_larger_than_padded_input():
    with pytest.raises(ValueError, match=r"Conv2d: kernel \(5, 5\).*larger than the padded "
                                         r"input \(3 \+ padding 0 = 3\)"):
        sc.Conv2d(1, 1, 5).forward(np.zeros((1, 1, 3, 8)))
    with pytest.raises(ValueError, match="MaxPool2d: window"):
        sc.MaxPool2d(4).forward(np.zeros((1, 1, 3, 3)))


def test_backward_before_forward():
    for layer in (sc.Conv2d(1, 1, 1), sc.MaxPool2d(2), sc.Linear(2, 2), sc.ReLU(), sc.Flatten()):
        with pytest.raises(ValueError, match=f"{layer.name}: backward called before forward"):
            layer.backward(np.zeros(3))


def test_dout_of_the_wrong_shape():
    conv = sc.Conv2d(1, 2, 3)
    conv.forward(np.zeros((4, 1, 6, 6)))
    with pytest.raises(ValueError, match=r"Conv2d: dout must have the shape of the last output "
                                         r"\(4, 2, 4, 4\), got \(4, 2, 4, 5\)"):
        conv.backward(np.zeros((4, 2, 4, 5)))


def test_linear_feature_mismatch():
    with pytest.raises(ValueError, match=r"Linear: expected input \(\*, 4\).*got shape \(2, 5\)"):
        sc.Linear(4, 3).forward(np.zeros((2, 5)))


@pytest.mark.parametrize("bad", ["text", np.array(["a", "b"]), np.array([object()]),
                                 [[1, "2"]]])
def test_non_numeric_input_is_a_type_error(bad):
    with pytest.raises(TypeError, match="ReLU: input must be a numeric array"):
        sc.ReLU().forward(bad)


def test_bad_constructor_arguments():
    with pytest.raises(ValueError, match="padding='same' is not supported for strided"):
        sc.Conv2d(1, 1, 3, stride=2, padding="same")
    with pytest.raises(ValueError, match="padding must be an int, a pair, 'valid' or 'same'"):
        sc.Conv2d(1, 1, 3, padding="full")
    with pytest.raises(TypeError, match="Conv2d kernel_size must be an int or a pair"):
        sc.Conv2d(1, 1, (3, 3, 3))
    with pytest.raises(ValueError, match="Conv2d: out_channels must be a positive int"):
        sc.Conv2d(1, 0, 3)
    with pytest.raises(ValueError, match="MaxPool2d: padding should be at most half"):
        sc.MaxPool2d(2, padding=2)


def test_a_model_refuses_8_bit_pixels():
    # models take real values (API.md); 8-bit 0..255 would give confident nonsense silently
    model = sc.models.lenet5(seed=0)
    with pytest.raises(ValueError, match=r"x holds uint8 values in \[255, 255\]: 8-bit images "
                                         r"with pixels 0-255, it seems; models take real "
                                         r"values: scale them first, x / 255.0"):
        model.predict(np.full((2, 1, 28, 28), 255, np.uint8))
    binary = np.ones((2, 1, 28, 28), np.uint8)  # 0/1 integers are already in range
    np.testing.assert_array_equal(model.predict(binary), model.predict(binary.astype(float)))

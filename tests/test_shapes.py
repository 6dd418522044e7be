import pytest
from hypothesis import given
from hypothesis import strategies as st

from scratchcnn.shapes import conv_output_size, conv_params, pair, pool_output_size


@given(size=st.integers(1, 300), k=st.integers(1, 11), s=st.integers(1, 5),
       p=st.integers(0, 5), d=st.integers(1, 4))
def test_conv_output_size_formula(size, k, s, p, d):
    span = d * (k - 1) + 1
    if size + 2 * p < span:
        with pytest.raises(ValueError, match="does not fit"):
            conv_output_size(size, k, s, p, d)
    else:
        out = conv_output_size(size, k, s, p, d)
        # the last window starts at (out-1)*s and fits; one more would not
        assert (out - 1) * s + span <= size + 2 * p < out * s + span


def test_known_sizes():
    assert conv_output_size(28, 5, padding=2) == 28
    assert conv_output_size(224, 11, stride=4, padding=2) == 55
    assert pool_output_size(28, 2) == 14
    assert pool_output_size(7, 3, stride=2, padding=1) == 4
    assert conv_params(3, 64, 11) == 23_296


@pytest.mark.parametrize("bad", [0, -1, 1.5, None, True])
def test_conv_output_size_rejects_bad_arguments(bad):
    with pytest.raises(ValueError):
        conv_output_size(10, bad)


def test_pool_padding_at_most_half_the_kernel():
    with pytest.raises(ValueError, match="half"):
        pool_output_size(10, 2, padding=2)


def test_pair():
    assert pair(3, "k") == (3, 3)
    assert pair((2, 5), "k") == (2, 5)
    with pytest.raises(TypeError, match="kernel_size"):
        pair((1, 2, 3), "kernel_size")
    with pytest.raises(ValueError, match="stride must be >= 1"):
        pair(0, "stride", minimum=1)

"""The model zoo.  Every builder takes ``input_shape=(C, H, W)`` (default: the shape its
paper used), ``num_classes`` and a ``seed``, and builds a network for that shape.

How each one meets another image size:

- ``lenet5``, ``simple_convnet``, ``convnet_bn``, ``convnet_bn_lite``, ``convnet_bn_mini``:
  the same layers, the flatten size computed from the shape (LeNet-5's second convolution
  pads by 2 where the map after the first pool is under 6 pixels, so 8x8 digits fit);
- ``alexnet``, ``vgg16``: torchvision's adaptive average pool to 6x6 / 7x7 before the
  classifier, so any size from the smallest up gives the same classifier;
- ``resnet20``: size-free, global average pooling before its one linear layer.

An input smaller than a model can take gives one ValueError naming the builder and the
smallest size it accepts (:data:`MIN_SIZE`).  Layer order follows the classic papers and
torchvision, so ``summary`` totals match: LeNet-5 61,706 parameters, AlexNet 61,100,840,
VGG-16 138,357,544.
"""

from __future__ import annotations

from .init import as_generator, kaiming_normal_
from .layers import (AdaptiveAvgPool2d, BatchNorm1d, BatchNorm2d, Conv2d, Dropout, Flatten,
                     Layer, Linear, MaxPool2d, ReLU, Residual, Stack)
from .model import Sequential

__all__ = ["lenet5", "simple_convnet", "convnet_bn", "convnet_bn_lite", "convnet_bn_mini",
           "alexnet", "vgg16", "resnet20", "basic_block", "MODELS", "INPUT_SHAPES", "MIN_SIZE"]

MNIST_SHAPE, IMAGENET_SHAPE = (1, 28, 28), (3, 224, 224)


def _checked(name: str, input_shape) -> tuple[int, int, int]:
    """``input_shape`` as (C, H, W) ints, or a ValueError naming the builder."""
    try:
        c, h, w = (int(v) for v in input_shape)
        valid = all(v >= 1 and v == s for v, s in zip((c, h, w), input_shape))
    except (TypeError, ValueError):
        valid = False
    if not valid:
        raise ValueError(f"{name}: input_shape must be (C, H, W) of positive ints, got "
                         f"{input_shape!r}")
    smallest = MIN_SIZE[name]
    if h < smallest or w < smallest:
        raise ValueError(f"{name}: input {h}x{w} is too small; it takes images of at least "
                         f"{smallest}x{smallest} (resize or pad them, or choose a model "
                         f"that takes smaller ones: {_takes(h, w)})")
    return c, h, w


def _takes(h: int, w: int) -> str:
    fits = [name for name, smallest in MIN_SIZE.items() if min(h, w) >= smallest]
    return ", ".join(fits) or "none"


def _flat(features: list[Layer], input_shape: tuple) -> int:
    """Values per sample after ``features`` (which end in Flatten)."""
    return Stack(features).output_shape((1, *input_shape))[1]


def lenet5(input_shape=MNIST_SHAPE, num_classes: int = 10, seed=0) -> Sequential:
    """LeNet-5: conv 6@5x5 (padding 2), pool, conv 16@5x5, pool, 120, 84.

    With ReLU and max-pooling, the modern reading of LeCun et al. (1998).  Each pool comes
    before its ReLU: ``relu(maxpool(x)) == maxpool(relu(x))`` (ReLU is monotone, so it
    keeps the maximum where it is), gradients included, and the ReLU then sees a quarter
    of the values.  Other sizes: the first linear layer takes what the features give;
    where the map after the first pool is under 6 pixels (inputs under 12), the second
    convolution pads by 2, so that 8x8 digits fit.
    """
    c, h, w = _checked("lenet5", input_shape)
    rng = as_generator(seed)
    pad2 = tuple(0 if size // 2 >= 6 else 2 for size in (h, w))
    features = [Conv2d(c, 6, 5, padding=2, rng=rng), MaxPool2d(2), ReLU(),
                Conv2d(6, 16, 5, padding=pad2, rng=rng), MaxPool2d(2), ReLU(), Flatten()]
    return Sequential(features + [
        Linear(_flat(features, (c, h, w)), 120, rng=rng), ReLU(),
        Linear(120, 84, rng=rng), ReLU(),
        Linear(84, num_classes, rng=rng),
    ])


def simple_convnet(input_shape=MNIST_SHAPE, num_classes: int = 10, seed=0,
                   filters: int = 30, hidden: int = 100) -> Sequential:
    """The textbook's SimpleConvNet: conv 30@5x5 - relu - pool 2 - affine 100 - relu - affine."""
    c, h, w = _checked("simple_convnet", input_shape)
    rng = as_generator(seed)
    features = [Conv2d(c, filters, 5, rng=rng), ReLU(), MaxPool2d(2), Flatten()]
    return Sequential(features + [
        Linear(_flat(features, (c, h, w)), hidden, rng=rng), ReLU(),
        Linear(hidden, num_classes, rng=rng),
    ])


def convnet_bn(input_shape=MNIST_SHAPE, num_classes: int = 10, seed=0, dropout: float = 0.3
               ) -> Sequential:
    """A deeper net with batch normalisation: two conv-conv-pool blocks (32 and 64
    channels of 3x3), then 128 hidden units."""
    c, h, w = _checked("convnet_bn", input_shape)
    rng = as_generator(seed)

    def block(cin, cout):
        return [Conv2d(cin, cout, 3, padding=1, bias=False, rng=rng), BatchNorm2d(cout), ReLU()]
    features = [*block(c, 32), *block(32, 32), MaxPool2d(2),
                *block(32, 64), *block(64, 64), MaxPool2d(2), Flatten()]
    return Sequential(features + [
        Linear(_flat(features, (c, h, w)), 128, bias=False, rng=rng), BatchNorm1d(128), ReLU(),
        Dropout(dropout, rng=rng),
        Linear(128, num_classes, rng=rng),
    ])


def convnet_bn_lite(input_shape=MNIST_SHAPE, num_classes: int = 10, seed=0,
                    dropout: float = 0.3) -> Sequential:
    """A cheaper net with batch normalisation: conv 32@5x5 and conv 64@3x3, each followed
    by max-pooling *then* normalisation and ReLU, then 128 hidden units.

    Pooling before normalising gives the same kind of net (batch norm is a per-channel
    affine map, ReLU is monotone) at a quarter of the normalisation and ReLU work.  About a
    quarter of :func:`convnet_bn`'s multiply-accumulates (4.6 M against 18.7 M per 28x28
    image).
    """
    return _pool_bn_net("convnet_bn_lite", input_shape, num_classes, seed, dropout,
                        (32, 5), (64, 3))


def convnet_bn_mini(input_shape=MNIST_SHAPE, num_classes: int = 10, seed=0,
                    dropout: float = 0.3) -> Sequential:
    """:func:`convnet_bn_lite` with conv 24@3x3 and conv 48@3x3: 313,330 parameters and
    2.5 M multiply-accumulates per 28x28 image (4.6 M), its steps about 1.6x faster."""
    return _pool_bn_net("convnet_bn_mini", input_shape, num_classes, seed, dropout,
                        (24, 3), (48, 3))


def _pool_bn_net(name, input_shape, num_classes, seed, dropout, first, second) -> Sequential:
    """conv -> maxpool -> BN -> ReLU twice (``first``, ``second`` = (channels, kernel)),
    then Linear -> BN -> ReLU -> Dropout -> Linear."""
    c, h, w = _checked(name, input_shape)
    rng = as_generator(seed)

    def block(cin, cout, k):
        return [Conv2d(cin, cout, k, padding=k // 2, bias=False, rng=rng), MaxPool2d(2),
                BatchNorm2d(cout), ReLU()]
    (c1, k1), (c2, k2) = first, second
    features = [*block(c, c1, k1), *block(c1, c2, k2), Flatten()]
    return Sequential(features + [
        Linear(_flat(features, (c, h, w)), 128, bias=False, rng=rng), BatchNorm1d(128), ReLU(),
        Dropout(dropout, rng=rng),
        Linear(128, num_classes, rng=rng),
    ])


def alexnet(input_shape=IMAGENET_SHAPE, num_classes: int = 1000, seed=0) -> Sequential:
    """AlexNet as torchvision lays it out (224x224 by default), with its adaptive average
    pool to 6x6 before the classifier."""
    c, _, _ = _checked("alexnet", input_shape)
    rng = as_generator(seed)
    return Sequential([
        Conv2d(c, 64, 11, stride=4, padding=2, rng=rng), ReLU(), MaxPool2d(3, 2),
        Conv2d(64, 192, 5, padding=2, rng=rng), ReLU(), MaxPool2d(3, 2),
        Conv2d(192, 384, 3, padding=1, rng=rng), ReLU(),
        Conv2d(384, 256, 3, padding=1, rng=rng), ReLU(),
        Conv2d(256, 256, 3, padding=1, rng=rng), ReLU(), MaxPool2d(3, 2),
        AdaptiveAvgPool2d(6), Flatten(),
        Dropout(0.5, rng=rng), Linear(256 * 6 * 6, 4096, rng=rng), ReLU(),
        Dropout(0.5, rng=rng), Linear(4096, 4096, rng=rng), ReLU(),
        Linear(4096, num_classes, rng=rng),
    ])


def vgg16(input_shape=IMAGENET_SHAPE, num_classes: int = 1000, seed=0) -> Sequential:
    """VGG-16 (configuration D) as torchvision lays it out (224x224 by default), with its
    adaptive average pool to 7x7 before the classifier."""
    cin, _, _ = _checked("vgg16", input_shape)
    rng = as_generator(seed)
    layers = []
    for v in (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M",
              512, 512, 512, "M"):
        if v == "M":
            layers.append(MaxPool2d(2))
        else:
            layers += [Conv2d(cin, v, 3, padding=1, rng=rng), ReLU()]
            cin = v
    return Sequential(layers + [
        AdaptiveAvgPool2d(7), Flatten(),
        Linear(512 * 7 * 7, 4096, rng=rng), ReLU(), Dropout(0.5, rng=rng),
        Linear(4096, 4096, rng=rng), ReLU(), Dropout(0.5, rng=rng),
        Linear(4096, num_classes, rng=rng),
    ])


def basic_block(cin: int, cout: int, stride: int = 1, rng=None) -> Residual:
    """ResNet's basic block: ``relu`` is left to the caller, after the sum.

    body: conv 3x3 (stride) - BN - ReLU - conv 3x3 - BN; shortcut: the identity, or where
    the shape changes a strided 1x1 convolution and BN (He et al.'s option B).
    Convolutions start from He et al.'s normal (fan_out), as torchvision's ResNets.
    """
    rng = as_generator(rng)

    def conv(a, b, k, s):
        layer = Conv2d(a, b, k, stride=s, padding=k // 2, bias=False, rng=rng)
        kaiming_normal_(layer.params["weight"], rng, mode="fan_out")
        return layer
    body = [conv(cin, cout, 3, stride), BatchNorm2d(cout), ReLU(),
            conv(cout, cout, 3, 1), BatchNorm2d(cout)]
    shortcut = None if stride == 1 and cin == cout else [conv(cin, cout, 1, stride),
                                                          BatchNorm2d(cout)]
    return Residual(body, shortcut)


def resnet20(input_shape=(3, 32, 32), num_classes: int = 10, seed=0,
             widths=(16, 32, 64), blocks: int = 3) -> Sequential:
    """The CIFAR ResNet-20 of He et al. (2016): a 3x3 stem of 16 channels, three stages of
    three basic blocks with 16, 32 and 64 channels (the second and third start with stride
    2), global average pooling and one linear layer: 272,474 parameters for 10 classes.

    Shortcuts where the shape changes are 1x1 convolutions with BN (option B; the paper's
    CIFAR nets used option A, zero-padded identities, 269,722 parameters).  Size-free:
    any input of at least 1x1 pixel, e.g. (1, 28, 28) or (3, 32, 32).
    """
    c, _, _ = _checked("resnet20", input_shape)
    rng = as_generator(seed)
    stem = Conv2d(c, widths[0], 3, padding=1, bias=False, rng=rng)
    kaiming_normal_(stem.params["weight"], rng, mode="fan_out")
    layers, cin = [stem, BatchNorm2d(widths[0]), ReLU()], widths[0]
    for stage, cout in enumerate(widths):
        for b in range(blocks):
            stride = 2 if stage > 0 and b == 0 else 1
            layers += [basic_block(cin, cout, stride, rng), ReLU()]
            cin = cout
    return Sequential(layers + [AdaptiveAvgPool2d(1), Flatten(),
                                Linear(cin, num_classes, rng=rng)])


MODELS = {"lenet5": lenet5, "simple_convnet": simple_convnet, "convnet_bn": convnet_bn,
          "convnet_bn_lite": convnet_bn_lite, "convnet_bn_mini": convnet_bn_mini,
          "alexnet": alexnet, "vgg16": vgg16, "resnet20": resnet20}
#: The input shape (C, H, W) each builder uses by default: its paper's.
INPUT_SHAPES = {"lenet5": MNIST_SHAPE, "simple_convnet": MNIST_SHAPE, "convnet_bn": MNIST_SHAPE,
                "convnet_bn_lite": MNIST_SHAPE, "convnet_bn_mini": MNIST_SHAPE,
                "alexnet": IMAGENET_SHAPE, "vgg16": IMAGENET_SHAPE, "resnet20": (3, 32, 32)}
#: The smallest height and width each builder accepts (tests/test_models.py proves each
#: works there and not one pixel below).
MIN_SIZE = {"lenet5": 4, "simple_convnet": 6, "convnet_bn": 4, "convnet_bn_lite": 4,
            "convnet_bn_mini": 4, "alexnet": 63, "vgg16": 32, "resnet20": 1}

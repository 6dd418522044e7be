"""The model zoo.  Every builder takes ``in_channels``, ``num_classes`` and a ``seed``.

Layer order follows the classic papers and torchvision, so ``summary`` totals match:
LeNet-5 61,706 parameters, AlexNet 61,100,840, VGG-16 138,357,544.
"""

from __future__ import annotations

from .init import as_generator
from .layers import (BatchNorm1d, BatchNorm2d, Conv2d, Dropout, Flatten, Linear, MaxPool2d,
                     ReLU)
from .model import Sequential

__all__ = ["lenet5", "simple_convnet", "convnet_bn", "convnet_bn_lite", "convnet_bn_mini",
           "alexnet", "vgg16", "MODELS"]


def lenet5(in_channels: int = 1, num_classes: int = 10, seed=0) -> Sequential:
    """LeNet-5 for 28x28 input: conv 6@5x5 (padding 2), pool, conv 16@5x5, pool, 120, 84.

    With ReLU and max-pooling, the modern reading of LeCun et al. (1998).  Each pool comes
    before its ReLU: ``relu(maxpool(x)) == maxpool(relu(x))`` (ReLU is monotone, so it
    keeps the maximum where it is), gradients included, and the ReLU then sees a quarter
    of the values.
    """
    rng = as_generator(seed)
    return Sequential([
        Conv2d(in_channels, 6, 5, padding=2, rng=rng), MaxPool2d(2), ReLU(),
        Conv2d(6, 16, 5, rng=rng), MaxPool2d(2), ReLU(),
        Flatten(),
        Linear(16 * 5 * 5, 120, rng=rng), ReLU(),
        Linear(120, 84, rng=rng), ReLU(),
        Linear(84, num_classes, rng=rng),
    ])


def simple_convnet(in_channels: int = 1, num_classes: int = 10, seed=0, filters: int = 30,
                   hidden: int = 100, input_size: int = 28) -> Sequential:
    """The textbook's SimpleConvNet: conv 30@5x5 - relu - pool 2 - affine 100 - relu - affine."""
    rng = as_generator(seed)
    pooled = (input_size - 5 + 1) // 2
    return Sequential([
        Conv2d(in_channels, filters, 5, rng=rng), ReLU(), MaxPool2d(2),
        Flatten(),
        Linear(filters * pooled * pooled, hidden, rng=rng), ReLU(),
        Linear(hidden, num_classes, rng=rng),
    ])


def convnet_bn(in_channels: int = 1, num_classes: int = 10, seed=0, dropout: float = 0.3
               ) -> Sequential:
    """A deeper net for 28x28 images with batch normalisation: two conv-conv-pool blocks
    (32 and 64 channels of 3x3), then 128 hidden units."""
    rng = as_generator(seed)

    def block(cin, cout):
        return [Conv2d(cin, cout, 3, padding=1, bias=False, rng=rng), BatchNorm2d(cout), ReLU()]
    return Sequential([
        *block(in_channels, 32), *block(32, 32), MaxPool2d(2),
        *block(32, 64), *block(64, 64), MaxPool2d(2),
        Flatten(),
        Linear(64 * 7 * 7, 128, bias=False, rng=rng), BatchNorm1d(128), ReLU(),
        Dropout(dropout, rng=rng),
        Linear(128, num_classes, rng=rng),
    ])


def convnet_bn_lite(in_channels: int = 1, num_classes: int = 10, seed=0,
                    dropout: float = 0.3) -> Sequential:
    """A cheaper net with batch normalisation for 28x28 images: conv 32@5x5 and conv 64@3x3,
    each followed by max-pooling *then* normalisation and ReLU, then 128 hidden units.

    Pooling before normalising gives the same kind of net (batch norm is a per-channel
    affine map, ReLU is monotone) at a quarter of the normalisation and ReLU work.  About a
    quarter of :func:`convnet_bn`'s multiply-accumulates (4.6 M against 18.7 M per image).
    """
    return _pool_bn_net(in_channels, num_classes, seed, dropout, (32, 5), (64, 3))


def convnet_bn_mini(in_channels: int = 1, num_classes: int = 10, seed=0,
                    dropout: float = 0.3) -> Sequential:
    """:func:`convnet_bn_lite` with conv 24@3x3 and conv 48@3x3: 313,330 parameters and
    2.5 M multiply-accumulates per image (4.6 M), its steps about 1.6x faster."""
    return _pool_bn_net(in_channels, num_classes, seed, dropout, (24, 3), (48, 3))


def _pool_bn_net(in_channels, num_classes, seed, dropout, first, second) -> Sequential:
    """conv -> maxpool -> BN -> ReLU twice (``first``, ``second`` = (channels, kernel)),
    then Linear -> BN -> ReLU -> Dropout -> Linear, for 28x28 input."""
    rng = as_generator(seed)

    def block(cin, cout, k):
        return [Conv2d(cin, cout, k, padding=k // 2, bias=False, rng=rng), MaxPool2d(2),
                BatchNorm2d(cout), ReLU()]
    (c1, k1), (c2, k2) = first, second
    return Sequential([
        *block(in_channels, c1, k1), *block(c1, c2, k2),
        Flatten(),
        Linear(c2 * 7 * 7, 128, bias=False, rng=rng), BatchNorm1d(128), ReLU(),
        Dropout(dropout, rng=rng),
        Linear(128, num_classes, rng=rng),
    ])


def alexnet(in_channels: int = 3, num_classes: int = 1000, seed=0) -> Sequential:
    """AlexNet as torchvision lays it out, for 224x224 input (where torchvision's adaptive
    average pool to 6x6 is the identity, so it is left out)."""
    rng = as_generator(seed)
    return Sequential([
        Conv2d(in_channels, 64, 11, stride=4, padding=2, rng=rng), ReLU(), MaxPool2d(3, 2),
        Conv2d(64, 192, 5, padding=2, rng=rng), ReLU(), MaxPool2d(3, 2),
        Conv2d(192, 384, 3, padding=1, rng=rng), ReLU(),
        Conv2d(384, 256, 3, padding=1, rng=rng), ReLU(),
        Conv2d(256, 256, 3, padding=1, rng=rng), ReLU(), MaxPool2d(3, 2),
        Flatten(),
        Dropout(0.5, rng=rng), Linear(256 * 6 * 6, 4096, rng=rng), ReLU(),
        Dropout(0.5, rng=rng), Linear(4096, 4096, rng=rng), ReLU(),
        Linear(4096, num_classes, rng=rng),
    ])


def vgg16(in_channels: int = 3, num_classes: int = 1000, seed=0) -> Sequential:
    """VGG-16 (configuration D) as torchvision lays it out, for 224x224 input."""
    rng = as_generator(seed)
    layers, cin = [], in_channels
    for v in (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M",
              512, 512, 512, "M"):
        if v == "M":
            layers.append(MaxPool2d(2))
        else:
            layers += [Conv2d(cin, v, 3, padding=1, rng=rng), ReLU()]
            cin = v
    return Sequential(layers + [
        Flatten(),
        Linear(512 * 7 * 7, 4096, rng=rng), ReLU(), Dropout(0.5, rng=rng),
        Linear(4096, 4096, rng=rng), ReLU(), Dropout(0.5, rng=rng),
        Linear(4096, num_classes, rng=rng),
    ])


MODELS = {"lenet5": lenet5, "simple_convnet": simple_convnet, "convnet_bn": convnet_bn,
          "convnet_bn_lite": convnet_bn_lite, "convnet_bn_mini": convnet_bn_mini,
          "alexnet": alexnet, "vgg16": vgg16}
#: Input shape (C, H, W) each model is designed for.
INPUT_SHAPES = {"lenet5": (1, 28, 28), "simple_convnet": (1, 28, 28), "convnet_bn": (1, 28, 28),
                "convnet_bn_lite": (1, 28, 28), "convnet_bn_mini": (1, 28, 28),
                "alexnet": (3, 224, 224), "vgg16": (3, 224, 224)}

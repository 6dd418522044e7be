"""Layers: each a small class on the protocol documented in :mod:`scratchcnn.layers.base`."""

from .activations import LeakyReLU, ReLU, Sigmoid, Tanh
from .base import Layer
from .container import Residual, Stack, layer_spec
from .conv import Conv2d
from .dropout import Dropout
from .linear import Linear
from .normalization import BatchNorm1d, BatchNorm2d
from .pooling import AdaptiveAvgPool2d, AvgPool2d, MaxPool2d
from .reshape import Flatten

__all__ = ["Layer", "Conv2d", "MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d", "Linear",
           "Flatten", "ReLU", "LeakyReLU", "Sigmoid", "Tanh", "Dropout", "BatchNorm1d",
           "BatchNorm2d", "Residual", "Stack", "layer_spec"]

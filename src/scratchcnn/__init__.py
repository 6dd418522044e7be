"""scratchcnn: convolutional neural networks from scratch in NumPy.

Every layer follows one protocol, documented in :mod:`scratchcnn.layers.base`:
``forward(x) -> y``, ``backward(dout) -> dx``, learnable arrays in ``layer.params`` and
their gradients in ``layer.grads``.  Semantics (NCHW, argument names, output sizes)
follow PyTorch's.
"""

from . import losses, models, optim
from .io import load, load_checkpoint, save, save_checkpoint
from .layers import (AvgPool2d, BatchNorm1d, BatchNorm2d, Conv2d, Dropout, Flatten, Layer,
                     LeakyReLU, Linear, MaxPool2d, ReLU, Sigmoid, Tanh)
from .losses import CrossEntropyLoss, MSELoss
from .model import Sequential
from .optim import SGD, AdaGrad, Adam, AdamW, CosineAnnealingLR, RMSprop, StepLR
from .shapes import conv_output_size, count_params, pool_output_size

__version__ = "0.1.0"

__all__ = ["Layer", "Conv2d", "MaxPool2d", "AvgPool2d", "Linear", "Flatten", "ReLU",
           "LeakyReLU", "Sigmoid", "Tanh", "Dropout", "BatchNorm1d", "BatchNorm2d",
           "Sequential", "CrossEntropyLoss", "MSELoss", "SGD", "AdaGrad", "RMSprop", "Adam",
           "AdamW", "StepLR", "CosineAnnealingLR", "save", "load", "save_checkpoint",
           "load_checkpoint", "models", "losses", "optim",
           "conv_output_size", "pool_output_size", "count_params", "__version__"]

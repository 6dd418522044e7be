"""scratchcnn: convolutional neural networks from scratch in NumPy.

Where to start reading:

1. :mod:`scratchcnn.textbook`: the convolution and pooling a course teaches (sliding
   windows, im2col, one matrix product, col2im, both backward passes), about 200 lines.
   ``scratchcnn.use("textbook")`` makes every layer run on it.
2. :mod:`scratchcnn.layers`: the layer protocol (``layers/base.py``) and the layers,
   thin classes that hold parameters and call the current path.
3. :mod:`scratchcnn.model` (``Sequential``: fit, evaluate, predict, summary) and
   :mod:`scratchcnn.models` (LeNet-5 and the rest of the zoo).
4. :mod:`scratchcnn.kernels`: the fast path (the default), the same results in memory
   layouts that run at PyTorch's speed.

Every layer follows one protocol: ``forward(x) -> y``, ``backward(dout) -> dx``,
learnable arrays in ``layer.params`` and their gradients in ``layer.grads``.  Semantics
(NCHW, argument names, output sizes) follow PyTorch's.
"""

from . import datasets, kernels, losses, models, optim, textbook
from .checker import check
from .backend import use, using
from .io import save, save_checkpoint
from .layers import (AdaptiveAvgPool2d, AvgPool2d, BatchNorm1d, BatchNorm2d, Conv2d, Dropout,
                     Flatten, Layer, LeakyReLU, Linear, MaxPool2d, ReLU, Residual, Sigmoid,
                     Tanh)
from .losses import CrossEntropyLoss, MSELoss
from .model import Sequential, load, load_checkpoint
from .onnx_export import export_onnx
from .safetensors_io import load_safetensors, save_safetensors
from .optim import SGD, AdaGrad, Adam, AdamW, CosineAnnealingLR, RMSprop, StepLR
from .shapes import conv_output_size, count_params, pool_output_size

__version__ = "0.1.0"

__all__ = ["Layer", "Conv2d", "MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d", "Residual",
           "Linear", "Flatten", "ReLU",
           "LeakyReLU", "Sigmoid", "Tanh", "Dropout", "BatchNorm1d", "BatchNorm2d",
           "Sequential", "CrossEntropyLoss", "MSELoss", "SGD", "AdaGrad", "RMSprop", "Adam",
           "AdamW", "StepLR", "CosineAnnealingLR", "save", "load", "save_checkpoint",
           "load_checkpoint", "save_safetensors", "load_safetensors", "export_onnx", "use",
           "using", "check", "datasets", "kernels", "models", "losses",
           "optim", "textbook", "conv_output_size", "pool_output_size", "count_params",
           "__version__"]

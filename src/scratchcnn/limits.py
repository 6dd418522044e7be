"""How much memory a model's architecture may ask for, checked before it is asked.

A model file's weights are checked against its architecture before any layer is built
(:mod:`scratchcnn.io`), so the parameters cost no more than the file holds.  But a few
numbers in an architecture decide memory that no stored array pays for: a padding, a
pool's window, an adaptive pool's output size, the input shape a file keeps in its
``meta``.  Two caps bound them:

- ``MAX_PARAMETERS`` values in all the parameters and buffers of a model (2**31: eight
  GiB of float32, some hundred times a VGG-16);
- ``MAX_ACTIVATIONS`` values for one sample (2**30: four GiB of float32), counted layer
  by layer with each layer's ``output_shape``: every layer's output, plus for a
  convolution or pooling its zero-padded input (as the fast path's stride phases) and
  the columns of its windows (what the textbook's im2col lays out).  VGG-16 on a
  224 x 224 image makes 1.3 * 10**8, an eighth of the cap; a crafted padding of a
  million makes 10**12 and more.

A file whose ``meta`` names an ``input_shape`` beyond them is refused when it is
loaded, naming the layer; ``predict`` and ``evaluate`` check any other input the same
way before their first batch (:func:`check_activations`).
"""

from __future__ import annotations

import math

from .layers.base import Layer
from .layers.container import Container, Stack

__all__ = ["MAX_PARAMETERS", "MAX_ACTIVATIONS", "check_parameters", "check_activations",
           "check_input_shape", "activations"]

MAX_PARAMETERS = 2**31
MAX_ACTIVATIONS = 2**30


def check_parameters(shapes: dict[str, tuple]) -> None:
    """A ValueError naming the first array (``'3.weight'``) at which the arrays of
    ``shapes`` ({name: shape}, in order) pass ``MAX_PARAMETERS`` values together."""
    total = 0
    for name, shape in shapes.items():
        total += math.prod(shape)
        if total > MAX_PARAMETERS:
            raise ValueError(f"{name} {tuple(shape)} brings the parameters to {total:,} "
                             f"values, over the cap of {MAX_PARAMETERS:,} (2**31)")


def check_input_shape(shape, what: str = "input_shape") -> tuple[int, ...]:
    """``shape`` (one sample's: ``[C, H, W]``, or ``[features]``) as a tuple, or a
    ValueError: one to three positive ints, of at most ``MAX_ACTIVATIONS`` values."""
    if not isinstance(shape, (list, tuple)) or not 1 <= len(shape) <= 3 or not all(
            isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in shape):
        raise ValueError(f"{what} must be one sample's shape, one to three positive ints "
                         f"such as [1, 28, 28], got {shape!r}")
    if math.prod(shape) > MAX_ACTIVATIONS:
        raise ValueError(f"{what} {list(shape)} is {math.prod(shape):,} values, over the cap "
                         f"of {MAX_ACTIVATIONS:,} (2**30) for one sample")
    return tuple(shape)


def activations(layers, input_shape: tuple) -> list[tuple[str, Layer, int, tuple]]:
    """(dotted name, layer, values it makes, its output shape) of each layer met by one
    sample of ``input_shape`` (no batch axis), containers' insides first, in order.
    The walk stops quietly at a layer the shape does not fit: running the model stops
    there too, with that layer's own error, before it allocates anything."""
    steps: list = []
    shape: tuple | None = (1, *input_shape)
    for i, layer in enumerate(layers):
        shape = _walk(layer, str(i), shape, steps)
        if shape is None:
            break
    return steps


def _walk(layer: Layer, name: str, shape: tuple, steps: list) -> tuple | None:
    """Add ``layer``'s steps for the batched ``shape``; its output shape, or None where
    a shape does not fit."""
    if isinstance(layer, Stack):
        for i, child in enumerate(layer.layers):
            shape = _walk(child, f"{name}.{i}", shape, steps)
            if shape is None:
                return None
        return shape
    if isinstance(layer, Container):  # a Residual: each part takes the block's input
        for part, child in layer.children().items():
            if _walk(child, f"{name}.{part}", shape, steps) is None:
                return None
    try:
        out = tuple(layer.output_shape(shape))
    except (ValueError, TypeError, OverflowError, IndexError):
        return None
    steps.append((name, layer, _values(layer, shape, out), out[1:]))
    return out


def _values(layer: Layer, shape: tuple, out: tuple) -> int:
    """What ``layer`` allocates for one input of ``shape`` giving ``out``: the output;
    for a window layer its padded input laid out as stride phases (each axis rounded up
    to a whole number of strides: :mod:`scratchcnn.kernels.geometry`) and the windows'
    columns; for an adaptive pool its bin matrices."""
    total = math.prod(out)
    pads, kernel = getattr(layer, "pads", None), getattr(layer, "kernel_size", None)
    if pads is not None and kernel is not None and len(shape) >= 3 and len(out) >= 2:
        stride = getattr(layer, "stride", (1, 1))
        phases = [-(-(size + sum(pad)) // s) * s
                  for size, pad, s in zip(shape[-2:], pads, stride)]
        total += shape[-3] * (math.prod(phases) + math.prod(kernel) * math.prod(out[-2:]))
    if getattr(layer, "output_size", None) is not None and len(shape) >= 2:  # adaptive pool
        total += out[-2] * shape[-2] + out[-1] * shape[-1]  # its bin matrices
    return total


def check_activations(layers, input_shape: tuple) -> None:
    """A ValueError naming the layer at which one sample of ``input_shape`` (no batch
    axis) passes ``MAX_ACTIVATIONS`` values, counted as the module's docstring says."""
    total = 0
    for name, layer, values, out in activations(layers, tuple(input_shape)):
        total += values
        if total > MAX_ACTIVATIONS:
            raise ValueError(f"layer {name} ({type(layer).__name__}) "
                             f"makes {values:,} values for one sample of shape "
                             f"{tuple(input_shape)} (output {out}), bringing them to "
                             f"{total:,}, over the cap of {MAX_ACTIVATIONS:,} (2**30): a "
                             "padding, stride, window or size far too large?")

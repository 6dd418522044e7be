"""Geometry of convolution and pooling: output sizes and parameter counts.

These are the answers to the seed notebook's questions ("what size comes out, and how
many parameters does the layer have?"), with PyTorch's formula::

    out = floor((size + 2*padding - dilation*(kernel_size - 1) - 1) / stride) + 1
"""

from __future__ import annotations

from dataclasses import dataclass
from numbers import Integral

from .textbook import output_size

__all__ = [
    "pair",
    "conv_output_size",
    "pool_output_size",
    "conv_params",
    "count_params",
    "ReceptiveField",
    "receptive_field",
]


def pair(value, name: str, *, minimum: int = 0) -> tuple[int, int]:
    """Normalise an int or an (h, w) pair to a tuple of two ints >= ``minimum``.

    Parameters
    ----------
    value : int or (int, int)
        The setting as given.
    name : str
        What it is, for the ValueError's message (``"Conv2d stride"``).
    minimum : int
        The smallest value allowed.
    """
    if isinstance(value, Integral) and not isinstance(value, bool):
        h = w = int(value)
    elif isinstance(value, (tuple, list)) and len(value) == 2 and all(
        isinstance(v, Integral) and not isinstance(v, bool) for v in value
    ):
        h, w = int(value[0]), int(value[1])
    else:
        raise TypeError(f"{name} must be an int or a pair of ints, got {value!r}")
    if h < minimum or w < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value!r}")
    return h, w


def conv_output_size(size: int, kernel_size: int, stride: int = 1, padding: int = 0,
                     dilation: int = 1) -> int:
    """Length of one spatial axis after a convolution (PyTorch's formula).

    Raises ``ValueError`` when the (dilated) kernel does not fit the padded input.

    Parameters
    ----------
    size : int
        The input's length along the axis.
    kernel_size : int
        The filter's length.
    stride : int
        The step between windows.
    padding : int
        Zeros added on each side.
    dilation : int
        The spacing of the filter's taps.
    """
    for name, v, lo in (("size", size, 1), ("kernel_size", kernel_size, 1),
                        ("stride", stride, 1), ("padding", padding, 0),
                        ("dilation", dilation, 1)):
        if not isinstance(v, Integral) or isinstance(v, bool) or v < lo:
            raise ValueError(f"{name} must be an int >= {lo}, got {v!r}")
    span = dilation * (kernel_size - 1) + 1
    out = output_size(size + 2 * padding, kernel_size, stride, dilation)
    if out < 1:
        raise ValueError(
            f"kernel of span {span} (kernel_size={kernel_size}, dilation={dilation}) does not "
            f"fit an input of size {size} padded by {padding} on each side "
            f"({size + 2 * padding}); the output would be {out}")
    return out


def window_output_hw(layer: str, input_shape: tuple, kernel_size, stride, pads, dilation,
                     what: str = "kernel") -> tuple[int, int]:
    """(Ho, Wo) of a window sliding over the last two axes of ``input_shape``, with
    ``pads = ((top, bottom), (left, right))``; a ValueError naming ``layer`` if it cannot fit.

    Parameters
    ----------
    layer : str
        The layer's name, for the message.
    input_shape : tuple of int
        The input's shape, ending in (H, W).
    kernel_size : (int, int)
        The window's (kh, kw).
    stride : (int, int)
        The step between windows.
    pads : ((int, int), (int, int))
        (top, bottom) and (left, right) padding.
    dilation : (int, int)
        The spacing of the window's taps.
    what : str
        What the window is called in the message ("kernel", "window").
    """
    sizes = []
    for axis, size in enumerate(input_shape[-2:]):
        padded = size + sum(pads[axis])
        span = dilation[axis] * (kernel_size[axis] - 1) + 1
        if padded < span:
            raise ValueError(
                f"{layer}: {what} {tuple(kernel_size)} (dilation {tuple(dilation)}) spans {span} "
                f"on the {'HW'[axis]} axis, larger than the padded input ({size} + padding "
                f"{sum(pads[axis])} = {padded}); input shape {tuple(input_shape)}")
        sizes.append(output_size(padded, kernel_size[axis], stride[axis], dilation[axis]))
    return sizes[0], sizes[1]


def pool_output_size(size: int, kernel_size: int, stride: int | None = None,
                     padding: int = 0, dilation: int = 1) -> int:
    """Length of one spatial axis after pooling.

    Parameters
    ----------
    size : int
        The input's length along the axis.
    kernel_size : int
        The window's length.
    stride : int or None
        The step between windows; None: ``kernel_size``.
    padding : int
        Padding on each side.
    dilation : int
        The spacing of the window's taps.
    """
    if isinstance(kernel_size, Integral) and 2 * padding > kernel_size:
        raise ValueError(f"padding should be at most half of kernel size, got padding="
                         f"{padding} for kernel_size={kernel_size}")
    return conv_output_size(size, kernel_size, kernel_size if stride is None else stride,
                            padding, dilation)


def conv_params(in_channels: int, out_channels: int, kernel_size, bias: bool = True) -> int:
    """Learnable parameters of a Conv2d: ``out*in*kh*kw`` weights plus ``out`` biases.

    Parameters
    ----------
    in_channels : int
        C_in.
    out_channels : int
        C_out, the number of filters.
    kernel_size : int or (int, int)
        The filter's (kh, kw).
    bias : bool
        Whether each filter has a bias.
    """
    kh, kw = pair(kernel_size, "kernel_size", minimum=1)
    return out_channels * in_channels * kh * kw + (out_channels if bias else 0)


def count_params(obj) -> int:
    """Number of learnable scalars in a layer or a model.

    Parameters
    ----------
    obj : Layer or Sequential
        Anything with ``parameters()``.
    """
    return int(sum(p.size for p in obj.parameters()))


def layer_macs(layer, input_shape: tuple, output_shape: tuple | None = None) -> int:
    """Multiply-accumulates one sample costs in ``layer`` (convolutions and linear maps;
    a container: those of the layers inside, each on the shape it is given).

    Parameters
    ----------
    layer : Layer
        The layer.
    input_shape : tuple of int
        One sample's input shape, without the batch axis.
    output_shape : tuple of int or None
        Its output shape; None: computed.
    """
    import math
    if hasattr(layer, "layers"):  # a stack: each layer on what the one before gives
        total, shape = 0, tuple(input_shape)
        for sub in layer.layers:
            out = tuple(sub.output_shape((1, *shape)))[1:]
            total, shape = total + layer_macs(sub, shape, out), out
        return total
    if callable(getattr(layer, "children", None)):  # branches (Residual) on one input
        return sum(layer_macs(part, input_shape) for part in layer.children().values())
    w = getattr(layer, "params", {}).get("weight")
    if w is None or w.ndim < 2:
        return 0
    if output_shape is None:
        output_shape = tuple(layer.output_shape((1, *input_shape)))[1:]
    if w.ndim == 4:  # Conv2d: every output value is a dot product of C/groups*kh*kw terms
        return math.prod(output_shape) * math.prod(w.shape[1:])
    return math.prod(output_shape) * w.shape[1]  # Linear


@dataclass(frozen=True)
class ReceptiveField:
    """What one output value of a layer sees of the network's input.

    Attributes
    ----------
    layer : str
        The layer's name.
    size : (int, int) or None
        (h, w) input pixels in its window (``None`` after ``Flatten``: every unit of a
        fully connected layer sees the whole input).
    jump : (int, int)
        Input pixels between two neighbouring outputs (the product of the strides so far).
    start : (float, float)
        The centre of the first output's window, in input pixel coordinates (negative
        where padding reaches out).
    """

    layer: str
    size: tuple[int, int] | None
    jump: tuple[int, int]
    start: tuple[float, float]

    def __str__(self):
        return "whole input" if self.size is None else f"{self.size[0]}x{self.size[1]}"


def receptive_field(layers) -> list[ReceptiveField]:
    """The receptive field after each layer of a model, a list of layers, or one layer.

    For a window of ``k`` pixels, dilation ``d``, stride ``s`` and padding ``p`` (span
    ``k' = d(k - 1) + 1``), with ``r``, ``j``, ``c`` the size, jump and start before it::

        r_out = r + (k' - 1) * j        j_out = j * s        c_out = c + ((k' - 1) / 2 - p) * j

    Layers without a window (activations, normalisation, dropout) keep the field as it is;
    a residual block's field is its body's; after global or adaptive pooling, ``Flatten``
    or ``Linear`` every unit sees the whole input.
    The size counts padded pixels too, so it can exceed the image.

    Parameters
    ----------
    layers : Sequential, list of Layer or Layer
        What to follow, first layer first.
    """
    layers = list(getattr(layers, "layers", None) or
                  (layers if isinstance(layers, (list, tuple)) else [layers]))
    size, jump, start = [1, 1], [1, 1], [0.0, 0.0]
    whole = False

    def advance(layer):
        nonlocal whole
        name = type(layer).__name__
        if name in ("Flatten", "Linear", "AdaptiveAvgPool2d"):  # bins grow with the input
            whole = True
        elif hasattr(layer, "body") or hasattr(layer, "layers"):  # Residual, Stack
            for inner in getattr(layer, "body", layer).layers:  # (a body's window is wider)
                advance(inner)
        elif hasattr(layer, "kernel_size") and not whole:
            pads = layer.pads  # ((top, bottom), (left, right)), 'same' resolved
            for axis in (0, 1):
                span = layer.dilation[axis] * (layer.kernel_size[axis] - 1) + 1
                start[axis] += ((span - 1) / 2 - pads[axis][0]) * jump[axis]
                size[axis] += (span - 1) * jump[axis]
                jump[axis] *= layer.stride[axis]

    fields = []
    for layer in layers:
        advance(layer)
        fields.append(ReceptiveField(type(layer).__name__, None if whole else (size[0], size[1]),
                                     (jump[0], jump[1]), (start[0], start[1])))
    return fields

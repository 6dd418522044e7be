"""Max and average pooling over (N, C, H, W)."""

from __future__ import annotations

from .. import backend
from ..shapes import pair, window_output_hw
from .base import Layer

__all__ = ["MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d"]


class _Pool2d(Layer):
    batched_ndim = 4
    input_layout = "(N, C, H, W)"

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1):
        super().__init__()
        self.kernel_size = pair(kernel_size, f"{self.name} kernel_size", minimum=1)
        self.stride = self.kernel_size if stride is None else \
            pair(stride, f"{self.name} stride", minimum=1)
        self.padding = pair(padding, f"{self.name} padding")
        self.dilation = pair(dilation, f"{self.name} dilation", minimum=1)
        if any(2 * p > k for p, k in zip(self.padding, self.kernel_size)):
            raise ValueError(f"{self.name}: padding should be at most half of kernel size, "
                             f"got padding={self.padding}, kernel_size={self.kernel_size}")
        self.pads = tuple((p, p) for p in self.padding)

    def output_shape(self, input_shape: tuple) -> tuple:
        """Output shape for an input shape ([N,] C, H, W); ValueError if the window cannot fit."""
        hw = window_output_hw(self.name, input_shape, self.kernel_size, self.stride, self.pads,
                              self.dilation, what="window")
        return (*input_shape[:-2], *hw)

    def config(self) -> dict:
        cfg = {"kernel_size": self.kernel_size, "stride": self.stride, "padding": self.padding}
        return cfg if isinstance(self, AvgPool2d) else {**cfg, "dilation": self.dilation}

    def extra_repr(self) -> str:
        s = f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"
        return s + (f", dilation={self.dilation}" if self.dilation != (1, 1) else "")


class MaxPool2d(_Pool2d):
    """Maximum over each window; padding counts as -inf.  Gradient goes to the maximum.

    (N, C, H, W) -> (N, C, Ho, Wo) with PyTorch's output size.  On ties the first maximum
    in row-major window order gets the gradient, as in PyTorch.

    Parameters
    ----------
    kernel_size : int or (int, int)
        The window's height and width.
    stride : int, (int, int) or None
        The step between windows; None: ``kernel_size`` (windows side by side).
    padding : int or (int, int)
        Rows and columns of -inf added on each side, at most half the window.
    dilation : int or (int, int)
        The spacing between the window's taps.
    """

    def _forward(self, x):
        self.output_shape(x.shape)
        self._ran = backend.current()
        out, self._saved = self._ran.max_pool2d_forward(x, self.kernel_size, self.stride,
                                                        self.pads, self.dilation)
        return out

    def _backward(self, dout):
        return self._ran.max_pool2d_backward(dout, self._saved)


class AvgPool2d(_Pool2d):
    """Mean over each window; zero padding counts in the mean (PyTorch's default).

    Parameters
    ----------
    kernel_size : int or (int, int)
        The window's height and width.
    stride : int, (int, int) or None
        The step between windows; None: ``kernel_size``.
    padding : int or (int, int)
        Rows and columns of zeros added on each side, at most half the window.
    """

    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__(kernel_size, stride, padding)

    def _forward(self, x):
        self.output_shape(x.shape)
        self._ran = backend.current()
        out, self._saved = self._ran.avg_pool2d_forward(x, self.kernel_size, self.stride,
                                                        self.pads)
        return out

    def _backward(self, dout):
        return self._ran.avg_pool2d_backward(dout, self._saved)


class AdaptiveAvgPool2d(Layer):
    """The mean over each of ``output_size`` bins, whatever the input's size (PyTorch's
    bins: output row i averages input rows ``floor(i*H/oh)`` to ``ceil((i+1)*H/oh)``).

    ``AdaptiveAvgPool2d(1)`` is global average pooling: (N, C, H, W) -> (N, C, 1, 1), the
    head of ResNet and every network after it.

    Parameters
    ----------
    output_size : int or (int or None, int or None)
        The output's (oh, ow); None in a place keeps the input's size there.
    """

    batched_ndim = 4
    input_layout = "(N, C, H, W)"

    def __init__(self, output_size):
        super().__init__()
        if isinstance(output_size, (tuple, list)) and len(output_size) == 2 and None in output_size:
            given = [v for v in output_size if v is not None]
            if given:
                pair(given[0], "AdaptiveAvgPool2d output_size", minimum=1)
            self.output_size = tuple(output_size)
        else:
            self.output_size = pair(output_size, "AdaptiveAvgPool2d output_size", minimum=1)

    def _sizes(self, input_shape: tuple) -> tuple[int, int]:
        if len(input_shape) < 3 or not all(input_shape[-2:]):
            raise ValueError(f"AdaptiveAvgPool2d: expected input ([N,] C, H, W) with H, W >= 1,"
                             f" got input shape {tuple(input_shape)}")
        return tuple(int(size if out is None else out)
                     for out, size in zip(self.output_size, input_shape[-2:]))

    def output_shape(self, input_shape: tuple) -> tuple:
        return (*input_shape[:-2], *self._sizes(input_shape))

    def _forward(self, x):
        self._ran = backend.current()
        out, self._saved = self._ran.adaptive_avg_pool2d_forward(x, self._sizes(x.shape))
        return out

    def _backward(self, dout):
        return self._ran.adaptive_avg_pool2d_backward(dout, self._saved)

    def config(self) -> dict:
        return {"output_size": self.output_size}

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"

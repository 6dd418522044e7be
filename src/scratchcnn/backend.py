"""Which path the layers compute on: ``"textbook"`` or ``"fast"`` (the default).

    import scratchcnn as sc
    sc.use("textbook")              # every layer now calls scratchcnn.textbook
    with sc.using("fast"):          # ... and the fast kernels inside the block
        model.fit(x, y)

Both paths give the same results (to float rounding; the tests prove it), so a model
trained on one runs on the other.  A layer's backward always runs on the path its
forward ran on.
"""

from __future__ import annotations

from contextlib import contextmanager

import numpy as np

from . import kernels, textbook

__all__ = ["use", "using", "current", "PATHS"]


class TextbookPath:
    """The layers' calls, answered by :mod:`scratchcnn.textbook`."""

    name = "textbook"
    #: whether a layer may compute itself together with the next (the fast path's fusion)
    fuses = False

    def conv2d_forward(self, x, weight, bias, stride, pads, dilation, workspace):
        groups = x.shape[1] // weight.shape[1]  # weight (O, C/groups, kh, kw)
        with np.errstate(invalid="ignore"):  # NaN and inf in x: NaN, silently, as PyTorch
            if groups > 1:
                return textbook.grouped_conv2d_forward(x, weight, bias, groups, stride, pads,
                                                       dilation)
            return textbook.conv2d_forward(x, weight, bias, stride, pads, dilation)

    def conv2d_backward(self, dout, weight, saved, need_dx, workspace):
        with np.errstate(invalid="ignore"):
            if isinstance(saved, list):  # one saved dict a group
                return textbook.grouped_conv2d_backward(dout, weight, saved, need_dx)
            return textbook.conv2d_backward(dout, weight, saved, need_dx)

    def max_pool2d_forward(self, x, kernel_size, stride, pads, dilation):
        return textbook.max_pool2d_forward(x, kernel_size, stride, pads, dilation)

    def max_pool2d_backward(self, dout, saved):
        return textbook.max_pool2d_backward(dout, saved)

    def avg_pool2d_forward(self, x, kernel_size, stride, pads):
        return textbook.avg_pool2d_forward(x, kernel_size, stride, pads)

    def avg_pool2d_backward(self, dout, saved):
        return textbook.avg_pool2d_backward(dout, saved)

    def adaptive_avg_pool2d_forward(self, x, output_size):
        return textbook.adaptive_avg_pool2d_forward(x, output_size)

    def adaptive_avg_pool2d_backward(self, dout, saved):
        return textbook.adaptive_avg_pool2d_backward(dout, saved)


class FastPath:
    """The layers' calls, answered by :mod:`scratchcnn.kernels`."""

    name = "fast"
    fuses = True
    conv2d_forward = staticmethod(kernels.conv2d_forward)

    def conv2d_backward(self, dout, weight, saved, need_dx, workspace):
        return kernels.conv2d_backward(dout, weight, saved, need_dx, workspace)

    max_pool2d_forward = staticmethod(kernels.max_pool2d_forward)
    max_pool2d_backward = staticmethod(kernels.max_pool2d_backward)
    avg_pool2d_forward = staticmethod(kernels.avg_pool2d_forward)
    avg_pool2d_backward = staticmethod(kernels.avg_pool2d_backward)
    adaptive_avg_pool2d_forward = staticmethod(kernels.adaptive_avg_pool2d_forward)
    adaptive_avg_pool2d_backward = staticmethod(kernels.adaptive_avg_pool2d_backward)


PATHS = {"textbook": TextbookPath(), "fast": FastPath()}
_current = PATHS["fast"]


def current():
    """The path layers compute on now (``current().name`` is ``"textbook"`` or ``"fast"``)."""
    return _current


def use(name: str) -> None:
    """Make every layer compute on the path ``name``: ``"textbook"`` or ``"fast"``."""
    global _current
    if name not in PATHS:
        raise ValueError(f"scratchcnn.use: unknown path {name!r}, expected 'textbook' or "
                         "'fast'")
    _current = PATHS[name]


@contextmanager
def using(name: str):
    """Within the block, every layer computes on the path ``name``; afterwards on the one
    before."""
    before = _current.name
    use(name)
    try:
        yield PATHS[name]
    finally:
        use(before)

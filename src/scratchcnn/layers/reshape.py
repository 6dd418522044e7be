"""Flatten: merge a range of axes into one."""

from __future__ import annotations

from .base import Layer

__all__ = ["Flatten"]


class Flatten(Layer):
    """Merge axes ``start_dim..end_dim`` (inclusive), as ``torch.nn.Flatten``.

    (N, C, H, W) -> (N, C*H*W) with the defaults.  Like PyTorch, a 3-D input is not
    treated as unbatched: (C, H, W) -> (C, H*W).

    Parameters
    ----------
    start_dim : int
        The first axis merged (negative: counted from the end).
    end_dim : int
        The last axis merged, included.
    """

    def __init__(self, start_dim: int = 1, end_dim: int = -1):
        super().__init__()
        self.start_dim, self.end_dim = int(start_dim), int(end_dim)

    def _axes(self, ndim: int) -> tuple[int, int]:
        start = self.start_dim + ndim if self.start_dim < 0 else self.start_dim
        end = self.end_dim + ndim if self.end_dim < 0 else self.end_dim
        if not (0 <= start < max(ndim, 1) and 0 <= end < max(ndim, 1)) or start > end:
            raise ValueError(f"Flatten: start_dim={self.start_dim}, end_dim={self.end_dim} "
                             f"do not fit an input of {ndim} dims")
        return start, end

    def output_shape(self, input_shape: tuple) -> tuple:
        start, end = self._axes(len(input_shape))
        merged = 1
        for s in input_shape[start:end + 1]:
            merged *= s
        return (*input_shape[:start], merged, *input_shape[end + 1:])

    def _forward(self, x):
        self._x_shape = x.shape
        if x.ndim == 0:
            return x.reshape(1)
        return x.reshape(self.output_shape(x.shape))

    def _backward(self, dout):
        return dout.reshape(self._x_shape)

    def config(self) -> dict:
        return {"start_dim": self.start_dim, "end_dim": self.end_dim}

    def extra_repr(self):
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"

"""Element-wise activations: any input shape, output of the same shape."""

from __future__ import annotations

import numpy as np

from .base import Layer

__all__ = ["ReLU", "LeakyReLU", "Sigmoid", "Tanh"]


class ReLU(Layer):
    """``max(x, 0)``; the gradient is passed where the output is positive."""

    def _forward(self, x):
        self._positive = x > 0
        return np.maximum(x, 0, dtype=x.dtype)

    def _backward(self, dout):
        return dout * self._positive


class LeakyReLU(ReLU):
    """``x`` where ``x > 0``, else ``negative_slope * x``."""

    def __init__(self, negative_slope: float = 0.01):
        super().__init__()
        self.negative_slope = float(negative_slope)

    def _forward(self, x):
        self._positive = x > 0
        return np.where(self._positive, x, x * x.dtype.type(self.negative_slope))

    def _backward(self, dout):
        return np.where(self._positive, dout, dout * dout.dtype.type(self.negative_slope))

    def config(self) -> dict:
        return {"negative_slope": self.negative_slope}

    def extra_repr(self):
        return f"negative_slope={self.negative_slope}"


class Sigmoid(Layer):
    """``1 / (1 + exp(-x))``, computed without overflow for large ``|x|``."""

    def _forward(self, x):
        e = np.exp(-np.abs(x))  # in (0, 1]: never overflows
        self._y = np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)
        return self._y

    def _backward(self, dout):
        return dout * self._y * (1 - self._y)


class Tanh(Layer):
    """``tanh(x)``; its derivative is ``1 - tanh(x)^2``."""

    def _forward(self, x):
        self._y = np.tanh(x)
        return self._y

    def _backward(self, dout):
        return dout * (1 - self._y * self._y)

"""Dropout: zero a random fraction p of activations while training."""

from __future__ import annotations

from ..init import as_generator
from .base import Layer

__all__ = ["Dropout"]


class Dropout(Layer):
    """In training, each element is kept with probability 1-p and scaled by 1/(1-p);
    in evaluation the layer is the identity (inverted dropout, as PyTorch).

    The mask comes from the layer's own ``numpy.random.Generator`` (``rng``), whose state
    is part of ``Trainer.state_dict()``, so that a resumed run draws the same masks.

    Parameters
    ----------
    p : float
        The probability that an element is zeroed, in [0, 1].
    rng : numpy.random.Generator, int or None
        The mask's generator, or a seed for one (None: a fresh, unseeded one).
    """

    def __init__(self, p: float = 0.5, rng=None):
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"Dropout: p must be in [0, 1], got {p}")
        self.p = float(p)
        self.rng = as_generator(rng)

    def _forward(self, x):
        if not self.training or self.p == 0.0:
            self._scale = None
            return x
        if self.p == 1.0:
            self._scale = x.dtype.type(0) * x
            return self._scale.copy()
        keep = self.rng.random(x.shape, dtype=x.dtype if x.dtype.itemsize in (4, 8) else None)
        self._scale = (keep >= self.p).astype(x.dtype) * x.dtype.type(1.0 / (1.0 - self.p))
        return x * self._scale

    def _backward(self, dout):
        return dout if self._scale is None else dout * self._scale

    def config(self) -> dict:
        return {"p": self.p}

    def extra_repr(self):
        return f"p={self.p}"

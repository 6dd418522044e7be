"""Linear: the fully connected (affine) layer."""

from __future__ import annotations

import numpy as np

from ..init import as_generator, default_
from .base import Layer

__all__ = ["Linear"]


class Linear(Layer):
    """``y = x @ weight.T + bias`` over the last axis: (*, in_features) -> (*, out_features).

    weight is (out_features, in_features) and bias (out_features,), initialised as
    PyTorch does, U(-1/sqrt(in_features), 1/sqrt(in_features)).

    Parameters
    ----------
    in_features : int
        The size of the input's last axis.
    out_features : int
        The size of the output's last axis.
    bias : bool
        Whether to add a bias.
    rng : numpy.random.Generator, int or None
        The initialisation's generator, or a seed for one.
    dtype : numpy dtype
        The parameters' dtype.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, rng=None,
                 dtype=np.float32):
        super().__init__()
        for what, v in (("in_features", in_features), ("out_features", out_features)):
            if not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f"Linear: {what} must be a positive int, got {v!r}")
        self.in_features, self.out_features = int(in_features), int(out_features)
        self.params["weight"] = np.empty((out_features, in_features), dtype)
        if bias:
            self.params["bias"] = np.empty(out_features, dtype)
        default_(self.params["weight"], self.params.get("bias"), as_generator(rng))

    def output_shape(self, input_shape: tuple) -> tuple:
        """(*, out_features) for an input (*, in_features); ValueError for any other."""
        if not input_shape or input_shape[-1] != self.in_features:
            raise ValueError(f"Linear: expected input (*, {self.in_features}) with "
                             f"{self.in_features} features on the last axis, got shape "
                             f"{tuple(input_shape)}")
        return (*input_shape[:-1], self.out_features)

    def _forward(self, x):
        self.output_shape(x.shape)
        self._x = x
        y = x @ self.params["weight"].T
        if "bias" in self.params:
            y += self.params["bias"]
        return y

    def _backward(self, dout):
        x2 = self._x.reshape(-1, self.in_features)
        d2 = dout.reshape(-1, self.out_features)
        self.grads["weight"] = d2.T @ x2
        if "bias" in self.params:
            self.grads["bias"] = d2.sum(axis=0)
        if not self.needs_input_grad:
            return None
        return (d2 @ self.params["weight"]).reshape(self._x.shape)

    @classmethod
    def state_shapes(cls, config: dict, shapes_of=None) -> dict[str, tuple]:
        o = int(config["out_features"])
        shapes = {"weight": (o, int(config["in_features"]))}
        return {**shapes, "bias": (o,)} if config.get("bias", True) else shapes

    def config(self) -> dict:
        return {"in_features": self.in_features, "out_features": self.out_features,
                "bias": "bias" in self.params}

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}"
                + ("" if "bias" in self.params else ", bias=False"))

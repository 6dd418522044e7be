"""Batch normalisation over (N, C) and (N, C, H, W), as ``torch.nn.BatchNorm1d/2d``."""

from __future__ import annotations

import numpy as np

from .base import Layer

__all__ = ["BatchNorm1d", "BatchNorm2d"]


class _BatchNorm(Layer):
    """y = (x - mean) / sqrt(var + eps) * weight + bias, per channel (axis 1).

    Training: mean and biased variance of the batch (over every axis but 1); the running
    statistics move by ``momentum`` towards the batch mean and the *unbiased* variance.
    Evaluation: the running statistics.  ``weight`` starts at 1 and ``bias`` at 0.
    """

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1,
                 dtype=np.float32):
        super().__init__()
        if not isinstance(num_features, (int, np.integer)) or num_features < 1:
            raise ValueError(f"{self.name}: num_features must be a positive int, "
                             f"got {num_features!r}")
        self.num_features, self.eps, self.momentum = int(num_features), float(eps), float(momentum)
        self.params["weight"] = np.ones(num_features, dtype)
        self.params["bias"] = np.zeros(num_features, dtype)
        self.buffers["running_mean"] = np.zeros(num_features, dtype)
        self.buffers["running_var"] = np.ones(num_features, dtype)

    def _axes(self, x):
        return (0,) + tuple(range(2, x.ndim))

    def _shape(self, x):
        return (1, self.num_features) + (1,) * (x.ndim - 2)

    def _forward(self, x):
        self._check_size(x, 1, self.num_features, "features (axis 1)")
        axes, shape = self._axes(x), self._shape(x)
        if self.training:
            count = x.size // self.num_features
            if count < 2:
                raise ValueError(f"{self.name}: expected more than 1 value per channel when "
                                 f"training, got input shape {x.shape}")
            mean = x.mean(axis=axes)
            centred = x - mean.reshape(shape)
            var = np.mean(centred * centred, axis=axes)
            m = self.momentum
            self.buffers["running_mean"] *= 1 - m
            self.buffers["running_mean"] += m * mean
            self.buffers["running_var"] *= 1 - m
            self.buffers["running_var"] += m * var * (count / (count - 1))
        else:
            mean, var = self.buffers["running_mean"], self.buffers["running_var"]
            centred = x - mean.reshape(shape)
        inv_std = (1.0 / np.sqrt(var + self.eps)).astype(x.dtype)
        self._xhat = centred * inv_std.reshape(shape)
        self._inv_std, self._batch_stats = inv_std, self.training
        return self._xhat * self.params["weight"].reshape(shape) + self.params["bias"].reshape(shape)

    def _backward(self, dout):
        axes, shape = self._axes(dout), self._shape(dout)
        xhat = self._xhat
        dbias = dout.sum(axis=axes)
        dweight = np.sum(dout * xhat, axis=axes)
        self.grads["weight"], self.grads["bias"] = dweight, dbias
        scale = (self.params["weight"] * self._inv_std).reshape(shape)
        if not self._batch_stats:
            return dout * scale
        count = dout.size // self.num_features
        # d/dx of the batch statistics: subtract the mean of dout and its projection on xhat
        return scale * (dout - (dbias.reshape(shape) + xhat * dweight.reshape(shape)) / count)

    def config(self) -> dict:
        return {"num_features": self.num_features, "eps": self.eps, "momentum": self.momentum}

    def extra_repr(self):
        return f"{self.num_features}, eps={self.eps}, momentum={self.momentum}"


class BatchNorm1d(_BatchNorm):
    """Over (N, C) or (N, C, L)."""

    def _as_input(self, x):
        x = super()._as_input(x)
        if x.ndim not in (2, 3):
            raise ValueError(f"BatchNorm1d: expected a 2-D (N, C) or 3-D (N, C, L) input, "
                             f"got shape {x.shape}")
        return x


class BatchNorm2d(_BatchNorm):
    """Over (N, C, H, W)."""

    def _as_input(self, x):
        x = super()._as_input(x)
        if x.ndim != 4:
            raise ValueError(f"BatchNorm2d: expected a 4-D input (N, C, H, W), got shape "
                             f"{x.shape}")
        return x

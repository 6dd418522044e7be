"""Batch normalisation over (N, C) and (N, C, H, W), as ``torch.nn.BatchNorm1d/2d``."""

from __future__ import annotations

import math

import numpy as np

from ..kernels.parallel import parallel_slices
from .base import Layer

__all__ = ["BatchNorm1d", "BatchNorm2d"]


class _BatchNorm(Layer):
    """What BatchNorm1d and BatchNorm2d share (the math is in :class:`BatchNorm2d`'s
    docstring)."""

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
        #: Training batches seen (PyTorch's ``num_batches_tracked``; not in model files)
        self.batches_tracked = 0

    def _forward(self, x):
        self._check_size(x, 1, self.num_features, "features (axis 1)")
        # (N, C, L): per channel, axis 1
        x3 = x.reshape(x.shape[0], self.num_features, math.prod(x.shape[2:]))
        n, c, length = x3.shape
        count = n * length
        if self.training and count == 1:
            raise ValueError(f"{self.name}: expected more than 1 value per channel when "
                             f"training, got input shape {x.shape}")
        weight, bias = self.params["weight"], self.params["bias"]
        mean, var = np.empty(c, x.dtype), np.empty(c, x.dtype)
        inv_std = np.empty(c, x.dtype)
        xhat, out = np.empty_like(x3), np.empty_like(x3)

        def normalise(ch):  # channels ch only, so threads may share the work
            xs, xh = x3[:, ch], xhat[:, ch]
            if self.training:
                mean[ch] = xs.sum(axis=2).sum(axis=0) / max(count, 1)
                np.subtract(xs, mean[ch, None], out=xh)
                var[ch] = np.einsum("ncl,ncl->c", xh, xh) / max(count, 1)
            else:
                mean[ch] = self.buffers["running_mean"][ch]
                var[ch] = self.buffers["running_var"][ch]
                np.subtract(xs, mean[ch, None], out=xh)
            inv_std[ch] = 1.0 / np.sqrt(var[ch] + self.eps)
            xh *= inv_std[ch, None]
            np.multiply(xh, weight[ch, None], out=out[:, ch])
            out[:, ch] += bias[ch, None]
        parallel_slices(normalise, c, x3.size)

        if self.training and count:  # an empty batch (as in PyTorch) leaves them alone
            self.batches_tracked += 1
            m = self.momentum
            self.buffers["running_mean"] *= 1 - m
            self.buffers["running_mean"] += m * mean
            self.buffers["running_var"] *= 1 - m
            self.buffers["running_var"] += m * var * (count / (count - 1))
        self._xhat, self._inv_std = xhat, inv_std
        self._batch_stats = self.training and count > 0
        return out.reshape(x.shape)

    def _backward(self, dout):
        xhat = self._xhat
        d3 = dout.reshape(xhat.shape)
        count = xhat.shape[0] * xhat.shape[2]
        dweight, dbias = np.empty(xhat.shape[1], dout.dtype), np.empty(xhat.shape[1], dout.dtype)
        scale = self.params["weight"] * self._inv_std
        dx = np.empty_like(d3)

        def grads(ch):
            ds, xh, dxs = d3[:, ch], xhat[:, ch], dx[:, ch]
            dbias[ch] = ds.sum(axis=2).sum(axis=0)
            dweight[ch] = np.einsum("ncl,ncl->c", ds, xh)
            if self._batch_stats:
                # d/dx of the batch statistics: subtract the mean of dout and its
                # projection on xhat, then scale
                np.multiply(xh, (-dweight[ch] / count)[:, None], out=dxs)
                dxs += ds
                dxs -= (dbias[ch] / count)[:, None]
                dxs *= scale[ch, None]
            else:
                np.multiply(ds, scale[ch, None], out=dxs)
        parallel_slices(grads, xhat.shape[1], xhat.size)
        self.grads["weight"], self.grads["bias"] = dweight, dbias
        return dx.reshape(dout.shape)

    @classmethod
    def state_shapes(cls, config: dict, shapes_of=None) -> dict[str, tuple]:
        shape = (int(config["num_features"]),)
        return {k: shape for k in ("weight", "bias", "running_mean", "running_var")}

    def config(self) -> dict:
        return {"num_features": self.num_features, "eps": self.eps, "momentum": self.momentum}

    def extra_repr(self):
        return f"{self.num_features}, eps={self.eps}, momentum={self.momentum}"


class BatchNorm1d(_BatchNorm):
    """:class:`BatchNorm2d`'s normalisation over (N, C) or (N, C, L): per feature C.

    Parameters
    ----------
    num_features : int
        C, the number of channels.
    eps : float
        Added to the variance before its square root.
    momentum : float
        How far the running statistics move towards each batch's.
    dtype : numpy dtype
        The dtype of the parameters and running statistics.
    """

    def _as_input(self, x):
        x = super()._as_input(x)
        if x.ndim not in (2, 3):
            raise ValueError(f"BatchNorm1d: expected a 2-D (N, C) or 3-D (N, C, L) input, "
                             f"got shape {x.shape}")
        return x


class BatchNorm2d(_BatchNorm):
    """``y = (x - mean) / sqrt(var + eps) * weight + bias`` per channel over (N, C, H, W).

    Training: mean and biased variance of the batch (over every axis but 1); the running
    statistics move by ``momentum`` towards the batch mean and the *unbiased* variance.
    Evaluation: the running statistics.  ``weight`` starts at 1 and ``bias`` at 0.

    Parameters
    ----------
    num_features : int
        C, the number of channels.
    eps : float
        Added to the variance before its square root.
    momentum : float
        How far the running statistics move towards each batch's.
    dtype : numpy dtype
        The dtype of the parameters and running statistics.
    """

    def _as_input(self, x):
        x = super()._as_input(x)
        if x.ndim != 4:
            raise ValueError(f"BatchNorm2d: expected a 4-D input (N, C, H, W), got shape "
                             f"{x.shape}")
        return x

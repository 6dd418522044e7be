"""Losses: ``forward(output, target) -> float`` then ``backward() -> d loss / d output``."""

from __future__ import annotations

import numpy as np

__all__ = ["CrossEntropyLoss", "MSELoss", "log_softmax", "softmax"]


def log_softmax(logits: np.ndarray, axis: int = -1) -> np.ndarray:
    """log(softmax(logits)) by log-sum-exp: exact for logits of any size.

    Parameters
    ----------
    logits : numpy.ndarray
        The scores, e.g. (N, K).
    axis : int
        The axis the softmax runs over.
    """
    shifted = logits - logits.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


def softmax(logits: np.ndarray, axis: int = -1) -> np.ndarray:
    e = np.exp(logits - logits.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


class CrossEntropyLoss:
    """Softmax cross-entropy on logits (N, K), mean over the batch.

    ``target`` is either integer class indices (N,) or a (N, K) array of class
    probabilities (one-hot or soft), as ``torch.nn.CrossEntropyLoss``.  With
    ``label_smoothing`` = e the target becomes (1 - e) * target + e / K, as in torch:
    the net is not pushed to infinitely confident logits.
    """

    def __init__(self, label_smoothing: float = 0.0):
        if isinstance(label_smoothing, bool) or not isinstance(label_smoothing, (int, float)) \
                or not 0 <= label_smoothing <= 1:
            raise ValueError(f"CrossEntropyLoss: label_smoothing must be a number in [0, 1], "
                             f"got {label_smoothing!r}")
        self.label_smoothing = float(label_smoothing)

    def forward(self, logits, target) -> float:
        logits = np.asarray(logits)
        if logits.ndim != 2:
            raise ValueError(f"CrossEntropyLoss: expected logits (N, classes), got shape "
                             f"{logits.shape}")
        n, k = logits.shape
        target = np.asarray(target)
        if target.ndim == 1:
            if target.shape[0] != n or target.dtype.kind not in "iu":
                raise ValueError(f"CrossEntropyLoss: expected {n} integer labels for logits "
                                 f"{logits.shape}, got {target.dtype} labels of shape "
                                 f"{target.shape}")
            if n and (target.min() < 0 or target.max() >= k):
                raise ValueError(f"CrossEntropyLoss: labels must be in [0, {k}), got range "
                                 f"[{target.min()}, {target.max()}]")
            probs = np.zeros_like(logits)
            probs[np.arange(n), target] = 1
        elif target.shape == logits.shape:
            probs = target.astype(logits.dtype, copy=False)
        else:
            raise ValueError(f"CrossEntropyLoss: target must be labels (N,) or probabilities "
                             f"{logits.shape}, got shape {target.shape}")
        if self.label_smoothing:
            probs = probs * (1 - self.label_smoothing) + self.label_smoothing / k
        with np.errstate(over="ignore", invalid="ignore"):  # diverged logits: inf or NaN,
            logp = log_softmax(logits)                     # silently, for fit's guard
            self._grad = (np.exp(logp) - probs) / max(n, 1)
            # the mean over an empty batch is NaN, as in PyTorch (and without NumPy's warning)
            return float(-(probs * logp).sum() / n) if n else float("nan")

    __call__ = forward

    def backward(self) -> np.ndarray:
        """d loss / d logits, (N, K)."""
        return self._grad


class MSELoss:
    """Mean of squared differences over every element."""

    def forward(self, output, target) -> float:
        output, target = np.asarray(output), np.asarray(target)
        if output.shape != target.shape:
            raise ValueError(f"MSELoss: output {output.shape} and target {target.shape} "
                             f"must have the same shape")
        diff = output - target.astype(output.dtype, copy=False)
        self._grad = 2 * diff / max(diff.size, 1)
        return float(np.mean(diff * diff)) if diff.size else float("nan")  # as PyTorch

    __call__ = forward

    def backward(self) -> np.ndarray:
        return self._grad


LOSSES = {"cross_entropy": CrossEntropyLoss, "mse": MSELoss}

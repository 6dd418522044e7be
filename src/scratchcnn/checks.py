"""What ``fit``, ``evaluate`` and ``predict`` are handed, checked before any work.

Each check raises one ``TypeError`` (wrong kind of array) or ``ValueError`` (wrong
shape, size or values) naming the argument, what was expected and what came.  The rules:

- images are numeric arrays, never bool, string or object; integers only as 0/1;
- a model whose first layer is a ``Conv2d`` takes (N, C, H, W) with its channel count
  and float pixels in [0, 1] (8-bit images: divide by 255 first); one that starts with a
  ``Linear`` takes (N, ..., in_features);
- no NaN or infinity; at least one sample;
- class labels are integers in [0, K) for a model of K outputs, one per sample
  (or (N, K) class probabilities for the cross-entropy, (N, K) targets for MSE).
"""

from __future__ import annotations

import numpy as np

from .layers import Conv2d, Linear
from .losses import CrossEntropyLoss

__all__ = ["images", "targets"]


def _array(value, what: str) -> np.ndarray:
    try:
        arr = np.asarray(value)
    except ValueError as err:  # ragged nested lists
        raise TypeError(f"{what} must be a numeric array, got {type(value).__name__} that "
                        f"NumPy cannot make one array of ({err})") from None
    if arr.dtype.kind == "b":
        raise TypeError(f"{what} must be a numeric array, got a bool array {arr.shape}")
    if arr.dtype.kind not in "iuf":
        raise TypeError(f"{what} must be a numeric array, got dtype {arr.dtype} "
                        f"({type(value).__name__})")
    return arr


def _finite(arr: np.ndarray, what: str) -> None:
    # NaN and inf make the sum non-finite: only then the exact (and memory-hungry) search
    if arr.dtype.kind == "f" and not np.isfinite(arr.sum(dtype=np.float64)):
        bad = ~np.isfinite(arr)
        if bad.any():
            first = np.unravel_index(int(np.argmax(bad)), arr.shape)
            raise ValueError(f"{what} holds {int(bad.sum()):,} NaN or infinite values (the "
                             f"first at index {tuple(int(i) for i in first)}); clean or drop "
                             "those samples")
        raise ValueError(f"{what}: its values are so large that their sum overflows")


def images(x, model, what: str = "x") -> np.ndarray:
    """``x`` as an array the model can take (see the module docstring), or an error."""
    arr = _array(x, what)
    if arr.ndim == 0 or len(arr) == 0:
        raise ValueError(f"{what} is empty: expected at least one sample, got shape {arr.shape}")
    first = model.layers[0] if model.layers else None
    if isinstance(first, Conv2d):
        c = first.in_channels
        if arr.ndim == 3:
            hint = ": add the channel axis, x[:, None]" if c == 1 else ""
            raise ValueError(f"{what} must be images (N, C, H, W) with C = {c}, got shape "
                             f"{arr.shape} (no channel axis?){hint}")
        if arr.ndim != 4:
            raise ValueError(f"{what} must be images (N, C, H, W) with C = {c}, got shape "
                             f"{arr.shape}")
        if arr.shape[1] != c:
            raise ValueError(f"{what} has {arr.shape[1]} channels (shape {arr.shape}), but "
                             f"the model's first layer, Conv2d, takes {c}")
    elif isinstance(first, Linear) and (arr.ndim < 2 or arr.shape[-1] != first.in_features):
        raise ValueError(f"{what} must be (N, ..., {first.in_features}) for the model's first "
                         f"layer, Linear({first.in_features}, ...), got shape {arr.shape}")
    _finite(arr, what)
    if arr.dtype.kind in "iu" and arr.max() > 1 or arr.dtype.kind == "i" and arr.min() < 0:
        raise ValueError(f"{what}: models take float pixels in [0, 1], got {arr.dtype} values "
                         f"in [{arr.min()}, {arr.max()}]; scale them first (8-bit images: "
                         f"x / 255.0)")
    if isinstance(first, Conv2d) and arr.dtype.kind == "f":
        low, high = float(arr.min()), float(arr.max())
        if low < 0 or high > 1:
            raise ValueError(f"{what}: models take pixels in [0, 1], got values in "
                             f"[{low:.4g}, {high:.4g}]; scale them first (8-bit images: "
                             f"x / 255.0)")
    return arr


def targets(y, n: int, outputs: int, loss, what: str = "y") -> np.ndarray:
    """Labels (or targets) for ``n`` samples of a model with ``outputs`` outputs."""
    arr = _array(y, what)
    if arr.ndim == 0 or len(arr) != n:
        raise ValueError(f"x has {n:,} samples but {what} has "
                         f"{len(arr) if arr.ndim else 'no'} (shape {arr.shape}); give one "
                         f"{'label' if arr.ndim <= 1 else 'target'} per sample")
    if isinstance(loss, CrossEntropyLoss) and arr.ndim == 1:
        if arr.dtype.kind not in "iu":
            raise TypeError(f"{what} must be integer class labels, got {arr.dtype} (float "
                            f"labels: {what}.astype(int) if they are whole numbers)")
        if arr.min() < 0 or arr.max() >= outputs:
            raise ValueError(f"{what} must be class labels in [0, {outputs}) for the model's "
                             f"{outputs} outputs, got values in [{arr.min()}, {arr.max()}]")
        return arr
    if arr.shape != (n, outputs):
        raise ValueError(f"{what} must be labels (N,) or targets (N, {outputs}) for the model's "
                         f"{outputs} outputs, got shape {arr.shape}")
    _finite(arr, what)
    return arr

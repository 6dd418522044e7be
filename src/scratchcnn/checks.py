"""What ``fit``, ``evaluate`` and ``predict`` are handed, checked before any work.

Each check raises one ``TypeError`` (wrong kind of array) or ``ValueError`` (wrong
shape, size or values) naming the argument, what was expected and what came.  The rules:

- images are numeric arrays, never bool, string or object, of any finite real values
  (pixels in [0, 1], standardised features, ...), with two exceptions that are almost
  surely a mistake (:func:`pixel_scale`): 8-bit integer images (0-255), and data that
  look like raw 0-255 pixels given to a model trained on data in [0, 1];
- a model whose first layer is a ``Conv2d`` takes (N, C, H, W) with its channel count;
  one that starts with a ``Linear`` takes (N, ..., in_features);
- no NaN or infinity; at least one sample;
- class labels are integers in [0, K) for a model of K outputs, one per sample
  (or (N, K) class probabilities for the cross-entropy, (N, K) targets for MSE).
"""

from __future__ import annotations

import numpy as np

from .layers import Conv2d, Linear
from .losses import CrossEntropyLoss

__all__ = ["images", "targets", "pixel_scale", "input_range", "storable", "count",
           "state_arrays"]


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


def storable(value: np.ndarray, what: str, dtype=np.float32) -> None:
    """A ValueError naming ``what`` unless every value of ``value`` is finite and within
    ``dtype``'s range: a float64 1e300 read into a float32 model would become inf."""
    if value.dtype.kind not in "iuf" or not value.size:
        return
    with np.errstate(invalid="ignore", over="ignore"):
        largest = float(np.max(np.abs(value)))
    if not np.isfinite(value).all():
        raise ValueError(f"{what} holds NaN or inf")
    limit = float(np.finfo(dtype).max) if np.dtype(dtype).kind == "f" else float("inf")
    if largest > limit:
        raise ValueError(f"{what} holds values beyond {np.dtype(dtype)}'s range (up to "
                         f"{largest:.3g}; {np.dtype(dtype)} reaches {limit:.3g})")


def count(what: str, value, least: int) -> None:
    """A ValueError naming ``what`` unless ``value`` is an int (not a bool) >= ``least``:
    epochs, batch sizes."""
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < least:
        raise ValueError(f"{what} must be an int >= {least}, got {value!r}")


def state_arrays(state: dict, expected: dict, dtype, noun: str = "weight") -> None:
    """A ValueError unless ``state`` holds exactly the arrays ``expected`` names (key:
    shape), each of its shape, a float array finite and within ``dtype``'s range: what a
    model file's or a safetensors file's weights must be before any is loaded."""
    missing, extra = sorted(set(expected) - set(state)), sorted(set(state) - set(expected))
    if missing or extra:
        raise ValueError(f"{noun}s missing: {missing}, unexpected: {extra}")
    for key, shape in expected.items():
        value = state[key]
        if value.shape != tuple(shape):
            raise ValueError(f"{noun} {key!r} has shape {value.shape}, expected {tuple(shape)}")
        if value.dtype.kind != "f":
            raise ValueError(f"{noun} {key!r} is {value.dtype}, not a float array")
        storable(value, f"{noun} {key!r}", dtype)


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
    pixel_scale(arr, model, what)
    return arr


#: How far past 1 data may reach before they "look like 0-255 pixels" to a model
#: trained on [0, 1] (augmentation and resizing overshoot a little; raw pixels reach 255).
_PIXEL_HINT = 2.0


def input_range(x: np.ndarray) -> list[float]:
    """[min, max] of a training set, kept in ``model.meta['input_range']`` by ``fit``."""
    return [float(x.min()), float(x.max())]


def pixel_scale(arr: np.ndarray, model, what: str = "x") -> None:
    """Refuse 8-bit integer images, and float data that look like raw 0-255 pixels (all
    in [0, 255], some above 2) given to a model trained on data in [0, 1]."""
    if arr.dtype.kind in "iu" and arr.size:
        low, high = int(arr.min()), int(arr.max())
        if high > 1 and (arr.dtype == np.uint8 or (low >= 0 and high <= 255)):
            raise ValueError(f"{what} holds {arr.dtype} values in [{low}, {high}]: 8-bit "
                             f"images with pixels 0-255, it seems; models take real "
                             f"values: scale them first, x / 255.0 (pixels in [0, 1])")
        return
    trained = (getattr(model, "meta", None) or {}).get("input_range")
    if arr.size and _looks_like_unit(trained):
        low, high = float(arr.min()), float(arr.max())
        if low >= 0 and _PIXEL_HINT < high <= 255:
            raise ValueError(f"{what} holds values in [{low:.4g}, {high:.4g}], like raw "
                             f"0-255 pixels, but the model was trained on data in "
                             f"[{trained[0]:.4g}, {trained[1]:.4g}]; divide by 255.0 first")


def _looks_like_unit(trained) -> bool:
    return isinstance(trained, (list, tuple)) and len(trained) == 2 and \
        all(isinstance(v, (int, float)) for v in trained) and \
        0 <= trained[0] and trained[1] <= 1


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

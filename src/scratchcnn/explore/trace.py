"""What the explore page shows, computed by the library's own layers: every layer's output
for one image, and how one output pixel came to be, in the textbook's terms (the window
:func:`scratchcnn.textbook.sliding_windows` reads, the weights, their products and sum).

Everything here is plain NumPy on one image; :mod:`.server` turns it into JSON.
"""

from __future__ import annotations

import numpy as np

from .. import textbook
from ..layers import (AvgPool2d, BatchNorm2d, Conv2d, LeakyReLU, MaxPool2d, ReLU, Sigmoid,
                      Tanh)
from ..losses import softmax

__all__ = ["normalised", "layer_outputs", "probabilities", "explain", "EXPLAINED"]

#: The layers whose output pixels :func:`explain` takes apart.
EXPLAINED = (Conv2d, MaxPool2d, AvgPool2d, ReLU, Sigmoid, Tanh, BatchNorm2d)


def normalised(model, image: np.ndarray) -> np.ndarray:
    """One image (C, H, W) in [0, 1] as the first layer sees it, batched: (1, C, H, W),
    after the model's own ``(x - input_mean) / input_std`` if it has one."""
    dtype = model.dtype
    x = np.asarray(image, dtype)[None]
    if model.input_mean is None:
        return x
    shape = (-1, 1, 1) if model.input_mean.ndim == 1 else ()
    mean = model.input_mean.reshape(shape).astype(dtype)
    inv = (1.0 / model.input_std).reshape(shape).astype(dtype)
    return (x - mean) * inv


def layer_outputs(model, image: np.ndarray) -> list[np.ndarray]:
    """``[input, output of layer 0, output of layer 1, ...]`` for one image (C, H, W), each
    without its batch axis: ``input`` is the normalised image, so entry ``i`` is what
    layer ``i`` reads and entry ``i + 1`` what it wrote.  Evaluation mode, each layer run
    on its own (the model's state is left as it was)."""
    was_training = model.training
    model.eval()
    try:
        x = normalised(model, image)
        found = [x[0]]
        for layer in model.layers:
            x = layer.forward(x)
            found.append(x[0])
        return found
    finally:
        model.train(was_training)


def probabilities(outputs: list[np.ndarray]) -> np.ndarray:
    """The class probabilities (K,) from the last layer's logits."""
    return softmax(outputs[-1][None].astype(np.float64))[0]


def _numbers(a) -> list:
    """Nested lists of floats, None where JSON cannot hold the value (padding's -inf)."""
    a = np.asarray(a, np.float64)
    return np.where(np.isfinite(a), a, None).tolist()


def _window(before: np.ndarray, layer, y: int, x: int, value: float = 0.0):
    """The window of output pixel (y, x): ``(windows (C, kh, kw), rows, cols)``, read by
    the textbook's ``pad`` and ``sliding_windows`` from ``before`` (C, H, W) padded with
    ``value``; rows and cols are the input positions (outside 0..H-1 / 0..W-1: padding)."""
    (top, _), (left, _) = layer.pads
    (kh, kw), (sh, sw), (dh, dw) = layer.kernel_size, layer.stride, layer.dilation
    xp = textbook.pad(before[None], layer.pads, value)
    windows = textbook.sliding_windows(xp, layer.kernel_size, layer.stride, layer.dilation)
    rows = [y * sh - top + i * dh for i in range(kh)]
    cols = [x * sw - left + j * dw for j in range(kw)]
    return windows[0, :, :, :, y, x], rows, cols


def _inside(rows, cols, shape) -> np.ndarray:
    """(kh, kw) True where the window lies inside the input (False: padding)."""
    h, w = shape
    r, c = np.asarray(rows), np.asarray(cols)
    return ((r >= 0) & (r < h))[:, None] & ((c >= 0) & (c < w))[None, :]


def _conv(layer, before, channel, y, x) -> dict:
    groups, out_per_group = layer.groups, layer.out_channels // layer.groups
    per_group = layer.in_channels // groups
    first = channel // out_per_group * per_group
    windows, rows, cols = _window(before, layer, y, x)
    window = windows[first:first + per_group].astype(np.float64)       # (Cg, kh, kw)
    weights = layer.params["weight"][channel].astype(np.float64)       # (Cg, kh, kw)
    products = window * weights
    bias = layer.params.get("bias")
    bias = None if bias is None else float(bias[channel])
    total = float(products.sum())
    return {"kind": "conv", "channels": list(range(first, first + per_group)),
            "rows": rows, "cols": cols,
            "inside": _inside(rows, cols, before.shape[1:]).tolist(),
            "window": _numbers(window), "weights": _numbers(weights),
            "products": _numbers(products), "sum": total, "bias": bias,
            "result": total + (bias or 0.0)}


def _pool(layer, before, channel, y, x) -> dict:
    biggest = isinstance(layer, MaxPool2d)
    windows, rows, cols = _window(before[channel:channel + 1], layer, y, x,
                                  -np.inf if biggest else 0.0)
    window = windows[0].astype(np.float64)                             # (kh, kw)
    if biggest:
        at = np.unravel_index(int(np.argmax(window)), window.shape)
        result, chosen = float(window[at]), [int(at[0]), int(at[1])]
    else:  # zero padding counts in the mean, as in PyTorch
        result, chosen = float(window.mean()), None
    return {"kind": "maxpool" if biggest else "avgpool", "channels": [channel],
            "rows": rows, "cols": cols,
            "inside": _inside(rows, cols, before.shape[1:]).tolist(),
            "window": _numbers(window), "chosen": chosen, "count": int(window.size),
            "result": result}


def _pointwise(layer, before, channel, y, x) -> dict:
    v = float(before[channel, y, x])
    found = {"channels": [channel], "rows": [y], "cols": [x], "inside": [[True]],
             "input": v}
    if isinstance(layer, BatchNorm2d):
        mean = float(layer.buffers["running_mean"][channel])
        var = float(layer.buffers["running_var"][channel])
        weight, bias = (float(layer.params[k][channel]) for k in ("weight", "bias"))
        return {**found, "kind": "batchnorm", "mean": mean, "var": var, "eps": layer.eps,
                "weight": weight, "bias": bias,
                "result": (v - mean) / np.sqrt(var + layer.eps) * weight + bias}
    if isinstance(layer, LeakyReLU):
        slope = layer.negative_slope
        return {**found, "kind": "leakyrelu", "slope": slope, "result": v if v > 0 else v * slope}
    if isinstance(layer, ReLU):
        return {**found, "kind": "relu", "result": max(v, 0.0)}
    if isinstance(layer, Sigmoid):
        return {**found, "kind": "sigmoid", "result": float(1 / (1 + np.exp(-v)))}
    return {**found, "kind": "tanh", "result": float(np.tanh(v))}


def explain(model, outputs: list[np.ndarray], index: int, channel: int, y: int, x: int
            ) -> dict:
    """How pixel (channel, y, x) of layer ``index``'s output came to be, as a JSON-able
    dict: ``value`` (what the layer computed), ``result`` (the same number worked out
    from the textbook's window: equal to float rounding), and the parts in between.

    For a Conv2d: ``window`` (Cg, kh, kw) of its input (padding is 0), ``weights`` (the
    filter's, same shape), their elementwise ``products``, ``sum`` and ``bias`` (None
    without one), ``channels`` (the input channels read: all, or the group's).  For a
    max/avg pool: the ``window`` (kh, kw) of one channel and its maximum (``chosen``) or
    mean.  For ReLU, BatchNorm2d (running statistics), ...: the one input value.
    ``rows`` and ``cols`` name the input positions read (negative or past the edge:
    padding, also marked by ``inside``); ``outputs`` are :func:`layer_outputs`'s.

    ValueError for a layer or pixel that has none of these explanations.
    """
    if not 0 <= index < len(model.layers):
        raise ValueError(f"no layer {index}: the model has layers 0 to {len(model.layers) - 1}")
    layer, before, after = model.layers[index], outputs[index], outputs[index + 1]
    name = type(layer).__name__
    if not isinstance(layer, EXPLAINED) or after.ndim != 3 or before.ndim != 3:
        raise ValueError(f"layer {index} ({name}) has no explanation pixel by pixel; the "
                         f"page explains {', '.join(t.__name__ for t in EXPLAINED)} on "
                         f"feature maps")
    if not (0 <= channel < after.shape[0] and 0 <= y < after.shape[1]
            and 0 <= x < after.shape[2]):
        raise ValueError(f"layer {index}'s output is {after.shape}; it has no pixel "
                         f"{(channel, y, x)}")
    if isinstance(layer, Conv2d):
        found = _conv(layer, before, channel, y, x)
    elif isinstance(layer, (MaxPool2d, AvgPool2d)):
        found = _pool(layer, before, channel, y, x)
    else:
        found = _pointwise(layer, before, channel, y, x)
    return {**found, "layer": index, "name": name, "repr": repr(layer),
            "channel": channel, "y": y, "x": x, "value": _finite(after[channel, y, x]),
            "result": _finite(found["result"])}


def _finite(v) -> float | None:
    """A number JSON can hold: None for inf and NaN."""
    v = float(v)
    return v if np.isfinite(v) else None

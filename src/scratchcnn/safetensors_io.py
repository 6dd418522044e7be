"""PyTorch weights both ways, through safetensors files (no torch needed here).

A scratchcnn model is a ``Sequential``, and its state-dict keys (``'0.weight'``,
``'3.bias'``, ``'4.running_mean'``) and array layouts (convolution weights
``(out, in, kh, kw)``, linear ``(out, in)``) are those of the equivalent
``torch.nn.Sequential``, so the tensors are written under the same names, with the
BatchNorm counters ``num_batches_tracked`` that PyTorch's state dicts hold.  The file's
metadata keeps the architecture (as scratchcnn's model files do), so
:func:`load_safetensors` can rebuild the model without being told it; the input
normalisation a model was trained with (``input_mean``, ``input_std``) is part of it,
and a PyTorch user applies it by hand: ``model((x - mean) / std)``.
"""

from __future__ import annotations

import json
import os

import numpy as np

from . import io
from .extras import require
from .layers.normalization import _BatchNorm
from .model import Sequential, _assemble

__all__ = ["save_safetensors", "load_safetensors"]

_ARCH = "scratchcnn.architecture"


def save_safetensors(model: Sequential, path) -> str:
    """Write ``model``'s weights under ``torch.nn.Sequential``'s names to ``path``
    (``.safetensors`` added if missing), the architecture in the metadata; the path."""
    st = require("safetensors.numpy", "save_safetensors")
    path = os.fspath(path)
    if not path.endswith(".safetensors"):
        path += ".safetensors"
    tensors = {k: np.ascontiguousarray(v) for k, v in model.state_dict().items()}
    for name, layer in model.named_layers():
        if isinstance(layer, _BatchNorm):
            tensors[f"{name}.num_batches_tracked"] = np.array(layer.batches_tracked, np.int64)
    metadata = {_ARCH: json.dumps(io.architecture(model)), "format": "pt"}
    io.atomic_write(path, lambda f: f.write(st.save(tensors, metadata)))
    return path


def load_safetensors(path, model: Sequential | None = None) -> Sequential:
    """The model of a safetensors file: ``model`` given, its weights replaced by the
    file's (a state dict PyTorch saved works); else rebuilt from the architecture in the
    file's metadata (as :func:`save_safetensors` writes it).  A tensor whose name or shape
    does not match gives a ValueError naming it."""
    require("safetensors.numpy", "load_safetensors")
    from safetensors import SafetensorError, safe_open
    path = os.fspath(path)
    try:
        with safe_open(path, framework="numpy") as f:
            metadata = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, OSError, ValueError) as err:
        if isinstance(err, FileNotFoundError):
            raise
        raise io.ModelFileError(f"{path}: not a safetensors file ({err})") from None
    counters = {k for k in tensors if k.endswith(".num_batches_tracked")}
    state = {k: v for k, v in tensors.items() if k not in counters}
    if model is None:
        if _ARCH not in metadata:
            raise io.ModelFileError(f"{path}: no scratchcnn architecture in its metadata; "
                                    "pass the model to load the weights into")
        try:
            arch = json.loads(metadata[_ARCH])
        except ValueError as err:
            raise io.ModelFileError(f"{path}: its architecture is not JSON ({err})") from None
        model = _assemble(io.ModelFile(path, "safetensors", arch, state))
    else:
        own = model.state_dict()
        missing, extra = sorted(set(own) - set(state)), sorted(set(state) - set(own))
        if missing or extra:
            raise ValueError(f"{path}: tensors missing for {missing}, not in the model: "
                             f"{extra} (names as torch.nn.Sequential's: '0.weight', ...)")
        for key, value in state.items():
            if value.shape != own[key].shape:
                raise ValueError(f"{path}: tensor {key!r} has shape {value.shape}, the model's "
                                 f"is {own[key].shape}")
            if not np.isfinite(value).all():
                raise ValueError(f"{path}: tensor {key!r} holds NaN or inf")
        model.load_state_dict(state)
    layers = dict(model.named_layers())
    for k in counters:
        layer = layers.get(k.rpartition(".")[0])
        if isinstance(layer, _BatchNorm):
            layer.batches_tracked = int(tensors[k])
    return model

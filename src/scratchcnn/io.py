"""Save and load models: one ``.npz`` file, architecture as JSON plus the weights.

Loading never unpickles (``np.load(..., allow_pickle=False)``), so a crafted file cannot
run code; the JSON names only layer types from :data:`LAYER_TYPES`.  Files are written
to a temporary name and moved into place, so a crash never leaves half a model.
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile

import numpy as np

from . import layers as L
from .model import Sequential

__all__ = ["save", "load", "LAYER_TYPES"]

FORMAT = "scratchcnn-model"
VERSION = 1
LAYER_TYPES = {cls.__name__: cls for cls in (
    L.Conv2d, L.MaxPool2d, L.AvgPool2d, L.Linear, L.Flatten, L.ReLU, L.LeakyReLU, L.Sigmoid,
    L.Tanh, L.Dropout, L.BatchNorm1d, L.BatchNorm2d)}
_ARCH_KEY = "__architecture__"


def architecture(model: Sequential) -> dict:
    return {
        "format": FORMAT, "version": VERSION, "dtype": str(model.dtype),
        "layers": [{"type": type(layer).__name__, "config": layer.config()}
                   for layer in model.layers],
        "input_mean": None if model.input_mean is None else model.input_mean.tolist(),
        "input_std": None if model.input_std is None else model.input_std.tolist(),
        "meta": getattr(model, "meta", {}),
    }


def atomic_write(path: str, write) -> None:
    """Call ``write(file)`` on a temporary file next to ``path``, then rename it over."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=os.path.basename(path))
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def save(model: Sequential, path) -> str:
    """Write ``model`` to ``path`` (``.npz`` is added if missing); returns the path."""
    path = os.fspath(path)
    if not path.endswith(".npz"):
        path += ".npz"
    arch = json.dumps(architecture(model)).encode("utf-8")
    arrays = {_ARCH_KEY: np.frombuffer(arch, dtype=np.uint8), **model.state_dict()}
    atomic_write(path, lambda f: np.savez(f, **arrays))
    return path


def _fail(path, why):
    raise ValueError(f"{path}: not a scratchcnn model file ({why})")


def load(path) -> Sequential:
    """Rebuild a model saved by :func:`save`; it predicts identically."""
    path = os.fspath(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            if _ARCH_KEY not in data.files:
                _fail(path, f"no {_ARCH_KEY} entry")
            arch = json.loads(bytes(data[_ARCH_KEY]).decode("utf-8"))
            state = {k: data[k] for k in data.files if k != _ARCH_KEY}
    except FileNotFoundError:
        raise
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as err:
        # ValueError includes JSON and UTF-8 errors and numpy's refusal of pickled arrays
        _fail(path, f"{type(err).__name__}: {err}")
    if not isinstance(arch, dict) or arch.get("format") != FORMAT:
        _fail(path, "missing format tag")
    if arch.get("version", 0) > VERSION:
        _fail(path, f"format version {arch['version']} is newer than this scratchcnn "
                    f"reads ({VERSION})")
    built = []
    for i, spec in enumerate(arch.get("layers", [])):
        cls = LAYER_TYPES.get(spec.get("type"))
        if cls is None:
            _fail(path, f"layer {i} has unknown type {spec.get('type')!r}")
        cfg = {k: tuple(v) if isinstance(v, list) else v for k, v in spec["config"].items()}
        built.append(cls(**cfg))
    model = Sequential(built, arch.get("input_mean"), arch.get("input_std"))
    model.astype(np.dtype(arch.get("dtype", "float32")))
    model.meta = arch.get("meta", {})
    try:
        model.load_state_dict(state)
    except (KeyError, ValueError) as err:
        _fail(path, str(err))
    return model

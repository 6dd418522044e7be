"""Save and load models and training checkpoints: ``.npz`` files of JSON plus arrays.

A model file holds the architecture as JSON and the weights.  A checkpoint holds a whole
training run: the model file's content, the optimiser's moments as arrays, and as JSON
the epoch, learning rates, Generator states, history and the caller's settings.

Loading never unpickles (``np.load(..., allow_pickle=False)``), so a crafted file cannot
run code; the JSON names only layer types from :data:`LAYER_TYPES`.  Files are written
to a temporary name and moved into place, so a crash never leaves half a file.
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile

import numpy as np

from . import layers as L
from .files import usual_mode
from .model import Sequential

__all__ = ["save", "load", "save_checkpoint", "load_checkpoint", "LAYER_TYPES"]

FORMAT = "scratchcnn-model"
CHECKPOINT_FORMAT = "scratchcnn-checkpoint"
VERSION = 1
LAYER_TYPES = {cls.__name__: cls for cls in (
    L.Conv2d, L.MaxPool2d, L.AvgPool2d, L.Linear, L.Flatten, L.ReLU, L.LeakyReLU, L.Sigmoid,
    L.Tanh, L.Dropout, L.BatchNorm1d, L.BatchNorm2d)}
_ARCH_KEY = "__architecture__"
_RUN_KEY = "__run__"  # a checkpoint's JSON: trainer state (less its arrays) and settings


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
        usual_mode(fd)
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _json_array(value) -> np.ndarray:
    return np.frombuffer(json.dumps(value).encode("utf-8"), dtype=np.uint8)


def save(model: Sequential, path) -> str:
    """Write ``model`` to ``path`` (``.npz`` is added if missing); returns the path."""
    path = os.fspath(path)
    if not path.endswith(".npz"):
        path += ".npz"
    arrays = {_ARCH_KEY: _json_array(architecture(model)), **model.state_dict()}
    atomic_write(path, lambda f: np.savez(f, **arrays))
    return path


def save_checkpoint(trainer, path, settings: dict | None = None) -> str:
    """Write a :class:`~scratchcnn.training.Trainer`'s whole run to ``path`` (``.npz``).

    ``settings`` is any JSON-able dict the caller needs to rebuild the run (the command
    line keeps its options there).  :func:`load_checkpoint` reads it back.
    """
    path = os.fspath(path)
    if not path.endswith(".npz"):
        path += ".npz"
    state = trainer.state_dict()
    optimizer = dict(state.pop("optimizer"))
    arrays = {f"model/{k}": v for k, v in state.pop("model").items()}
    for name, slots in optimizer.pop("state").items():
        arrays.update({f"optimizer/{name}/{slot}": v for slot, v in slots.items()})
    run = {"format": CHECKPOINT_FORMAT, "version": VERSION, "trainer": state,
           "optimizer": optimizer, "settings": settings or {}}
    arrays[_ARCH_KEY] = _json_array(architecture(trainer.model))
    arrays[_RUN_KEY] = _json_array(run)
    atomic_write(path, lambda f: np.savez(f, **arrays))
    return path


def _fail(path, why, what: str = "model"):
    raise ValueError(f"{path}: not a scratchcnn {what} file ({why})")


def _read(path, what: str) -> dict[str, np.ndarray]:
    """All arrays of an ``.npz`` file, never unpickling; ValueError naming the file."""
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except FileNotFoundError:
        raise
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as err:
        # ValueError includes numpy's refusal of pickled arrays
        _fail(path, f"{type(err).__name__}: {err}", what)
    if _ARCH_KEY not in arrays:
        _fail(path, f"no {_ARCH_KEY} entry", what)
    return arrays


def _json(path, array: np.ndarray, what: str):
    try:
        return json.loads(bytes(array).decode("utf-8"))
    except ValueError as err:  # JSON and UTF-8 errors
        _fail(path, f"{type(err).__name__}: {err}", what)


def _check_format(path, header, tag: str, what: str) -> None:
    if not isinstance(header, dict) or header.get("format") != tag:
        _fail(path, "missing format tag", what)
    if header.get("version", 0) > VERSION:
        _fail(path, f"format version {header['version']} is newer than this scratchcnn "
                    f"reads ({VERSION})", what)


def _build(path, arch, state: dict, what: str) -> Sequential:
    """The model an architecture dict describes, holding ``state``."""
    _check_format(path, arch, FORMAT, what)
    built = []
    for i, spec in enumerate(arch.get("layers", [])):
        cls = LAYER_TYPES.get(spec.get("type"))
        if cls is None:
            _fail(path, f"layer {i} has unknown type {spec.get('type')!r}", what)
        cfg = {k: tuple(v) if isinstance(v, list) else v for k, v in spec["config"].items()}
        built.append(cls(**cfg))
    model = Sequential(built, arch.get("input_mean"), arch.get("input_std"))
    model.astype(np.dtype(arch.get("dtype", "float32")))
    model.meta = arch.get("meta", {})
    try:
        model.load_state_dict(state)
    except (KeyError, ValueError) as err:
        _fail(path, str(err), what)
    return model


def load(path) -> Sequential:
    """Rebuild a model saved by :func:`save`; it predicts identically."""
    path = os.fspath(path)
    arrays = _read(path, "model")
    arch = _json(path, arrays.pop(_ARCH_KEY), "model")
    if _RUN_KEY in arrays:
        _fail(path, "this is a training checkpoint; scratchcnn.load_checkpoint reads it",
              "model")
    return _build(path, arch, arrays, "model")


class Checkpoint:
    """What :func:`load_checkpoint` gives back: ``model``, ``trainer_state`` (for
    ``Trainer.load_state_dict``) and the ``settings`` saved with it."""

    def __init__(self, model: Sequential, trainer_state: dict, settings: dict):
        self.model, self.trainer_state, self.settings = model, trainer_state, settings


def load_checkpoint(path) -> Checkpoint:
    """Read a file written by :func:`save_checkpoint`.

    Resume with ``Trainer(c.model, <same optimizer type>, ...)`` then
    ``trainer.load_state_dict(c.trainer_state)``: the run continues bit for bit.
    """
    path = os.fspath(path)
    what = "checkpoint"
    arrays = _read(path, what)
    arch = _json(path, arrays.pop(_ARCH_KEY), what)
    if _RUN_KEY not in arrays:
        _fail(path, f"no {_RUN_KEY} entry (a model file, not a checkpoint?)", what)
    run = _json(path, arrays.pop(_RUN_KEY), what)
    _check_format(path, run, CHECKPOINT_FORMAT, what)
    model_state, slots = {}, {}
    for key, value in arrays.items():
        kind, _, rest = key.partition("/")
        if kind == "model":
            model_state[rest] = value
        elif kind == "optimizer" and "/" in rest:
            name, _, slot = rest.rpartition("/")
            slots.setdefault(name, {})[slot] = value
        else:
            _fail(path, f"unexpected entry {key!r}", what)
    try:
        state = dict(run["trainer"], model=model_state,
                     optimizer=dict(run["optimizer"], state=slots))
    except (KeyError, TypeError) as err:
        _fail(path, f"incomplete run state ({err})", what)
    model = _build(path, arch, model_state, what)
    return Checkpoint(model, state, run.get("settings", {}))

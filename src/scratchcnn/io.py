"""Model and checkpoint files: ``.npz`` files of JSON plus arrays, written and read back.

A model file holds the architecture as JSON and the weights.  A checkpoint holds a whole
training run: the model file's content, the optimiser's moments as arrays, and as JSON
the epoch, learning rates, Generator states, history and the caller's settings.

Loading never unpickles (``np.load(..., allow_pickle=False)``), so a crafted file cannot
run code; the JSON names only layer types from :data:`LAYER_TYPES`.  Files are written
to a temporary name and moved into place, so a crash never leaves half a file.
:func:`scratchcnn.load` and :func:`scratchcnn.load_checkpoint` (in :mod:`scratchcnn.model`)
build the model from what :func:`read_model` and :func:`read_checkpoint` give.
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile

import numpy as np

from . import layers as L
from .files import usual_mode

__all__ = ["save", "save_checkpoint", "read_model", "read_checkpoint", "atomic_write",
           "LAYER_TYPES"]

FORMAT = "scratchcnn-model"
CHECKPOINT_FORMAT = "scratchcnn-checkpoint"
VERSION = 1
LAYER_TYPES = {cls.__name__: cls for cls in (
    L.Conv2d, L.MaxPool2d, L.AvgPool2d, L.Linear, L.Flatten, L.ReLU, L.LeakyReLU, L.Sigmoid,
    L.Tanh, L.Dropout, L.BatchNorm1d, L.BatchNorm2d)}
_ARCH_KEY = "__architecture__"
_RUN_KEY = "__run__"  # a checkpoint's JSON: trainer state (less its arrays) and settings


def architecture(model) -> dict:
    """The JSON-able description of a :class:`~scratchcnn.model.Sequential` saved with it."""
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


def save(model, path) -> str:
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


class ModelFile:
    """What a model or checkpoint file holds, checked: the ``layers`` its architecture
    names (built, not yet holding the weights), ``input_mean``/``input_std``, ``dtype``,
    ``meta``, the model's ``state`` arrays, and for a checkpoint ``trainer_state`` (less
    the model's arrays) and ``settings``.  ``fail(why)`` raises the file's own error."""

    def __init__(self, path, what, arch, state, trainer_state=None, settings=None):
        self.path, self.what, self.state = path, what, state
        self.trainer_state, self.settings = trainer_state, settings or {}
        _check_format(path, arch, FORMAT, what)
        self.layers = []
        for i, spec in enumerate(arch.get("layers", [])):
            cls = LAYER_TYPES.get(spec.get("type"))
            if cls is None:
                self.fail(f"layer {i} has unknown type {spec.get('type')!r}")
            cfg = {k: tuple(v) if isinstance(v, list) else v for k, v in spec["config"].items()}
            self.layers.append(cls(**cfg))
        self.input_mean, self.input_std = arch.get("input_mean"), arch.get("input_std")
        self.dtype = np.dtype(arch.get("dtype", "float32"))
        self.meta = arch.get("meta", {})

    def fail(self, why):
        _fail(self.path, why, self.what)


def read_model(path) -> ModelFile:
    """The content of a file written by :func:`save`; ValueError naming the file if it is
    not one."""
    path = os.fspath(path)
    arrays = _read(path, "model")
    arch = _json(path, arrays.pop(_ARCH_KEY), "model")
    if _RUN_KEY in arrays:
        _fail(path, "this is a training checkpoint; scratchcnn.load_checkpoint reads it",
              "model")
    return ModelFile(path, "model", arch, arrays)


def read_checkpoint(path) -> ModelFile:
    """The content of a file written by :func:`save_checkpoint`."""
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
    return ModelFile(path, what, arch, model_state, state, run.get("settings", {}))

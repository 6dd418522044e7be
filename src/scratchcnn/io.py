"""Model and checkpoint files: ``.npz`` files of JSON plus arrays, written and read back.

A model file holds the architecture as JSON and the weights.  A checkpoint holds a whole
training run: the model file's content, the optimiser's moments as arrays, and as JSON
the epoch, learning rates, Generator states, history and the caller's settings.

Loading never unpickles (:mod:`.archive` reads the arrays), so a crafted file cannot run
code; the JSON names only layer types from :data:`LAYER_TYPES`, and the stored weights
must match the architecture in shape, be floats and be finite before any layer is built.
Files are written to a temporary name and moved into place, so a crash never leaves half a
file.
:func:`scratchcnn.load` and :func:`scratchcnn.load_checkpoint` (in :mod:`scratchcnn.model`)
build the model from what :func:`read_model` and :func:`read_checkpoint` give.
"""

from __future__ import annotations

import json
import math
import os

import numpy as np

from . import layers as L
from . import limits
from .archive import ArchiveError, parse_json, read_npz
from .checks import state_arrays
from .files import atomic_write

__all__ = ["save", "save_checkpoint", "read_model", "read_checkpoint", "ModelFileError",
           "LAYER_TYPES"]

FORMAT = "scratchcnn-model"
CHECKPOINT_FORMAT = "scratchcnn-checkpoint"
VERSION = 1
LAYER_TYPES = {cls.__name__: cls for cls in (
    L.Conv2d, L.MaxPool2d, L.AvgPool2d, L.AdaptiveAvgPool2d, L.Linear, L.Flatten, L.ReLU,
    L.LeakyReLU, L.Sigmoid, L.Tanh, L.Dropout, L.BatchNorm1d, L.BatchNorm2d, L.Residual,
    L.Stack)}
_ARCH_KEY = "__architecture__"
#: The dtypes a model, or a layer of it, may be stored in.
FLOAT_TYPES = ("float16", "float32", "float64")
#: How deep containers (Residual blocks) may nest in a file's architecture.
MAX_NESTING = 8
_RUN_KEY = "__run__"  # a checkpoint's JSON: trainer state (less its arrays) and settings


def architecture(model) -> dict:
    """The JSON-able description of a :class:`~scratchcnn.model.Sequential` saved with it;
    a ValueError names a layer that a file cannot hold (so none is written that
    :func:`read_model` would refuse)."""
    specs = [L.layer_spec(layer) for layer in model.layers]
    _check_types(specs, "")
    shape = getattr(model, "meta", {}).get("input_shape")
    if shape is not None:  # what read_model checks of it, said before writing
        try:
            limits.check_activations(model.layers, limits.check_input_shape(
                shape, "meta's input_shape"))
        except ValueError as err:
            raise ValueError(f"save: {err}") from None
    return {
        "format": FORMAT, "version": VERSION, "dtype": str(model.dtype),
        "layers": specs,
        "input_mean": None if model.input_mean is None else model.input_mean.tolist(),
        "input_std": None if model.input_std is None else model.input_std.tolist(),
        "meta": getattr(model, "meta", {}),
    }


def _check_types(specs: list, where: str) -> None:
    for i, spec in enumerate(specs):
        if spec["type"] not in LAYER_TYPES:
            raise ValueError(f"save: layer {where}{i} is a {spec['type']}, which a model file "
                             f"cannot hold ({', '.join(LAYER_TYPES)}); a stack inside a model "
                             "is a scratchcnn.layers.Stack")
        for key, value in spec["config"].items():
            if isinstance(value, list) and value and isinstance(value[0], dict):
                _check_types(value, f"{where}{i}.{key}.")


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


class ModelFileError(ArchiveError):
    """A file that is not a usable scratchcnn model or checkpoint; the message names it."""


def _fail(path, why, what: str = "model"):
    raise ModelFileError(f"{path}: not a scratchcnn {what} file ({why})")


def _read(path, what: str) -> dict[str, np.ndarray]:
    """All arrays of an ``.npz`` file (checked, never unpickled: :mod:`.archive`)."""
    try:
        arrays = read_npz(path, what)
    except ModelFileError:
        raise
    except ArchiveError as err:
        raise ModelFileError(str(err)) from None
    if _ARCH_KEY not in arrays:
        _fail(path, f"no {_ARCH_KEY} entry", what)
    return arrays


def _json(path, array: np.ndarray, what: str, key: str):
    if array.dtype != np.uint8 or array.ndim != 1:
        _fail(path, f"{key} is not JSON text", what)
    return parse_json(array.tobytes(), lambda why: _fail(path, f"{key}: {why}", what))


def _check_format(path, header, tag: str, what: str) -> None:
    if not isinstance(header, dict) or header.get("format") != tag:
        _fail(path, "missing format tag", what)
    version = header.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or not 1 <= version:
        _fail(path, f"bad format version {version!r}", what)
    if version > VERSION:
        _fail(path, f"format version {version} is newer than this scratchcnn reads "
                    f"({VERSION})", what)


def _finite(value) -> bool:
    """Whether no float inside the JSON ``value`` is NaN or infinite (walked without
    recursion: the JSON may nest as deep as Python could parse)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, float) and not math.isfinite(item):
            return False
        stack.extend(item.values() if isinstance(item, dict) else
                     item if isinstance(item, list) else ())
    return True


def _number_or_list(value) -> bool:
    items = value if isinstance(value, list) else [value]
    return all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
               for v in items) and len(items) > 0


class ModelFile:
    """What a model or checkpoint file holds, checked: the ``layers`` its architecture
    names (built only after their weights' stored shapes matched), ``input_mean`` /
    ``input_std``, ``dtype``, ``meta``, the model's ``state`` arrays, and for a checkpoint
    ``trainer_state`` (less the model's arrays) and ``settings``.  ``fail(why)`` raises
    the file's own :class:`ModelFileError`."""

    KEYS = {"format", "version", "dtype", "layers", "input_mean", "input_std", "meta"}

    def __init__(self, path, what, arch, state, trainer_state=None, settings=None):
        self.path, self.what, self.state = path, what, state
        self.trainer_state, self.settings = trainer_state, settings or {}
        _check_format(path, arch, FORMAT, what)
        extra = set(arch) - self.KEYS
        if extra:
            self.fail(f"unknown architecture keys {sorted(extra)}")
        if arch.get("dtype", "float32") not in FLOAT_TYPES:
            self.fail(f"dtype {arch.get('dtype')!r} is not a float type")
        self.dtype = np.dtype(arch.get("dtype", "float32"))
        self.input_mean, self.input_std = arch.get("input_mean"), arch.get("input_std")
        for key in ("input_mean", "input_std"):
            value = arch.get(key)
            if value is not None and not _number_or_list(value):
                self.fail(f"{key} must be a finite number or list of numbers, got {value!r}")
        if self.input_std is not None and min(np.ravel(self.input_std)) <= 0:
            self.fail(f"input_std must be positive, got {self.input_std!r}")
        if np.shape(self.input_mean) != np.shape(self.input_std):
            self.fail(f"input_mean {self.input_mean!r} and input_std {self.input_std!r} must "
                      "both be given, and alike: one number each, or one per channel")
        self.meta = arch.get("meta", {})
        if not isinstance(self.meta, dict):
            self.fail("meta is not a JSON object")
        shape = self.meta.get("input_shape")
        try:  # one sample of it must fit the caps of :mod:`.limits`, as checked below
            shape = shape if shape is None else limits.check_input_shape(shape, "meta's "
                                                                         "input_shape")
        except ValueError as err:
            self.fail(str(err))
        specs = arch.get("layers")
        if not isinstance(specs, list) or not specs:
            self.fail("the architecture lists no layers")
        self._check_state(specs)
        self.layers = [self._build(str(i), spec) for i, spec in enumerate(specs)]
        try:  # what predict would allocate for one sample of the input it was made for
            if shape is not None:
                limits.check_activations(self.layers, shape)
        except ValueError as err:
            self.fail(str(err))

    def _config(self, where: str, spec, depth: int = 0) -> tuple[type, dict]:
        """The class and constructor arguments of the layer spec at ``where`` (``'3'``,
        ``'3.body.0'``), JSON lists as tuples; checked for form only."""
        if depth > MAX_NESTING:
            self.fail(f"layer {where}: containers nested deeper than {MAX_NESTING}")
        if not isinstance(spec, dict) or set(spec) != {"type", "config"}:
            self.fail(f"layer {where} is not {{'type': ..., 'config': {{...}}}}")
        if spec["type"] not in LAYER_TYPES:
            self.fail(f"layer {where} has unknown type {spec['type']!r}")
        if not isinstance(spec["config"], dict):
            self.fail(f"layer {where} ({spec['type']}): config is not a JSON object")
        if not _finite(spec["config"]):
            self.fail(f"layer {where} ({spec['type']}): a number in its config is not finite "
                      f"(NaN, Infinity or beyond float64's range)")
        if spec["config"].get("dtype", "float32") not in FLOAT_TYPES:
            self.fail(f"layer {where} ({spec['type']}): dtype {spec['config']['dtype']!r} "
                      f"is not one of {', '.join(FLOAT_TYPES)}")
        return LAYER_TYPES[spec["type"]], {k: tuple(v) if isinstance(v, list) else v
                                           for k, v in spec["config"].items()}

    @staticmethod
    def _inner(where: str, depth: int, visit):
        """What a container calls for the spec it holds under ``name`` (``'body.0'``)."""
        return lambda spec, name: visit(f"{where}.{name}", spec, depth + 1)

    def _shapes(self, where: str, spec, depth: int = 0) -> dict[str, tuple]:
        cls, cfg = self._config(where, spec, depth)
        try:
            return cls.state_shapes(cfg, self._inner(where, depth, self._shapes))
        except ModelFileError:
            raise
        except (KeyError, TypeError, ValueError, AttributeError, OverflowError) as err:
            self.fail(f"layer {where} ({spec['type']}): bad config {cfg} "
                      f"({type(err).__name__}: {err})")

    def _build(self, where: str, spec, depth: int = 0):
        cls, cfg = self._config(where, spec, depth)
        try:
            return cls.from_config(cfg, self._inner(where, depth, self._build))
        except ModelFileError:
            raise
        except (TypeError, ValueError, KeyError, OverflowError) as err:
            self.fail(f"layer {where} ({spec['type']}): {err}")

    def _check_state(self, specs) -> None:
        """The stored arrays are exactly those the layers hold, in shape, float, finite:
        checked before any layer is built, so the architecture decides no allocation."""
        expected = {}
        for i, spec in enumerate(specs):
            expected.update({f"{i}.{k}": shape for k, shape in self._shapes(str(i), spec).items()})
        try:  # a clear word for an absurd size, before any shape is compared
            limits.check_parameters(expected)
        except ValueError as err:
            self.fail(str(err))
        try:
            state_arrays(self.state, expected, self.dtype)
        except ValueError as err:
            self.fail(str(err))

    def fail(self, why):
        _fail(self.path, why, self.what)


def read_model(path) -> ModelFile:
    """The content of a file written by :func:`save`; :class:`ModelFileError` naming the
    file if it is not one."""
    path = os.fspath(path)
    arrays = _read(path, "model")
    arch = _json(path, arrays.pop(_ARCH_KEY), "model", _ARCH_KEY)
    if _RUN_KEY in arrays:
        _fail(path, "this is a training checkpoint; scratchcnn.load_checkpoint reads it",
              "model")
    return ModelFile(path, "model", arch, arrays)


def read_checkpoint(path) -> ModelFile:
    """The content of a file written by :func:`save_checkpoint`, its run state checked
    for form here and against the model by ``Trainer.load_state_dict``."""
    path = os.fspath(path)
    what = "checkpoint"
    arrays = _read(path, what)
    arch = _json(path, arrays.pop(_ARCH_KEY), what, _ARCH_KEY)
    if _RUN_KEY not in arrays:
        _fail(path, f"no {_RUN_KEY} entry (a model file, not a checkpoint?)", what)
    run = _json(path, arrays.pop(_RUN_KEY), what, _RUN_KEY)
    _check_format(path, run, CHECKPOINT_FORMAT, what)
    for key, kind in (("trainer", dict), ("optimizer", dict), ("settings", dict)):
        if not isinstance(run.get(key), kind):
            _fail(path, f"the run state has no {key!r} object", what)
    trainer, layers = run["trainer"], run["trainer"].get("layer_rngs")
    for name in layers if isinstance(layers, dict) else ():
        if not (name.isascii() and name.isdigit()):  # '²' is a digit, but no int
            _fail(path, f"layer_rngs names {name!r}, which is no layer's number", what)
    generators = [trainer.get("rng"), trainer.get("augment_rng"),
                  *(layers.values() if isinstance(layers, dict) else ())]
    while generators:  # a generator's state holds unsigned integers of up to 128 bits
        item = generators.pop()
        if isinstance(item, float) or isinstance(item, int) and not isinstance(item, bool) \
                and not 0 <= item < 2**128:
            _fail(path, f"a random generator's state holds {item}, which no generator's "
                        "state can", what)
        generators.extend(item.values() if isinstance(item, dict) else
                          item if isinstance(item, list) else ())
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
    state = dict(run["trainer"], model=model_state, optimizer=dict(run["optimizer"], state=slots))
    return ModelFile(path, what, arch, model_state, state, run["settings"])

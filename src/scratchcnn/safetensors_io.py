"""PyTorch weights both ways, through safetensors files (no torch needed here).

A scratchcnn model is a ``Sequential``, and its state-dict keys (``'0.weight'``,
``'3.bias'``, ``'4.running_mean'``, ``'5.body.0.weight'``) and array layouts (convolution
weights ``(out, in, kh, kw)``, linear ``(out, in)``) are those of the equivalent
``torch.nn.Sequential``, so the tensors are written under the same names, with the
BatchNorm counters ``num_batches_tracked`` that PyTorch's state dicts hold.  The file's
metadata keeps the architecture (as scratchcnn's model files do), so
:func:`load_safetensors` can rebuild the model without being told it; the input
normalisation a model was trained with (``input_mean``, ``input_std``) is part of it,
and a PyTorch user applies it by hand: ``model((x - mean) / std)``.

Any other torch module's weights (attributes ``conv1``, ``fc1``, ...) go through a
``key_map``: a dict of names, or ``"order"`` (see :func:`load_safetensors`).
"""

from __future__ import annotations

import json
import os

import numpy as np

from . import io
from .archive import parse_json, regular_file
from .checks import state_arrays
from .extras import require
from .files import atomic_write
from .layers.normalization import BatchNorm1d, BatchNorm2d
from .model import Sequential, assemble
from .safetensors_keys import COUNTER, by_order, renamed, their_names

__all__ = ["save_safetensors", "load_safetensors"]

_ARCH = "scratchcnn.architecture"
_KEY_MAP = "scratchcnn.key_map"  # {our name: name in the file}, counters included


def save_safetensors(model: Sequential, path, key_map: dict | None = None) -> str:
    """Write ``model``'s weights to ``path`` (``.safetensors`` added if missing), the
    architecture in the metadata; the path.

    Names are ``torch.nn.Sequential``'s (``'0.weight'``, ``'2.num_batches_tracked'``),
    or with ``key_map = {our name: theirs}`` the user's, so that
    ``net.load_state_dict(safetensors.torch.load_file(path))`` loads strictly into their
    own module.  ``key_map`` must name every array of the model (``'0.weight'``, ...);
    a BatchNorm counter it leaves out follows its layer's weight (``'2.weight'`` to
    ``'bn1.weight'`` sends ``'2.num_batches_tracked'`` to ``'bn1.num_batches_tracked'``).
    Two of ours sent to one name, or a name the model lacks, give a ValueError.  The
    complete map is kept in the metadata too, so ``load_safetensors(path)`` reads the
    file back without being told it.

    Parameters
    ----------
    model : Sequential
        The model to save.
    path : str or os.PathLike
        The file.
    key_map : dict or None
        Our name -> the name in the file; None: ``torch.nn.Sequential``'s names.
    """
    st = require("safetensors.numpy", "save_safetensors")
    path = os.fspath(path)
    if not path.endswith(".safetensors"):
        path += ".safetensors"
    tensors = {k: np.ascontiguousarray(v) for k, v in model.state_dict().items()}
    for name, layer in model.named_layers():
        if isinstance(layer, (BatchNorm1d, BatchNorm2d)):
            tensors[f"{name}.{COUNTER}"] = np.array(layer.batches_tracked, np.int64)
    metadata = {_ARCH: json.dumps(io.architecture(model)), "format": "pt"}
    if key_map is not None:
        names = their_names(key_map, tensors)
        tensors = {names[k]: v for k, v in tensors.items()}
        metadata[_KEY_MAP] = json.dumps(names)
    atomic_write(path, lambda f: f.write(st.save(tensors, metadata)))
    return path


def load_safetensors(path, model: Sequential | None = None,
                     key_map: dict | str | None = None) -> Sequential:
    """The model of a safetensors file: ``model`` given, its weights replaced by the
    file's (a state dict PyTorch saved works); else rebuilt from the architecture in the
    file's metadata (as :func:`save_safetensors` writes it).  A tensor whose name or shape
    does not match gives a ValueError naming it.

    Without ``key_map`` the file's names must be ours (``torch.nn.Sequential``'s, or the
    names a key map saved in the file by :func:`save_safetensors` stands for).  Else:

    * ``key_map = {name in the file: our name}`` must cover every tensor of the file,
      the BatchNorm counters included (``'bn1.num_batches_tracked'`` to
      ``'2.num_batches_tracked'``), and reach each of our arrays exactly once.
    * ``key_map = "order"`` (``model`` needed) matches the file's modules to our layers
      with arrays, in order, every shape checked.  A safetensors file keeps no order (its
      tensors come back sorted by name), so the order is rebuilt from the names: a
      module's own tensors are torch's weight, bias, running_mean, running_var,
      num_batches_tracked, before its submodules'; numbered submodules (a
      ``torch.nn.Sequential`` or ``ModuleList``: ``'features.0'``, ``'features.3'``)
      come in their numbers' order, which is their definition order; named ones
      (``conv1``, ``fc1``, ``classifier``) could have been defined in any order, so
      every order of them is tried.  The match is taken only when exactly one of all
      these orders gives every module the tensor names and shapes of the layer it
      meets (a counter only at a BatchNorm).  Two modules that shapes cannot tell apart
      (two named 120-to-120 ``Linear`` s) or no fitting order give a ValueError that
      asks for a dict.  "order" trusts that numbered submodules run in their numbers'
      order, as ``nn.Sequential`` runs them.

    A key map that does not fit gives a ValueError naming the file and the tensor, with
    a table of the file's names and shapes beside the model's.

    Parameters
    ----------
    path : str or os.PathLike
        The file.
    model : Sequential or None
        The model whose weights are replaced; None: rebuilt from the file's metadata.
    key_map : dict, "order" or None
        How the file's names map to ours (above).
    """
    require("safetensors.numpy", "load_safetensors")
    from safetensors import safe_open
    path = os.fspath(path)

    def fail(why):
        raise io.ModelFileError(f"{path}: not a safetensors file ({why})")
    regular_file(path, fail)  # a FIFO would keep the reader waiting for ever
    try:
        with safe_open(path, framework="numpy") as f:
            metadata = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except FileNotFoundError:
        raise
    except Exception as err:  # the reader's errors, and dtypes NumPy lacks (bfloat16, ...)
        fail(f"{type(err).__name__}: {err}")
    if key_map is None and _KEY_MAP in metadata:
        key_map = _stored_map(path, metadata)  # {theirs: ours}
    if isinstance(key_map, str):
        if key_map != "order" or model is None:
            raise ValueError("load_safetensors: key_map must be a dict, or 'order' with the "
                             f"model to match; got {key_map!r}{' and no model' * (model is None)}")
    try:  # a key map that does not fit the file is the file's error too
        if isinstance(key_map, str):  # "order", as checked above
            key_map = by_order(path, tensors, model)
        if key_map is not None:
            tensors = renamed(path, tensors, key_map, model)
    except ValueError as err:
        raise io.ModelFileError(str(err)) from None
    counters = {k for k in tensors if k.endswith(f".{COUNTER}")}
    state = {k: v for k, v in tensors.items() if k not in counters}
    if model is None:
        if _ARCH not in metadata:
            raise io.ModelFileError(f"{path}: no scratchcnn architecture in its metadata; "
                                    "pass the model to load the weights into")
        arch = parse_json(metadata[_ARCH], lambda why: fail(f"its architecture: {why}"))
        model = assemble(io.ModelFile(path, "safetensors", arch, state))
    else:
        _check_state(path, state, model.state_dict())
        model.load_state_dict(state)
    _restore_counters(path, {k: tensors[k] for k in counters}, model)
    return model


def _check_state(path, state: dict, own: dict) -> None:
    """The file's tensors are the model's arrays: names, shapes, floats in range."""
    try:
        state_arrays(state, {k: v.shape for k, v in own.items()},
                     next(iter(own.values())).dtype if own else np.float32, "tensor")
    except ValueError as err:
        hint = " (names as torch.nn.Sequential's: '0.weight', ...)" if "missing" in str(err) \
            else ""
        raise io.ModelFileError(f"{path}: {err}{hint}") from None


def _restore_counters(path, counters: dict, model) -> None:
    """Each BatchNorm's ``num_batches_tracked``: a whole number >= 0 at a BatchNorm."""
    layers = dict(model.named_layers())
    for key, value in sorted(counters.items()):
        layer = layers.get(key.rpartition(".")[0])
        if not isinstance(layer, (BatchNorm1d, BatchNorm2d)):
            raise io.ModelFileError(f"{path}: tensor {key!r} counts the batches of a "
                                    f"BatchNorm, but the model has no BatchNorm named "
                                    f"{key.rpartition('.')[0]!r}")
        if value.shape != () or value.dtype.kind not in "iu" or value < 0:
            raise io.ModelFileError(f"{path}: tensor {key!r} must be one whole number >= 0 "
                                    f"(a count of batches), got {value.dtype} {value.shape}"
                                    + (f" {value}" if value.size == 1 else ""))
        layer.batches_tracked = int(value)


def _stored_map(path, metadata) -> dict[str, str]:
    def fail(why):
        raise io.ModelFileError(f"{path}: its key map is not JSON {{ours: theirs}} ({why})")
    names = parse_json(metadata[_KEY_MAP], fail)
    if not isinstance(names, dict):
        fail(f"a JSON {type(names).__name__}")
    return {theirs: ours for ours, theirs in names.items() if isinstance(theirs, str)}

"""Matching a safetensors file's tensor names to a model's (``key_map`` of
:mod:`scratchcnn.safetensors_io`): a dict of names checked both ways, or ``"order"``,
which rebuilds the order of a torch module's tensors from their names and takes the
one order whose shapes fit the model's layers.

Every error is a ValueError naming the file, with a table of the file's names and shapes
beside the model's.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from itertools import zip_longest

import numpy as np

from .layers.container import Container
from .layers.normalization import BatchNorm1d, BatchNorm2d

__all__ = ["COUNTER", "their_names", "renamed", "by_order"]

#: PyTorch's BatchNorm counter, which scratchcnn's layers keep as ``batches_tracked``.
COUNTER = "num_batches_tracked"
#: A torch module's own tensors in its state dict: parameters, then buffers.
_TORCH_ORDER = ("weight", "bias", "running_mean", "running_var", COUNTER)
#: How many partial matches "order" may try before it gives up (and asks for a dict).
_ORDER_BUDGET = 100_000


# ---------------------------------------------------------------------- saving
def their_names(key_map, tensors: dict) -> dict[str, str]:
    """``key_map`` ({our name: theirs}) completed with the BatchNorm counters, checked."""
    if not isinstance(key_map, Mapping):
        raise TypeError(f"save_safetensors: key_map must be a dict {{our name: theirs}}, "
                        f"got {type(key_map).__name__}")
    unknown = sorted(set(key_map) - set(tensors))
    if unknown:
        raise ValueError(f"save_safetensors: key_map names {unknown}, which the model does "
                         f"not have (its names: {list(tensors)})")
    names, seen, missing = {}, {}, []
    for ours in tensors:
        layer, _, leaf = ours.rpartition(".")
        theirs = key_map.get(ours)
        if theirs is None and leaf == COUNTER and f"{layer}.weight" in key_map:
            module = str(key_map[f"{layer}.weight"]).rpartition(".")[0]
            theirs = f"{module}.{COUNTER}" if module else COUNTER
        if theirs is None:
            missing.append(ours)
        elif not isinstance(theirs, str) or not theirs:
            raise ValueError(f"save_safetensors: key_map sends {ours!r} to {theirs!r}, "
                             "not a name")
        elif theirs in seen:
            raise ValueError(f"save_safetensors: key_map sends both {seen[theirs]!r} and "
                             f"{ours!r} to {theirs!r}")
        names[ours], seen[theirs] = theirs, ours
    if missing:
        raise ValueError(f"save_safetensors: key_map misses {missing}; it must name every "
                         f"array of the model: {list(tensors)}")
    return names


# ---------------------------------------------------------------------- key_map = dict
def renamed(path, tensors: dict, key_map, model) -> dict[str, np.ndarray]:
    """The file's tensors under our names, ``key_map`` ({theirs: ours}) checked against
    the file and (when given) the model."""
    if not isinstance(key_map, Mapping):
        raise TypeError(f"load_safetensors: key_map must be a dict {{name in the file: our "
                        f"name}} or 'order', got {type(key_map).__name__}")
    ours = None if model is None else {f"{name}.{leaf}": shape for name, leaves in
                                       _our_groups(model) for leaf, shape in leaves.items()}
    problems = [f"the file's {k!r} is not in key_map" for k in tensors if k not in key_map]
    problems += [f"key_map names {k!r}, which the file does not hold"
                 for k in key_map if k not in tensors]
    seen: dict = {}
    for theirs, target in key_map.items():
        if not isinstance(target, str):
            problems.append(f"key_map sends {theirs!r} to {target!r}, not a name")
        elif target in seen:
            problems.append(f"key_map sends both {seen[target]!r} and {theirs!r} to {target!r}")
        elif ours is not None and target not in ours:
            problems.append(f"key_map sends {theirs!r} to {target!r}, which the model "
                            "does not have")
        elif ours is not None and theirs in tensors and \
                tensors[theirs].shape != ours[target]:
            problems.append(f"tensor {theirs!r} has shape {tensors[theirs].shape}, the "
                            f"model's {target!r} is {ours[target]}")
        seen.setdefault(target, theirs)
    if ours is not None:
        problems += [f"the model's {k!r} is reached by no tensor" for k in ours
                     if k not in seen and not k.endswith(f".{COUNTER}")]
    if problems:
        left = [(k, tensors[k].shape) for k in _torch_sorted(tensors)]
        right = [(t, (ours or {}).get(t)) if isinstance(t := key_map.get(k), str) else None
                 for k, _ in left]
        rest = [(k, s) for k, s in (ours or {}).items() if k not in seen]
        raise ValueError(f"{path}: key_map does not fit: " + "; ".join(problems) + "\n" +
                         _table(path, left + [None] * len(rest), right + rest))
    return {key_map[k]: v for k, v in tensors.items()}


def _our_groups(model) -> list[tuple[str, dict]]:
    """(layer name, {array: shape}) of each layer with arrays, in order, in torch's order
    within the layer; a batch norm's counter included (shape ())."""
    groups = []
    for name, layer in model.named_layers():
        leaves = {k: v.shape for store in (layer.params, layer.buffers) for k, v in store.items()}
        if leaves and not isinstance(layer, Container):
            counted = isinstance(layer, (BatchNorm1d, BatchNorm2d))  # torch's counter too
            groups.append((name, {**leaves, COUNTER: ()} if counted else leaves))
    return groups


# ---------------------------------------------------------------------- key_map = "order"
class _Module:
    """A module of the file: its own tensors' shapes and its submodules, by name."""

    def __init__(self, path: str):
        self.path, self.own, self.children, self.size = path, None, {}, 0


def _file_modules(tensors: dict) -> tuple[_Module, dict[str, dict]]:
    """The file's module tree (its root) and each module's own tensors' shapes."""
    groups: dict[str, dict] = {}
    for name in _torch_sorted(tensors):
        module, _, leaf = name.rpartition(".")
        groups.setdefault(module, {})[leaf] = tensors[name].shape
    root = _Module("")
    for module, leaves in groups.items():
        node = root
        node.size += 1
        for i, part in enumerate(module.split(".") if module else []):
            node = node.children.setdefault(part, _Module(".".join(module.split(".")[:i + 1])))
            node.size += 1
        node.own = leaves
    return root, groups


class _Orders:
    """Up to two orders of the file's modules, each a tuple of their paths, that fit our
    layers one to one; numbered submodules in their order, named ones in any order."""

    def __init__(self, path, groups: dict, ours: list):
        self.path, self.groups, self.ours, self.memo, self.calls = path, groups, ours, {}, 0

    def fits(self, module: str, i: int) -> bool:
        """The file's module has the array names and shapes of our i-th layer (the
        batch-norm counter, which files may lack, only where we have one)."""
        if i >= len(self.ours):
            return False
        theirs, leaves = self.groups[module], self.ours[i][1]
        return set(leaves) ^ set(theirs) <= {COUNTER} and \
            all(leaves.get(k) == shape for k, shape in theirs.items())

    def of(self, node: _Module, start: int) -> list[tuple]:
        key = (node.path, start)
        if key not in self.memo:
            found, at = [()], start
            if node.own is not None:
                found, at = ([(node.path,)] if self.fits(node.path, start) else []), start + 1
            kids = sorted(node.children.values(), key=lambda n: _natural(n.path))
            if all(name.isascii() and name.isdigit() for name in node.children):
                for kid in kids:
                    found = _join(found, self.of(kid, at) if found else [])
                    at += kid.size
            else:
                found = _join(found, self.any_order(tuple(kids), at) if found else [])
            self.memo[key] = found
        return self.memo[key]

    def any_order(self, kids: tuple, start: int) -> list[tuple]:
        key = (tuple(k.path for k in kids), start)
        if key not in self.memo:
            self.calls += 1
            if self.calls > _ORDER_BUDGET:
                raise ValueError(f"{self.path}: key_map='order' has too many orders of the "
                                 "file's modules to try; pass key_map as a dict "
                                 "{name in the file: name in the model}")
            found = [] if kids else [()]
            for i, kid in enumerate(kids):
                heads = self.of(kid, start)
                if heads:
                    found += _join(heads, self.any_order(kids[:i] + kids[i + 1:],
                                                         start + kid.size))
                if len(found) >= 2:
                    break
            self.memo[key] = found[:2]
        return self.memo[key]


def _join(heads: list, tails: list) -> list:
    return [h + t for h in heads for t in tails][:2]


def by_order(path, tensors: dict, model) -> dict[str, str]:
    """key_map='order' as a dict {name in the file: ours}, or the ValueError saying why not."""
    ours = _our_groups(model)
    root, groups = _file_modules(tensors)
    orders = _Orders(path, groups, ours)
    found = orders.of(root, 0) if root.size == len(ours) else []
    if len(found) == 1:
        return {f"{m}.{leaf}" if m else leaf: f"{ours[i][0]}.{leaf}"
                for i, m in enumerate(found[0]) for leaf in groups[m]}
    if found:
        shown, b = found
        why = "the shapes cannot tell the file's modules apart: " + "; ".join(
            f"the model's {ours[i][0]!r} could be the file's {a!r} or {b[i]!r}"
            for i, a in enumerate(shown) if a != b[i])
    else:
        why = (f"no order of the file's {root.size} modules gives the names and shapes of "
               f"the model's {len(ours)} layers with arrays")
        shown = []  # each layer beside the first module that fits it, else one of its kind
        for i in range(len(ours)):
            shown.append(next((m for m in groups if m not in shown and orders.fits(m, i)), None))
        rest = [m for m in groups if m not in shown]
        for i in (i for i, m in enumerate(shown) if m is None and rest):
            kind = [r for r in rest if set(groups[r]) ^ set(ours[i][1]) <= {COUNTER}]
            shown[i] = (kind or rest)[0]
            rest.remove(shown[i])
        shown += rest
    left, right = [], []
    for theirs, mine in zip_longest(shown, ours):
        tl = [] if theirs is None else [(f"{theirs}.{k}".lstrip("."), s)
                                        for k, s in groups[theirs].items()]
        ml = [] if mine is None else [(f"{mine[0]}.{k}", s) for k, s in mine[1].items()]
        left += tl + [None] * (len(ml) - len(tl))
        right += ml + [None] * (len(tl) - len(ml))
    raise ValueError(f"{path}: key_map='order' refused: {why}. Pass key_map as a dict "
                     "{name in the file: name in the model}.\n" + _table(path, left, right, True))


# ---------------------------------------------------------------------- helpers
def _natural(path: str) -> tuple:
    """Sort key of a dotted path: numbers compared as numbers ('fc2' < 'fc10', '2' < '10').
    The runs of decimal digits that ``re.split`` isolates sit at odd places, so only they
    become ints (a '²' is a digit to ``str.isdigit`` but no number to ``int``)."""
    return tuple((0, int(p), ()) if p.isascii() and p.isdigit() else
                 (1, 0, tuple(int(t) if i % 2 else t
                              for i, t in enumerate(re.split(r"(\d+)", p))))
                 for p in path.split(".")) if path else ()


def _torch_sorted(names) -> list[str]:
    """Tensor names module by module (natural order), each module's in torch's order."""
    def key(name):
        module, _, leaf = name.rpartition(".")
        rank = _TORCH_ORDER.index(leaf) if leaf in _TORCH_ORDER else len(_TORCH_ORDER)
        return _natural(module), rank, leaf
    return sorted(names, key=key)


def _table(path, left: list, right: list, leaves: bool = False) -> str:
    """Two columns, the file's (name, shape) beside the model's; '*' where the shapes
    (and with ``leaves``, the last parts of the names) differ or a side is empty."""
    def cell(item):
        return "" if item is None else f"{item[0]} {'?' if item[1] is None else item[1]}"

    def differ(a, b):
        if a is None or b is None or a[1] is None or b[1] is None:
            return True
        return tuple(a[1]) != tuple(b[1]) or \
            (leaves and a[0].rpartition(".")[2] != b[0].rpartition(".")[2])
    rows = [(cell(a), cell(b), differ(a, b)) for a, b in zip_longest(left, right)]
    head = f"in {os.path.basename(path)}"
    width = max([len(head)] + [len(a) for a, _, _ in rows])
    lines = [f"  {head:<{width}} | in the model"]
    lines += [f"{'*' if bad else ' '} {a:<{width}} | {b}" for a, b, bad in rows]
    return "\n".join(lines + ["(*: the two sides differ)"])

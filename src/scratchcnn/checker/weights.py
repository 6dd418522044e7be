"""Finding a learner's weights and bias by name, setting them, reading their gradients.

Before every forward pass the checker sets the case's weights into the learner's object,
so that both compute with the same numbers.  It looks for them, in this order, in a dict
attribute ``params`` (or ``parameters``, ``param``) under the keys, then as attributes:
weights ``W``, ``w``, ``weight``, ``weights``, ``kernel``, ``kernels``, ``filters``,
``filter``, ``K``, ``F``; bias ``b``, ``B``, ``bias``, ``biases``.  Weights must be
(FN, C, FH, FW) as PyTorch's, or None (set before forward).  (FN, FH, FW), without the
input-channel axis, is a finding: only single-channel cases can run.  A bias of one
number for the whole layer is a finding too.

After backward the gradients are read from ``dW``/``dw``/``grad_W``/``weight_grad``/...
and ``db``/``dB``/``grad_b``/``bias_grad``/... (or a dict ``grads`` under the weights'
keys).  If there are none but backward changed the weights (an update ``W -= lr * dW``
inside backward: a finding of its own), the gradient is read from the change, since the
checker passes a learning rate of 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .binding import LEARNING_RATE

__all__ = ["Layout", "LayoutError", "find_layout", "WEIGHT_NAMES", "BIAS_NAMES"]

WEIGHT_NAMES = ("W", "w", "weight", "weights", "kernel", "kernels", "filters", "filter",
                "K", "F")
BIAS_NAMES = ("b", "B", "bias", "biases")
DICTS = ("params", "parameters", "param")
GRAD_DICTS = ("grads", "grad", "gradients", "dparams", "d_params")
DW_NAMES = ("dW", "dw", "grad_W", "grad_w", "dweight", "d_weight", "weight_grad",
            "grad_weight", "dweights", "W_grad", "w_grad", "dK", "dk", "dF", "dkernel",
            "dfilters")
DB_NAMES = ("dB", "db", "grad_B", "grad_b", "dbias", "d_bias", "bias_grad", "grad_bias",
            "dbiases", "b_grad", "B_grad")


class LayoutError(ValueError):
    """Weights the checker cannot find or cannot read: the file cannot be used."""


def _is_value(value, allow_none: bool) -> bool:
    if value is None:
        return allow_none
    return isinstance(value, (np.ndarray, float, int, np.number)) and not isinstance(value, bool)


def _locate(obj, names, dicts, allow_none=True, attributes=True):
    """(dict attribute or None, key) of the first of ``names`` that holds an array: in
    one of the dict attributes ``dicts``, else (with ``attributes``) an attribute."""
    for dict_name in dicts:
        found = getattr(obj, dict_name, None)
        if isinstance(found, dict):
            for name in names:
                if name in found and _is_value(found[name], allow_none):
                    return dict_name, name
    for name in names if attributes else ():
        if name in getattr(obj, "__dict__", {}) or isinstance(
                getattr(type(obj), name, None), property):
            if _is_value(getattr(obj, name, None), allow_none):
                return None, name
    return None


def _label(slot) -> str:
    return slot[1] if slot[0] is None else f"{slot[0]}[{slot[1]!r}]"


def _get(obj, slot):
    return getattr(obj, slot[0])[slot[1]] if slot[0] else getattr(obj, slot[1])


def _put(obj, slot, value):
    if slot[0]:
        getattr(obj, slot[0])[slot[1]] = value
    else:
        setattr(obj, slot[1], value)


def _same(a, b) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    return a.shape == b.shape and bool(np.all((a == b) | (np.isnan(a) & np.isnan(b))))


@dataclass
class Layout:
    """Where and how a learner's conv class keeps its weights."""
    weight: tuple
    weight_shape: tuple | None        # as found after the constructor (None: unset)
    no_channel_axis: bool
    bias: tuple | None                # None: the class has no bias
    bias_shape: tuple | None
    one_bias: bool

    @property
    def bias_size(self) -> int:
        return int(np.prod(self.bias_shape)) if self.bias_shape else -1

    @property
    def names(self) -> str:
        return " and ".join(_label(s) for s in (self.weight, self.bias) if s)

    @property
    def labels(self) -> dict:
        """How the report names the weights and the bias: W, params['weight'], ..."""
        return {"weight": _label(self.weight), "bias": _label(self.bias) if self.bias else ""}

    def adapt(self, case):
        """The case as this layer can run it (None: it cannot, for lack of channels)."""
        if self.no_channel_axis and case.x.shape[1] != 1:
            return None
        if self.one_bias:
            return case.with_bias(np.full(case.w.shape[0], case.b[0]))
        if self.bias is None:
            return case.with_bias(np.zeros(case.w.shape[0]))
        return case

    def set(self, obj, case) -> dict:
        """Put the case's weights into obj, in obj's layout; return what was put."""
        put = {"w": case.w[:, 0].copy() if self.no_channel_axis else case.w.copy()}
        if self.bias is not None:
            if self.one_bias:
                put["b"] = float(case.b[0]) if self.bias_shape == () else case.b[:1].copy()
            else:  # the learner's shape, (FN,), (FN, 1, 1), ..., for this case's FN
                pattern = [-1 if n == self.bias_size else 1 for n in self.bias_shape or (-1,)]
                put["b"] = case.b.reshape(pattern).copy()
        try:  # copies: what was put stays as it was, to compare after backward
            _put(obj, self.weight, put["w"].copy())
            if "b" in put:
                _put(obj, self.bias, np.copy(put["b"]) if np.ndim(put["b"]) else put["b"])
        except (AttributeError, TypeError) as err:
            raise LayoutError(f"cannot set {self.names}: {err}") from None
        return put

    def _grad(self, obj, names, slot, before):
        keys = names + ((slot[1],) if slot else ())
        found = _locate(obj, names, (), allow_none=False) or \
            _locate(obj, keys, GRAD_DICTS, allow_none=False, attributes=False)
        if found:
            return _get(obj, found)
        if slot is None:
            return None
        now = _get(obj, slot)
        fits = np.shape(now) == np.shape(before) or np.ndim(before) == 0  # B = 1 became (FN,)
        if fits and not _same(now, before):
            with np.errstate(all="ignore"):
                return (np.asarray(before, np.float64) - np.asarray(now)) / LEARNING_RATE
        return None

    def gradients(self, obj, put: dict):
        """(dw, db, the weights backward changed, notes), gradients in NCHW layout."""
        changed = tuple(_label(slot) for slot, key in ((self.weight, "w"), (self.bias, "b"))
                        if slot and not _same(_get(obj, slot), put[key]))
        o = len(np.atleast_1d(put["w"]))
        dw = self._grad(obj, DW_NAMES, self.weight, put["w"])
        db = self._grad(obj, DB_NAMES, self.bias, put.get("b"))
        notes = []
        if dw is None:
            notes.append("dw_missing")
        elif self.no_channel_axis and np.ndim(dw) == 3:
            dw = np.asarray(dw)[:, None]
        if db is None:
            notes.append("db_missing" if self.bias is not None else "no_bias")
        elif np.size(db) == 1 and o > 1:
            db, notes = None, notes + ["db_one_number"]
        elif np.size(db) == o:
            db = np.asarray(db).reshape(o)
        return dw, db, changed, tuple(notes)


def find_layout(obj, case) -> Layout:
    """Read where obj keeps its weights; LayoutError if they cannot be used."""
    o, c, kh, kw = case.w.shape
    slot = _locate(obj, WEIGHT_NAMES, DICTS)
    if slot is None:
        raise LayoutError(f"found no weights in {type(obj).__name__}: looked for the "
                          f"attributes {', '.join(WEIGHT_NAMES)} and params['weight']")
    value = _get(obj, slot)
    shape = None if value is None else np.shape(value)
    no_channel = shape == (o, kh, kw)
    if shape is not None and not no_channel and (len(shape) != 4 or shape[0] != o
                                                or shape[2:] != (kh, kw)):
        raise LayoutError(f"{_label(slot)} has shape {shape}; the checker needs (FN, C, FH, "
                          f"FW) = ({o}, {c}, {kh}, {kw}), PyTorch's layout, or (FN, FH, FW)")
    bias = _locate(obj, BIAS_NAMES, DICTS)
    bias_shape = None if bias is None or _get(obj, bias) is None else \
        np.shape(_get(obj, bias))
    one = bias_shape in ((), (1,)) and o > 1
    if bias_shape is not None and not one and int(np.prod(bias_shape)) != o:
        raise LayoutError(f"{_label(bias)} has shape {bias_shape}; the checker needs one "
                          f"bias per filter, ({o},)")
    return Layout(slot, shape, no_channel, bias, bias_shape, one)

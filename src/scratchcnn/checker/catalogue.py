"""The catalogue of mistakes: one detector per mistake.

A detector is handed a :class:`Trial` (one case, one quantity: the forward output
``out``, ``dx``, ``dw``, ``db``, whether backward changed the weights, the layer's
layout, or an exception the learner's code raised) after the learner's result has been
found wrong.  It decides whether its mistake explains the result, usually by computing
the case's answer under the mistaken rule (:mod:`.rules`) and comparing, and returns
``None`` (no) or a dict of details for the message (yes; may be empty).  The messages
themselves are in :mod:`.messages`, under the same keys.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from . import rules
from .rules import close

__all__ = ["Trial", "Mistake", "CATALOGUE", "explain", "POISON"]

#: what the checker fills freed memory with before each call of the learner's code, so
#: that np.empty hands back these bytes: float64 and float32 readings of each pattern
POISON = {byte: (np.full(8, byte, np.uint8).view(np.float64)[0],
                 np.full(4, byte, np.uint8).view(np.float32)[0]) for byte in (0x7F, 0x5A)}


@dataclass
class Trial:
    """One quantity of one case: what the learner's code gave (``got``; ``alt`` is the
    same from a second run, with memory filled differently), and the case's answers."""
    case: object | None
    quantity: str                     # out dx dw db | update | setup | error
    got: object = None
    alt: object = None
    info: dict = field(default_factory=dict)

    @property
    def expected(self):
        return None if self.case is None else self.case.answers.get(self.quantity)

    @property
    def where(self) -> str:
        kind = getattr(self.case, "kind", None) or self.info.get("kind", "")
        return self.quantity if self.quantity in ("setup", "error") \
            else f"{kind}.{self.quantity}"


@dataclass(frozen=True)
class Mistake:
    key: str
    where: tuple[str, ...]            # the trials it can explain: "conv.out", "pool.dx", ...
    detect: Callable[[Trial], dict | None]


def _yes(condition, **details):
    return details if condition else None


# ------------------------------------------------------------------ layout and errors

#: NumPy's removed aliases: name -> (the NumPy release that removed it, what to write)
REMOVED = {"float": ("1.24", "float"), "int": ("1.24", "int"), "bool": ("1.24", "bool"),
           "object": ("1.24", "object"), "complex": ("1.24", "complex"),
           "str": ("1.24", "str"), "long": ("1.24", "int"), "unicode": ("1.24", "str"),
           "float_": ("2.0", "np.float64"), "complex_": ("2.0", "np.complex128"),
           "NaN": ("2.0", "np.nan"), "NAN": ("2.0", "np.nan"), "Inf": ("2.0", "np.inf"),
           "Infinity": ("2.0", "np.inf"), "infty": ("2.0", "np.inf"),
           "PINF": ("2.0", "np.inf"), "NINF": ("2.0", "-np.inf"),
           "product": ("2.0", "np.prod"), "cumproduct": ("2.0", "np.cumprod"),
           "alltrue": ("2.0", "np.all"), "sometrue": ("2.0", "np.any"),
           "round_": ("2.0", "np.round"), "asfarray": ("2.0", "np.asarray(x, dtype=float)")}


def numpy_alias(t: Trial):
    err = t.got
    if not isinstance(err, AttributeError):
        return None
    found = re.search(r"module 'numpy' has no attribute '(\w+)'|`np\.(\w+)` was removed",
                      str(err))
    name = found and (found.group(1) or found.group(2))
    if name not in REMOVED:
        return None
    version, use = REMOVED[name]
    return {"alias": f"np.{name}", "version": version, "use": use}


def no_channel_axis(t: Trial):
    shape, (o, _, kh, kw) = t.info.get("weight_shape"), t.case.w.shape
    return _yes(shape == (o, kh, kw), shape=shape)


def one_bias(t: Trial):
    return _yes(t.info.get("bias_shape") in ((), (1,)) and t.case.w.shape[0] > 1,
                shape=t.info.get("bias_shape"))


# ------------------------------------------------------------------ forward passes

def first_pixel_only(t: Trial):
    got, exp = np.asarray(t.got), t.expected
    if got.shape != exp.shape or got.ndim != 4 or got.shape[2] * got.shape[3] < 2:
        return None
    first = got[:, :, 0, 0]
    if not (close(first, exp[:, :, 0, 0]) or close(first, exp[:, :, -1, -1])):
        return None
    others = np.ones(exp.shape[2:], bool)
    others[0, 0] = False
    rest = got[:, :, others]
    if rules.close_mask(rest, exp[:, :, others]).mean() >= 0.2:
        return None
    # the rest was never written: one fill value (np.zeros) or memory as it was (np.empty)
    alt = np.asarray(t.alt) if t.alt is not None else None
    garbage = alt is not None and alt.shape == got.shape and uninitialised(
        Trial(t.case, t.quantity, rest, alt[:, :, others])) is not None
    return _yes(garbage or bool(np.all(rest == rest.flat[0])) or _poisoned(rest))


def _poisoned(values: np.ndarray) -> bool:
    marks = [v for pair in POISON.values() for v in pair]
    return bool(np.isin(values, marks).any())


def uninitialised(t: Trial):
    got, alt = np.asarray(t.got), t.alt
    if got.dtype.kind != "f":
        return None
    varies = alt is not None and np.shape(alt) == got.shape and not np.all(
        np.isclose(got, alt, rtol=1e-7, atol=0, equal_nan=True))
    return _yes(varies or _poisoned(got))


def output_size_off_by_one(t: Trial):
    """One row or column too few or too many, the rest right."""
    got, exp = np.shape(t.got), t.expected.shape
    if len(got) != 4 or got[:2] != exp[:2] or got == exp or \
            any(abs(g - e) > 1 for g, e in zip(got[2:], exp[2:])):
        return None
    h, w = min(got[2], exp[2]), min(got[3], exp[3])
    return _yes(close(np.asarray(t.got)[:, :, :h, :w], t.expected[:, :, :h, :w]),
                expected="x".join(map(str, exp[2:])), got="x".join(map(str, got[2:])))


def padding_ignored(t: Trial):
    if t.case.padding == 0:
        return None
    unpadded = rules.conv(t.case, padding=0) if t.case.kind == "conv" else \
        rules.pool(t.case, padding=0)
    return _yes(close(t.got, unpadded))


def stride_ignored(t: Trial):
    case, got = t.case, t.got
    if case.stride == 1:
        return None
    # stride 1, or for pooling also the window's size (its default stride)
    steps = [1] if case.kind == "conv" or case.kernel[0] == case.stride else [1, case.kernel[0]]
    if t.quantity == "out":
        ho, wo = t.expected.shape[2:]
        for step in steps:
            other = rules.conv(case, stride=1) if case.kind == "conv" else \
                rules.pool(case, stride=step)
            if close(got, other) or close(got, other[:, :, :ho, :wo]):
                return {}
        return None
    if case.kind == "pool":
        return _yes(any(close(got, rules.pool_dx(case, stride=step)) for step in steps))
    dx, dw, _ = rules.conv_grads(case, stride=1)
    return _yes(close(got, dx if t.quantity == "dx" else dw))


def kernel_flipped(t: Trial):
    case, flipped = t.case, t.case.w[:, :, ::-1, ::-1]
    if t.quantity == "out":
        return _yes(close(t.got, rules.conv(case, w=flipped)))
    if t.quantity == "dx":
        return _yes(close(t.got, rules.conv_grads(case, w=flipped)[0]))
    return _yes(close(t.got, t.expected[:, :, ::-1, ::-1]))


def no_channel_sum(t: Trial):
    case = t.case
    if t.quantity == "out":
        for c in range(case.x.shape[1] if case.x.shape[1] > 1 else 0):
            if close(t.got, rules.conv(case, x=case.x[:, c:c + 1], w=case.w[:, c:c + 1])):
                return {"axis": "input", "index": c}
        return None
    for o in range(case.w.shape[0] if case.w.shape[0] > 1 else 0):
        dx = rules.conv_grads(case, w=case.w[o:o + 1], dout=case.dout[:, o:o + 1])[0]
        if close(t.got, dx):
            return {"axis": "filter", "index": o}
    return None


def bias_wrong(t: Trial):
    case = t.case
    base, b = rules.conv(case, b=None), case.b
    once = base.copy()
    once[:, :, 0, 0] += b
    candidates = {"missing": base, "once": once, "twice": base + 2 * b[:, None, None],
                  "per_term": base + b[:, None, None] * case.w[0].size}
    ho, wo = base.shape[2:]
    if wo == len(b):
        candidates["last_axis"] = base + b
    if ho == len(b):
        candidates["row_axis"] = base + b[:, None]
    for how, candidate in candidates.items():
        if close(t.got, candidate):
            return {"how": how}
    return None


# ------------------------------------------------------------------ backward passes

def weights_updated_in_backward(t: Trial):
    return _yes(bool(t.got))


def mean_not_sum(t: Trial):
    n, _, ho, wo = t.case.dout.shape
    for count in sorted({n, ho * wo, n * ho * wo} - {1}):
        if close(t.got, t.expected / count):
            return {"count": count}
    return None


def dw_misindexed(t: Trial):
    case, got = t.case, t.got
    kh, kw = case.kernel
    if kh == kw and close(got, t.expected.swapaxes(2, 3)):
        return {"how": "swapped"}
    if case.stride > 1 and close(got, rules.conv_dw_at(case, lambda y, i, s: y + i * s)):
        return {"how": "stride_on_kernel"}
    if case.padding and close(got, rules.conv_dw_at(case, lambda y, i, s: y * s + i, False)):
        return {"how": "unpadded"}
    return None


def dx_kernel_row_missing(t: Trial):
    case = t.case
    kh, kw = case.kernel
    for axis, size in ((2, kh), (3, kw)):
        for index in sorted({0, size - 1}) if size > 1 else ():
            w = case.w.copy()
            w[(slice(None),) * axis + (index,)] = 0
            if close(t.got, rules.conv_grads(case, w=w)[0]):
                return {"axis": "row" if axis == 2 else "column", "index": index}
    return None


def dx_padded(t: Trial):
    """dX returned with the padding's border still on."""
    p, (h, w) = t.case.padding, t.case.x.shape[2:]
    got = np.asarray(t.got)
    if not p or got.ndim != 4 or got.shape[2:] != (h + 2 * p, w + 2 * p):
        return None
    return _yes(close(got[:, :, p:p + h, p:p + w], t.expected))


def _first_max(window, d):
    share = np.zeros_like(window)
    share[np.unravel_index(np.argmax(window), window.shape)] = d
    return share


def dx_overwrite(t: Trial):
    case = t.case
    if case.stride >= min(case.kernel):
        return None  # windows do not overlap: = and += agree
    if case.kind == "conv":
        return _yes(close(t.got, rules.conv_dx_assigned(case))
                    or close(t.got, rules.conv_dx_assigned(case, per_filter=True)))
    return _yes(close(t.got, rules.pool_dx_routed(case, _first_max, assign="window"))
                or close(t.got, rules.pool_dx_routed(case, _first_max, assign="point")))


# ------------------------------------------------------------------ pooling's gradient

def pool_grad_transposed(t: Trial):
    exp = t.expected
    return _yes(exp.shape[2] == exp.shape[3] and close(t.got, exp.swapaxes(2, 3)))


def pool_grad_whole_window(t: Trial):
    case = t.case
    area = case.kernel[0] * case.kernel[1]
    if close(t.got, rules.pool_dx_routed(case, lambda w, d: np.full_like(w, d))):
        return {"how": "each"}
    if close(t.got, rules.pool_dx_routed(case, lambda w, d: np.full_like(w, d / area))):
        return {"how": "average"}
    return None


def _last_max(window, d):
    share = np.zeros_like(window)
    flat = window.size - 1 - np.argmax(window.ravel()[::-1])
    share[np.unravel_index(flat, window.shape)] = d
    return share


def pool_ties(t: Trial):
    if close(t.got, rules.pool_dx_routed(t.case, lambda w, d: (w == w.max()) * d)):
        return {"how": "all"}
    return _yes(close(t.got, rules.pool_dx_routed(t.case, _last_max)), how="last")


_FORWARD = ("conv.out", "pool.out")
#: Every mistake the checker can name, in the order a report lists them.
CATALOGUE: tuple[Mistake, ...] = (
    Mistake("numpy_alias", ("error",), numpy_alias),
    Mistake("no_channel_axis", ("setup",), no_channel_axis),
    Mistake("one_bias", ("setup",), one_bias),
    Mistake("first_pixel_only", _FORWARD + ("conv.dw",), first_pixel_only),
    Mistake("uninitialised", _FORWARD + ("conv.dx", "conv.dw", "conv.db", "pool.dx"),
            uninitialised),
    Mistake("output_size_off_by_one", _FORWARD, output_size_off_by_one),
    Mistake("padding_ignored", _FORWARD, padding_ignored),
    Mistake("stride_ignored", _FORWARD + ("conv.dx", "conv.dw", "pool.dx"), stride_ignored),
    Mistake("kernel_flipped", ("conv.out", "conv.dx", "conv.dw"), kernel_flipped),
    Mistake("no_channel_sum", ("conv.out", "conv.dx"), no_channel_sum),
    Mistake("bias_wrong", ("conv.out",), bias_wrong),
    Mistake("weights_updated_in_backward", ("conv.update",), weights_updated_in_backward),
    Mistake("mean_not_sum", ("conv.dw", "conv.db"), mean_not_sum),
    Mistake("dw_misindexed", ("conv.dw",), dw_misindexed),
    Mistake("dx_kernel_row_missing", ("conv.dx",), dx_kernel_row_missing),
    Mistake("dx_overwrite", ("conv.dx", "pool.dx"), dx_overwrite),
    Mistake("dx_padded", ("conv.dx", "pool.dx"), dx_padded),
    Mistake("pool_grad_transposed", ("pool.dx",), pool_grad_transposed),
    Mistake("pool_grad_whole_window", ("pool.dx",), pool_grad_whole_window),
    Mistake("pool_ties", ("pool.dx",), pool_ties),
)


def explain(trial: Trial) -> list[tuple[str, dict]]:
    """Every catalogued mistake that explains the trial: (key, details), in order."""
    found = []
    for mistake in CATALOGUE:
        if trial.where not in mistake.where:
            continue
        try:
            details = mistake.detect(trial)
        except Exception:  # a detector meets a result of a shape it cannot read: not it
            details = None
        if details is not None:
            found.append((mistake.key, details))
    return found

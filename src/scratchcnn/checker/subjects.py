"""Finding a learner's convolution and pooling in a module, and running them on one case.

Three forms are accepted, for each of the two layers:

- a class with ``forward`` and ``backward`` whose constructor is called with the case's
  sizes by its parameters' names (:mod:`.binding`): the course's ``Conv2d(FN, FH, FW,
  padding, ir, stride=1)`` and ``MaxPool2D(FH, FW, padding=0, stride=None)``, PyTorch's
  ``Conv2d(in_channels, out_channels, kernel_size, stride, padding)``, ``Convolution(W,
  b, stride, pad)``...; its weights are found by attribute name (:mod:`.weights`);
- functions: a forward (``conv2d``, ``conv2d_forward``, ``conv_forward_naive``,
  ``max_pool2d``...) and, if there is one, its backward (the same name with
  ``backward``), which gets ``dout`` and whatever the forward returned beside its output
  (a cache), or the forward's own inputs.

A subject works either on (N, C, H, W) batches or on one (C, H, W) image at a time: the
first case decides, and then a batch is run image by image.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass

import numpy as np

from . import weights
from .binding import LEARNING_RATE, PAIR_WANTED, Unbindable, call, describe, role_of

__all__ = ["Subject", "ClassSubject", "FunctionSubject", "find_subjects", "Run"]

_SKIP = ("grouped", "transpose", "deconv", "depthwise", "im2col", "col2im", "size",
         "shape", "pad", "output", "avg", "average", "mean", "adaptive", "global", "test",
         "check")
_BACKWARD = ("backward", "grad", "bwd", "back")


@dataclass
class Run:
    """What the learner's code gave on one case: arrays in NCHW, or None."""
    out: object = None
    dx: object = None
    dw: object = None
    db: object = None
    changed: tuple = ()               # the names of the weights backward changed
    error: tuple | None = None        # (stage, exception)
    notes: tuple = ()                 # e.g. ("dw_missing",)


class Subject:
    """A learner's convolution or pooling, whatever its form."""
    kind: str                         # "conv" or "pool"
    name: str
    signature: str
    form: str                         # "class" or "functions"
    has_backward: bool
    batched: bool | None = None
    layout: weights.Layout | None = None

    def run(self, case, x, dout, poison) -> Run:       # pragma: no cover (abstract)
        raise NotImplementedError

    def roles(self) -> set[str]:                        # pragma: no cover (abstract)
        raise NotImplementedError

    def skip_reason(self, case) -> str | None:
        """"padding" or "stride" for a case this code has no parameter for."""
        roles = self.roles()
        if "conv_param" in roles:       # CS231n's {'stride': S, 'pad': P}
            roles |= {"stride", "padding"}
        if "pool_param" in roles:       # {'pool_height', 'pool_width', 'stride'}: no padding
            roles |= {"stride"}
        default_stride = 1 if self.kind == "conv" else case.kernel[0]
        if case.padding and "padding" not in roles:
            return "padding"
        if case.stride != default_stride and "stride" not in roles:
            return "stride"
        return None


class ClassSubject(Subject):
    form = "class"

    def __init__(self, kind: str, cls):
        self.kind, self.cls, self.name = kind, cls, cls.__name__
        self.signature = describe(cls)
        self.has_backward = callable(getattr(cls, "backward", None))

    def roles(self) -> set[str]:
        return _roles(self.cls, f"{self.kind}_class")

    def build(self, case):
        kh, kw = case.kernel
        values = {"stride": case.stride, "padding": case.padding, "kernel": kh,
                  "kernel_h": kh, "kernel_w": kw, "lr": LEARNING_RATE}
        if self.kind == "conv":
            values.update(w=case.w.copy(), b=case.b.copy(), in_channels=case.x.shape[1],
                          out_channels=case.w.shape[0])
        return call(self.cls, f"{self.kind}_class", values)

    def run(self, case, x, dout, poison) -> Run:
        run = Run()
        stage = "init"
        try:
            obj = self.build(case)
            stage = "setup"
            if self.kind == "conv":
                if self.layout is None:
                    self.layout = weights.find_layout(obj, case)
                set_values = self.layout.set(obj, case)
            stage = "forward"
            forward = getattr(obj, "forward", None) or obj
            poison()
            run.out = call(forward, "forward_method", {"x": x.copy()}, first="x")
            if not self.has_backward or dout is None:
                return run
            stage = "backward"
            poison()
            run.dx = call(obj.backward, "backward_method",
                          {"dout": dout.copy(), "lr": LEARNING_RATE}, first="dout")
            if self.kind == "conv":
                run.dw, run.db, run.changed, run.notes = self.layout.gradients(obj, set_values)
        except (weights.LayoutError, Unbindable):
            raise
        except Exception as err:  # the learner's code failed: that is a finding
            run.error = (stage, err)
        return run


class FunctionSubject(Subject):
    form = "functions"

    def __init__(self, kind: str, forward, backward):
        self.kind, self.forward, self.backward = kind, forward, backward
        self.name = forward.__name__.replace("_forward", "") or forward.__name__
        self.signature = describe(forward)
        self.has_backward = backward is not None
        self.pairs = False

    def roles(self) -> set[str]:
        return _roles(self.forward, f"{self.kind}_function")

    def _call(self, func, values):
        """Sizes as ints first; as pairs if the function unpacks them (the library's own
        ``textbook`` functions take ``stride=(1, 1)``)."""
        try:
            return call(func, f"{self.kind}_function", values, self.pairs)
        except (TypeError, ValueError) as err:
            if self.pairs or not any(p in str(err) for p in PAIR_WANTED):
                raise
            self.pairs = True
            return call(func, f"{self.kind}_function", values, True)

    def run(self, case, x, dout, poison) -> Run:
        run = Run()
        k = case.kernel[0]
        values = {"x": x.copy(), "stride": case.stride, "padding": case.padding,
                  "kernel": k, "kernel_h": k, "kernel_w": case.kernel[1],
                  "pool_param": {"pool_height": k, "pool_width": case.kernel[1],
                                 "stride": case.stride, "pad": case.padding,
                                 "padding": case.padding, "pool_size": k,
                                 "kernel_size": k}}
        if self.kind == "conv":
            w, b = case.w.copy(), case.b.copy()
            values.update(w=w, b=b, conv_param={"stride": case.stride, "pad": case.padding,
                                                "padding": case.padding})
        stage = "forward"
        try:
            poison()
            result = self._call(self.forward, values)
            run.out, cache = _split(result)
            if self.backward is None or dout is None:
                return run
            stage = "backward"
            values.update(dout=dout.copy(), cache=cache)
            poison()
            grads = self._call(self.backward, values)
            if isinstance(grads, (tuple, list)):
                run.dx, run.dw, run.db = (list(grads) + [None, None])[:3]
            else:
                run.dx = grads
            if self.kind == "conv":
                run.changed = tuple(n for n, a, v in (("w", w, case.w), ("b", b, case.b))
                                    if not np.array_equal(a, v))
                if run.dw is None:
                    run.notes = ("dw_missing", "db_missing")
        except Unbindable:
            raise
        except Exception as err:  # the learner's code failed: that is a finding
            run.error = (stage, err)
        return run


def _roles(func, context) -> set[str]:
    try:
        names = inspect.signature(func).parameters
    except (TypeError, ValueError):
        return set()
    return {role_of(name, context) for name in names} - {None}


def _split(result):
    """(out, cache) from what a forward returned: an array, or (out, cache...)."""
    if isinstance(result, (tuple, list)) and len(result) >= 2 and np.ndim(result[0]) >= 3:
        return result[0], result[1] if len(result) == 2 else tuple(result[1:])
    return result, None


def _own(module, obj) -> bool:
    """Defined in the learner's module (not imported into it), or anything in a plain
    namespace."""
    where = getattr(module, "__name__", None)
    return where is None or not inspect.ismodule(module) or \
        getattr(obj, "__module__", None) == where


def _is(kind: str, name: str) -> bool:
    low = name.lower()
    if any(s in low for s in _SKIP):
        return False
    return "conv" in low if kind == "conv" else ("pool" in low and "min" not in low)


def find_subjects(module) -> list[Subject]:
    """The learner's convolution and max pooling: a class of each if there is one,
    otherwise a forward function (and its backward)."""
    members = [(n, v) for n, v in vars(module).items()
               if not n.startswith("_") and _own(module, v)]
    found = []
    for kind in ("conv", "pool"):
        classes = [v for n, v in members if inspect.isclass(v) and _is(kind, n)
                   and (hasattr(v, "forward") or "__call__" in vars(v))]
        if classes:
            found.append(ClassSubject(kind, min(classes, key=lambda c: len(c.__name__))))
            continue
        funcs = [(n, v) for n, v in members if inspect.isfunction(v) and _is(kind, n)]
        backs = [(n, v) for n, v in funcs if any(b in n.lower() for b in _BACKWARD)]
        fwds = [(n, v) for n, v in funcs if (n, v) not in backs]
        if not fwds:
            continue
        name, forward = min(fwds, key=lambda nv: (len(nv[0]), nv[0]))
        stem = name.lower().replace("_forward", "").replace("forward", "")
        backward = min(backs, key=lambda nv: (stem not in nv[0].lower(), len(nv[0])),
                       default=(None, None))[1]
        found.append(FunctionSubject(kind, forward, backward))
    return found

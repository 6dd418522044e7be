"""The one protocol every layer follows.

A layer is an object with

``forward(x) -> y``
    Computes the output and remembers what the backward pass needs.
``backward(dout) -> dx``
    Takes dL/dy (the same shape as the last ``y``), fills ``layer.grads`` with dL/dp for
    every learnable array p, and returns dL/dx (the same shape as the last ``x``).
``params``
    A plain dict of the learnable NumPy arrays, keyed as in PyTorch's state dicts
    (``'weight'``, ``'bias'``).  Optimisers update these arrays in place; assigning a new
    array of the same shape (``layer.params['weight'] = w``) also takes effect, because a
    layer reads its parameters from the dict on every call and keeps no copy of them.
``grads``
    The gradients, same keys and shapes as ``params``, filled by ``backward``.
``buffers``
    Non-learnable state that belongs in a saved model (BatchNorm's running statistics).

A layer computes in the dtype of its parameters (float32 unless converted with
``astype``); layers without parameters compute in the dtype of their input.  A layer
whose natural input is a batch (``Conv2d`` takes (N, C, H, W)) also accepts one sample
without the batch axis and answers without it, as PyTorch does.

Subclasses implement ``_forward(x)`` and ``_backward(dout)`` on batched arrays; this base
class does the checking, the dtype, the unbatched case and the bookkeeping.
"""

from __future__ import annotations

import numpy as np

__all__ = ["Layer"]


class Layer:
    #: Number of dimensions of a batched input (None: any number, e.g. activations).
    batched_ndim: int | None = None
    #: Shape names of a batched input, for error messages.
    input_layout = ""

    def __init__(self):
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        self.buffers: dict[str, np.ndarray] = {}
        self.training = True
        #: False when nothing needs dL/dx (the first layer of a network): backward may
        #: then skip that work and return None.
        self.needs_input_grad = True
        self._dtype = np.dtype(np.float32)
        self._input_shape = None   # shape of the last forward input, as given
        self._output_shape = None  # shape of the last forward output, as returned
        self._unbatched = False
        self._compute_dtype = self._dtype

    # ------------------------------------------------------------------ protocol
    def forward(self, x) -> np.ndarray:
        """Output of the layer for ``x``; see the class docstring for shapes."""
        return self._forward_with(self._forward, x)

    def _forward_with(self, compute, x) -> np.ndarray:
        """``compute`` (a batched forward) on x, with the checks and bookkeeping of
        :meth:`forward`."""
        x = self._as_input(x)
        self._input_shape = x.shape
        self._compute_dtype = x.dtype
        self._unbatched = self.batched_ndim is not None and x.ndim == self.batched_ndim - 1
        if self._unbatched:
            x = x[None]
        y = compute(x)
        if self._unbatched:
            y = y[0]
        self._output_shape = y.shape
        return y

    def backward(self, dout) -> np.ndarray | None:
        """dL/dx for ``dout`` = dL/dy; also fills ``self.grads``."""
        if self._output_shape is None:
            raise ValueError(f"{self.name}: backward called before forward")
        dout = self._as_array(dout, "dout")
        if dout.shape != self._output_shape:
            raise ValueError(f"{self.name}: dout must have the shape of the last output "
                             f"{self._output_shape}, got {dout.shape}")
        if self._unbatched:
            dout = dout[None]
        dx = self._backward(dout.astype(self._compute_dtype, copy=False))
        if dx is not None and self._unbatched:
            dx = dx[0]
        return dx

    def __call__(self, x) -> np.ndarray:
        return self.forward(x)

    def fuses_with(self, after: "Layer", x) -> bool:
        """Whether :meth:`forward_fused` would compute this layer and ``after`` (the next
        one) together for the input ``x`` (no layer does but Conv2d before a max-pool)."""
        return False

    def forward_fused(self, x, after: "Layer") -> np.ndarray:
        """``after.forward(self.forward(x))`` in one pass; :meth:`backward` then takes
        dL/d(after's output).  Only where :meth:`fuses_with` says so."""
        raise NotImplementedError(f"{self.name} computes no layer together with the next")

    def forget(self) -> None:
        """Drop the last forward's state: backward then raises until forward runs again
        (a layer that a fused forward skipped must not route stale values)."""
        self._output_shape = None

    def _forward(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _backward(self, dout: np.ndarray) -> np.ndarray | None:
        raise NotImplementedError

    # ------------------------------------------------------------------ checks
    @property
    def name(self) -> str:
        return type(self).__name__

    def _as_array(self, x, what: str) -> np.ndarray:
        arr = np.asarray(x)
        if arr.dtype.kind not in "biuf":
            raise TypeError(f"{self.name}: {what} must be a numeric array, got dtype "
                            f"{arr.dtype} ({type(x).__name__})")
        return arr

    def _as_input(self, x) -> np.ndarray:
        x = self._as_array(x, "input")
        if self.batched_ndim is not None and x.ndim not in (self.batched_ndim,
                                                            self.batched_ndim - 1):
            unbatched = self.input_layout.replace("N, ", "", 1)
            raise ValueError(f"{self.name}: expected a {self.batched_ndim}-D input "
                             f"{self.input_layout} or a {self.batched_ndim - 1}-D unbatched "
                             f"input {unbatched}, got shape {x.shape}")
        if self.params or x.dtype.kind != "f":
            x = x.astype(self.dtype, copy=False)
        return x

    def _check_size(self, x: np.ndarray, axis: int, expected: int, what: str) -> None:
        if x.shape[axis] != expected:
            shown = x.shape[1:] if self._unbatched else x.shape
            raise ValueError(f"{self.name}: expected input with {expected} {what}, got "
                             f"{x.shape[axis]} (input shape {shown})")

    # ------------------------------------------------------------------ state
    @property
    def dtype(self) -> np.dtype:
        """The dtype the layer computes in: its parameters' (or float32 without any)."""
        for p in self.params.values():
            return p.dtype
        return self._dtype

    def astype(self, dtype) -> "Layer":
        """Convert parameters, gradients and buffers to ``dtype``; returns ``self``."""
        dtype = np.dtype(dtype)
        if dtype.kind != "f":
            raise TypeError(f"{self.name}: astype needs a floating dtype, got {dtype}")
        self._dtype = dtype
        for store in (self.params, self.grads, self.buffers):
            for k, v in store.items():
                store[k] = v.astype(dtype)
        return self

    def parameters(self) -> list[np.ndarray]:
        return list(self.params.values())

    def zero_grad(self) -> None:
        for k, v in self.params.items():
            self.grads[k] = np.zeros_like(v)

    def train(self, mode: bool = True) -> "Layer":
        self.training = mode
        return self

    def eval(self) -> "Layer":
        return self.train(False)

    def output_shape(self, input_shape: tuple) -> tuple:
        """Shape of the output for an input of ``input_shape`` (element-wise layers: the same)."""
        return tuple(input_shape)

    def config(self) -> dict:
        """Constructor arguments that rebuild this layer (saved as JSON with a model)."""
        return {}

    @classmethod
    def state_shapes(cls, config: dict, shapes_of=None) -> dict[str, tuple]:
        """Shapes of the params and buffers of a layer built from ``config``, without
        building it (a saved file's arrays are checked against them first).  A container
        asks ``shapes_of(spec)`` for each layer spec inside it."""
        return {}

    @classmethod
    def from_config(cls, config: dict, build=None) -> "Layer":
        """The layer that ``config`` (:meth:`config`'s dict) describes; a container builds
        the layer specs inside it with ``build(spec)``."""
        return cls(**config)

    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        return f"{self.name}({self.extra_repr()})"

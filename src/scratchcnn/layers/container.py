"""Layers made of layers: ``Stack`` (a plain sequence, the core of ``Sequential``) and
``Residual`` (``body(x) + shortcut(x)``, the block every network after 2015 is made of).

A container's learnable arrays are its children's, reached by PyTorch's dotted names:
``Residual(body=Stack([Conv2d, BatchNorm2d, ...]))`` has ``params['body.0.weight']``,
which *is* ``body[0].params['weight']`` (the same array; assigning one replaces the
child's, as :mod:`.base` promises for every layer).  So a model's state dict, its
optimiser and its gradient checks see a residual block's arrays under the names a torch
module with attributes ``body`` and ``shortcut`` gives them (``'3.body.0.weight'``).
"""

from __future__ import annotations

from collections.abc import MutableMapping

import numpy as np

from .base import Layer

__all__ = ["Stack", "Residual"]


class ChildStore(MutableMapping):
    """The ``params``, ``grads`` or ``buffers`` of a container: its children's, under
    ``'<child>.<key>'`` (``'body.0.weight'``).  Reading and assigning go to the child;
    no key can be added that the child does not have (``grads`` take any key of the
    child's ``params``)."""

    def __init__(self, children, store: str):
        self._children, self._store = children, store  # children: () -> {name: child}

    def _items(self):
        for name, child in self._children().items():
            for key, value in getattr(child, self._store).items():
                yield f"{name}.{key}", value

    def _resolve(self, key: str):
        name, _, rest = str(key).partition(".")
        child = self._children().get(name)
        if child is None or not rest:
            raise KeyError(key)
        return child, rest

    def __getitem__(self, key):
        child, rest = self._resolve(key)
        return getattr(child, self._store)[rest]

    def __setitem__(self, key, value):
        child, rest = self._resolve(key)
        store = getattr(child, self._store)
        if rest not in store and not (self._store == "grads" and rest in child.params):
            raise KeyError(f"{key!r}: no such array to replace")
        store[rest] = value

    def __delitem__(self, key):
        raise TypeError("a container's arrays belong to its children: delete them there")

    def __iter__(self):
        return (key for key, _ in self._items())

    def __len__(self):
        return sum(1 for _ in self._items())

    def items(self):
        return list(self._items())


class Container(Layer):
    """What every container shares: ``params``/``grads``/``buffers`` are its children's
    (:class:`ChildStore`), and dtype, training mode and gradients go to every child."""

    def __init__(self):
        super().__init__()
        self.params = ChildStore(self.children, "params")
        self.grads = ChildStore(self.children, "grads")
        self.buffers = ChildStore(self.children, "buffers")

    def children(self) -> dict[str, Layer]:
        """The layers inside, by the name their arrays' keys start with."""
        raise NotImplementedError

    def astype(self, dtype) -> "Container":
        for child in self.children().values():
            child.astype(dtype)
        self._dtype = np.dtype(dtype)
        return self

    def train(self, mode: bool = True) -> "Container":
        self.training = mode
        for child in self.children().values():
            child.train(mode)
        return self

    def zero_grad(self) -> None:
        for child in self.children().values():
            child.zero_grad()

    def named_arrays(self, prefix: str = ""):
        """(dotted name, array) of every parameter and buffer inside, in torch's
        state-dict order: each layer's parameters, then its buffers, layer by layer."""
        for name, child in self.children().items():
            if isinstance(child, Container):
                yield from child.named_arrays(f"{prefix}{name}.")
            else:
                for store in (child.params, child.buffers):
                    for k, v in store.items():
                        yield f"{prefix}{name}.{k}", v

    def named_layers(self, prefix: str = ""):
        """(dotted name, layer) of every layer inside, depth first, containers included."""
        for name, child in self.children().items():
            yield prefix + name, child
            if isinstance(child, Container):
                yield from child.named_layers(f"{prefix}{name}.")


class Stack(Container):
    """Layers applied in order; ``backward`` runs them in reverse.  Children are named
    ``'0'``, ``'1'``, ... as in ``torch.nn.Sequential``, layers without arrays included.

    Where a layer can compute itself together with the next (:meth:`Layer.fuses_with`:
    a convolution and its max-pool on the fast path), it does: the same function and
    gradients either way.

    Parameters
    ----------
    layers : iterable of Layer
        The layers, first to last.
    """

    def __init__(self, layers):
        self.layers = list(layers)
        for i, layer in enumerate(self.layers):
            if not isinstance(layer, Layer):
                raise TypeError(f"{type(self).__name__}: item {i} is a "
                                f"{type(layer).__name__}, not a Layer")
        super().__init__()
        self._run: list[Layer] | None = None

    def children(self) -> dict[str, Layer]:
        return {str(i): layer for i, layer in enumerate(self.layers)}

    @property
    def batched_ndim(self) -> int | None:
        """What the first layer takes batched (4 for a convolution): one sample has one less."""
        return self.layers[0].batched_ndim if self.layers else None

    @property
    def fuse_layers(self) -> bool:
        """Let a layer compute itself together with the next where that is faster
        (:meth:`Layer.fuses_with`); setting it reaches the stacks inside, too."""
        return getattr(self, "_fuse", True)

    @fuse_layers.setter
    def fuse_layers(self, value: bool) -> None:
        self._fuse = bool(value)
        for _, layer in self.named_layers():
            if isinstance(layer, Stack):
                layer._fuse = bool(value)

    def forward(self, x) -> np.ndarray:
        self._run = []  # the layers that ran, last to backward first
        i, layers = 0, self.layers
        while i < len(layers):
            layer, after = layers[i], layers[i + 1] if i + 1 < len(layers) else None
            if self.fuse_layers and after is not None and layer.fuses_with(after, x):
                x = layer.forward_fused(x, after)
                after.forget()
                i += 2
            else:
                x = layer.forward(x)
                i += 1
            self._run.append(layer)
        return x

    def backward(self, dout) -> np.ndarray | None:
        if self._run is None:
            raise ValueError(f"{type(self).__name__}: backward called before forward")
        for layer in reversed(self._run):
            dout = layer.backward(dout)
            if dout is None:
                return None
        return dout

    def forget(self) -> None:
        self._run = None

    # ------------------------------------------------------------------ arrays
    def named_parameters(self):
        """(name, array, gradient or None) for every learnable array, in order."""
        for i, layer in enumerate(self.layers):
            for k, p in layer.params.items():
                yield f"{i}.{k}", p, layer.grads.get(k)

    def parameters(self) -> list[np.ndarray]:
        return [p for _, p, _ in self.named_parameters()]

    def state_dict(self) -> dict[str, np.ndarray]:
        """Parameters and buffers by PyTorch-style key (``'3.weight'``), as copies."""
        return {k: v.copy() for k, v in self.named_arrays()}

    def load_state_dict(self, state: dict, strict: bool = True) -> None:
        """Copy arrays from ``state`` into the model (into the existing arrays, in their dtype)."""
        own = {k: store for store in (self.params, self.buffers) for k in store}
        missing, unexpected = sorted(set(own) - set(state)), sorted(set(state) - set(own))
        if strict and (missing or unexpected):
            raise KeyError(f"load_state_dict: missing keys {missing}, unexpected keys "
                           f"{unexpected}")
        for key, store in own.items():
            if key not in state:
                continue
            value, target = np.asarray(state[key]), store[key]
            if value.shape != target.shape:
                raise ValueError(f"load_state_dict: {key} has shape {value.shape}, the model "
                                 f"expects {target.shape}")
            target[...] = value

    @property
    def dtype(self) -> np.dtype:
        for _, p, _ in self.named_parameters():
            return p.dtype
        return self._dtype

    @property
    def training(self) -> bool:
        return all(layer.training for layer in self.layers)

    @training.setter
    def training(self, mode: bool) -> None:
        pass  # the children hold it: train() sets theirs

    def output_shape(self, input_shape: tuple) -> tuple:
        """The output's shape for an input of ``input_shape`` (batched or one sample's)."""
        shape = tuple(input_shape)
        for layer in self.layers:
            shape = tuple(layer.output_shape(shape))
        return shape

    def config(self) -> dict:
        return {"layers": [layer_spec(layer) for layer in self.layers]}

    @classmethod
    def from_config(cls, config: dict, build) -> "Stack":
        return cls([build(spec, str(i)) for i, spec in enumerate(config["layers"])])

    @classmethod
    def state_shapes(cls, config: dict, shapes_of=None) -> dict[str, tuple]:
        if set(config) != {"layers"}:
            raise ValueError(f"a Stack's config holds its layers, got keys {sorted(config)}")
        shapes = {}
        for i, spec in enumerate(config["layers"]):
            shapes.update({f"{i}.{k}": s for k, s in shapes_of(spec, str(i)).items()})
        return shapes

    def __len__(self):
        return len(self.layers)

    def __getitem__(self, i):
        return self.layers[i]

    def __repr__(self) -> str:
        rows = "".join(f"\n  ({i}): " + repr(layer).replace("\n", "\n  ")
                       for i, layer in enumerate(self.layers))
        return f"{type(self).__name__}({rows}\n)"


def layer_spec(layer: Layer) -> dict:
    """``{'type': class name, 'config': constructor arguments}``: how files store a layer."""
    return {"type": type(layer).__name__, "config": layer.config()}


class Residual(Container):
    """``body(x) + shortcut(x)``, the shortcut the identity when None (He et al., 2016).

    Both branches must give the same shape.  Backward adds the two branches' gradients
    of x.  Arrays are named as a torch module with attributes ``body`` and ``shortcut``
    names them: ``body.0.weight``, ``shortcut.1.running_mean``.

    Shape: (N, C, H, W) -> body's output shape.

    Parameters
    ----------
    body : Stack, Sequential or list of Layer
        The main branch, at least one layer.
    shortcut : Stack, Sequential, list of Layer or None
        The side branch (a 1x1 convolution where the body changes the shape); None: x
        itself.
    """

    def __init__(self, body, shortcut=None):
        self.body = _stack(body, "body")
        self.shortcut = None if shortcut is None else _stack(shortcut, "shortcut")
        if not self.body.layers:
            raise ValueError("Residual: the body needs at least one layer")
        super().__init__()

    @property
    def batched_ndim(self) -> int | None:
        return self.body.batched_ndim

    def children(self) -> dict[str, Layer]:
        parts = {"body": self.body}
        return parts if self.shortcut is None else {**parts, "shortcut": self.shortcut}

    def forward(self, x) -> np.ndarray:
        x = self._as_array(x, "input")
        self._input_shape = x.shape
        out = self.body.forward(x)
        side = x if self.shortcut is None else self.shortcut.forward(x)
        if out.shape != side.shape:
            raise ValueError(f"Residual: the body gives {out.shape} but the shortcut "
                             f"{side.shape} for input {x.shape}; a shortcut that changes "
                             "channels or size is needed (e.g. a strided 1x1 Conv2d)")
        out = out + side.astype(out.dtype, copy=False)
        self._output_shape = out.shape
        return out

    def backward(self, dout) -> np.ndarray:
        if self._output_shape is None:
            raise ValueError("Residual: backward called before forward")
        dout = self._as_array(dout, "dout")
        if dout.shape != self._output_shape:
            raise ValueError(f"Residual: dout must have the shape of the last output "
                             f"{self._output_shape}, got {dout.shape}")
        dx = self.body.backward(dout)
        side = dout if self.shortcut is None else self.shortcut.backward(dout)
        return dx + side

    def output_shape(self, input_shape: tuple) -> tuple:
        out = self.body.output_shape(input_shape)
        side = tuple(input_shape) if self.shortcut is None else \
            self.shortcut.output_shape(input_shape)
        if tuple(out) != tuple(side):
            raise ValueError(f"Residual: the body gives {tuple(out)} but the shortcut "
                             f"{tuple(side)} for input {tuple(input_shape)}")
        return tuple(out)

    def config(self) -> dict:
        return {"body": self.body.config()["layers"],
                "shortcut": None if self.shortcut is None else self.shortcut.config()["layers"]}

    @classmethod
    def from_config(cls, config: dict, build) -> "Residual":
        shortcut = config.get("shortcut")
        return cls([build(s, f"body.{i}") for i, s in enumerate(config["body"])],
                   None if shortcut is None else
                   [build(s, f"shortcut.{i}") for i, s in enumerate(shortcut)])

    @classmethod
    def state_shapes(cls, config: dict, shapes_of=None) -> dict[str, tuple]:
        if set(config) - {"body", "shortcut"} or not config.get("body"):
            raise ValueError(f"a Residual's config holds a non-empty body and a shortcut, "
                             f"got keys {sorted(config)}")
        shapes = {}
        for part in ("body", "shortcut"):
            for i, spec in enumerate(config.get(part) or ()):
                name = f"{part}.{i}"
                shapes.update({f"{name}.{k}": s for k, s in shapes_of(spec, name).items()})
        return shapes

    def __repr__(self) -> str:
        inner = f"body={self.body!r}"
        if self.shortcut is not None:
            inner += f", shortcut={self.shortcut!r}"
        return f"Residual({inner.replace(chr(10), chr(10) + '  ')})"


def _stack(part, what: str) -> Stack:
    """``part`` as a plain Stack whose first layer gives dL/dx (the block's input needs it)."""
    if getattr(part, "input_mean", None) is not None:
        raise ValueError(f"Residual: the {what} normalises its input (input_mean/std), which "
                         "a block inside a model cannot keep; normalise the whole model")
    if isinstance(part, Layer) and not isinstance(part, Stack):
        part = [part]
    try:
        stack = Stack(part.layers if isinstance(part, Stack) else part)
    except TypeError as err:
        raise TypeError(f"Residual: {what} must be a Sequential or a list of layers, got "
                        f"{type(part).__name__} ({err})") from None
    if stack.layers:
        stack.layers[0].needs_input_grad = True
    return stack

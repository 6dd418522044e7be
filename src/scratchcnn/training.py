"""The training loop behind ``Sequential.fit``.

All of a run's state lives in one :class:`Trainer`: the model, the optimiser and its
moments, the schedule's position (the epoch), the shuffling Generator and the history.
Each is a plain array, number or JSON-able dict, so a checkpoint can hold all of it and a
resumed run continues bit for bit.
"""

from __future__ import annotations

import copy
import logging
import time

import numpy as np

from . import checks
from .callbacks import Callback
from .guard import DivergenceGuard
from .losses import LOSSES
from .optim import OPTIMIZERS, Adam
from .progress import bar as progress_bar

log = logging.getLogger("scratchcnn")

#: The most epochs a run may have (a checkpoint claiming more is refused).
MAX_EPOCHS = 100_000


class History(Callback):
    """Per-epoch metrics, as Keras: ``history.history['val_accuracy'][-1]``; the first
    callback of every run, so the others see it up to date."""

    def __init__(self, history: dict | None = None):
        self.history: dict[str, list[float]] = history or {}

    def append(self, **metrics) -> None:
        for k, v in metrics.items():
            self.history.setdefault(k, []).append(float(v))

    def on_epoch_end(self, trainer, epoch: int, logs: dict) -> None:
        self.append(**logs)

    def __getitem__(self, key):
        return self.history[key]

    def __repr__(self):
        return f"History({self.history})"


def _make(thing, table, what):
    if isinstance(thing, str):
        if thing.lower() not in table:
            raise ValueError(f"unknown {what} {thing!r}; choose from {sorted(table)}")
        return table[thing.lower()]() if what == "loss" else table[thing.lower()](lr=1e-3)
    return thing


class ProgressBar(Callback):
    """A bar per epoch on stderr with the running loss and accuracy, then the epoch's
    metrics as one ``epoch i/n key=value ...`` line on stdout (``verbose`` 0: neither)."""

    def __init__(self, batches: int, final_epoch: int, verbose: int = 1):
        self.batches, self.final_epoch, self.verbose = batches, final_epoch, verbose
        self.bar = None

    def on_epoch_begin(self, trainer, epoch: int) -> None:
        self.bar = progress_bar(self.batches, f"epoch {epoch + 1}/{self.final_epoch}",
                                "batch", enabled=self.verbose > 0)

    def on_batch_end(self, trainer, batch: int, logs: dict) -> None:
        if not self.bar.disable:
            self.bar.set_postfix(loss=f"{logs['mean_loss']:.4f}",
                                 acc=f"{logs['accuracy']:.4f}", refresh=False)
            self.bar.update()

    def on_epoch_end(self, trainer, epoch: int, logs: dict) -> None:
        self.bar.close()
        if self.verbose:
            print(f"epoch {epoch + 1}/{self.final_epoch} " + " ".join(
                f"{k}={v:.4f}" if k != "lr" else f"{k}={v:.3g}" for k, v in logs.items()),
                flush=True)


class CallbackList:
    """Calls a hook on every callback, in order: ``hooks.on_epoch_end(trainer, i, logs)``."""

    def __init__(self, callbacks: list):
        self.callbacks = callbacks

    def __getattr__(self, hook: str):
        if not hook.startswith("on_"):
            raise AttributeError(hook)

        def call(*args) -> None:
            for callback in self.callbacks:
                getattr(callback, hook)(*args)
        return call


class Trainer:
    """Runs epochs of minibatch training; see :meth:`Sequential.fit` for the arguments."""

    def __init__(self, model, optimizer=None, loss="cross_entropy", scheduler=None, seed=None):
        self.model = model
        self.optimizer = _make(optimizer, OPTIMIZERS, "optimizer") if optimizer is not None \
            else Adam(lr=1e-3)
        self.loss = _make(loss, LOSSES, "loss")
        self.scheduler = scheduler
        self.base_lr = self.optimizer.lr
        self.rng = np.random.default_rng(seed)
        #: draws the augmentation (a stream of its own: runs without one are unchanged)
        self.augment_rng = np.random.default_rng(None if seed is None else [seed, 1])
        self.stop_training = False
        self.epoch = 0
        self.history = History()
        self._guard = DivergenceGuard()
        self._callbacks: list = []  # those of the run in progress, whose state is saved
        self._callback_states: dict = {}  # loaded from a checkpoint, for the next run

    def state_dict(self) -> dict:
        """The whole state of the run: a resumed Trainer continues it bit for bit.

        Arrays (the model's parameters and buffers, the optimiser's moments) and JSON-able
        values (epoch, learning rates, history, the Generators' states) only.
        """
        return {
            "epoch": self.epoch,
            "base_lr": self.base_lr,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "rng": self.rng.bit_generator.state,
            "augment_rng": self.augment_rng.bit_generator.state,
            "layer_rngs": {str(i): layer.rng.bit_generator.state
                           for i, layer in enumerate(self.model.layers)
                           if isinstance(getattr(layer, "rng", None), np.random.Generator)},
            "history": {k: list(v) for k, v in self.history.history.items()},
            "guard": self._guard.state_dict(),
            "callbacks": {_callback_key(i, cb): cb.state_dict()
                          for i, cb in enumerate(self._callbacks) if cb.state_dict()},
        }

    def load_state_dict(self, state: dict) -> None:
        """Restore what :meth:`state_dict` returned (into this Trainer's model and
        optimiser).  A state that does not fit them gives a ValueError saying what, and
        changes nothing but what had already been restored."""
        if not isinstance(state, dict):
            raise ValueError(f"Trainer.load_state_dict: expected a dict, got "
                             f"{type(state).__name__}")
        missing = {"epoch", "base_lr", "model", "optimizer", "rng", "layer_rngs", "history"} \
            - set(state)
        if missing:
            raise ValueError(f"Trainer.load_state_dict: the state lacks {sorted(missing)}")
        epoch, base_lr, history = state["epoch"], state["base_lr"], state["history"]
        if not isinstance(epoch, int) or isinstance(epoch, bool) or not 0 <= epoch <= MAX_EPOCHS:
            raise ValueError(f"Trainer.load_state_dict: epoch must be an int in [0, "
                             f"{MAX_EPOCHS}], got {epoch!r}")
        if not isinstance(base_lr, (int, float)) or not 0 < base_lr < float("inf"):
            raise ValueError(f"Trainer.load_state_dict: base_lr must be positive, got {base_lr!r}")
        if not isinstance(history, dict) or not all(
                isinstance(v, list) and all(isinstance(x, (int, float)) for x in v)
                for v in history.values()):
            raise ValueError("Trainer.load_state_dict: history must map names to lists of "
                             "numbers")
        layer_rngs = state["layer_rngs"]
        if not isinstance(layer_rngs, dict):
            raise ValueError("Trainer.load_state_dict: layer_rngs is not a dict")
        for i in layer_rngs:
            layer = self.model.layers[int(i)] if str(i).isdigit() and \
                int(i) < len(self.model.layers) else None
            if not isinstance(getattr(layer, "rng", None), np.random.Generator):
                raise ValueError(f"Trainer.load_state_dict: layer {i} has no random generator "
                                 "to restore")
        generators = [(self.rng, state["rng"], "rng")] + [
            (self.model.layers[int(i)].rng, rng_state, f"layer_rngs[{i}]")
            for i, rng_state in layer_rngs.items()]
        if "augment_rng" in state:  # (checkpoints from before augmentation lack it)
            generators.append((self.augment_rng, state["augment_rng"], "augment_rng"))
        for generator, rng_state, name in generators:  # all checked before any is set
            _check_generator_state(generator, rng_state, name)
        params = {name: p for name, p, _ in self.model.named_parameters()}
        self.optimizer.load_state_dict(state["optimizer"], params)
        self.model.load_state_dict(state["model"])
        for generator, rng_state, _ in generators:
            generator.bit_generator.state = rng_state
        callbacks = state.get("callbacks", {})  # (checkpoints before issue 26 lack both)
        if not isinstance(callbacks, dict) or not all(isinstance(v, dict)
                                                       for v in callbacks.values()):
            raise ValueError("Trainer.load_state_dict: callbacks must map names to states")
        self._guard.load_state_dict(state.get("guard", {}))
        self._callback_states = dict(callbacks)
        self.epoch, self.base_lr = epoch, float(base_lr)
        self.history = History({k: list(v) for k, v in history.items()})

    def train_step(self, xb: np.ndarray, yb: np.ndarray, batch: int = 0,
                   clip_grad_norm: float | None = None) -> tuple[float, np.ndarray]:
        """One step on the batch xb (B, ...), yb (B,): forward, loss, backward, update.

        Returns ``(loss, logits)``.  The divergence guard checks the loss, the gradients
        and the updated weights (naming the epoch and ``batch``) before the next step."""
        out = self.model.forward(xb)
        loss = self.loss.forward(out, yb)
        self._guard.loss(loss, self.epoch, batch)
        self.model.backward(self.loss.backward())
        self._guard.gradients(self.model, self.epoch, batch, clip_grad_norm)
        self.optimizer.step(self.model)
        self._guard.weights(self.model, self.epoch, batch)
        return loss, out

    def run(self, x, y, *, epochs: int, batch_size: int, validation_data=None,
            shuffle: bool = True, verbose: int = 1, clip_grad_norm: float | None = None,
            callbacks=(), augment=None) -> History:
        """Train ``epochs`` more epochs on x (N, ...), y (N,); the arguments are
        :meth:`Sequential.fit`'s.  Returns the run's :class:`History`."""
        x, y, validation_data = self._checked(x, y, validation_data, epochs, batch_size,
                                              clip_grad_norm, callbacks, augment)
        self._callbacks = list(callbacks)
        for i, cb in enumerate(self._callbacks):  # a resumed run's go on where they were
            saved = self._callback_states.pop(_callback_key(i, cb), None)
            if saved is not None:
                cb.load_state_dict(saved)
        n, bounds = len(x), batch_bounds(len(x), batch_size)
        batches, final = len(bounds) - 1, self.epoch + epochs
        hooks = CallbackList([self.history, ProgressBar(batches, final, verbose),
                              *self._callbacks])
        self.stop_training = False
        hooks.on_train_begin(self)
        while self.epoch < final and not self.stop_training:
            hooks.on_epoch_begin(self, self.epoch)
            self.model.train()
            order = self.rng.permutation(n) if shuffle else np.arange(n)
            start, total_loss, correct = time.perf_counter(), 0.0, 0
            for b in range(batches):
                self._set_lr(self.epoch + b / batches)
                hooks.on_batch_begin(self, b)
                idx = order[bounds[b]:bounds[b + 1]]
                xb, yb = x[idx], y[idx]
                if augment is not None:
                    xb = augment(xb, self.augment_rng)
                loss, out = self.train_step(xb, yb, b, clip_grad_norm)
                total_loss += loss * len(idx)
                if yb.ndim == 1 and out.ndim == 2:
                    correct += int(np.sum(out.argmax(axis=1) == yb))
                seen = bounds[b + 1]
                hooks.on_batch_end(self, b, {"loss": loss, "mean_loss": total_loss / seen,
                                             "accuracy": correct / seen})
            metrics = {"loss": total_loss / n, "accuracy": correct / n}
            if validation_data is not None:
                val = self.model.evaluate(*validation_data, loss=self.loss, check=False)
                metrics.update(val_loss=val["loss"], val_accuracy=val["accuracy"])
            metrics.update(lr=self.optimizer.lr, time=time.perf_counter() - start)
            self.epoch += 1
            log.info("epoch %d done: %s", self.epoch, metrics)
            hooks.on_epoch_end(self, self.epoch - 1, metrics)
        hooks.on_train_end(self)
        return self.history

    def _set_lr(self, position: float) -> None:
        """The learning rate the schedule gives at ``position`` (epochs done, fractional
        within an epoch): updated before every batch by a per-batch schedule, else at
        each epoch's first batch."""
        per_batch = getattr(self.scheduler, "per_batch", False)
        if self.scheduler is not None and (per_batch or position == int(position)):
            self.optimizer.lr = self.scheduler.lr_at(position if per_batch else int(position),
                                                     self.base_lr)

    def _checked(self, x, y, validation_data, epochs, batch_size, clip_grad_norm, callbacks,
                 augment):
        """x, y and validation_data as arrays the model takes, all arguments checked once
        before any step (a ValueError or TypeError saying which and why)."""
        for cb in callbacks:
            if not isinstance(cb, Callback):
                raise TypeError(f"fit: callbacks must be Callback objects, got "
                                f"{type(cb).__name__}")
        if augment is not None and not callable(augment):
            raise TypeError(f"fit: augment must be a transform (scratchcnn.transforms), got "
                            f"{type(augment).__name__}")
        checks.count("fit: epochs", epochs, 0)
        checks.count("fit: batch_size", batch_size, 1)
        if clip_grad_norm is not None and not (isinstance(clip_grad_norm, (int, float))
                                               and 0 < clip_grad_norm < float("inf")):
            raise ValueError(f"fit: clip_grad_norm must be a positive number, got "
                             f"{clip_grad_norm!r}")
        model = self.model
        x = checks.images(x, model)
        y = checks.targets(y, len(x), model.outputs(x), self.loss)
        if validation_data is not None:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
                raise ValueError("fit: validation_data must be a pair (x_val, y_val)")
            xv = checks.images(validation_data[0], model, "validation_data[0]")
            validation_data = (xv, checks.targets(validation_data[1], len(xv),
                                                  model.outputs(xv), self.loss,
                                                  "validation_data[1]"))
        model.meta.setdefault("input_range", checks.input_range(x))  # what it learnt on
        model.layers[0].needs_input_grad = False  # nothing consumes dL/d(input)
        return x, y, validation_data


def _check_generator_state(generator: np.random.Generator, state, name: str) -> None:
    """A ValueError naming ``name`` unless ``state`` is one ``generator`` takes as it is:
    whole numbers and names only (NumPy would truncate a float such as 1.5 silently),
    accepted by a copy of its bit generator."""
    def plain(value) -> bool:
        if isinstance(value, dict):
            return all(isinstance(k, str) and plain(v) for k, v in value.items())
        return isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))
    try:
        if not isinstance(state, dict) or not plain(state):
            raise TypeError("it must be a dict of whole numbers and names")
        copy.deepcopy(generator.bit_generator).state = state
    except (TypeError, ValueError, KeyError, IndexError, OverflowError) as err:
        raise ValueError(f"Trainer.load_state_dict: the random generator state {name} is not "
                         f"one a {type(generator.bit_generator).__name__} takes "
                         f"({type(err).__name__}: {err})") from None


def _callback_key(i: int, callback) -> str:
    return f"{i}.{type(callback).__name__}"


def batch_bounds(n: int, batch_size: int) -> list[int]:
    """Start of each batch and the end: batches of ``batch_size``, except that a lone last
    sample joins the batch before it (batch norm cannot train on one sample)."""
    bounds = list(range(0, n, batch_size)) + [n]
    if len(bounds) > 2 and bounds[-1] - bounds[-2] == 1:
        del bounds[-2]
    return bounds

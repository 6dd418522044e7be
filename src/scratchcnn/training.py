"""The training loop behind ``Sequential.fit``.

All of a run's state lives in one :class:`Trainer`: the model, the optimiser and its
moments, the schedule's position (the epoch), the shuffling Generator and the history.
Each is a plain array, number or JSON-able dict, so a checkpoint can hold all of it and a
resumed run continues bit for bit.
"""

from __future__ import annotations

import logging
import time

import numpy as np

from .losses import LOSSES
from .optim import OPTIMIZERS, Adam
from .progress import ProgressBar

log = logging.getLogger("scratchcnn")


class History:
    """Per-epoch metrics, as Keras: ``history.history['val_accuracy'][-1]``."""

    def __init__(self, history: dict | None = None):
        self.history: dict[str, list[float]] = history or {}

    def append(self, **metrics) -> None:
        for k, v in metrics.items():
            self.history.setdefault(k, []).append(float(v))

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
        self.epoch = 0
        self.history = History()

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
            "layer_rngs": {str(i): layer.rng.bit_generator.state
                           for i, layer in enumerate(self.model.layers)
                           if isinstance(getattr(layer, "rng", None), np.random.Generator)},
            "history": {k: list(v) for k, v in self.history.history.items()},
        }

    def load_state_dict(self, state: dict) -> None:
        """Restore what :meth:`state_dict` returned (into this Trainer's model and optimiser)."""
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.epoch, self.base_lr = int(state["epoch"]), float(state["base_lr"])
        self.rng.bit_generator.state = state["rng"]
        for i, rng_state in state["layer_rngs"].items():
            layer = self.model.layers[int(i)]
            if not isinstance(getattr(layer, "rng", None), np.random.Generator):
                raise ValueError(f"Trainer.load_state_dict: layer {i} ({layer.name}) has no "
                                 "random generator to restore")
            layer.rng.bit_generator.state = rng_state
        self.history = History({k: list(v) for k, v in state["history"].items()})

    def run(self, x, y, epochs: int, batch_size: int, validation_data=None,
            shuffle: bool = True, verbose: int = 1, on_epoch_end=None) -> History:
        x, y = np.asarray(x), np.asarray(y)
        if len(x) != len(y):
            raise ValueError(f"fit: {len(x)} inputs but {len(y)} targets")
        if batch_size < 1 or epochs < 0:
            raise ValueError(f"fit: batch_size must be >= 1 and epochs >= 0, got "
                             f"{batch_size}, {epochs}")
        model = self.model
        model.layers[0].needs_input_grad = False  # nothing consumes dL/d(input)
        n = len(x)
        batches = -(-n // batch_size)
        final = self.epoch + epochs
        while self.epoch < final:
            if self.scheduler is not None:
                self.optimizer.lr = self.scheduler.lr_at(self.epoch, self.base_lr)
            model.train()
            order = self.rng.permutation(n) if shuffle else np.arange(n)
            bar = ProgressBar(batches, f"epoch {self.epoch + 1}/{final} ", "img",
                              enabled=verbose > 0)
            start, total_loss, correct = time.perf_counter(), 0.0, 0
            for b in range(batches):
                if getattr(self.scheduler, "per_batch", False):
                    self.optimizer.lr = self.scheduler.lr_at(self.epoch + b / batches,
                                                             self.base_lr)
                idx = order[b * batch_size:(b + 1) * batch_size]
                xb, yb = x[idx], y[idx]
                out = model.forward(xb)
                batch_loss = self.loss.forward(out, yb)
                if not np.isfinite(batch_loss):
                    raise FloatingPointError(f"fit: the loss became {batch_loss} in epoch "
                                             f"{self.epoch + 1}, batch {b + 1}; lower the "
                                             f"learning rate ({self.optimizer.lr})")
                model.backward(self.loss.backward())
                self.optimizer.step(model)
                total_loss += batch_loss * len(idx)
                if yb.ndim == 1 and out.ndim == 2:
                    correct += int(np.sum(out.argmax(axis=1) == yb))
                seen = min(n, (b + 1) * batch_size)
                bar.update(b + 1, seen, loss=total_loss / seen, acc=correct / seen)
            metrics = {"loss": total_loss / n, "accuracy": correct / n}
            if validation_data is not None:
                val = model.evaluate(*validation_data, loss=self.loss)
                metrics.update(val_loss=val["loss"], val_accuracy=val["accuracy"])
            metrics.update(lr=self.optimizer.lr, time=time.perf_counter() - start)
            self.history.append(**metrics)
            self.epoch += 1
            if verbose:
                print(f"epoch {self.epoch}/{final} " + " ".join(
                    f"{k}={v:.4f}" if k != "lr" else f"{k}={v:.3g}" for k, v in metrics.items()),
                    flush=True)
            log.info("epoch %d done: %s", self.epoch, metrics)
            if on_epoch_end is not None:
                on_epoch_end(self)
        return self.history

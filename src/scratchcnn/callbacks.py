"""Callbacks: code that ``fit`` runs at the start and end of training, epochs and batches.

Keras's protocol and names.  A callback subclasses :class:`Callback` and overrides what
it needs; each method gets the :class:`~scratchcnn.training.Trainer` (its ``model``,
``epoch``, ``history``) and, at an epoch's end, that epoch's metrics (``loss``,
``accuracy``, ``val_loss``, ``val_accuracy``, ``lr``, ``time``).  Setting
``trainer.stop_training = True`` ends training after the current epoch.
"""

from __future__ import annotations

import math

__all__ = ["Callback", "EarlyStopping", "ModelCheckpoint", "TrainingCheckpoint",
           "LambdaCallback"]


class Callback:
    def state_dict(self) -> dict:
        """JSON-able state a checkpoint keeps (resumed: :meth:`load_state_dict`)."""
        return {}

    def load_state_dict(self, state: dict) -> None: ...

    def on_train_begin(self, trainer) -> None: ...
    def on_train_end(self, trainer) -> None: ...
    def on_epoch_begin(self, trainer, epoch: int) -> None: ...
    def on_epoch_end(self, trainer, epoch: int, logs: dict) -> None: ...
    def on_batch_begin(self, trainer, batch: int) -> None: ...
    def on_batch_end(self, trainer, batch: int, logs: dict) -> None: ...


class _Monitor:
    """Whether a monitored metric improved: ``mode`` 'min', 'max' or 'auto' (max for
    accuracies, min otherwise), by more than ``min_delta``."""

    def __init__(self, monitor: str, mode: str, min_delta: float):
        if mode not in ("auto", "min", "max"):
            raise ValueError(f"mode must be 'auto', 'min' or 'max', got {mode!r}")
        self.monitor, self.min_delta = monitor, abs(float(min_delta))
        self.maximise = mode == "max" or (mode == "auto" and "acc" in monitor)
        self.best = -math.inf if self.maximise else math.inf

    def value(self, logs: dict) -> float:
        if self.monitor not in logs:
            raise ValueError(f"{type(self).__name__}: the metric {self.monitor!r} is not "
                             f"measured (there is {sorted(logs)}; val_* needs "
                             "validation_data)")
        return float(logs[self.monitor])

    def improved(self, value: float) -> bool:
        better = value > self.best + self.min_delta if self.maximise else \
            value < self.best - self.min_delta
        if better:
            self.best = value
        return better


class EarlyStopping(Callback, _Monitor):
    """Stop when ``monitor`` has not improved for ``patience`` epochs; with
    ``restore_best_weights`` the model ends with the weights of its best epoch.

    Parameters
    ----------
    monitor : str
        The metric watched: 'val_loss', 'val_accuracy', 'loss' or 'accuracy'.
    min_delta : float
        The least change that counts as an improvement.
    patience : int
        Epochs without improvement before training stops (0: the first such epoch).
    mode : str
        'min' or 'max': whether smaller or larger is better; 'auto': larger for
        accuracies, smaller otherwise.
    restore_best_weights : bool
        Whether the model ends with the weights of its best epoch.
    """

    def __init__(self, monitor: str = "val_loss", min_delta: float = 0.0, patience: int = 0,
                 mode: str = "auto", restore_best_weights: bool = False):
        _Monitor.__init__(self, monitor, mode, min_delta)
        self.patience, self.restore_best_weights = int(patience), restore_best_weights
        self.wait, self.stopped_epoch, self.best_epoch, self.best_weights = 0, None, None, None

    def on_epoch_end(self, trainer, epoch, logs):
        if self.improved(self.value(logs)):
            self.wait, self.best_epoch = 0, epoch
            if self.restore_best_weights:
                self.best_weights = trainer.model.state_dict()
            return
        self.wait += 1
        if self.wait > self.patience:
            trainer.stop_training = True
            self.stopped_epoch = epoch

    def on_train_end(self, trainer):
        if self.stopped_epoch is not None and self.best_weights is not None:
            trainer.model.load_state_dict(self.best_weights)

    def state_dict(self) -> dict:
        """Its counters and best value (not the best epoch's weights: after a resume,
        ``restore_best_weights`` restores the best since the resume)."""
        best = self.best if math.isfinite(self.best) else None
        return {"wait": self.wait, "best": best, "best_epoch": self.best_epoch,
                "stopped_epoch": self.stopped_epoch}

    def load_state_dict(self, state: dict) -> None:
        counts = [state.get(k) for k in ("wait", "best_epoch", "stopped_epoch")]
        best = state.get("best")
        if not (isinstance(counts[0], int) and counts[0] >= 0
                and all(c is None or (isinstance(c, int) and c >= 0) for c in counts[1:])
                and (best is None or (isinstance(best, (int, float)) and math.isfinite(best)))):
            raise ValueError(f"EarlyStopping: not a state it saved: {state!r}")
        self.wait, self.best_epoch, self.stopped_epoch = counts
        if best is not None:
            self.best = float(best)


class ModelCheckpoint(Callback, _Monitor):
    """Write the model to ``path`` after every epoch, or with ``save_best_only`` after
    each epoch that improved ``monitor``: the file always holds the best model so far.

    Parameters
    ----------
    path : str or os.PathLike
        The model file (``.npz``), written atomically.
    monitor : str
        The metric watched: 'val_loss', 'val_accuracy', 'loss' or 'accuracy'.
    save_best_only : bool
        Whether to write only after an epoch that improved ``monitor``.
    mode : str
        'min' or 'max': whether smaller or larger is better; 'auto': larger for
        accuracies, smaller otherwise.
    min_delta : float
        The least change that counts as an improvement.
    """

    def __init__(self, path, monitor: str = "val_loss", save_best_only: bool = True,
                 mode: str = "auto", min_delta: float = 0.0):
        _Monitor.__init__(self, monitor, mode, min_delta)
        self.path, self.save_best_only = path, save_best_only
        self.best_epoch = None

    def on_epoch_end(self, trainer, epoch, logs):
        if not self.save_best_only or self.improved(self.value(logs)):
            self.best_epoch = epoch
            trainer.model.save(self.path)


class TrainingCheckpoint(Callback):
    """After every epoch, the model file and the whole run's checkpoint (what
    ``scratchcnn train --resume`` reads), each written atomically.

    Parameters
    ----------
    model_path : str or os.PathLike
        The model file.
    checkpoint_path : str or os.PathLike
        The checkpoint: the model with the optimiser's and the run's state.
    settings : dict or None
        JSON-able settings saved with the checkpoint (the command line's options).
    """

    def __init__(self, model_path, checkpoint_path, settings: dict | None = None):
        self.model_path, self.checkpoint_path, self.settings = \
            model_path, checkpoint_path, settings

    def on_epoch_end(self, trainer, epoch, logs):
        from .io import save_checkpoint
        trainer.model.save(self.model_path)
        save_checkpoint(trainer, self.checkpoint_path, self.settings)


class LambdaCallback(Callback):
    """A callback of plain functions: ``LambdaCallback(on_epoch_end=lambda trainer, epoch,
    logs: ...)``.

    Parameters
    ----------
    **functions : callable
        One per hook, by the hook's name (``on_epoch_end``, ``on_batch_begin``, ...).
    """

    def __init__(self, **functions):
        unknown = set(functions) - {n for n in dir(Callback) if n.startswith("on_")}
        if unknown:
            raise TypeError(f"LambdaCallback: no hook named {sorted(unknown)}")
        for name, fn in functions.items():
            setattr(self, name, fn)

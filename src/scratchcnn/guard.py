"""Stop training that has diverged, and say where; clip gradients by their global norm.

A step is refused, before the optimiser touches a weight, when its loss is not finite
or has grown 10,000-fold since the run's first batch, or when a gradient is not finite.
The error names the epoch, the batch and the layer whose gradient went bad first as the
gradient flowed back, so the weights (and any checkpoint of the last finished epoch)
stay as they were.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["TrainingDiverged", "DivergenceGuard", "clip_grad_norm"]

#: A loss this many times the run's first (at least 1) counts as divergence.
GROWTH = 1e4


class TrainingDiverged(FloatingPointError):
    """Training stopped: ``epoch`` and ``batch`` (counted from 1), the ``layer`` index
    whose gradient was not finite (None for the loss), and why."""

    def __init__(self, epoch: int, batch: int, why: str, layer: int | None = None):
        self.epoch, self.batch, self.layer, self.why = epoch, batch, layer, why
        super().__init__(f"training diverged in epoch {epoch}, batch {batch}: {why}; lower "
                         f"the learning rate or clip the gradients (clip_grad_norm)")


class DivergenceGuard:
    """The checks :class:`~scratchcnn.training.Trainer` runs on every step."""

    def __init__(self):
        self.first_loss: float | None = None

    def loss(self, value: float, epoch: int, batch: int) -> None:
        if not math.isfinite(value):
            raise TrainingDiverged(epoch + 1, batch + 1, f"the loss became {value}")
        if self.first_loss is None:
            self.first_loss = max(abs(value), 1.0)
        elif abs(value) > GROWTH * self.first_loss:
            raise TrainingDiverged(epoch + 1, batch + 1, f"the loss grew from "
                                   f"{self.first_loss:.4g} to {value:.4g}")

    def weights(self, model, epoch: int, batch: int) -> None:
        """Raise when a step has made a weight infinite or NaN (an optimiser state loaded
        from a checkpoint can do that with finite gradients): no file is written after."""
        for i, layer in enumerate(model.layers):
            for name, p in layer.params.items():
                if not np.isfinite(p.sum(dtype=np.float64)):
                    raise TrainingDiverged(epoch + 1, batch + 1, f"the step made layer {i} "
                                           f"({layer.name}) {name!r} not finite", layer=i)

    def state_dict(self) -> dict:
        """What a checkpoint keeps: the first loss the growth check measures from."""
        return {"first_loss": self.first_loss}

    def load_state_dict(self, state: dict) -> None:
        first = state.get("first_loss") if isinstance(state, dict) else state
        if first is not None and not (isinstance(first, (int, float)) and
                                      not isinstance(first, bool) and
                                      1.0 <= first < float("inf")):
            raise ValueError(f"the divergence guard's first loss must be a number >= 1 or "
                             f"null, got {first!r}")
        self.first_loss = None if first is None else float(first)

    def gradients(self, model, epoch: int, batch: int, max_norm: float | None) -> None:
        """Raise on a gradient that is not finite; with ``max_norm``, clip them."""
        squares = _squared_norms(model)
        total = sum(s for _, _, s in squares)
        if not math.isfinite(total):
            bad = [(i, name) for i, name, s in squares if not math.isfinite(s)]
            i, name = bad[-1]  # the backward pass runs from the last layer to the first
            others = sorted({j for j, _ in bad} - {i})
            raise TrainingDiverged(epoch + 1, batch + 1, f"the gradient of layer {i} "
                                   f"({model.layers[i].name}) {name!r} is not finite"
                                   + (f" (nor those of layers {others})" if others else ""),
                                   layer=i)
        if max_norm is not None:
            _scale(model, max_norm, math.sqrt(total))


def _squared_norms(model) -> list[tuple[int, str, float]]:
    """(layer index, parameter name, squared L2 norm of its gradient) for every gradient."""
    with np.errstate(over="ignore", invalid="ignore"):  # inf and NaN are what we look for
        return [(i, k, float(np.vdot(g, g))) for i, layer in enumerate(model.layers)
                for k, g in layer.grads.items() if k in layer.params]


def _scale(model, max_norm: float, total: float) -> None:
    coef = max_norm / (total + 1e-6)  # as torch.nn.utils.clip_grad_norm_
    if coef < 1:
        for layer in model.layers:
            for k in layer.params:
                if k in layer.grads:
                    layer.grads[k] *= layer.grads[k].dtype.type(coef)


def clip_grad_norm(model, max_norm: float) -> float:
    """Scale every gradient of ``model`` so that their global L2 norm is at most
    ``max_norm``; the norm before clipping (``torch.nn.utils.clip_grad_norm_``)."""
    total = math.sqrt(sum(s for _, _, s in _squared_norms(model)))
    _scale(model, max_norm, total)
    return total

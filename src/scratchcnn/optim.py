"""Optimisers with PyTorch's update rules, and learning-rate schedules.

An optimiser updates, in place, every array of ``model.named_parameters()`` (name, array,
gradient) when ``step(model)`` is called.  Its state (moments, step count) is a dict of
arrays keyed by parameter name: ``state_dict()`` / ``load_state_dict()`` save and restore
it exactly.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["Optimizer", "SGD", "AdaGrad", "RMSprop", "Adam", "AdamW", "StepLR",
           "CosineAnnealingLR", "OPTIMIZERS"]


class Optimizer:
    defaults: dict = {}

    def __init__(self, lr: float, **hyper):
        if lr <= 0:
            raise ValueError(f"{type(self).__name__}: lr must be positive, got {lr}")
        self.lr = float(lr)
        self.hyper = {**self.defaults, **hyper}
        unknown = set(hyper) - set(self.defaults)
        if unknown:
            raise TypeError(f"{type(self).__name__}: unknown options {sorted(unknown)}")
        self.state: dict[str, dict[str, np.ndarray]] = {}
        self.steps = 0

    def step(self, model) -> None:
        """Update every parameter of ``model`` from its gradient."""
        self.steps += 1
        for name, p, g in model.named_parameters():
            if g is None:
                continue
            self._update(p, g.astype(p.dtype, copy=False), self.state.setdefault(name, {}))

    def _update(self, p: np.ndarray, g: np.ndarray, state: dict) -> None:
        raise NotImplementedError

    def _decayed(self, p, g):
        wd = self.hyper.get("weight_decay", 0.0)
        return g + wd * p if wd else g

    def state_dict(self) -> dict:
        return {"lr": self.lr, "steps": self.steps, "hyper": dict(self.hyper),
                "state": {k: {s: v.copy() for s, v in d.items()} for k, d in self.state.items()}}

    def load_state_dict(self, sd: dict) -> None:
        self.lr, self.steps = float(sd["lr"]), int(sd["steps"])
        self.hyper.update(sd.get("hyper", {}))
        self.state = {k: {s: np.array(v) for s, v in d.items()} for k, d in sd["state"].items()}

    def __repr__(self):
        opts = ", ".join(f"{k}={v}" for k, v in self.hyper.items())
        return f"{type(self).__name__}(lr={self.lr}{', ' + opts if opts else ''})"


class SGD(Optimizer):
    """p -= lr * g, with optional momentum (and Nesterov) and L2 weight decay."""

    defaults = {"momentum": 0.0, "dampening": 0.0, "nesterov": False, "weight_decay": 0.0}

    def _update(self, p, g, state):
        g = self._decayed(p, g)
        mu = self.hyper["momentum"]
        if mu:
            if "momentum_buffer" not in state:
                state["momentum_buffer"] = g.copy()
            else:
                buf = state["momentum_buffer"]
                buf *= mu
                buf += (1 - self.hyper["dampening"]) * g
            buf = state["momentum_buffer"]
            g = g + mu * buf if self.hyper["nesterov"] else buf
        p -= self.lr * g


class AdaGrad(Optimizer):
    """p -= lr * g / (sqrt(sum of g^2) + eps)."""

    defaults = {"eps": 1e-10, "weight_decay": 0.0, "initial_accumulator_value": 0.0}

    def _update(self, p, g, state):
        g = self._decayed(p, g)
        acc = state.setdefault("sum", np.full_like(p, self.hyper["initial_accumulator_value"]))
        acc += g * g
        p -= self.lr * g / (np.sqrt(acc) + self.hyper["eps"])


class RMSprop(Optimizer):
    """p -= lr * g / (sqrt(running mean of g^2) + eps); optional momentum and centring."""

    defaults = {"alpha": 0.99, "eps": 1e-8, "weight_decay": 0.0, "momentum": 0.0,
                "centered": False}

    def _update(self, p, g, state):
        g = self._decayed(p, g)
        a = self.hyper["alpha"]
        sq = state.setdefault("square_avg", np.zeros_like(p))
        sq *= a
        sq += (1 - a) * g * g
        if self.hyper["centered"]:
            ga = state.setdefault("grad_avg", np.zeros_like(p))
            ga *= a
            ga += (1 - a) * g
            avg = np.sqrt(sq - ga * ga) + self.hyper["eps"]
        else:
            avg = np.sqrt(sq) + self.hyper["eps"]
        if self.hyper["momentum"]:
            buf = state.setdefault("momentum_buffer", np.zeros_like(p))
            buf *= self.hyper["momentum"]
            buf += g / avg
            p -= self.lr * buf
        else:
            p -= self.lr * g / avg


class Adam(Optimizer):
    """Adam (Kingma and Ba) with bias correction; weight_decay is L2 added to g."""

    defaults = {"betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.0}

    def _update(self, p, g, state):
        g = self._decayed(p, g)
        self._adam(p, g, state)

    def _adam(self, p, g, state):
        b1, b2 = self.hyper["betas"]
        m = state.setdefault("exp_avg", np.zeros_like(p))
        v = state.setdefault("exp_avg_sq", np.zeros_like(p))
        t = int(state.get("step", 0)) + 1
        state["step"] = np.array(t)
        m *= b1
        m += (1 - b1) * g
        v *= b2
        v += (1 - b2) * g * g
        step_size = self.lr / (1 - b1 ** t)
        denom = np.sqrt(v) / math.sqrt(1 - b2 ** t) + self.hyper["eps"]
        p -= (step_size * m / denom).astype(p.dtype, copy=False)


class AdamW(Adam):
    """Adam with decoupled weight decay: p *= 1 - lr * weight_decay before the step."""

    defaults = {"betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 1e-2}

    def _update(self, p, g, state):
        p *= 1 - self.lr * self.hyper["weight_decay"]
        self._adam(p, g, state)


OPTIMIZERS = {"sgd": SGD, "adagrad": AdaGrad, "rmsprop": RMSprop, "adam": Adam, "adamw": AdamW}


class StepLR:
    """lr = base_lr * gamma ** (epoch // step_size)."""

    def __init__(self, step_size: int, gamma: float = 0.1):
        self.step_size, self.gamma = int(step_size), float(gamma)

    def lr_at(self, epoch: int, base_lr: float) -> float:
        return base_lr * self.gamma ** (epoch // self.step_size)


class CosineAnnealingLR:
    """lr = eta_min + (base_lr - eta_min) * (1 + cos(pi * epoch / T_max)) / 2."""

    def __init__(self, T_max: int, eta_min: float = 0.0):  # noqa: N803 (PyTorch's name)
        self.T_max, self.eta_min = int(T_max), float(eta_min)

    def lr_at(self, epoch: int, base_lr: float) -> float:
        return self.eta_min + (base_lr - self.eta_min) * (
            1 + math.cos(math.pi * epoch / self.T_max)) / 2

"""Optimisers with PyTorch's update rules, and learning-rate schedules.

An optimiser updates, in place, every array of ``model.named_parameters()`` (name, array,
gradient) when ``step(model)`` is called.  Its state (moments, step count) is a dict of
arrays keyed by parameter name: ``state_dict()`` / ``load_state_dict()`` save and restore
it exactly.
"""

from __future__ import annotations

import math

import numpy as np

from .checks import storable

__all__ = ["Optimizer", "SGD", "AdaGrad", "RMSprop", "Adam", "AdamW", "StepLR",
           "CosineAnnealingLR", "OPTIMIZERS"]


class Optimizer:
    defaults: dict = {}
    #: The names of the moments kept per parameter.
    slots: frozenset = frozenset()

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
        self._scratch = np.empty(0, np.float32)  # reused: fresh large arrays cost page faults

    def step(self, model) -> None:
        """Update every parameter of ``model`` from its gradient."""
        self.steps += 1
        with np.errstate(over="ignore", invalid="ignore"):  # the guard names what overflows
            for name, p, g in model.named_parameters():
                if g is None:
                    continue
                self._update(p, g.astype(p.dtype, copy=False), self.state.setdefault(name, {}))

    def _update(self, p: np.ndarray, g: np.ndarray, state: dict) -> None:
        raise NotImplementedError

    @staticmethod
    def _moment(state: dict, key: str, p: np.ndarray, fill: float = 0.0) -> np.ndarray:
        """``state[key]``, made on first use as an array like p filled with ``fill``."""
        buf = state.get(key)
        if buf is None:
            buf = state[key] = np.full_like(p, fill)
        return buf

    def _scratch_like(self, p: np.ndarray) -> np.ndarray:
        """A work array of p's shape and dtype, the same memory for every parameter."""
        if self._scratch.size < p.size or self._scratch.dtype != p.dtype:
            self._scratch = np.empty(p.size, p.dtype)
        return self._scratch[:p.size].reshape(p.shape)

    def _decayed(self, p, g):
        wd = self.hyper.get("weight_decay", 0.0)
        return g + wd * p if wd else g

    def state_dict(self) -> dict:
        return {"lr": self.lr, "steps": self.steps, "hyper": dict(self.hyper),
                "state": {k: {s: v.copy() for s, v in d.items()} for k, d in self.state.items()}}

    def load_state_dict(self, sd: dict, params: dict | None = None) -> None:
        """Restore :meth:`state_dict`'s output; with ``params`` (name -> array) each moment
        must match its parameter's shape.  ValueError saying what is wrong, before any
        of this optimiser's state changes."""
        name = type(self).__name__
        if not isinstance(sd, dict) or not {"lr", "steps", "state"} <= set(sd):
            raise ValueError(f"{name}.load_state_dict: expected lr, steps and state, got "
                             f"{sorted(sd) if isinstance(sd, dict) else type(sd).__name__}")
        lr, steps, hyper = sd["lr"], sd["steps"], sd.get("hyper", {})
        if not _finite_number(lr) or lr <= 0:
            raise ValueError(f"{name}.load_state_dict: lr must be a positive number, got {lr!r}")
        if not isinstance(steps, (int, np.integer)) or isinstance(steps, bool) or steps < 0:
            raise ValueError(f"{name}.load_state_dict: steps must be an int >= 0, got {steps!r}")
        if not isinstance(hyper, dict) or set(hyper) - set(self.defaults):
            raise ValueError(f"{name}.load_state_dict: hyper-parameters {hyper!r} are not "
                             f"{name}'s ({sorted(self.defaults)})")
        for key, value in hyper.items():
            _check_hyper(name, key, value)
        state = sd["state"]
        if not isinstance(state, dict):
            raise ValueError(f"{name}.load_state_dict: state is not a dict")
        for pname, slots in state.items():
            if params is not None and pname not in params:
                raise ValueError(f"{name}.load_state_dict: moments for {pname!r}, which the "
                                 f"model does not have")
            for slot, value in (slots.items() if isinstance(slots, dict) else [(None, None)]):
                if slot not in self.slots:
                    raise ValueError(f"{name}.load_state_dict: {pname!r} has slot {slot!r}; "
                                     f"{name} keeps {sorted(self.slots)}")
                value = np.asarray(value)
                want = () if slot == "step" else (None if params is None else
                                                  params[pname].shape)
                if value.dtype.kind not in "iuf" or (want is not None and value.shape != want):
                    raise ValueError(f"{name}.load_state_dict: {pname}/{slot} is {value.dtype} "
                                     f"{value.shape}, expected {want}")
                storable(value, f"{name}.load_state_dict: {pname}/{slot}",
                         np.float64 if params is None else params[pname].dtype)
                if slot == "step" and not (value >= 0 and value == np.floor(value)):
                    raise ValueError(f"{name}.load_state_dict: {pname}/step is {value}; a "
                                     "count of steps is a whole number >= 0")
        self.lr, self.steps = float(lr), int(steps)
        self.hyper.update({k: tuple(v) if isinstance(v, list) else v for k, v in hyper.items()})
        self.state = {k: {s: np.array(v) for s, v in d.items()} for k, d in state.items()}

    def __repr__(self):
        opts = ", ".join(f"{k}={v}" for k, v in self.hyper.items())
        return f"{type(self).__name__}(lr={self.lr}{', ' + opts if opts else ''})"


def _finite_number(value) -> bool:
    """A real number that float64 holds (an int beyond it is not: 10**400)."""
    if not isinstance(value, (int, float, np.integer, np.floating)) or isinstance(value, bool):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def _check_hyper(optimizer: str, key: str, value) -> None:
    """A saved hyper-parameter has the type and range its optimiser needs."""
    if key in ("nesterov", "centered"):
        ok = isinstance(value, bool)
    elif key == "betas":
        ok = isinstance(value, (list, tuple)) and len(value) == 2 and \
            all(_finite_number(b) and 0 <= b < 1 for b in value)
    elif key in ("eps",):
        ok = _finite_number(value) and value > 0
    elif key in ("alpha", "dampening"):
        ok = _finite_number(value) and 0 <= value <= 1
    else:  # momentum, weight_decay, initial_accumulator_value
        ok = _finite_number(value) and value >= 0
    if not ok:
        raise ValueError(f"{optimizer}.load_state_dict: {key}={value!r} is out of range")


class SGD(Optimizer):
    """p -= lr * g, with optional momentum (and Nesterov) and L2 weight decay.

    Parameters
    ----------
    lr : float
        The learning rate.

    Other Parameters
    ----------------
    momentum : float, default 0.0
        The momentum factor mu: ``buf = mu * buf + (1 - dampening) * g``, then buf is the
        step's direction.
    dampening : float, default 0.0
        See momentum.
    nesterov : bool, default False
        Step along ``g + mu * buf`` instead.
    weight_decay : float, default 0.0
        L2 penalty: ``weight_decay * p`` is added to g.
    """

    defaults = {"momentum": 0.0, "dampening": 0.0, "nesterov": False, "weight_decay": 0.0}
    slots = frozenset({"momentum_buffer"})

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
    """p -= lr * g / (sqrt(sum of g^2) + eps).

    Parameters
    ----------
    lr : float
        The learning rate.

    Other Parameters
    ----------------
    eps : float, default 1e-10
        Added to the denominator.
    weight_decay : float, default 0.0
        L2 penalty added to g.
    initial_accumulator_value : float, default 0.0
        The sum of g^2 to start from.
    """

    defaults = {"eps": 1e-10, "weight_decay": 0.0, "initial_accumulator_value": 0.0}
    slots = frozenset({"sum"})

    def _update(self, p, g, state):
        g = self._decayed(p, g)
        acc = self._moment(state, "sum", p, self.hyper["initial_accumulator_value"])
        acc += g * g
        p -= self.lr * g / (np.sqrt(acc) + self.hyper["eps"])


class RMSprop(Optimizer):
    """p -= lr * g / (sqrt(running mean of g^2) + eps); optional momentum and centring.

    Parameters
    ----------
    lr : float
        The learning rate.

    Other Parameters
    ----------------
    alpha : float, default 0.99
        The running mean's decay.
    eps : float, default 1e-8
        Added to the denominator.
    weight_decay : float, default 0.0
        L2 penalty added to g.
    momentum : float, default 0.0
        Momentum on the scaled step.
    centered : bool, default False
        Divide by the running variance of g instead (the mean of g subtracted).
    """

    defaults = {"alpha": 0.99, "eps": 1e-8, "weight_decay": 0.0, "momentum": 0.0,
                "centered": False}
    slots = frozenset({"square_avg", "grad_avg", "momentum_buffer"})

    def _update(self, p, g, state):
        g = self._decayed(p, g)
        a = self.hyper["alpha"]
        sq = self._moment(state, "square_avg", p)
        sq *= a
        sq += (1 - a) * g * g
        if self.hyper["centered"]:
            ga = self._moment(state, "grad_avg", p)
            ga *= a
            ga += (1 - a) * g
            avg = np.sqrt(sq - ga * ga) + self.hyper["eps"]
        else:
            avg = np.sqrt(sq) + self.hyper["eps"]
        if self.hyper["momentum"]:
            buf = self._moment(state, "momentum_buffer", p)
            buf *= self.hyper["momentum"]
            buf += g / avg
            p -= self.lr * buf
        else:
            p -= self.lr * g / avg


class Adam(Optimizer):
    """Adam (Kingma and Ba) with bias correction; weight_decay is L2 added to g.

    Parameters
    ----------
    lr : float
        The learning rate.

    Other Parameters
    ----------------
    betas : (float, float), default (0.9, 0.999)
        The decays of the first and second moments.
    eps : float, default 1e-8
        Added to the denominator.
    weight_decay : float, default 0.0
        L2 penalty added to g.
    """

    defaults = {"betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.0}
    slots = frozenset({"exp_avg", "exp_avg_sq", "step"})

    def _update(self, p, g, state):
        g = self._decayed(p, g)
        self._adam(p, g, state)

    def _adam(self, p, g, state):
        b1, b2 = self.hyper["betas"]
        m = self._moment(state, "exp_avg", p)
        v = self._moment(state, "exp_avg_sq", p)
        t = int(state.get("step", 0)) + 1
        state["step"] = np.array(t)
        step_size, root2 = self.lr / (1 - b1 ** t), math.sqrt(1 - b2 ** t)
        for part in _chunks(p, g, m, v):  # each chunk's ~14 passes run in cache
            self._adam_chunk(*part, b1, b2, step_size, root2)

    def _adam_chunk(self, p, g, m, v, b1, b2, step_size, root2):
        work = self._scratch_like(p)  # in place throughout: no temporaries
        m *= b1
        m += np.multiply(g, 1 - b1, out=work)
        v *= b2
        np.multiply(g, g, out=work)
        work *= 1 - b2
        v += work
        # p -= lr / (1 - b1**t) * m / (sqrt(v) / sqrt(1 - b2**t) + eps)
        np.sqrt(v, out=work)
        work /= root2
        work += self.hyper["eps"]
        np.divide(m, work, out=work)
        work *= step_size
        p -= work


class AdamW(Adam):
    """Adam with decoupled weight decay: p *= 1 - lr * weight_decay before the step.

    Parameters
    ----------
    lr : float
        The learning rate.

    Other Parameters
    ----------------
    betas : (float, float), default (0.9, 0.999)
        The decays of the first and second moments.
    eps : float, default 1e-8
        Added to the denominator.
    weight_decay : float, default 1e-2
        The decoupled decay.
    """

    defaults = {"betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 1e-2}

    def _update(self, p, g, state):
        p *= 1 - self.lr * self.hyper["weight_decay"]
        self._adam(p, g, state)


OPTIMIZERS = {"sgd": SGD, "adagrad": AdaGrad, "rmsprop": RMSprop, "adam": Adam, "adamw": AdamW}


def _chunks(*arrays, size: int = 1 << 16):
    """Matching pieces of same-shaped arrays, as flat views (whole arrays if any is not
    contiguous, as then a flat view would be a copy)."""
    if not all(a.flags.c_contiguous for a in arrays) or arrays[0].size <= size:
        yield arrays
        return
    flat = [a.reshape(-1) for a in arrays]
    for start in range(0, flat[0].size, size):
        yield tuple(f[start:start + size] for f in flat)


class StepLR:
    """lr = base_lr * gamma ** (epoch // step_size); a fractional epoch counts as its floor.

    Parameters
    ----------
    step_size : int
        Epochs between two decays.
    gamma : float
        The factor of each decay.
    """

    per_batch = False

    def __init__(self, step_size: int, gamma: float = 0.1):
        self.step_size, self.gamma = int(step_size), float(gamma)

    def lr_at(self, epoch: float, base_lr: float) -> float:
        return base_lr * self.gamma ** (int(epoch) // self.step_size)


class CosineAnnealingLR:
    """lr = eta_min + (base_lr - eta_min) * (1 + cos(pi * epoch / T_max)) / 2.

    With ``per_batch=False`` (PyTorch's usual use: ``scheduler.step()`` once per epoch)
    ``fit`` sets the rate at the start of each epoch.  With ``per_batch=True`` it sets it
    before every batch from the fractional epoch ``epoch + batch / batches``, so the rate
    falls smoothly and reaches ``eta_min`` at the end of epoch ``T_max``: PyTorch's
    scheduler with ``T_max = epochs * batches`` stepped after every batch.

    Parameters
    ----------
    T_max : int
        The epoch at which the rate reaches ``eta_min``.
    eta_min : float
        The last rate.
    per_batch : bool
        Whether the rate changes before every batch rather than every epoch.
    """

    def __init__(self, T_max: int, eta_min: float = 0.0,  # noqa: N803 (PyTorch's name)
                 per_batch: bool = False):
        self.T_max, self.eta_min, self.per_batch = int(T_max), float(eta_min), bool(per_batch)

    def lr_at(self, epoch: float, base_lr: float) -> float:
        return self.eta_min + (base_lr - self.eta_min) * (
            1 + math.cos(math.pi * epoch / self.T_max)) / 2

"""Weight initialisers, in place, like ``torch.nn.init``.  All draw from a Generator.

``fan_in`` of a weight (out, in, kh, kw) is ``in*kh*kw``; ``fan_out`` is ``out*kh*kw``.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["as_generator", "fans", "uniform_", "normal_", "kaiming_uniform_",
           "kaiming_normal_", "xavier_uniform_", "xavier_normal_", "zeros_", "ones_",
           "default_"]


def as_generator(rng=None) -> np.random.Generator:
    """A Generator from a Generator (returned as is), an int seed, or None (fresh entropy)."""
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None or (isinstance(rng, (int, np.integer)) and not isinstance(rng, bool)):
        return np.random.default_rng(rng)
    raise TypeError(f"rng must be a numpy.random.Generator, an int seed or None, got {rng!r}")


def fans(shape: tuple) -> tuple[int, int]:
    """(fan_in, fan_out) of a weight shape (out, in, *kernel) or (out, in)."""
    if len(shape) < 2:
        raise ValueError(f"fan in and fan out need a weight of 2 or more dims, got {shape}")
    receptive = math.prod(shape[2:])
    return shape[1] * receptive, shape[0] * receptive


def _fill(array: np.ndarray, values: np.ndarray) -> np.ndarray:
    array[...] = values
    return array


def uniform_(array, low, high, rng=None):
    """U(low, high), drawn straight into ``array`` (no float64 temporary for float32)."""
    rng = as_generator(rng)
    if array.dtype in (np.float32, np.float64) and array.flags.c_contiguous:
        rng.random(out=array, dtype=array.dtype)
        array *= high - low
        array += low
        return array
    return _fill(array, rng.uniform(low, high, array.shape))


def normal_(array, mean=0.0, std=1.0, rng=None):
    """N(mean, std^2), drawn straight into ``array``."""
    rng = as_generator(rng)
    if array.dtype in (np.float32, np.float64) and array.flags.c_contiguous:
        rng.standard_normal(out=array, dtype=array.dtype)
        array *= std
        array += mean
        return array
    return _fill(array, rng.normal(mean, std, array.shape))


def zeros_(array):
    return _fill(array, 0)


def ones_(array):
    return _fill(array, 1)


def kaiming_uniform_(array, rng=None, mode="fan_in"):
    """He et al. for ReLU nets: U(-b, b) with b = sqrt(6 / fan)."""
    bound = math.sqrt(6.0 / _fan(array.shape, mode))
    return uniform_(array, -bound, bound, rng)


def kaiming_normal_(array, rng=None, mode="fan_in"):
    """He et al. for ReLU nets: N(0, 2 / fan)."""
    return normal_(array, 0.0, math.sqrt(2.0 / _fan(array.shape, mode)), rng)


def xavier_uniform_(array, rng=None, gain=1.0):
    """Glorot and Bengio: U(-b, b) with b = gain * sqrt(6 / (fan_in + fan_out))."""
    fan_in, fan_out = fans(array.shape)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(array, -bound, bound, rng)


def xavier_normal_(array, rng=None, gain=1.0):
    """Glorot and Bengio: N(0, gain^2 * 2 / (fan_in + fan_out))."""
    fan_in, fan_out = fans(array.shape)
    return normal_(array, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)), rng)


def default_(weight, bias=None, rng=None):
    """PyTorch's default for Linear and Conv2d: weight and bias U(-1/sqrt(fan_in), +)."""
    rng = as_generator(rng)
    bound = 1.0 / math.sqrt(fans(weight.shape)[0])
    uniform_(weight, -bound, bound, rng)
    if bias is not None:
        uniform_(bias, -bound, bound, rng)


def _fan(shape, mode):
    fan_in, fan_out = fans(shape)
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"mode must be 'fan_in' or 'fan_out', got {mode!r}")
    return fan_in if mode == "fan_in" else fan_out

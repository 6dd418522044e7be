"""The ladder of cases a learner's convolution and pooling climb, each with its answers.

The first rung is the course's own example (the notebook's 8x8 ``np.arange`` input); the
next ones add one thing at a time: stride, padding, several channels, a batch, random
values and, for pooling, ties.  The answers come from :mod:`scratchcnn.reference`, the
plain loops a reader can check by hand.  Arrays are NCHW float64.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from .. import reference

__all__ = ["ConvCase", "PoolCase", "conv_cases", "pool_cases", "conv_answers",
           "pool_answers"]


@dataclass
class ConvCase:
    """x (N, C, H, W), weights w (O, C, k, k), bias b (O,), dout (N, O, Ho, Wo)."""
    key: str
    x: np.ndarray
    w: np.ndarray
    b: np.ndarray
    stride: int = 1
    padding: int = 0
    dout: np.ndarray | None = None      # None: the forward output itself, as the notebook
    answers: dict = field(default_factory=dict, repr=False)
    kind = "conv"

    def __post_init__(self):
        self.answers = conv_answers(self.x, self.w, self.b, self.stride, self.padding,
                                    self.dout)
        if self.dout is None:
            self.dout = self.answers["out"].copy()

    @property
    def kernel(self) -> tuple[int, int]:
        return self.w.shape[2], self.w.shape[3]

    def with_bias(self, b) -> "ConvCase":
        """The same case with another bias (for a learner whose bias is one number)."""
        course = self.key == "course"
        return replace(self, b=np.asarray(b, np.float64), dout=None if course else self.dout)


@dataclass
class PoolCase:
    """x (N, C, H, W) max-pooled by k x k windows, dout (N, C, Ho, Wo)."""
    key: str
    x: np.ndarray
    k: int
    stride: int
    padding: int = 0
    dout: np.ndarray | None = None
    answers: dict = field(default_factory=dict, repr=False)
    kind = "pool"

    def __post_init__(self):
        self.answers = pool_answers(self.x, self.k, self.stride, self.padding, self.dout)
        if self.dout is None:
            self.dout = self.answers["out"].copy()

    @property
    def kernel(self) -> tuple[int, int]:
        return self.k, self.k


def conv_answers(x, w, b, stride, padding, dout=None) -> dict:
    """The reference's out, dx, dw, db (dout defaults to out itself)."""
    s, p = (stride, stride), (padding, padding)
    out = reference.conv2d(x, w, b, s, p)
    d = out if dout is None else dout
    dx, dw, db = reference.conv2d_backward(d, x, w, s, p)
    return {"out": out, "dx": dx, "dw": dw, "db": db}


def pool_answers(x, k, stride, padding, dout=None) -> dict:
    kk, s, p = (k, k), (stride, stride), (padding, padding)
    out = reference.max_pool2d(x, kk, s, p)
    d = out if dout is None else dout
    return {"out": out, "dx": reference.max_pool2d_backward(d, x, kk, s, p)}


def conv_cases() -> list[ConvCase]:
    """The convolution's ladder, easiest first."""
    rng = np.random.default_rng(29)

    def ints(*shape, low=-3, high=4):
        return rng.integers(low, high, shape).astype(np.float64)
    course = ConvCase("course", np.arange(64.0).reshape(1, 1, 8, 8),
                      np.arange(18.0).reshape(2, 1, 3, 3), np.ones(2))
    return [
        course,
        ConvCase("stride", ints(1, 1, 9, 9), ints(2, 1, 3, 3), np.array([1.0, -2.0]),
                 stride=2, dout=ints(1, 2, 4, 4, low=1, high=6)),
        ConvCase("padding", ints(1, 1, 6, 6), ints(2, 1, 3, 3), np.array([2.0, -1.0]),
                 padding=1, dout=ints(1, 2, 6, 6, low=1, high=6)),
        ConvCase("stride_padding", ints(1, 1, 7, 7), ints(2, 1, 3, 3), np.array([-1.0, 3.0]),
                 stride=2, padding=1, dout=ints(1, 2, 4, 4, low=1, high=6)),
        ConvCase("channels", ints(1, 3, 6, 6), ints(4, 3, 3, 3), np.array([1.0, -1, 2, -2]),
                 dout=ints(1, 4, 4, 4, low=1, high=6)),
        ConvCase("batch", ints(2, 2, 5, 7), ints(3, 2, 2, 2), np.array([0.5, -1.5, 2.5]),
                 padding=1, dout=ints(2, 3, 6, 8, low=-3, high=4)),
        ConvCase("random", rng.standard_normal((3, 3, 9, 8)),
                 rng.standard_normal((2, 3, 3, 3)), rng.standard_normal(2), stride=2,
                 padding=1, dout=rng.standard_normal((3, 2, 5, 4))),
    ]


def pool_cases() -> list[PoolCase]:
    """The max pooling's ladder, easiest first; only the last one has ties."""
    rng = np.random.default_rng(13)

    def distinct(*shape):
        """Different values everywhere (no ties), positive, read easily."""
        return (rng.permutation(int(np.prod(shape))) + 1).reshape(shape).astype(np.float64)

    def ints(*shape):
        return rng.integers(1, 10, shape).astype(np.float64)
    ties = rng.integers(0, 3, (1, 2, 6, 6)).astype(np.float64)
    return [
        PoolCase("course", np.arange(128.0).reshape(1, 2, 8, 8), 2, 2),
        PoolCase("stride", distinct(1, 1, 9, 9), 3, 2, dout=ints(1, 1, 4, 4)),
        PoolCase("padding", distinct(1, 1, 6, 6), 3, 2, padding=1, dout=ints(1, 1, 3, 3)),
        PoolCase("channels", distinct(1, 3, 6, 6), 2, 2, dout=ints(1, 3, 3, 3)),
        PoolCase("batch", distinct(2, 2, 6, 8), 2, 1, dout=ints(2, 2, 5, 7)),
        PoolCase("random", rng.standard_normal((2, 3, 7, 9)), 3, 2,
                 dout=rng.standard_normal((2, 3, 3, 4))),
        PoolCase("ties", ties, 2, 2, dout=ints(1, 2, 3, 3)),
    ]

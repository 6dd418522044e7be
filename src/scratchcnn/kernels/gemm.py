"""The matrix products of a convolution, and the bias carried inside them.

Every layout appends a row of ones to its columns and the bias as one more weight
column: the forward product then adds the bias, and the weight-gradient product yields
the bias gradient (the sum of dout) as its last column, without a pass of their own.
"""

from __future__ import annotations

import math

import numpy as np

from .parallel import parallel_slices
from .tuning import TUNING

__all__ = ["with_bias", "split_bias", "product", "weight_grad", "piece"]


def with_bias(w2: np.ndarray, bias: np.ndarray | None) -> np.ndarray:
    """Weights (O, K) with the bias (O,) as a last column (O, K + 1); w2 without a bias."""
    return w2 if bias is None else np.concatenate([w2, bias[:, None]], axis=1)


def split_bias(dw2: np.ndarray, k: int, weight_shape: tuple, has_bias: bool):
    """(dweight of ``weight_shape``, dbias (O,) or None) from the product (O, K [+ 1])."""
    dbias = dw2[:, k].copy() if has_bias else None
    return np.ascontiguousarray(dw2[:, :k]).reshape(weight_shape), dbias


def piece(out_channels: int, ckk: int, line: int, backward: bool) -> int | None:
    """Columns per product when a GEMM with weights (O, C*kh*kw) runs best split, else None.

    OpenBLAS is slow on a product whose small side is tiny and whose long side is huge,
    e.g. (6, 25) @ (25, 114688): there a batch of products of ~2000 columns is faster.
    For larger weights one whole product wins.  The piece divides ``line``, so it
    divides every chunk of whole lines.
    """
    if out_channels * ckk > (1024 if backward else 256) or line == 0:  # 0: an empty batch
        return None
    best = max(d for d in _divisors(line) if d <= TUNING.piece_columns)
    return best if best >= 256 else None


def _divisors(n: int) -> list[int]:
    small = [d for d in range(1, math.isqrt(n) + 1) if n % d == 0]
    return small + [n // d for d in small]


def product(a: np.ndarray, b2: np.ndarray, out2: np.ndarray, piece: int | None):
    """out2 (R, L) = a (R, K) @ b2 (K, L), whole or as L/piece products of ``piece`` columns.

    OpenBLAS runs each small product on one core, so the pieces are split over threads.
    """
    if piece is None:
        np.matmul(a, b2, out=out2)
        return
    k, r, m = b2.shape[0], out2.shape[0], b2.shape[1] // piece
    b3 = b2.reshape(k, m, piece).transpose(1, 0, 2)
    out3 = out2.reshape(r, m, piece).transpose(1, 0, 2)
    parallel_slices(lambda s: np.matmul(a, b3[s], out=out3[s]), m, a.size * b2.shape[1])


def weight_grad(d2: np.ndarray, cols2: np.ndarray, piece: int | None):
    """(O, C*kh*kw) = d2 (O, L) @ cols2 (C*kh*kw, L)^T, whole or summed over pieces."""
    if piece is None:  # OpenBLAS runs this order up to 1.7x faster than d2 @ cols2.T
        return (cols2 @ d2.T).T
    o, ckk, m = d2.shape[0], cols2.shape[0], d2.shape[1] // piece
    d3 = d2.reshape(o, m, piece).transpose(1, 0, 2)
    cols3 = cols2.reshape(ckk, m, piece).transpose(1, 2, 0)
    products = np.empty((m, o, ckk), dtype=d2.dtype)  # summed here: the same for any threads
    parallel_slices(lambda s: np.matmul(d3[s], cols3[s], out=products[s]), m, d2.size * ckk)
    return products.sum(axis=0)

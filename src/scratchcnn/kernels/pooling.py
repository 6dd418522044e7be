"""Max and average pooling on NCHW maps, and the routing of a maximum's gradient.

The pools take the maximum (or sum) of the kh*kw strided sub-grids of the padded input,
one whole-array operation per kernel offset: much faster than reducing a 6-D window
view (:func:`scratchcnn.textbook.sliding_windows`), and the same values.
"""

from __future__ import annotations

import numpy as np

from ..textbook import adaptive_pool_matrix, sliding_windows
from .geometry import Pads, Pair, offset_grid, pad, unpad
from .parallel import parallel_slices

__all__ = ["max_pool2d_forward", "max_pool2d_backward", "avg_pool2d_forward",
           "avg_pool2d_backward", "adaptive_avg_pool2d_forward",
           "adaptive_avg_pool2d_backward", "route_max"]


def max_pool2d_forward(x: np.ndarray, kernel_size: Pair, stride: Pair, pads: Pads,
                       dilation: Pair = (1, 1)) -> np.ndarray:
    """Max over windows of x (N, C, H, W); padding counts as -inf; NaN propagates.

    The maximum of the kh*kw strided sub-grids of the input, one whole-array
    ``np.maximum`` per kernel offset (much faster than reducing a 6-D window view).
    """
    if _is_2x2(kernel_size, stride, pads, dilation):
        return _max_pool_2x2(x)
    kh, kw = kernel_size
    windows = sliding_windows(pad(x, pads, value=-np.inf), kernel_size, stride, dilation)
    out = windows[:, :, 0, 0].copy()
    for k in range(1, kh * kw):
        np.maximum(out, windows[:, :, k // kw, k % kw], out=out)
    return out


def max_pool2d_backward(dout: np.ndarray, x: np.ndarray, out: np.ndarray, kernel_size: Pair,
                        stride: Pair, pads: Pads, dilation: Pair = (1, 1)) -> np.ndarray:
    """Route each dout (N, C, Ho, Wo) entry to the input position that held the maximum.

    x and out are the forward input and output.  On ties the first position in row-major
    window order takes the gradient (in a window of nothing but -inf, the first one inside
    the input); in a window whose maximum is NaN, the last NaN does (all as PyTorch's CPU
    kernel).  Large batches are split over threads by samples (about ten passes over x).
    """
    dx = np.empty(x.shape, dtype=dout.dtype)

    parallel_slices(lambda s: _max_pool2d_backward(dout[s], x[s], out[s], kernel_size, stride,
                                                   pads, dilation, dx[s]),
                    x.shape[0], 10 * x.size)
    return dx


def _max_pool2d_backward(dout, x, out, kernel_size: Pair, stride: Pair, pads: Pads,
                         dilation: Pair, dx: np.ndarray) -> None:
    """:func:`max_pool2d_backward` of some samples, written into ``dx``."""
    kh, kw = kernel_size
    ho, wo = dout.shape[2:]
    xp = pad(x, pads, value=-np.inf)
    windows = sliding_windows(xp, kernel_size, stride, dilation)
    spans = [d * (k - 1) + 1 for d, k in zip(dilation, kernel_size)]
    tiled = list(stride) == spans and dilation == (1, 1)  # windows tile the map exactly
    dxp = dx if xp is x else np.empty(xp.shape, dtype=dout.dtype)
    if tiled:  # every covered position is written below; zero only the uncovered edge
        dxp[:, :, ho * stride[0]:] = 0
        dxp[:, :, :, wo * stride[1]:] = 0
    else:
        dxp[...] = 0
    offsets = [divmod(k, kw) for k in range(kh * kw)]
    # a window of nothing but -inf: its first position inside the input takes the gradient
    # (as PyTorch), not padding that also reads -inf
    inside_only = any(p for pair in pads for p in pair) and bool(np.isneginf(out).any())
    allowed = (lambda k: _inside(x.shape, pads, *offsets[k], (ho, wo), stride, dilation)) \
        if inside_only else None
    route_max(dout, [windows[:, :, i, j] for i, j in offsets], out,
              [offset_grid(dxp, i, j, (ho, wo), stride, dilation) for i, j in offsets],
              add=not tiled, allowed=allowed)
    if dxp is not dx:
        dx[...] = unpad(dxp, pads)


def _inside(shape: tuple, pads: Pads, i: int, j: int, out_hw: Pair, stride: Pair,
            dilation: Pair) -> np.ndarray:
    """(Ho, Wo) booleans: whether kernel offset (i, j) of each window reads the input
    (N, C, H, W) of ``shape`` rather than its padding."""
    (ho, wo), (sh, sw), (dh, dw) = out_hw, stride, dilation
    rows = np.arange(ho) * sh + i * dh - pads[0][0]
    cols = np.arange(wo) * sw + j * dw - pads[1][0]
    return ((rows >= 0) & (rows < shape[2]))[:, None] & ((cols >= 0) & (cols < shape[3]))


def _only_first(hits, rest: bool = False):
    """Yield each boolean array of ``hits`` less the positions an earlier one already had;
    with ``rest``, then the positions that none had."""
    pending = None  # positions with no hit yet
    for hit in hits:
        if pending is None:
            pending = ~hit
        else:
            hit &= pending
            pending &= ~hit
        yield hit
    if rest:
        yield pending


def route_max(d_pooled: np.ndarray, candidates, pooled: np.ndarray, out, add: bool = False,
              allowed=None) -> None:
    """The gradient of ``pooled = maximum(*candidates)`` (arrays of one shape): into each
    ``out[k]``, d_pooled where ``candidates[k]`` is the first that holds the maximum, else
    0; where the maximum is NaN, into the last candidate that is NaN (as PyTorch's pool).

    With ``add`` the gradients are added to ``out[k]`` (views that overlap), else written.
    ``allowed(k)``, when given, masks where candidate k may take a maximum (padding may not).
    """
    has_nan = bool(np.isnan(pooled).any())
    which = range(len(candidates))
    # NaN equals nothing, so a NaN window gets no hit here and is handled below.  Without
    # NaN every window holds its maximum somewhere: what no earlier candidate took is the
    # last's
    by_rest = not has_nan and len(candidates) > 1
    compared = which[:-1] if by_rest else which

    def maxima(k):
        found = candidates[k] == pooled
        if allowed is not None:
            found &= allowed(k)
        return found
    hits = _only_first((maxima(k) for k in compared), rest=by_rest)
    for k, hit in zip(which, hits):
        if add:
            out[k] += np.where(hit, d_pooled, 0)
        else:
            np.multiply(d_pooled, hit, out=out[k])
    if has_nan:
        nan_hits = _only_first(np.isnan(candidates[k]) for k in reversed(which))
        for k, hit in zip(reversed(which), nan_hits):
            out[k] += np.where(hit, d_pooled, 0)


def _is_2x2(kernel_size: Pair, stride: Pair, pads: Pads, dilation: Pair) -> bool:
    """Whether a max-pool is the common 2x2, stride-2 one without padding."""
    return (tuple(kernel_size) == tuple(stride) == (2, 2) and tuple(dilation) == (1, 1)
            and pads == ((0, 0), (0, 0)))


def _max_pool_2x2(x: np.ndarray) -> np.ndarray:
    """2x2, stride-2 max-pool of x (N, C, H, W): first the pairs of whole rows (a max over
    long contiguous runs), then the pairs of columns of that half-height map."""
    h, w = x.shape[2] // 2 * 2, x.shape[3] // 2 * 2
    rows = np.maximum(x[:, :, 0:h:2, :w], x[:, :, 1:h:2, :w])  # (N, C, H/2, W)
    return np.maximum(rows[..., 0::2], rows[..., 1::2])


def avg_pool2d_forward(x: np.ndarray, kernel_size: Pair, stride: Pair, pads: Pads) -> np.ndarray:
    """Mean over windows of x (N, C, H, W); zero padding is counted in the mean."""
    kh, kw = kernel_size
    windows = sliding_windows(pad(x, pads), kernel_size, stride)
    out = windows[:, :, 0, 0].copy()
    with np.errstate(invalid="ignore"):  # inf + -inf is NaN, silently, as in PyTorch
        for k in range(1, kh * kw):
            out += windows[:, :, k // kw, k % kw]
    out *= 1.0 / (kh * kw)
    return out


def avg_pool2d_backward(dout: np.ndarray, input_shape: tuple, kernel_size: Pair,
                        stride: Pair, pads: Pads) -> np.ndarray:
    """Spread each dout (N, C, Ho, Wo) entry evenly over its window."""
    kh, kw = kernel_size
    share = dout * (1.0 / (kh * kw))
    dxp = np.zeros(_padded_shape(input_shape, pads), dtype=dout.dtype)
    for k in range(kh * kw):
        offset_grid(dxp, k // kw, k % kw, dout.shape[2:], stride)[...] += share
    return np.ascontiguousarray(unpad(dxp, pads))


def adaptive_avg_pool2d_forward(x: np.ndarray, output_size: Pair) -> np.ndarray:
    """Mean over PyTorch's adaptive bins of x (N, C, H, W): where the bins tile the map
    (H % oh == W % ow == 0, global pooling included) a reshaped mean, else the
    textbook's bin matrices."""
    n, c, h, w = x.shape
    oh, ow = output_size
    if h % oh == 0 and w % ow == 0:
        return x.reshape(n, c, oh, h // oh, ow, w // ow).mean(axis=(3, 5), dtype=x.dtype)
    return adaptive_pool_matrix(h, oh, x.dtype) @ x @ adaptive_pool_matrix(w, ow, x.dtype).T


def adaptive_avg_pool2d_backward(dout: np.ndarray, input_shape: tuple) -> np.ndarray:
    """Spread each dout (N, C, oh, ow) entry evenly over its bin."""
    n, c, h, w = input_shape
    oh, ow = dout.shape[2:]
    if h % oh == 0 and w % ow == 0:
        share = (dout * dout.dtype.type(1.0 / ((h // oh) * (w // ow))))[:, :, :, None, :, None]
        return np.ascontiguousarray(np.broadcast_to(
            share, (n, c, oh, h // oh, ow, w // ow))).reshape(input_shape)
    return adaptive_pool_matrix(h, oh, dout.dtype).T @ dout @ adaptive_pool_matrix(w, ow, dout.dtype)


def _padded_shape(shape: tuple, pads: Pads) -> tuple:
    (pt, pb), (pl, pr) = pads
    return (shape[0], shape[1], shape[2] + pt + pb, shape[3] + pl + pr)

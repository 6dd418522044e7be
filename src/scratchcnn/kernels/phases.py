"""A convolution and the max-pool after it, computed together by phases.

When a p x q max-pool of stride (p, q) follows a convolution, the pool's window (py, px)
holds the convolution's outputs at rows ``p*py + a`` and columns ``q*px + b``, for the
p*q *phases* (a, b).  Output (py, px) of phase (a, b) reads input row ``s*p*py + s*a +
d*i`` for kernel row i (s the stride, d the dilation): all phases read the same ``U =
s*(p-1) + d*(kh-1) + 1`` rows (likewise V columns) past ``s*p*py``, so one column matrix
serves them all::

    P[(c, u, v), (n, py, px)] = xp[n, c, s*p*py + u, s*q*px + v]
    W[(a, b, o), (c, u, v)]   = w[o, c, i, j]   where u = s*a + d*i, v = s*b + d*j (else 0)
    Y = W @ P                   (p*q*O, N*Hpo*Wpo): the convolution's output, phase by phase
    pooled = the maximum over Y's p*q blocks of rows

P holds only U*V values a pooled pixel instead of p*q*kh*kw (36 against 100 for LeNet's
conv1), and the pool compares and routes whole contiguous blocks.  Backward: dY is
dpooled in the block of the window's first maximum, dW = dY @ P^T summed back over the
phases, dx = W^T @ dY added back where P was read.  As in the other layouts, P ends in a
row of ones and W in a column of biases.

Chosen for a first layer with few values a window (``TUNING.phases_max_rows``): LeNet's
conv1 and the batch-norm nets' first convolution, for finite input only.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided

from .geometry import ConvGeometry, PoolGeometry, Saved, pad, unpad
from .parallel import parallel_slices
from .pooling import route_max
from .tuning import TUNING
from .workspace import Workspace, chunks, samples_per_chunk

__all__ = ["applies", "phase_weights", "phase_columns", "forward", "backward"]


def applies(pp: PoolGeometry) -> bool:
    """Whether the convolution and max-pool of ``pp`` are best computed together by phases."""
    return min(pp.p, pp.q) >= 2 and pp.hpo >= 1 and pp.wpo >= 1 and \
        pp.block <= TUNING.phases_max_rows


def phase_weights(weight: np.ndarray, bias: np.ndarray | None, pp: PoolGeometry) -> np.ndarray:
    """W (p*q*O, C*U*V [+ 1]) of weight (O, C, kh, kw) (see the module docstring)."""
    o = weight.shape[0]
    wm = np.zeros((pp.p, pp.q, o, pp.block + (bias is not None)), weight.dtype)
    for block in _weight_blocks(wm, pp):
        block[...] = weight
    if bias is not None:
        wm[..., pp.block] = bias
    return wm.reshape(pp.phases * o, wm.shape[-1])


def _weight_blocks(wm: np.ndarray, pp: PoolGeometry):
    """For each phase (a, b): the view (O, C, kh, kw) of wm (p, q, O, C*U*V [+ 1]) that
    holds the kernel's weights for that phase."""
    g = pp.conv
    for a in range(pp.p):
        for b in range(pp.q):
            cuv = wm[a, b, :, :pp.block].reshape(-1, g.c, pp.u, pp.v)
            yield cuv[:, :, g.sh * a:g.sh * a + g.dh * (g.kh - 1) + 1:g.dh,
                            g.sw * b:g.sw * b + g.dw * (g.kw - 1) + 1:g.dw]


def _reads(xp: np.ndarray, pp: PoolGeometry) -> np.ndarray:
    """View (C, U, V, N, Hpo, Wpo) of the padded xp (N, C, Hp, Wp): what P's rows read."""
    g = pp.conv
    s_n, s_c, s_h, s_w = xp.strides
    return as_strided(xp, (g.c, pp.u, pp.v, xp.shape[0], pp.hpo, pp.wpo),
                      (s_c, s_h, s_w, s_n, g.sh * pp.p * s_h, g.sw * pp.q * s_w),
                      writeable=xp.flags.writeable)


def phase_columns(xp: np.ndarray, pp: PoolGeometry, s0: int, s1: int, out: np.ndarray,
                  ones: bool) -> np.ndarray:
    """P (C*U*V [+ 1], (s1-s0)*Hpo*Wpo) of samples s0:s1 of the padded xp, into ``out``."""
    g, m = pp.conv, s1 - s0
    dst = out[:pp.block].reshape(g.c, pp.u, pp.v, m, pp.hpo, pp.wpo)
    np.copyto(dst, _reads(xp[s0:s1], pp))
    if ones:
        out[pp.block] = 1
    return out


def forward(x, weight, bias, g: ConvGeometry, ws: Workspace, pool):
    """max_pool2d(conv2d(x)) for x (N, C, H, W): (N, O, Ho // p, Wo // q), and the
    :class:`Saved` that :func:`backward` needs."""
    pp = PoolGeometry(g, pool)
    o, width = weight.shape[0], g.n * pp.pixels
    xp = pad(x, g.pads, workspace=ws)
    wm = phase_weights(weight, bias, pp)
    y = np.empty((pp.phases, o, width), x.dtype)
    y2 = y.reshape(pp.phases * o, width)
    per = samples_per_chunk(g.n, wm.shape[1] * pp.pixels, x.dtype.itemsize,
                            TUNING.max_column_bytes)
    cols = None
    for s0, s1 in chunks(g.n, per):
        cols = ws.get("cols", (wm.shape[1], (s1 - s0) * pp.pixels), x.dtype)
        phase_columns(xp, pp, s0, s1, cols, ones=bias is not None)
        np.matmul(wm, cols, out=y2[:, s0 * pp.pixels:s1 * pp.pixels])
    pooled = y[0].copy()
    for k in range(1, pp.phases):
        np.maximum(pooled, y[k], out=pooled)
    out = np.empty((g.n, o, pp.hpo, pp.wpo), x.dtype)
    np.copyto(out, pooled.reshape(o, g.n, pp.hpo, pp.wpo).transpose(1, 0, 2, 3))
    return out, Saved("phases", g, bias is not None, xp, cols if per >= g.n else None,
                      pool=pp, conv_out=y, pooled=pooled)


def backward(dout, weight, saved: Saved, need_dx: bool, ws: Workspace):
    """Gradients of :func:`forward` for dout (N, O, Hpo, Wpo): (dx or None, dweight,
    dbias or None)."""
    g, xp, cols, has_bias = saved.g, saved.source, saved.cols, saved.has_bias
    pp, y, pooled = saved.pool, saved.conv_out, saved.pooled
    o, width = weight.shape[0], g.n * pp.pixels
    d_pooled = np.empty((o, width), dout.dtype)
    np.copyto(d_pooled.reshape(o, g.n, pp.hpo, pp.wpo), dout.transpose(1, 0, 2, 3))
    dy = np.empty(y.shape, d_pooled.dtype)
    route_max(d_pooled, y, pooled, dy)
    dy2 = dy.reshape(pp.phases * o, width)
    k = pp.block + has_bias
    per = g.n if cols is not None else \
        samples_per_chunk(g.n, k * pp.pixels, dout.dtype.itemsize, TUNING.max_column_bytes)
    dwm = np.zeros((pp.phases * o, k), dout.dtype)
    for s0, s1 in chunks(g.n, per):
        if cols is None or per < g.n:
            cols = ws.get("cols", (k, (s1 - s0) * pp.pixels), dout.dtype)
            phase_columns(xp, pp, s0, s1, cols, ones=has_bias)
        dwm += _grad_product(dy2[:, s0 * pp.pixels:s1 * pp.pixels], cols)
    dwm = dwm.reshape(pp.p, pp.q, o, k)
    dweight = np.zeros(weight.shape, dout.dtype)
    for block in _weight_blocks(dwm, pp):
        dweight += block
    dbias = dwm[..., pp.block].sum(axis=(0, 1)) if has_bias else None
    if not need_dx:
        return None, dweight, dbias
    wm = phase_weights(weight, None, pp)
    dxp = np.zeros(xp.shape, dout.dtype)
    dreads = _reads(dxp, pp)
    dcols = (wm.T @ dy2).reshape(g.c, pp.u, pp.v, g.n, pp.hpo, pp.wpo)
    for u in range(pp.u):  # reads of different (u, v) overlap: one add each
        for v in range(pp.v):
            dreads[:, u, v] += dcols[:, u, v]
    return np.ascontiguousarray(unpad(dxp, g.pads)), dweight, dbias


def _grad_product(dy2: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """dy2 (R, L) @ cols (K, L)^T as a sum of products of about ``TUNING.grad_columns``
    columns (OpenBLAS runs one product with so long an inner dimension slowly)."""
    rows, length = dy2.shape
    size = max(1, min(length, TUNING.grad_columns))
    whole = length // size * size
    out = np.zeros((rows, cols.shape[0]), dy2.dtype)
    if whole:
        count = whole // size
        a = dy2[:, :whole].reshape(rows, count, size).transpose(1, 0, 2)
        b = cols[:, :whole].reshape(-1, count, size).transpose(1, 2, 0)
        products = np.empty((count, rows, cols.shape[0]), dy2.dtype)
        parallel_slices(lambda s: np.matmul(a[s], b[s], out=products[s]), count,
                        products.size * size)
        products.sum(axis=0, out=out)
    if whole < length:
        out += dy2[:, whole:] @ cols[:, whole:].T
    return out

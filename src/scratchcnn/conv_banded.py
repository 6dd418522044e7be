"""Convolution as one product with a banded weight matrix: the layout for small maps.

A fourth layout next to the three in :mod:`scratchcnn.functional`.  Keep the padded
input with the channels inside each row, ``rows`` (N, Hp, C, Wp).  Output row y of sample
n reads the kernel's kh input rows ``y*sh + i*dh``, each of all C channels and the whole
padded width: one block ``R[n, y]`` (kh, C, Wp).  Along the width, the weights act on
that block as a banded (Toeplitz) matrix::

    T[(i, c, x'), (o, x)] = w[o, c, i, j]   where x' = x*sw + j*dw   (else 0)

so ``out[n, :, y, :] = R[n, y] @ T``: one product (N*Ho, kh*C*Wp) @ (kh*C*Wp, O*Wo) for
the whole layer.  It does Wp/kw times the multiply-adds of im2col (the zeros of T), but
its "columns" R are only kh times the input instead of kh*kw times, and its products
are squarer than im2col's (O, C*kh*kw) @ (C*kh*kw, many): on a 14x14 map with a 5x5
kernel (LeNet's second layer) that trade wins.  Backward is the same two products as any
GEMM convolution: ``dT = R^T @ D`` (the weight gradient is T's band of dT, summed along
each diagonal) and ``dR = D @ T^T``, whose kh row blocks are added back into the rows
they were read from (the adjoint of building R).

As in the other layouts, R ends in a column of ones and T in a row of biases: the
forward product adds the bias, and dT's last row sums dout for the bias gradient.

**With the max-pool after it.**  When a p x q max-pool of stride (p, q) follows (LeNet-5's
second layer), R's rows are taken in the order (n, a, py) for output row y = p*py + a,
and T's columns in the order (b, o, px) for output column x = q*px + b.  The product is
then ``Y (N, p, Hpo, q, O*Wpo)``, and each (a, b) is one *phase* of the pool's windows:
the pool is a maximum over p*q strided views of whole runs of O*Wpo values, and its
gradient is routed back into those views, so the NCHW convolution output is never built.
Output rows and columns past the last whole window (the pool's floor mode) are simply not
computed.  Without a pool, p = q = 1 and the orders are the plain ones.  Measured in
LeNet-5's training step (one process, alternating step by step, medians): 14.1 -> 13.1 ms.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided

from . import functional as F
from .parallel import parallel_slices


class PoolPhases:
    """Output sizes of the product for a pool (p, q) after the convolution ``g``
    ((1, 1): no pool): ``p`` phases of ``hpo`` rows, ``q`` phases of ``wpo`` columns."""

    def __init__(self, g: F.ConvGeometry, pool: F.Pair = (1, 1)):
        self.p, self.q = pool
        self.hpo, self.wpo = g.ho // self.p, g.wo // self.q
        self.rows = self.p * self.hpo  # output rows computed, per sample


def banded_weights(weight: np.ndarray, bias: np.ndarray | None, g: F.ConvGeometry,
                   pp: PoolPhases) -> np.ndarray:
    """T (kh*C*Wp [+ 1], q*O*Wpo) of weight (O, C, kh, kw) for geometry ``g`` (see above)."""
    o = weight.shape[0]
    t = np.zeros((g.kh * g.c * g.wp + (bias is not None), pp.q * o * pp.wpo),
                 dtype=weight.dtype)
    for j, band in enumerate(_bands(t, g, pp)):
        band[...] = weight[:, :, :, j].transpose(2, 1, 0)[:, :, None, :, None]
    if bias is not None:
        t[-1].reshape(pp.q, o, pp.wpo)[...] = bias[:, None]
    return t


def banded_weight_grad(dt: np.ndarray, g: F.ConvGeometry, pp: PoolPhases,
                       shape: tuple) -> np.ndarray:
    """The adjoint of :func:`banded_weights` for the weights: dW (O, C, kh, kw) from dT."""
    dw = np.empty((g.kw, g.kh, g.c, shape[0]), dtype=dt.dtype)
    for j, band in enumerate(_bands(dt, g, pp)):
        band.sum(axis=(2, 4), out=dw[j])
    return np.ascontiguousarray(dw.transpose(3, 2, 1, 0))


def _bands(t: np.ndarray, g: F.ConvGeometry, pp: PoolPhases):
    """For each kernel column j, the view (kh, C, q, O, Wpo) of T's entries that hold
    w[:, :, :, j]: entry [i, c, b, o, px] is T[(i, c, x*sw + j*dw), (b, o, px)] for the
    output column x = q*px + b."""
    s_row, item, flat = t.strides[0], t.itemsize, t.reshape(-1)
    o = t.shape[1] // (pp.q * pp.wpo)
    for j in range(g.kw):
        yield as_strided(flat[j * g.dw * t.shape[1]:], (g.kh, g.c, pp.q, o, pp.wpo),
                         (g.c * g.wp * s_row, g.wp * s_row, g.sw * s_row + o * pp.wpo * item,
                          pp.wpo * item, pp.q * g.sw * s_row + item))


def row_windows(rows: np.ndarray, g: F.ConvGeometry, pp: PoolPhases, s0: int, s1: int,
                out: np.ndarray, ones: bool) -> np.ndarray:
    """R (m*p*Hpo, kh*C*Wp [+ 1]) of samples s0:s1 (m of them) from ``rows`` (N, Hp, C,
    Wp), its rows in the order (n, a, py), written into ``out``; with ``ones`` a last
    column of ones."""
    m, width = s1 - s0, g.kh * g.c * g.wp
    s_n, s_h = rows.strides[:2]
    windows = as_strided(rows[s0:], (m, pp.p, pp.hpo, g.kh, g.c * g.wp),
                         (s_n, g.sh * s_h, pp.p * g.sh * s_h, g.dh * s_h, rows.itemsize),
                         writeable=False)
    r = out.reshape(m, pp.p, pp.hpo, width + ones)
    dst = r[..., :width].reshape(m, pp.p, pp.hpo, g.kh, g.c * g.wp)  # splits an axis

    def copy(part):
        np.copyto(dst[part], windows[part])
        if ones:
            r[part, ..., width] = 1
    parallel_slices(copy, m, out.size)
    return out


def forward_banded(x, weight, bias, g: F.ConvGeometry, ws: F.Workspace,
                   pool: F.Pair = (1, 1)):
    """:func:`scratchcnn.functional.conv2d_forward` in the banded layout; with a ``pool``
    (p, q), the p x q max-pool of stride (p, q) of that convolution (see above)."""
    o, pp = weight.shape[0], PoolPhases(g, pool)
    rows, _ = ws.get_zeroed("rows", (g.n, g.hp, g.c, g.wp), x.dtype,
                            key=(g.phases_key(), "rows"))
    F.assign(_interior(rows, g), x.transpose(0, 2, 1, 3))
    t = banded_weights(weight, bias, g, pp)
    wide = ws.get("out_wide", (g.n, pp.p, pp.hpo, pp.q, o * pp.wpo), x.dtype)
    per = F._samples_per_chunk(g.n, pp.rows * t.shape[0], x.dtype.itemsize,
                               F.MAX_COLUMN_BYTES)
    r = None
    for s0, s1 in F._chunks(g.n, per):
        r = ws.get("cols", ((s1 - s0) * pp.rows, t.shape[0]), x.dtype)
        row_windows(rows, g, pp, s0, s1, r, ones=bias is not None)
        np.matmul(r, t, out=wide[s0:s1].reshape(-1, t.shape[1]))
    phases = _phase_views(wide)
    if len(phases) == 1:
        out_wide = phases[0]
    else:
        out_wide = ws.get("pooled", phases[0].shape, x.dtype)
        np.maximum(phases[0], phases[1], out=out_wide)
        for phase in phases[2:]:
            np.maximum(out_wide, phase, out=out_wide)
    out = np.empty((g.n, o, pp.hpo, pp.wpo), dtype=x.dtype)
    F.assign(out, out_wide.reshape(g.n, pp.hpo, o, pp.wpo).transpose(0, 2, 1, 3))
    return out, (g, rows, r if per >= g.n else None, pp, wide, out_wide, t)


def _phase_views(wide: np.ndarray) -> list[np.ndarray]:
    """The views (N, Hpo, O*Wpo) of each pool phase (a, b) of the product wide (N, p, Hpo,
    q, O*Wpo), in the pool's window order (row-major)."""
    return [wide[:, a, :, b] for a in range(wide.shape[1]) for b in range(wide.shape[3])]


def backward_banded(dout, weight, saved, has_bias: bool, need_dx: bool,
                    ws: F.Workspace):
    """:func:`scratchcnn.functional.conv2d_backward` in the banded layout (of the
    convolution and its pool, when the forward had one)."""
    g, rows, r, pp, wide, pooled, t = saved
    o, width, item = weight.shape[0], g.kh * g.c * g.wp, dout.dtype.itemsize
    d = ws.get("dout_wide", wide.shape, dout.dtype)
    d_phases = _phase_views(d)
    if len(d_phases) == 1:
        F.assign(d.reshape(g.n, pp.hpo, o, pp.wpo), dout.transpose(0, 2, 1, 3))
    else:
        d_pooled = ws.get("dpooled", pooled.shape, dout.dtype)
        F.assign(d_pooled.reshape(g.n, pp.hpo, o, pp.wpo), dout.transpose(0, 2, 1, 3))
        F.route_max(d_pooled, _phase_views(wide), pooled, d_phases)
    d2 = d.reshape(g.n * pp.rows, pp.q * o * pp.wpo)
    if r is not None and r.shape[1] != width + has_bias:  # forward ran without a bias
        r = None
    per = g.n if r is not None else \
        F._samples_per_chunk(g.n, pp.rows * (width + has_bias), item, F.MAX_COLUMN_BYTES)
    dt = np.zeros((width + has_bias, d2.shape[1]), dtype=dout.dtype)
    for s0, s1 in F._chunks(g.n, per):
        if r is None or per < g.n:
            r = ws.get("cols", ((s1 - s0) * pp.rows, width + has_bias), dout.dtype)
            row_windows(rows, g, pp, s0, s1, r, ones=has_bias)
        dt += r.T @ d2[s0 * pp.rows:s1 * pp.rows]
    dweight = banded_weight_grad(dt[:width], g, pp, weight.shape)
    dbias = dt[width].reshape(pp.q, o, pp.wpo).sum(axis=(0, 2)) if has_bias else None
    if not need_dx:
        return None, dweight, dbias
    t = t[:width]  # the forward's banded weights, less the bias row
    drows = ws.get("drows", rows.shape, dout.dtype)
    parallel_slices(lambda s: drows[s].fill(0), g.n, drows.size)
    per = F._samples_per_chunk(g.n, pp.rows * width, item, F.DCOLS_BYTES)
    for s0, s1 in F._chunks(g.n, per):
        dr = ws.get("dcols", ((s1 - s0) * pp.rows, width), dout.dtype)
        np.matmul(d2[s0 * pp.rows:s1 * pp.rows], t.T, out=dr)
        dr5 = dr.reshape(s1 - s0, pp.p, pp.hpo, g.kh, g.c * g.wp)
        dst = drows[s0:s1].reshape(s1 - s0, g.hp, g.c * g.wp)

        def add(part):  # kernel rows overlap: one add each, back where R read them
            for a in range(pp.p):
                for i in range(g.kh):
                    first = a * g.sh + i * g.dh
                    read = slice(first, first + (pp.hpo - 1) * pp.p * g.sh + 1, pp.p * g.sh)
                    dst[part, read] += dr5[part, a, :, i]
        parallel_slices(add, s1 - s0, 2 * dr.size)
    dx = np.empty((g.n, g.c, g.h, g.w), dtype=dout.dtype)
    F.assign(dx, _interior(drows, g).transpose(0, 2, 1, 3))
    return dx, dweight, dbias


def _interior(rows: np.ndarray, g: F.ConvGeometry) -> np.ndarray:
    """The x positions (N, H, C, W) of a rows buffer (N, Hp, C, Wp)."""
    (pt, _), (pl, _) = g.pads
    return rows[:, pt:pt + g.h, :, pl:pl + g.w]


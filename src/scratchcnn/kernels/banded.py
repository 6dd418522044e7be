"""The banded layout: the convolution as one product with a Toeplitz weight matrix.

Keep the padded input with the channels inside each row, ``rows`` (N, Hp, C, Wp).
Output row y of sample n reads the kernel's kh input rows ``y*sh + i*dh``, all C
channels, the whole padded width: one block ``R[n, y]`` (kh, C, Wp).  Along the width
the weights act on that block as a banded (Toeplitz) matrix::

    T[(i, c, x'), (o, x)] = w[o, c, i, j]   where x' = x*sw + j*dw   (else 0)

so ``out[n, :, y, :] = R[n, y] @ T``: one product (N*Ho, kh*C*Wp) @ (kh*C*Wp, O*Wo) for
the whole layer.  It does Wp/kw times im2col's multiply-adds (T's zeros), but R is only
kh times the input instead of kh*kw, and the product is squarer.  Backward: ``dT = R^T @
D`` (the weight gradient is T's band of dT, summed along each diagonal) and ``dR = D @
T^T``, whose kh row blocks are added back into the rows they were read from.

**With the max-pool after it.**  For a p x q max-pool of stride (p, q), R's rows are
taken in the order (n, a, py) of output row y = p*py + a, and T's columns in the order
(b, o, px) of output column x = q*px + b.  The product is then ``(N, p, Hpo, q,
O*Wpo)``, each (a, b) one phase of the pool's windows: the pool is a maximum over p*q
views of whole runs, and its gradient is routed back into them
(:func:`.pooling.route_max`); the NCHW convolution output is never built.  Without a
pool, p = q = 1 and the orders are the plain ones.

Chosen for small maps and wide kernels (LeNet's conv2, with or without its pool), for
finite input only: T's zeros times inf are NaN.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided

from .geometry import ConvGeometry, Pair, PoolGeometry, Saved
from .parallel import parallel_slices
from .pooling import route_max
from .tuning import TUNING
from .workspace import Workspace, assign, chunks, samples_per_chunk

__all__ = ["banded_weights", "banded_weight_grad", "row_windows", "forward", "backward"]


def banded_weights(weight: np.ndarray, bias: np.ndarray | None, g: ConvGeometry,
                   pp: PoolGeometry) -> np.ndarray:
    """T (kh*C*Wp [+ 1], q*O*Wpo) of weight (O, C, kh, kw) for geometry ``g`` (see above)."""
    o = weight.shape[0]
    t = np.zeros((g.kh * g.c * g.wp + (bias is not None), pp.q * o * pp.wpo),
                 dtype=weight.dtype)
    for j, band in enumerate(_bands(t, g, pp)):
        band[...] = weight[:, :, :, j].transpose(2, 1, 0)[:, :, None, :, None]
    if bias is not None:
        t[-1].reshape(pp.q, o, pp.wpo)[...] = bias[:, None]
    return t


def banded_weight_grad(dt: np.ndarray, g: ConvGeometry, pp: PoolGeometry,
                       shape: tuple) -> np.ndarray:
    """The adjoint of :func:`banded_weights` for the weights: dW (O, C, kh, kw) from dT."""
    dw = np.empty((g.kw, g.kh, g.c, shape[0]), dtype=dt.dtype)
    for j, band in enumerate(_bands(dt, g, pp)):
        band.sum(axis=(2, 4), out=dw[j])
    return np.ascontiguousarray(dw.transpose(3, 2, 1, 0))


def _bands(t: np.ndarray, g: ConvGeometry, pp: PoolGeometry):
    """For each kernel column j, the view (kh, C, q, O, Wpo) of T's entries that hold
    w[:, :, :, j]: entry [i, c, b, o, px] is T[(i, c, x*sw + j*dw), (b, o, px)] for the
    output column x = q*px + b."""
    s_row, item, flat = t.strides[0], t.itemsize, t.reshape(-1)
    o = t.shape[1] // (pp.q * pp.wpo)
    for j in range(g.kw):
        yield as_strided(flat[j * g.dw * t.shape[1]:], (g.kh, g.c, pp.q, o, pp.wpo),
                         (g.c * g.wp * s_row, g.wp * s_row, g.sw * s_row + o * pp.wpo * item,
                          pp.wpo * item, pp.q * g.sw * s_row + item))


def row_windows(rows: np.ndarray, g: ConvGeometry, pp: PoolGeometry, s0: int, s1: int,
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


def forward(x, weight, bias, g: ConvGeometry, ws: Workspace, pool: Pair = (1, 1)):
    """The convolution of x (N, C, H, W) in the banded layout, (out, :class:`Saved`); with
    a ``pool`` (p, q), out is the p x q max-pool of stride (p, q) of that convolution."""
    o, pp = weight.shape[0], PoolGeometry(g, pool)
    rows, _ = ws.get_zeroed("rows", (g.n, g.hp, g.c, g.wp), x.dtype,
                            key=(g.phases_key(), "rows"))
    assign(_interior(rows, g), x.transpose(0, 2, 1, 3))
    t = banded_weights(weight, bias, g, pp)
    wide = ws.get("out_wide", (g.n, pp.p, pp.hpo, pp.q, o * pp.wpo), x.dtype)
    per = samples_per_chunk(g.n, pp.conv_rows * t.shape[0], x.dtype.itemsize,
                            TUNING.max_column_bytes)
    r = None
    for s0, s1 in chunks(g.n, per):
        r = ws.get("cols", ((s1 - s0) * pp.conv_rows, t.shape[0]), x.dtype)
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
    assign(out, out_wide.reshape(g.n, pp.hpo, o, pp.wpo).transpose(0, 2, 1, 3))
    return out, Saved("banded", g, bias is not None, rows, r if per >= g.n else None,
                      pool=pp, conv_out=wide, pooled=out_wide, weights=t)


def _phase_views(wide: np.ndarray) -> list[np.ndarray]:
    """The views (N, Hpo, O*Wpo) of each pool phase (a, b) of the product wide (N, p, Hpo,
    q, O*Wpo), in the pool's window order (row-major)."""
    return [wide[:, a, :, b] for a in range(wide.shape[1]) for b in range(wide.shape[3])]


def backward(dout, weight, saved: Saved, need_dx: bool, ws: Workspace):
    """Gradients of :func:`forward` (of the convolution and its pool, when the forward had
    one) for dout: (dx or None, dweight, dbias or None)."""
    g, rows, r, has_bias = saved.g, saved.source, saved.cols, saved.has_bias
    pp, wide, pooled, t = saved.pool, saved.conv_out, saved.pooled, saved.weights
    o, width, item = weight.shape[0], g.kh * g.c * g.wp, dout.dtype.itemsize
    d = ws.get("dout_wide", wide.shape, dout.dtype)
    d_phases = _phase_views(d)
    if len(d_phases) == 1:
        assign(d.reshape(g.n, pp.hpo, o, pp.wpo), dout.transpose(0, 2, 1, 3))
    else:
        d_pooled = ws.get("dpooled", pooled.shape, dout.dtype)
        assign(d_pooled.reshape(g.n, pp.hpo, o, pp.wpo), dout.transpose(0, 2, 1, 3))
        route_max(d_pooled, _phase_views(wide), pooled, d_phases)
    d2 = d.reshape(g.n * pp.conv_rows, pp.q * o * pp.wpo)
    per = g.n if r is not None else \
        samples_per_chunk(g.n, pp.conv_rows * (width + has_bias), item,
                          TUNING.max_column_bytes)
    dt = np.zeros((width + has_bias, d2.shape[1]), dtype=dout.dtype)
    for s0, s1 in chunks(g.n, per):
        if r is None or per < g.n:
            r = ws.get("cols", ((s1 - s0) * pp.conv_rows, width + has_bias), dout.dtype)
            row_windows(rows, g, pp, s0, s1, r, ones=has_bias)
        dt += r.T @ d2[s0 * pp.conv_rows:s1 * pp.conv_rows]
    dweight = banded_weight_grad(dt[:width], g, pp, weight.shape)
    dbias = dt[width].reshape(pp.q, o, pp.wpo).sum(axis=(0, 2)) if has_bias else None
    if not need_dx:
        return None, dweight, dbias
    t = t[:width]  # the forward's banded weights, less the bias row
    drows = ws.get("drows", rows.shape, dout.dtype)
    parallel_slices(lambda s: drows[s].fill(0), g.n, drows.size)
    per = samples_per_chunk(g.n, pp.conv_rows * width, item, TUNING.dcols_bytes)
    for s0, s1 in chunks(g.n, per):
        dr = ws.get("dcols", ((s1 - s0) * pp.conv_rows, width), dout.dtype)
        np.matmul(d2[s0 * pp.conv_rows:s1 * pp.conv_rows], t.T, out=dr)
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
    assign(dx, _interior(drows, g).transpose(0, 2, 1, 3))
    return dx, dweight, dbias


def _interior(rows: np.ndarray, g: ConvGeometry) -> np.ndarray:
    """The x positions (N, H, C, W) of a rows buffer (N, Hp, C, Wp)."""
    (pt, _), (pl, _) = g.pads
    return rows[:, pt:pt + g.h, :, pl:pl + g.w]


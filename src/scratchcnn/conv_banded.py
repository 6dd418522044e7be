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
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided

from . import functional as F
from .parallel import parallel_slices


def banded_weights(weight: np.ndarray, bias: np.ndarray | None,
                   g: F.ConvGeometry) -> np.ndarray:
    """T (kh*C*Wp [+ 1], O*Wo) of weight (O, C, kh, kw) for geometry ``g`` (see above)."""
    o = weight.shape[0]
    t = np.zeros((g.kh * g.c * g.wp + (bias is not None), o * g.wo), dtype=weight.dtype)
    for j, band in enumerate(_bands(t, g)):
        band[...] = weight[:, :, :, j].transpose(2, 1, 0)[..., None]
    if bias is not None:
        t[-1] = np.repeat(bias, g.wo)
    return t


def banded_weight_grad(dt: np.ndarray, g: F.ConvGeometry, shape: tuple) -> np.ndarray:
    """The adjoint of :func:`banded_weights` for the weights: dW (O, C, kh, kw) from dT."""
    dw = np.empty((g.kw, g.kh, g.c, shape[0]), dtype=dt.dtype)
    for j, band in enumerate(_bands(dt, g)):
        band.sum(axis=-1, out=dw[j])
    return np.ascontiguousarray(dw.transpose(3, 2, 1, 0))


def _bands(t: np.ndarray, g: F.ConvGeometry):
    """For each kernel column j, the view (kh, C, O, Wo) of T's entries that hold
    w[:, :, :, j]: entry [i, c, o, x] is T[(i, c, x*sw + j*dw), (o, x)]."""
    s_row, item, flat = t.strides[0], t.itemsize, t.reshape(-1)
    o = t.shape[1] // g.wo
    for j in range(g.kw):
        yield as_strided(flat[j * g.dw * t.shape[1]:], (g.kh, g.c, o, g.wo),
                         (g.c * g.wp * s_row, g.wp * s_row, g.wo * item, g.sw * s_row + item))


def row_windows(rows: np.ndarray, g: F.ConvGeometry, s0: int, s1: int, out: np.ndarray,
                ones: bool) -> np.ndarray:
    """R (m*Ho, kh*C*Wp [+ 1]) of samples s0:s1 (m of them) from ``rows`` (N, Hp, C, Wp),
    written into ``out``; with ``ones`` a last column of ones."""
    m, width = s1 - s0, g.kh * g.c * g.wp
    s_n, s_h = rows.strides[:2]
    windows = as_strided(rows[s0:], (m, g.ho, g.kh, g.c * g.wp),
                         (s_n, g.sh * s_h, g.dh * s_h, rows.itemsize), writeable=False)
    r = out.reshape(m, g.ho, width + ones)
    dst = r[..., :width].reshape(m, g.ho, g.kh, g.c * g.wp)  # splits an axis: a view

    def copy(part):
        np.copyto(dst[part], windows[part])
        if ones:
            r[part, :, width] = 1
    parallel_slices(copy, m, out.size)
    return out


def forward_banded(x, weight, bias, g: F.ConvGeometry, ws: F.Workspace):
    """:func:`scratchcnn.functional.conv2d_forward` in the banded layout."""
    o = weight.shape[0]
    rows, _ = ws.get_zeroed("rows", (g.n, g.hp, g.c, g.wp), x.dtype,
                            key=(g.phases_key(), "rows"))
    F.assign(_interior(rows, g), x.transpose(0, 2, 1, 3))
    t = banded_weights(weight, bias, g)
    wide = ws.get("out_wide", (g.n, g.ho, o, g.wo), x.dtype)
    per = F._samples_per_chunk(g.n, g.ho * t.shape[0], x.dtype.itemsize, F.MAX_COLUMN_BYTES)
    r = None
    for s0, s1 in F._chunks(g.n, per):
        r = ws.get("cols", ((s1 - s0) * g.ho, t.shape[0]), x.dtype)
        row_windows(rows, g, s0, s1, r, ones=bias is not None)
        np.matmul(r, t, out=wide[s0:s1].reshape(-1, o * g.wo))
    out = np.empty((g.n, o, g.ho, g.wo), dtype=x.dtype)
    F.assign(out, wide.transpose(0, 2, 1, 3))
    return out, (g, rows, r if per >= g.n else None)


def backward_banded(dout, weight, saved, has_bias: bool, need_dx: bool,
                    ws: F.Workspace):
    """:func:`scratchcnn.functional.conv2d_backward` in the banded layout."""
    g, rows, r = saved
    o, width, item = weight.shape[0], g.kh * g.c * g.wp, dout.dtype.itemsize
    d = ws.get("dout_wide", (g.n, g.ho, o, g.wo), dout.dtype)
    F.assign(d, dout.transpose(0, 2, 1, 3))
    d2 = d.reshape(g.n * g.ho, o * g.wo)
    if r is not None and r.shape[1] != width + has_bias:  # forward ran without a bias
        r = None
    per = g.n if r is not None else \
        F._samples_per_chunk(g.n, g.ho * (width + has_bias), item, F.MAX_COLUMN_BYTES)
    dt = np.zeros((width + has_bias, o * g.wo), dtype=dout.dtype)
    for s0, s1 in F._chunks(g.n, per):
        if r is None or per < g.n:
            r = ws.get("cols", ((s1 - s0) * g.ho, width + has_bias), dout.dtype)
            row_windows(rows, g, s0, s1, r, ones=has_bias)
        dt += r.T @ d2[s0 * g.ho:s1 * g.ho]
    dweight = banded_weight_grad(dt[:width], g, weight.shape)
    dbias = dt[width].reshape(o, g.wo).sum(axis=1) if has_bias else None
    if not need_dx:
        return None, dweight, dbias
    t = banded_weights(weight, None, g)
    drows = ws.get("drows", rows.shape, dout.dtype)
    parallel_slices(lambda s: drows[s].fill(0), g.n, drows.size)
    per = F._samples_per_chunk(g.n, g.ho * width, item, F.DCOLS_BYTES)
    for s0, s1 in F._chunks(g.n, per):
        dr = ws.get("dcols", ((s1 - s0) * g.ho, width), dout.dtype)
        np.matmul(d2[s0 * g.ho:s1 * g.ho], t.T, out=dr)
        dr4 = dr.reshape(s1 - s0, g.ho, g.kh, g.c * g.wp)
        dst = drows[s0:s1].reshape(s1 - s0, g.hp, g.c * g.wp)

        def add(part):  # kernel rows overlap: one add each, back where R read them
            for i in range(g.kh):
                rows_i = slice(i * g.dh, i * g.dh + (g.ho - 1) * g.sh + 1, g.sh)
                dst[part, rows_i] += dr4[part, :, i]
        parallel_slices(add, s1 - s0, 2 * dr.size)
    dx = np.empty((g.n, g.c, g.h, g.w), dtype=dout.dtype)
    F.assign(dx, _interior(drows, g).transpose(0, 2, 1, 3))
    return dx, dweight, dbias


def _interior(rows: np.ndarray, g: F.ConvGeometry) -> np.ndarray:
    """The x positions (N, H, C, W) of a rows buffer (N, Hp, C, Wp)."""
    (pt, _), (pl, _) = g.pads
    return rows[:, pt:pt + g.h, :, pl:pl + g.w]


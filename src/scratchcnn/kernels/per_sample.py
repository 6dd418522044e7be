"""The per-sample layout: columns per sample, one small product per sample.

Columns (N, C*kh*kw [+ 1], Ho*Wo): then ``W (O, C*kh*kw [+ 1]) @ cols[n]`` writes
out[n] (O, Ho*Wo), already NCHW, and dout[n] (O, Ho*Wo) meets cols[n] as it comes.  The
line layout would need a transposing copy of both, which for a layer with few values
per window costs as much as the products.  The products are split over threads by
samples (OpenBLAS runs a product this small on one core).

Chosen for stride 1 with few values a window and enough output pixels: a first layer
on grey or colour images (LeNet's conv1 when it is not joined to its pool, CIFAR's).
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided

from . import gemm
from ..textbook import sliding_windows
from .geometry import ConvGeometry, Saved, offset_grid, pad, unpad
from .parallel import parallel_slices
from .tuning import TUNING
from .workspace import Workspace, chunks, samples_per_chunk

__all__ = ["forward", "backward"]


def _sample_columns(xp: np.ndarray, g: ConvGeometry, s0: int, s1: int, ws: Workspace,
                    ones: bool) -> np.ndarray:
    """Columns (s1-s0, C*kh*kw [+ 1], Ho*Wo) of samples s0:s1 of the padded xp, in the
    workspace; with ``ones`` a last row of ones per sample (see :mod:`.gemm`)."""
    m, hw = s1 - s0, g.ho * g.wo
    cols = ws.get("cols", (m, g.ckk + ones, hw), xp.dtype)
    item = cols.itemsize
    # cols[:, :C*kh*kw] seen as (m, C, kh, kw, Ho, Wo): a view by construction
    dst = as_strided(cols, (m, g.c, g.kh, g.kw, g.ho, g.wo),
                     (cols.strides[0], g.kh * g.kw * hw * item, g.kw * hw * item, hw * item,
                      g.wo * item, item))
    windows = sliding_windows(xp[s0:s1], (g.kh, g.kw), (1, 1), (g.dh, g.dw))

    def copy(part):
        np.copyto(dst[part], windows[part])
        if ones:
            cols[part, g.ckk] = 1
    parallel_slices(copy, m, cols.size)
    return cols


def forward(x, weight, bias, g: ConvGeometry, ws: Workspace):
    """The convolution of x (N, C, H, W) in the per-sample layout: (out, :class:`Saved`)."""
    o = weight.shape[0]
    xp = pad(x, g.pads, workspace=ws)
    w2 = gemm.with_bias(weight.reshape(o, g.ckk), bias)
    out = np.empty((g.n, o, g.ho * g.wo), dtype=x.dtype)
    per = samples_per_chunk(g.n, w2.shape[1] * g.ho * g.wo, x.dtype.itemsize,
                            TUNING.max_column_bytes)
    cols = None
    for s0, s1 in chunks(g.n, per):
        cols = _sample_columns(xp, g, s0, s1, ws, ones=bias is not None)
        part = out[s0:s1]
        parallel_slices(lambda s: np.matmul(w2, cols[s], out=part[s]), s1 - s0,
                        part.size * w2.shape[1])
    saved = Saved("per_sample", g, bias is not None, xp, cols if per >= g.n else None)
    return out.reshape(g.n, o, g.ho, g.wo), saved


def backward(dout, weight, saved: Saved, need_dx: bool, ws: Workspace):
    """Gradients of :func:`forward` for dout (N, O, Ho, Wo): (dx or None, dweight, dbias)."""
    g, xp, cols, has_bias = saved.g, saved.source, saved.cols, saved.has_bias
    o, hw = weight.shape[0], g.ho * g.wo
    d3 = np.ascontiguousarray(dout).reshape(g.n, o, hw)
    per = g.n if cols is not None else \
        samples_per_chunk(g.n, (g.ckk + has_bias) * hw, dout.dtype.itemsize,
                          TUNING.max_column_bytes)
    # one (O, C*kh*kw [+ 1]) product per sample, summed here: the same for any threads
    products = np.empty((g.n, o, g.ckk + has_bias), dtype=dout.dtype)
    for s0, s1 in chunks(g.n, per):
        if cols is None or per < g.n:
            cols = _sample_columns(xp, g, s0, s1, ws, ones=has_bias)
        d_part, p_part, c_part = d3[s0:s1], products[s0:s1], cols
        parallel_slices(lambda s: np.matmul(d_part[s], c_part[s].transpose(0, 2, 1),
                                            out=p_part[s]), s1 - s0, c_part.size * o)
    dweight, dbias = gemm.split_bias(products.sum(axis=0), g.ckk, weight.shape, has_bias)
    if not need_dx:
        return None, dweight, dbias
    wt = np.ascontiguousarray(weight.reshape(o, g.ckk).T)
    dxp = np.empty(xp.shape, dtype=dout.dtype)
    per = samples_per_chunk(g.n, g.ckk * hw, dout.dtype.itemsize, TUNING.dcols_bytes)
    for s0, s1 in chunks(g.n, per):
        dcols = ws.get("dcols", (s1 - s0, g.ckk, hw), dout.dtype)
        dcols6 = dcols.reshape(s1 - s0, g.c, g.kh, g.kw, g.ho, g.wo)
        d_part, dx_part = d3[s0:s1], dxp[s0:s1]

        def back(s):  # the columns' gradients of samples s, added into their windows
            np.matmul(wt, d_part[s], out=dcols[s])
            dx_part[s] = 0
            for i in range(g.kh):
                for j in range(g.kw):
                    offset_grid(dx_part[s], i, j, (g.ho, g.wo), (1, 1),
                                (g.dh, g.dw))[...] += dcols6[s, :, i, j]
        parallel_slices(back, s1 - s0, dcols.size * o)
    return np.ascontiguousarray(unpad(dxp, g.pads)), dweight, dbias

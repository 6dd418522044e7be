"""The samples-last layout: phase images with the samples innermost, exact columns.

The line layout's junk is Wq - Wo of every Wq columns: 4 of 14 for a 5x5 kernel on a
14x14 map.  Here the phases of the padded input are stored (sh, sw, C, Hq, Wq, N): what
kernel offset (i, j) reads for output row y is then one run of Wo*N values, and the
columns (C, kh, kw, Ho, Wo, N) hold no junk.  The price is a transposing copy each way
(x and the output in forward, dout and dx in backward), cheap on small maps.

Chosen for stride 1 when the line layout's columns would be mostly junk
(``TUNING.samples_last_min_junk``); it works for any stride.
"""

from __future__ import annotations

import numpy as np

from . import gemm
from .geometry import ConvGeometry, Saved
from .lines import gather_phases, scatter_phases
from .parallel import parallel_slices
from .tuning import TUNING
from .workspace import Workspace, chunks, rows_per_chunk

__all__ = ["forward", "backward"]


def _transpose_2d(dst: np.ndarray, src: np.ndarray) -> None:
    """``dst (B, A) = src (A, B).T``, a few rows of src at a time, split over threads."""
    blocks = chunks(src.shape[0], TUNING.transpose_rows)

    def copy(part):
        for a0, a1 in blocks[part]:
            np.copyto(dst[:, a0:a1], src[a0:a1].T)
    parallel_slices(copy, len(blocks), src.size)


def _exact_columns(xt: np.ndarray, g: ConvGeometry, y0: int, y1: int, ws: Workspace,
                   ones: bool) -> np.ndarray:
    """Columns (C*kh*kw [+ 1], (y1-y0)*Wo*N) of output rows y0:y1 from the phases xt
    (sh, sw, C, Hq, Wq, N); with ``ones`` a last row of ones (see :mod:`.gemm`)."""
    cols = ws.get("cols", (g.ckk + ones, (y1 - y0) * g.wo * g.n), xt.dtype)
    dst = cols[:g.ckk].reshape(g.c, g.kh, g.kw, y1 - y0, g.wo, g.n)
    reads = g.offset_reads()

    def copy(channels):  # per offset and output row: one run of Wo*N values
        for i, j, a, qi, b, qj in reads:
            np.copyto(dst[channels, i, j], xt[a, b, channels, y0 + qi:y1 + qi, qj:qj + g.wo])
    parallel_slices(copy, g.c, dst.size)
    if ones:
        cols[g.ckk] = 1
    return cols


def forward(x, weight, bias, g: ConvGeometry, ws: Workspace):
    """The convolution of x (N, C, H, W) in the samples-last layout: (out, :class:`Saved`)."""
    o = weight.shape[0]
    xt, _ = ws.get_zeroed("xt", (g.sh, g.sw, g.c, g.hq, g.wq, g.n), x.dtype,
                          key=(g.phases_key(), "samples last"))
    scatter_phases(x, g, xt.transpose(0, 1, 2, 3, 5, 4))
    w2 = gemm.with_bias(weight.reshape(o, g.ckk), bias)
    row = g.wo * g.n  # one output row of every sample
    wide = ws.get("out_wide", (o, g.ho * row), x.dtype)
    rows = rows_per_chunk(g.ho, w2.shape[1] * row * x.dtype.itemsize)
    cols = None
    for y0, y1 in chunks(g.ho, rows):
        cols = _exact_columns(xt, g, y0, y1, ws, ones=bias is not None)
        np.matmul(w2, cols, out=wide[:, y0 * row:y1 * row])
    out = np.empty((g.n, o, g.ho, g.wo), dtype=x.dtype)
    size = o * g.ho * g.wo
    _transpose_2d(out.reshape(g.n, size), wide.reshape(size, g.n))
    return out, Saved("samples_last", g, bias is not None, xt,
                      cols if rows >= g.ho else None)


def backward(dout, weight, saved: Saved, need_dx: bool, ws: Workspace):
    """Gradients of :func:`forward` for dout (N, O, Ho, Wo): (dx or None, dweight, dbias)."""
    g, xt, cols, has_bias = saved.g, saved.source, saved.cols, saved.has_bias
    o = weight.shape[0]
    row = g.wo * g.n
    dwide = ws.get("dout_wide", (o, g.ho, g.wo, g.n), dout.dtype)
    parallel_slices(lambda s: np.copyto(dwide[s], dout[:, s].transpose(1, 2, 3, 0)), o,
                    dout.size)
    dwide = dwide.reshape(o, g.ho * row)
    dw2 = np.zeros((o, g.ckk + has_bias), dtype=dout.dtype)
    rows = g.ho if cols is not None else \
        rows_per_chunk(g.ho, dw2.shape[1] * row * dout.dtype.itemsize)
    for y0, y1 in chunks(g.ho, rows):
        if rows < g.ho or cols is None:
            cols = _exact_columns(xt, g, y0, y1, ws, ones=has_bias)
        dw2 += gemm.weight_grad(dwide[:, y0 * row:y1 * row], cols, None)
    dweight, dbias = gemm.split_bias(dw2, g.ckk, weight.shape, has_bias)
    if not need_dx:
        return None, dweight, dbias
    dxt = ws.get("dxt", xt.shape, dout.dtype)
    images = dxt.reshape(g.sh * g.sw * g.c, -1)
    parallel_slices(lambda s: images[s].fill(0), images.shape[0], dxt.size)
    w2t = weight.reshape(o, g.ckk).T
    reads = g.offset_reads()
    rows = rows_per_chunk(g.ho, g.ckk * row * dout.dtype.itemsize, TUNING.dcols_bytes)
    for y0, y1 in chunks(g.ho, rows):
        dcols = ws.get("dcols", (g.ckk, (y1 - y0) * row), dout.dtype)
        np.matmul(w2t, dwide[:, y0 * row:y1 * row], out=dcols)
        dcols6 = dcols.reshape(g.c, g.kh, g.kw, y1 - y0, g.wo, g.n)

        def add(channels):  # offsets overlap: one add each; channels never do
            for i, j, a, qi, b, qj in reads:
                dxt[a, b, channels, y0 + qi:y1 + qi, qj:qj + g.wo] += dcols6[channels, i, j]
        parallel_slices(add, g.c, 2 * dcols.size)  # adds cost about two copies
    dx = gather_phases(dxt.transpose(0, 1, 2, 3, 5, 4), g,
                       np.empty((g.n, g.c, g.h, g.w), dtype=dout.dtype))
    return dx, dweight, dbias

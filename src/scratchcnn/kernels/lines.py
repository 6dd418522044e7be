"""The line layout: im2col on phase images stored rows outside, samples inside.

Each stride phase (see :mod:`.geometry`) is stored as (C, Hq, N, Wq), so one "line"
holds row y of every sample, N*Wq values.  Flattened, what kernel offset (i, j) reads
for output rows y0:y1 of the whole batch is then ONE contiguous run of (y1-y0)*N*Wq
values, so im2col and col2im are a few long copies and adds per channel, and the column
matrix (C*kh*kw, rows*N*Wq) meets the weights (O, C*kh*kw) in one GEMM.  In each line
the last Wq - Wo values of every sample are "junk" outputs that read into the next
sample: dropped in forward, fed zeros in backward.  Each (phase, channel) image ends in
``slack`` spare values, so channels never share memory and threads may add into
different channels at once.

Chosen for every convolution the other layouts do not take (``dispatch.conv_layout``).
"""

from __future__ import annotations

import numpy as np

from . import gemm
from .geometry import ConvGeometry, Saved
from .parallel import parallel_slices
from .tuning import TUNING
from .workspace import Workspace, assign, chunks, rows_per_chunk

__all__ = ["to_phases", "from_phases", "scatter_phases", "gather_phases", "im2col_lines",
           "col2im_lines", "forward", "backward"]


def to_phases(x: np.ndarray, g: ConvGeometry, out: np.ndarray, zeroed: bool = False) -> np.ndarray:
    """Write the zero-padded x (N, C, H, W) into ``out`` as phases (sh, sw, C, Hq, N, Wq) + slack.

    With ``zeroed`` the buffer already holds zeros everywhere but the positions written
    here (the same geometry wrote it last), so only x is copied.
    """
    if not zeroed:
        out.fill(0)
    scatter_phases(x, g, g.phase_images(out))
    return out


def from_phases(phases: np.ndarray, g: ConvGeometry, out: np.ndarray) -> np.ndarray:
    """The adjoint of :func:`to_phases`: the x (N, C, H, W) positions of a phase buffer."""
    return gather_phases(g.phase_images(phases), g, out)


def scatter_phases(x: np.ndarray, g: ConvGeometry, images: np.ndarray) -> None:
    """Copy x (N, C, H, W) into its places in phase images (sh, sw, C, Hq, N, Wq), a view
    in any memory order."""
    x_chnw = x.transpose(1, 2, 0, 3)
    copies = list(g.phase_copies())

    def copy(channels):
        for a, b, xr, xc, pr, pc in copies:
            images[a, b, channels, pr, :, pc] = x_chnw[channels, xr, :, xc]
    parallel_slices(copy, g.c, x.size)


def gather_phases(images: np.ndarray, g: ConvGeometry, out: np.ndarray) -> np.ndarray:
    """The adjoint of :func:`scatter_phases`: the x (N, C, H, W) positions of the images."""
    out_chnw = out.transpose(1, 2, 0, 3)
    copies = list(g.phase_copies())

    def copy(channels):
        for a, b, xr, xc, pr, pc in copies:
            out_chnw[channels, xr, :, xc] = images[a, b, channels, pr, :, pc]
    parallel_slices(copy, g.c, out.size)
    return out


def im2col_lines(phases: np.ndarray, g: ConvGeometry, y0: int = 0, y1: int | None = None,
                 out: np.ndarray | None = None) -> np.ndarray:
    """Columns (C, kh, kw, (y1-y0)*N*Wq) of output rows y0:y1 from a phase buffer."""
    y1 = g.ho if y1 is None else y1
    if out is None:
        out = np.empty((g.c, g.kh, g.kw, (y1 - y0) * g.line), dtype=phases.dtype)
    groups = [(rows, cols, g.group_view(phases, rows, cols, y0, y1))
              for rows, cols in g.offset_groups()]

    def copy(part):  # a range of positions, for every channel and offset
        for rows, cols, view in groups:
            np.copyto(out[:, rows, cols, part], view[..., part])
    parallel_slices(copy, out.shape[3], out.size)
    return out


def col2im_lines(cols: np.ndarray, g: ConvGeometry, phases: np.ndarray, y0: int = 0,
                 y1: int | None = None) -> np.ndarray:
    """Adjoint of :func:`im2col_lines`: add columns (C, kh, kw, (y1-y0)*N*Wq) into ``phases``."""
    y1 = g.ho if y1 is None else y1
    views = [(i, j, g.group_view(phases, slice(i, i + 1), slice(j, j + 1), y0, y1,
                                 writeable=True)[:, 0, 0])
             for i in range(g.kh) for j in range(g.kw)]

    def add(channels):  # overlapping offsets: one add each; channels never overlap
        for i, j, view in views:
            view[channels] += cols[channels, i, j]
    parallel_slices(add, g.c, cols.size)
    return phases


def _columns(phases: np.ndarray, g: ConvGeometry, y0: int, y1: int, ws: Workspace,
             ones: bool) -> np.ndarray:
    """Column matrix (C*kh*kw [+ 1], (y1-y0)*N*Wq) of output rows y0:y1, in the workspace;
    with ``ones`` a last row of ones (see :mod:`.gemm`)."""
    length = (y1 - y0) * g.line
    cols = ws.get("cols", (g.ckk + ones, length), phases.dtype)
    im2col_lines(phases, g, y0, y1, out=cols[:g.ckk].reshape(g.c, g.kh, g.kw, length))
    if ones:
        cols[g.ckk] = 1
    return cols


def forward(x, weight, bias, g: ConvGeometry, ws: Workspace):
    """The convolution of x (N, C, H, W) in the line layout: (out, :class:`Saved`)."""
    o = weight.shape[0]
    phases, zeroed = ws.get_zeroed("phases", (g.phases_size,), x.dtype, key=g.phases_key())
    to_phases(x, g, phases, zeroed)
    w2 = gemm.with_bias(weight.reshape(o, g.ckk), bias)
    piece = gemm.piece(o, g.ckk, g.line, backward=False)
    wide = ws.get("out_wide", (o, g.ho * g.line), x.dtype)
    rows = rows_per_chunk(g.ho, w2.shape[1] * g.line * x.dtype.itemsize)
    cols = None
    for y0, y1 in chunks(g.ho, rows):  # one pass unless the columns would exceed the bound
        cols = _columns(phases, g, y0, y1, ws, ones=bias is not None)
        gemm.product(w2, cols, wide[:, y0 * g.line:y1 * g.line], piece)
    out = np.empty((g.n, o, g.ho, g.wo), dtype=x.dtype)
    assign(out, wide.reshape(o, g.ho, g.n, g.wq)[..., :g.wo].transpose(2, 0, 1, 3))
    return out, Saved("lines", g, bias is not None, phases, cols if rows >= g.ho else None)


def backward(dout, weight, saved: Saved, need_dx: bool, ws: Workspace):
    """Gradients of :func:`forward` for dout (N, O, Ho, Wo): (dx or None, dweight, dbias)."""
    g, phases, cols, has_bias = saved.g, saved.source, saved.cols, saved.has_bias
    o = weight.shape[0]
    w2 = weight.reshape(o, g.ckk)
    piece = gemm.piece(o, g.ckk, g.line, backward=True)
    # dout laid out like the columns, (O, Ho, N, Wq); the junk columns are never written,
    # so they keep the zeros the buffer got when this geometry first used it
    dwide, _ = ws.get_zeroed("dout_wide", (o, g.ho, g.n, g.wq), dout.dtype, key=(g.wo, "dout"))
    assign(dwide[..., :g.wo], dout.transpose(1, 2, 0, 3))
    dwide = dwide.reshape(o, g.ho * g.line)
    dw2 = np.zeros((o, g.ckk + has_bias), dtype=dout.dtype)
    row_bytes = dw2.shape[1] * g.line * dout.dtype.itemsize
    rows = g.ho if cols is not None else rows_per_chunk(g.ho, row_bytes)
    for zero_junk in (False, True):
        if zero_junk:  # 0 * inf or NaN may come from the junk: then once more without it
            if np.isfinite(dw2).all():
                break
            dw2[...] = 0
        for y0, y1 in chunks(g.ho, rows):
            if rows < g.ho or cols is None or zero_junk:
                cols = _columns(phases, g, y0, y1, ws, ones=has_bias)
            if zero_junk:
                cols.reshape(cols.shape[0], y1 - y0, g.n, g.wq)[..., g.wo:] = 0
            dw2 += gemm.weight_grad(dwide[:, y0 * g.line:y1 * g.line], cols, piece)
    dweight, dbias = gemm.split_bias(dw2, g.ckk, weight.shape, has_bias)
    dx = None
    if need_dx:
        dphases = ws.get("dphases", (g.phases_size,), dout.dtype)
        images = dphases.reshape(g.sh * g.sw * g.c, g.row)
        parallel_slices(lambda r: images[r].fill(0), images.shape[0], dphases.size)
        # dcols is added into dphases as soon as it is made: small chunks stay in cache
        rows = rows_per_chunk(g.ho, g.ckk * g.line * dout.dtype.itemsize, TUNING.dcols_bytes)
        for y0, y1 in chunks(g.ho, rows):
            dcols = ws.get("dcols", (g.ckk, (y1 - y0) * g.line), dout.dtype)
            gemm.product(w2.T, dwide[:, y0 * g.line:y1 * g.line], dcols, piece)
            col2im_lines(dcols.reshape(g.c, g.kh, g.kw, -1), g, dphases, y0, y1)
        dx = from_phases(dphases, g, np.empty((g.n, g.c, g.h, g.w), dout.dtype))
    return dx, dweight, dbias

"""A convolution and the max-pool after it, computed together by phases.

When a p x p max-pool of stride p follows a convolution (LeNet-5's first layer, the
first block of the batch-norm nets), the pool's window (py, px) holds the convolution's
outputs at rows ``p*py + a`` and columns ``p*px + b``, for the p*p *phases* (a, b).  The
outputs of one phase form a convolution of its own, of stride p*s: output (py, px) of
phase (a, b) reads input row ``s*p*py + s*a + d*i`` for kernel row i (s the stride, d the
dilation).  All phases read the same ``U = s*(p-1) + d*(kh-1) + 1`` rows (likewise V
columns) past ``s*p*py``, so one column matrix serves them all::

    P[(c, u, v), (n, py, px)] = xp[n, c, s*p*py + u, s*p*px + v]
    W[(a, b, o), (c, u, v)]   = w[o, c, i, j]   where u = s*a + d*i, v = s*b + d*j (else 0)
    Y = W @ P                   (p*p*O, N*Hpo*Wpo): the convolution's output, phase by phase
    pooled = the maximum over Y's p*p blocks of rows

W does (U*V) / (kh*kw) times the multiply-adds of the plain convolution (1.44 for 5x5,
p = 2), but P holds only U*V values a pooled pixel instead of p*p*kh*kw (36 against
100), and the pool then compares and routes whole contiguous blocks, where on NCHW maps
it reads and writes every p-th value.  Backward: dY is dpooled in the block of the
window's first maximum (row-major window order, as :class:`MaxPool2d`), dW = dY @ P^T
summed back over the phases, dx = W^T @ dY added back where P was read.

As in the other layouts, P ends in a row of ones and W in a column of biases.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided

from . import functional as F
from .parallel import parallel_slices

#: Phases are used when the column matrix has at most this many rows (C*U*V).  Measured in
#: training steps: LeNet-5's first layer (36 rows) 9.9 -> 8.4 ms a step, convnet_bn_mini's
#: first (16 rows) 12.0 -> 10.8 ms; with LeNet-5's second (216) or convnet_bn_mini's
#: second (384) fused as well, both steps were slower (8.5 -> 9.0, 11.7 -> 11.9 ms).
MAX_ROWS = 64
#: Columns (pooled pixels) per product of the weight gradient, which has a long inner
#: dimension: OpenBLAS runs (24, 25088) @ (25088, 37) at a third of its usual speed, a
#: batch of products of ~400 columns each at full speed.
GRAD_COLUMNS = 392


class Geometry:
    """Sizes of one convolution + pool call (see the module docstring for the names)."""

    def __init__(self, x_shape: tuple, kernel_size: F.Pair, stride: F.Pair, pads: F.Pads,
                 dilation: F.Pair, pool: F.Pair):
        self.conv = g = F.ConvGeometry(x_shape, kernel_size, stride, pads, dilation)
        self.n, self.c = g.n, g.c
        self.ph, self.pw = pool
        self.hpo, self.wpo = g.ho // self.ph, g.wo // self.pw  # the pool's floor mode
        self.u = g.sh * (self.ph - 1) + g.dh * (g.kh - 1) + 1
        self.v = g.sw * (self.pw - 1) + g.dw * (g.kw - 1) + 1
        self.rows = self.c * self.u * self.v
        self.phases = self.ph * self.pw
        self.pixels = self.hpo * self.wpo  # pooled pixels of one sample and channel


def applies(geo: Geometry) -> bool:
    """Whether the convolution and max-pool of ``geo`` are best computed together."""
    return min(geo.ph, geo.pw) >= 2 and geo.hpo >= 1 and geo.wpo >= 1 and geo.rows <= MAX_ROWS


def phase_weights(weight: np.ndarray, bias: np.ndarray | None, geo: Geometry) -> np.ndarray:
    """W (p*p*O, C*U*V [+ 1]) of weight (O, C, kh, kw) (see the module docstring)."""
    o = weight.shape[0]
    wm = np.zeros((geo.ph, geo.pw, o, geo.rows + (bias is not None)), weight.dtype)
    for block in _weight_blocks(wm, geo):
        block[...] = weight
    if bias is not None:
        wm[..., geo.rows] = bias
    return wm.reshape(geo.phases * o, wm.shape[-1])


def _weight_blocks(wm: np.ndarray, geo: Geometry):
    """For each phase (a, b): the view (O, C, kh, kw) of wm (p, p, O, rows [+ 1]) that
    holds the kernel's weights for that phase."""
    g = geo.conv
    for a in range(geo.ph):
        for b in range(geo.pw):
            cuv = wm[a, b, :, :geo.rows].reshape(-1, geo.c, geo.u, geo.v)
            yield cuv[:, :, g.sh * a:g.sh * a + g.dh * (g.kh - 1) + 1:g.dh,
                            g.sw * b:g.sw * b + g.dw * (g.kw - 1) + 1:g.dw]


def _reads(xp: np.ndarray, geo: Geometry) -> np.ndarray:
    """View (C, U, V, N, Hpo, Wpo) of the padded xp (N, C, Hp, Wp): what P's rows read."""
    g = geo.conv
    s_n, s_c, s_h, s_w = xp.strides
    return as_strided(xp, (geo.c, geo.u, geo.v, xp.shape[0], geo.hpo, geo.wpo),
                      (s_c, s_h, s_w, s_n, g.sh * geo.ph * s_h, g.sw * geo.pw * s_w),
                      writeable=xp.flags.writeable)


def phase_columns(xp: np.ndarray, geo: Geometry, s0: int, s1: int, out: np.ndarray,
                  ones: bool) -> np.ndarray:
    """P (C*U*V [+ 1], (s1-s0)*Hpo*Wpo) of samples s0:s1 of the padded xp, into ``out``."""
    m = s1 - s0
    dst = out[:geo.rows].reshape(geo.c, geo.u, geo.v, m, geo.hpo, geo.wpo)
    np.copyto(dst, _reads(xp[s0:s1], geo))
    if ones:
        out[geo.rows] = 1
    return out


def conv_pool_forward(x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None,
                      stride: F.Pair, pads: F.Pads, dilation: F.Pair, pool: F.Pair,
                      workspace: F.Workspace | None = None):
    """max_pool2d(conv2d(x)) for x (N, C, H, W): (N, O, Ho // p, Wo // p), and what
    :func:`conv_pool_backward` needs."""
    ws = workspace if workspace is not None else F.Workspace()
    geo = Geometry(x.shape, weight.shape[2:], stride, pads, dilation, pool)
    o, width = weight.shape[0], geo.n * geo.pixels
    xp = F.pad(x, pads, workspace=ws)
    wm = phase_weights(weight, bias, geo)
    y = np.empty((geo.phases, o, width), x.dtype)
    y2 = y.reshape(geo.phases * o, width)
    per = F._samples_per_chunk(geo.n, wm.shape[1] * geo.pixels, x.dtype.itemsize,
                               F.MAX_COLUMN_BYTES)
    cols = None
    for s0, s1 in F._chunks(geo.n, per):
        cols = ws.get("cols", (wm.shape[1], (s1 - s0) * geo.pixels), x.dtype)
        phase_columns(xp, geo, s0, s1, cols, ones=bias is not None)
        np.matmul(wm, cols, out=y2[:, s0 * geo.pixels:s1 * geo.pixels])
    pooled = y[0].copy()
    for k in range(1, geo.phases):
        np.maximum(pooled, y[k], out=pooled)
    out = np.empty((geo.n, o, geo.hpo, geo.wpo), x.dtype)
    np.copyto(out, pooled.reshape(o, geo.n, geo.hpo, geo.wpo).transpose(1, 0, 2, 3))
    return out, (geo, xp, cols if per >= geo.n else None, y, pooled)


def conv_pool_backward(dout: np.ndarray, weight: np.ndarray, saved, has_bias: bool = True,
                       need_dx: bool = True, workspace: F.Workspace | None = None):
    """Gradients of :func:`conv_pool_forward` for dout (N, O, Hpo, Wpo): (dx or None,
    dweight, dbias or None)."""
    ws = workspace if workspace is not None else F.Workspace()
    geo, xp, cols, y, pooled = saved
    o, width = weight.shape[0], geo.n * geo.pixels
    d_pooled = np.empty((o, width), dout.dtype)
    np.copyto(d_pooled.reshape(o, geo.n, geo.hpo, geo.wpo), dout.transpose(1, 0, 2, 3))
    dy = np.empty(y.shape, d_pooled.dtype)
    F.route_max(d_pooled, y, pooled, dy)
    dy2 = dy.reshape(geo.phases * o, width)
    k = geo.rows + has_bias
    if cols is not None and cols.shape[0] != k:  # forward ran without a bias
        cols = None
    per = geo.n if cols is not None else \
        F._samples_per_chunk(geo.n, k * geo.pixels, dout.dtype.itemsize, F.MAX_COLUMN_BYTES)
    dwm = np.zeros((geo.phases * o, k), dout.dtype)
    for s0, s1 in F._chunks(geo.n, per):
        if cols is None or per < geo.n:
            cols = ws.get("cols", (k, (s1 - s0) * geo.pixels), dout.dtype)
            phase_columns(xp, geo, s0, s1, cols, ones=has_bias)
        dwm += _grad_product(dy2[:, s0 * geo.pixels:s1 * geo.pixels], cols)
    dwm = dwm.reshape(geo.ph, geo.pw, o, k)
    dweight = np.zeros(weight.shape, dout.dtype)
    for block in _weight_blocks(dwm, geo):
        dweight += block
    dbias = dwm[..., geo.rows].sum(axis=(0, 1)) if has_bias else None
    if not need_dx:
        return None, dweight, dbias
    wm = phase_weights(weight, None, geo)
    dxp = np.zeros(xp.shape, dout.dtype)
    dreads = _reads(dxp, geo)
    dcols = (wm.T @ dy2).reshape(geo.c, geo.u, geo.v, geo.n, geo.hpo, geo.wpo)
    for u in range(geo.u):  # reads of different (u, v) overlap: one add each
        for v in range(geo.v):
            dreads[:, u, v] += dcols[:, u, v]
    return np.ascontiguousarray(F.unpad(dxp, geo.conv.pads)), dweight, dbias


def _grad_product(dy2: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """dy2 (R, L) @ cols (K, L)^T as a sum of products of about GRAD_COLUMNS columns."""
    rows, length = dy2.shape
    size = max(1, min(length, GRAD_COLUMNS))
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

"""Pure NumPy kernels: sliding windows, convolution and pooling, forward and backward.

Nothing here holds parameters or state; the layer classes in :mod:`scratchcnn.layers`
call these functions and cache what backward needs.  All arrays are NCHW.  Every kernel
keeps the dtype of its inputs (float32 or float64).

The convolution is im2col + matrix products, in one of three layouts (the line layout,
the per-sample layout for first layers with few values per window, and the samples-last
layout for small maps where lines would carry much junk; see their comments below and
:func:`conv_layout`), or, for small maps and wide kernels, one product with a banded
weight matrix (:mod:`scratchcnn.conv_banded`).  The reference ``im2col`` keeps the
column tensor 6-D in the order ``(C, kh, kw, N, Ho, Wo)``: then the weights
``(O, C, kh, kw)`` reshape to a ``(O, C*kh*kw)`` matrix that meets the columns in a
single GEMM, and the copy that builds the columns walks the input along its rows.
``col2im`` is the *adjoint* of ``im2col`` (it adds every column entry back where it was
read from), not its inverse: where windows overlap, a pixel receives the sum of all its
copies.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.lib.stride_tricks import as_strided

from .parallel import parallel_slices

Pads = tuple[tuple[int, int], tuple[int, int]]
Pair = tuple[int, int]

#: Upper bound, in bytes, of one column buffer.  Larger batches are processed in chunks
#: of samples, so a VGG-sized layer never needs more than this for its columns.
MAX_COLUMN_BYTES = 32 * 2**20
#: Bound of one chunk of column gradients: they are added back into the image while still
#: in cache.
DCOLS_BYTES = 8 * 2**20


class Workspace:
    """Named scratch buffers reused between calls (fresh pages cost more than the math)."""

    def __init__(self):
        self._buffers: dict[str, np.ndarray] = {}
        self._keys: dict[str, tuple] = {}

    def get(self, name: str, shape: tuple, dtype) -> np.ndarray:
        """An uninitialised array of ``shape``; the same memory as last time if it fits."""
        size = int(np.prod(shape))
        buf = self._buffers.get(name)
        if buf is None or buf.dtype != dtype or buf.size < size:
            buf = np.empty(size, dtype=dtype)
            self._buffers[name] = buf
        return buf[:size].reshape(shape)

    def get_zeroed(self, name: str, shape: tuple, dtype, key) -> tuple[np.ndarray, bool]:
        """A buffer and whether it is still as the last caller with the same ``key`` left it.

        A caller that writes the same positions every time (the interior of a padded map)
        zeroes the buffer once, when this returns False, and keeps its borders at zero.
        """
        buf = self.get(name, shape, dtype)
        same = self._keys.get(name) == (key, buf.__array_interface__["data"][0], shape, dtype)
        self._keys[name] = (key, buf.__array_interface__["data"][0], shape, dtype)
        if not same:
            buf.fill(0)
        return buf, same

    def clear(self) -> None:
        self._buffers.clear()
        self._keys.clear()


def _scratch(workspace: Workspace | None, name: str, shape: tuple, dtype):
    return np.empty(shape, dtype) if workspace is None else workspace.get(name, shape, dtype)


# --------------------------------------------------------------------------- geometry

def output_hw(hp: int, wp: int, kernel_size: Pair, stride: Pair, dilation: Pair) -> Pair:
    """Output (Ho, Wo) of a window of ``kernel_size`` sliding over an already padded map."""
    (kh, kw), (sh, sw), (dh, dw) = kernel_size, stride, dilation
    return (hp - dh * (kh - 1) - 1) // sh + 1, (wp - dw * (kw - 1) - 1) // sw + 1


def pad(x: np.ndarray, pads: Pads, value=0.0, workspace: Workspace | None = None,
        name: str = "padded") -> np.ndarray:
    """``x`` (N, C, H, W) with ``pads = ((top, bottom), (left, right))`` of ``value`` around it."""
    (pt, pb), (pl, pr) = pads
    if pt == pb == pl == pr == 0:
        return x
    n, c, h, w = x.shape
    xp = _scratch(workspace, name, (n, c, h + pt + pb, w + pl + pr), x.dtype)
    xp[:, :, :pt] = value
    xp[:, :, pt + h:] = value
    xp[:, :, pt:pt + h, :pl] = value
    xp[:, :, pt:pt + h, pl + w:] = value
    xp[:, :, pt:pt + h, pl:pl + w] = x
    return xp


def unpad(xp: np.ndarray, pads: Pads) -> np.ndarray:
    """The interior of a padded (N, C, Hp, Wp) map: the inverse view of :func:`pad`."""
    (pt, pb), (pl, pr) = pads
    return xp[:, :, pt:xp.shape[2] - pb, pl:xp.shape[3] - pr]


def offset_grid(xp: np.ndarray, i: int, j: int, out_hw: Pair, stride: Pair = (1, 1),
                dilation: Pair = (1, 1)) -> np.ndarray:
    """Writable view (..., Ho, Wo) of the padded-map positions that kernel offset (i, j) reads.

    ``offset_grid(xp, i, j, ...)[..., y, x] is xp[..., y*sh + i*dh, x*sw + j*dw]``.
    """
    (ho, wo), (sh, sw), (dh, dw) = out_hw, stride, dilation
    return xp[..., i * dh:i * dh + sh * (ho - 1) + 1:sh, j * dw:j * dw + sw * (wo - 1) + 1:sw]


# --------------------------------------------------------------------------- windows

def sliding_windows(xp: np.ndarray, kernel_size: Pair, stride: Pair = (1, 1),
                    dilation: Pair = (1, 1)) -> np.ndarray:
    """Read-only view (N, C, kh, kw, Ho, Wo) of all windows of a padded xp (N, C, Hp, Wp).

    ``view[n, c, i, j, y, x] == xp[n, c, y*sh + i*dh, x*sw + j*dw]``; no data is copied.
    """
    n, c, hp, wp = xp.shape
    ho, wo = output_hw(hp, wp, kernel_size, stride, dilation)
    s_n, s_c, s_h, s_w = xp.strides
    shape = (n, c, kernel_size[0], kernel_size[1], ho, wo)
    strides = (s_n, s_c, s_h * dilation[0], s_w * dilation[1], s_h * stride[0], s_w * stride[1])
    return as_strided(xp, shape, strides, writeable=False)


def im2col(xp: np.ndarray, kernel_size: Pair, stride: Pair = (1, 1),
           dilation: Pair = (1, 1), out: np.ndarray | None = None) -> np.ndarray:
    """Columns (C, kh, kw, N, Ho, Wo) of a padded xp (N, C, Hp, Wp): every window, copied."""
    windows = sliding_windows(xp, kernel_size, stride, dilation).transpose(1, 2, 3, 0, 4, 5)
    if out is None:
        out = np.empty(windows.shape, dtype=xp.dtype)
    np.copyto(out, windows)
    return out


def col2im(cols: np.ndarray, padded_shape: tuple, stride: Pair = (1, 1),
           dilation: Pair = (1, 1), out: np.ndarray | None = None) -> np.ndarray:
    """Adjoint of :func:`im2col`: sum columns (C, kh, kw, N, Ho, Wo) into (N, C, Hp, Wp).

    ``<im2col(x), y> == <x, col2im(y)>`` for all x, y.  Loops over kernel offsets only;
    each offset adds one strided sub-grid of the output at once.
    """
    c, kh, kw, n, ho, wo = cols.shape
    if out is None:
        out = np.zeros(padded_shape, dtype=cols.dtype)
    else:
        out.fill(0)
    out_t = out.transpose(1, 0, 2, 3)  # (C, N, Hp, Wp) view, to match the columns' order
    for i in range(kh):
        for j in range(kw):
            offset_grid(out_t, i, j, (ho, wo), stride, dilation)[...] += cols[:, i, j]
    return out


# --------------------------------------------------------------------------- convolution
#
# The fast path.  A stride-s convolution is a sum of stride-1 convolutions over the s*s
# "phases" of the padded input (phase (a, b) holds the pixels at rows a, a+s, ... and
# columns b, b+s, ...).  Kernel offset (i, j) reads phase ((i*dh) % sh, (j*dw) % sw)
# shifted by ((i*dh) // sh, (j*dw) // sw).
#
# Each phase is stored rows-outside, samples-inside: (C, Hq, N, Wq), so that one "line"
# holds row y of every sample, N*Wq values.  Flattened, the values that kernel offset
# (i, j) needs for output rows y0:y1 of every sample are then ONE contiguous run of
# (y1-y0)*N*Wq values, starting (y0 + qi)*N*Wq + qj into the phase.  In each line the first
# Wo values of every sample are real outputs and the last Wq - Wo are "junk" that read
# into the next sample: they cost a little extra GEMM work and are dropped; in backward
# they are fed zeros, so they add nothing.  So im2col and col2im are a few long copies
# and adds per channel, and the column matrix (C*kh*kw, rows*N*Wq) meets the weights
# (O, C*kh*kw) in one GEMM.  Large layers go in chunks of output rows.
#
# Each (phase, channel) image ends in ``slack`` spare values (the last run of the last
# line spills that far past it): channels never share memory, so threads may add into
# different channels at once.


class ConvGeometry:
    """Sizes of one convolution call (see the comment above for phases and lines)."""

    def __init__(self, x_shape, kernel_size: Pair, stride: Pair, pads: Pads, dilation: Pair):
        self.n, self.c, self.h, self.w = x_shape
        (self.kh, self.kw), (self.sh, self.sw), (self.dh, self.dw) = kernel_size, stride, dilation
        self.pads = pads
        self.hp = hp = self.h + pads[0][0] + pads[0][1]
        self.wp = wp = self.w + pads[1][0] + pads[1][1]
        self.ho, self.wo = output_hw(hp, wp, kernel_size, stride, dilation)
        self.hq, self.wq = -(-hp // self.sh), -(-wp // self.sw)  # phase image size
        self.line = self.n * self.wq  # one row of every sample
        # the last run of an image reads this far past the image's end
        self.slack = self.dw * (self.kw - 1) // self.sw
        self.row = self.hq * self.line + self.slack  # one (phase, channel) image and slack
        self.phases_size = self.sh * self.sw * self.c * self.row
        self.ckk = self.c * self.kh * self.kw
        self.layout: str | None = None  # set by conv2d_forward: the layout it ran in

    def phases_key(self) -> tuple:
        """Everything that decides which phase-buffer positions hold x."""
        return (self.n, self.c, self.h, self.w, self.sh, self.sw, self.pads, self.hq, self.wq,
                self.slack)

    def phase_copies(self):
        """For each phase: (a, b, x rows, x cols, phase rows, phase cols) slices."""
        (pt, _), (pl, _) = self.pads
        for a in range(self.sh):
            r0 = (a - pt) % self.sh
            rows = range(r0, self.h, self.sh)
            for b in range(self.sw):
                c0 = (b - pl) % self.sw
                cols = range(c0, self.w, self.sw)
                if len(rows) and len(cols):
                    y0, x0 = (r0 + pt) // self.sh, (c0 + pl) // self.sw
                    yield (a, b, slice(r0, None, self.sh), slice(c0, None, self.sw),
                           slice(y0, y0 + len(rows)), slice(x0, x0 + len(cols)))

    def phase_images(self, phases: np.ndarray) -> np.ndarray:
        """Writable view (sh, sw, C, Hq, N, Wq) of the images in a phase buffer."""
        item = phases.itemsize
        return as_strided(phases, (self.sh, self.sw, self.c, self.hq, self.n, self.wq),
                          (self.sw * self.c * self.row * item, self.c * self.row * item,
                           self.row * item, self.line * item, self.wq * item, item))

    def offset_groups(self):
        """Slices (rows, cols) of kernel offsets whose runs lie evenly spaced in one phase.

        Offsets i, i + T, i + 2T, ... with T = sh / gcd(dh, sh) read the same phase, each
        ``dh / gcd(dh, sh)`` phase rows below the last (likewise for columns); so one
        strided view covers them all.  With stride 1 a single group holds every offset.
        """
        ti = self.sh // math.gcd(self.dh, self.sh)
        tj = self.sw // math.gcd(self.dw, self.sw)
        for i0 in range(min(ti, self.kh)):
            for j0 in range(min(tj, self.kw)):
                yield slice(i0, self.kh, ti), slice(j0, self.kw, tj)

    def group_view(self, phases: np.ndarray, rows: slice, cols: slice, y0: int, y1: int,
                   writeable: bool = False) -> np.ndarray:
        """View (C, len(rows), len(cols), (y1-y0)*N*Wq) of one offset group's runs.

        Entry [c, i, j, q] is what kernel offset (rows[i], cols[j]) of channel c reads for
        output position q of output rows y0:y1.
        """
        i0, j0 = rows.start, cols.start
        ni = len(range(self.kh)[rows])
        nj = len(range(self.kw)[cols])
        a, si = divmod(i0 * self.dh, self.sh)[::-1]
        b, sj = divmod(j0 * self.dw, self.sw)[::-1]
        first = (a * self.sw + b) * self.c * self.row + (si + y0) * self.line + sj
        step_i = (rows.step or 1) * self.dh // self.sh * self.line
        step_j = (cols.step or 1) * self.dw // self.sw
        item = phases.itemsize
        return as_strided(phases[first:], (self.c, ni, nj, (y1 - y0) * self.line),
                          (self.row * item, step_i * item, step_j * item, item),
                          writeable=writeable)


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


def assign(dst: np.ndarray, src: np.ndarray) -> None:
    """``dst[...] = src`` for arrays of one shape, split over threads along axis 0."""
    parallel_slices(lambda s: np.copyto(dst[s], src[s]), dst.shape[0], dst.size)


def _rows_per_chunk(rows: int, row_bytes: int, bound: int | None = None) -> int:
    """Output rows per chunk so that a chunk's columns stay within ``bound`` bytes.

    The rows are split into equal chunks (BLAS runs best on equal-sized products).
    """
    bound = MAX_COLUMN_BYTES if bound is None else bound
    most = max(1, min(rows, bound // max(row_bytes, 1)))
    return -(-rows // -(-rows // most))


def _chunks(length: int, size: int):
    """(start, stop) of consecutive chunks of ``size`` covering range(length)."""
    return [(start, min(length, start + size)) for start in range(0, length, size)]


def _columns(phases: np.ndarray, g: ConvGeometry, y0: int, y1: int, ws: Workspace,
             ones: bool) -> np.ndarray:
    """Column matrix (C*kh*kw [+ 1], (y1-y0)*N*Wq) of output rows y0:y1, in the workspace.

    With ``ones`` a last row of ones is appended: against a bias column appended to the
    weights, the forward product adds the bias, and the weight-gradient product yields
    the bias gradient (the sum of dout) as one more column, without a pass of their own.
    """
    length = (y1 - y0) * g.line
    cols = ws.get("cols", (g.ckk + ones, length), phases.dtype)
    im2col_lines(phases, g, y0, y1, out=cols[:g.ckk].reshape(g.c, g.kh, g.kw, length))
    if ones:
        cols[g.ckk] = 1
    return cols


#: Column count of one product when a GEMM is split into many (see :func:`_piece`).
PIECE_COLUMNS = 2048


def _piece(out_channels: int, ckk: int, line: int, backward: bool) -> int | None:
    """Columns per product when a GEMM with weights (O, C*kh*kw) runs best split, else None.

    OpenBLAS is slow on a product whose small side is tiny and whose long side is huge,
    e.g. (6, 25) @ (25, 114688), LeNet's first layer in this layout: there, a batch of products of
    ~2000 columns is up to 2.5x faster.  For larger weights one whole product wins.  The
    thresholds come from ``benchmarks/bench_layers.py``'s shapes on OpenBLAS 0.3.  The
    piece divides ``line``, so it divides every chunk of whole lines.
    """
    if out_channels * ckk > (1024 if backward else 256) or line == 0:  # 0: an empty batch
        return None
    best = max(d for d in _divisors(line) if d <= PIECE_COLUMNS)
    return best if best >= 256 else None


def _divisors(n: int) -> list[int]:
    small = [d for d in range(1, math.isqrt(n) + 1) if n % d == 0]
    return small + [n // d for d in small]


#: The banded layout (:mod:`scratchcnn.conv_banded`) is used when its multiply-adds are at
#: most this many times those of im2col (Wp / kw, the padded width over the kernel width),
BANDED_MAX_WASTE = 3.0
#: the kernel is at least this wide (its R is kw times smaller than im2col's columns) ...
BANDED_MIN_KERNEL = 5
#: ... and a window holds at most this many values (beyond, im2col's products are large
#: enough to run well).  Measured fwd+bwd against the best other layout, batch 128: 0.72-0.92x
#: for 5x5 kernels with C*kh*kw <= 150-800 on 12x12 and 14x14 maps (LeNet conv2: 0.87x),
#: but 1.0-1.2x at C*kh*kw = 400-1600, and 1.06-1.6x for every 3x3 kernel.
BANDED_MAX_CKK = 320


def conv_layout(g: ConvGeometry, finite: bool = True) -> str:
    """The layout the convolution of geometry ``g`` runs in: ``"per_sample"`` (stride 1,
    few values a window), ``"banded"`` (small maps, wide kernels), ``"samples_last"``
    (stride 1, much junk in lines) or ``"lines"`` (the thresholds are module constants,
    measured on this project's machine).  Not for an input that is not ``finite``:
    banded multiplies every value of a row by the band's zeros, and 0 * inf is NaN."""
    if g.sh == g.sw == 1 and g.ckk <= PER_SAMPLE_MAX_CKK and g.ho * g.wo >= PER_SAMPLE_MIN_PIXELS:
        return "per_sample"
    if g.wp <= BANDED_MAX_WASTE * g.kw and g.kw >= BANDED_MIN_KERNEL and \
            g.ckk <= BANDED_MAX_CKK and finite:
        return "banded"
    if max(g.sh, g.sw) <= SAMPLES_LAST_MAX_STRIDE and g.wq - g.wo >= SAMPLES_LAST_MIN_JUNK * g.wq:
        return "samples_last"
    return "lines"


def conv2d_forward(x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None,
                   stride: Pair = (1, 1), pads: Pads = ((0, 0), (0, 0)),
                   dilation: Pair = (1, 1), workspace: Workspace | None = None):
    """Cross-correlation of x (N, C, H, W) with weight (O, C, kh, kw), plus bias (O,).

    Returns ``(out, saved)``: out is (N, O, Ho, Wo); ``saved`` is what
    :func:`conv2d_backward` needs (the geometry, the phase buffer and, when the layer was
    small enough to take in one chunk, the columns).
    """
    ws = workspace if workspace is not None else Workspace()
    o = weight.shape[0]
    g = ConvGeometry(x.shape, weight.shape[2:], stride, pads, dilation)
    g.layout = layout = conv_layout(g)
    if layout == "banded" and not np.isfinite(x).all():
        g.layout = layout = conv_layout(g, finite=False)
    if layout == "per_sample":
        return _forward_per_sample(x, weight, bias, g, ws)
    if layout == "samples_last":
        return _forward_samples_last(x, weight, bias, g, ws)
    if layout == "banded":
        return conv_banded.forward_banded(x, weight, bias, g, ws)
    phases, zeroed = ws.get_zeroed("phases", (g.phases_size,), x.dtype, key=g.phases_key())
    to_phases(x, g, phases, zeroed)
    w2 = weight.reshape(o, g.ckk)
    if bias is not None:  # the bias meets the row of ones of the columns
        w2 = np.concatenate([w2, bias[:, None]], axis=1)
    piece = _piece(o, g.ckk, g.line, backward=False)
    wide = ws.get("out_wide", (o, g.ho * g.line), x.dtype)
    rows = _rows_per_chunk(g.ho, w2.shape[1] * g.line * x.dtype.itemsize)
    cols = None
    for y0, y1 in _chunks(g.ho, rows):  # one pass unless the columns would exceed the bound
        cols = _columns(phases, g, y0, y1, ws, ones=bias is not None)
        _product(w2, cols, wide[:, y0 * g.line:y1 * g.line], piece)
    out = np.empty((g.n, o, g.ho, g.wo), dtype=x.dtype)
    assign(out, wide.reshape(o, g.ho, g.n, g.wq)[..., :g.wo].transpose(2, 0, 1, 3))
    return out, (g, phases, cols if rows >= g.ho else None)


def conv2d_backward(dout: np.ndarray, weight: np.ndarray, saved, *, has_bias: bool = True,
                    need_dx: bool = True, workspace: Workspace | None = None):
    """Gradients of :func:`conv2d_forward` for dout (N, O, Ho, Wo).

    ``saved`` is the second value :func:`conv2d_forward` returned.  Returns
    ``(dx, dweight, dbias)``: dx (N, C, H, W) or None when ``need_dx`` is false, dweight
    (O, C, kh, kw), dbias (O,) or None.
    """
    ws = workspace if workspace is not None else Workspace()
    g = saved[0]
    layout = g.layout
    if layout == "per_sample":
        return _backward_per_sample(dout, weight, saved, has_bias, need_dx, ws)
    if layout == "samples_last":
        return _backward_samples_last(dout, weight, saved, has_bias, need_dx, ws)
    if layout == "banded":
        return conv_banded.backward_banded(dout, weight, saved, has_bias, need_dx, ws)
    _, phases, cols = saved
    o = weight.shape[0]
    w2 = weight.reshape(o, g.ckk)
    piece = _piece(o, g.ckk, g.line, backward=True)
    # dout laid out like the columns, (O, Ho, N, Wq); the junk columns are never written,
    # so they keep the zeros the buffer got when this geometry first used it
    dwide, _ = ws.get_zeroed("dout_wide", (o, g.ho, g.n, g.wq), dout.dtype, key=(g.wo, "dout"))
    assign(dwide[..., :g.wo], dout.transpose(1, 2, 0, 3))
    dwide = dwide.reshape(o, g.ho * g.line)
    dw2 = np.zeros((o, g.ckk + has_bias), dtype=dout.dtype)
    row_bytes = dw2.shape[1] * g.line * dout.dtype.itemsize
    if cols is not None and cols.shape[0] != dw2.shape[1]:  # forward ran without a bias
        cols = None
    rows = g.ho if cols is not None else _rows_per_chunk(g.ho, row_bytes)
    for zero_junk in (False, True):
        if zero_junk:  # 0 * inf or NaN may come from the junk: then once more without it
            if np.isfinite(dw2).all():
                break
            dw2[...] = 0
        for y0, y1 in _chunks(g.ho, rows):
            if rows < g.ho or cols is None or zero_junk:
                cols = _columns(phases, g, y0, y1, ws, ones=has_bias)
            if zero_junk:
                cols.reshape(cols.shape[0], y1 - y0, g.n, g.wq)[..., g.wo:] = 0
            dw2 += _weight_grad(dwide[:, y0 * g.line:y1 * g.line], cols, piece)
    # with a bias, the columns' row of ones made the last column the sum of dout
    dbias = dw2[:, g.ckk].copy() if has_bias else None
    dw2 = dw2[:, :g.ckk]
    dx = None
    if need_dx:
        dphases = ws.get("dphases", (g.phases_size,), dout.dtype)
        images = dphases.reshape(g.sh * g.sw * g.c, g.row)
        parallel_slices(lambda r: images[r].fill(0), images.shape[0], dphases.size)
        # dcols is added into dphases as soon as it is made: small chunks stay in cache
        rows = _rows_per_chunk(g.ho, g.ckk * g.line * dout.dtype.itemsize, DCOLS_BYTES)
        for y0, y1 in _chunks(g.ho, rows):
            dcols = ws.get("dcols", (g.ckk, (y1 - y0) * g.line), dout.dtype)
            _product(w2.T, dwide[:, y0 * g.line:y1 * g.line], dcols, piece)
            col2im_lines(dcols.reshape(g.c, g.kh, g.kw, -1), g, dphases, y0, y1)
        dx = from_phases(dphases, g, np.empty((g.n, g.c, g.h, g.w), dout.dtype))
    return dx, np.ascontiguousarray(dw2).reshape(weight.shape), dbias


def _product(a: np.ndarray, b2: np.ndarray, out2: np.ndarray, piece: int | None):
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


def _weight_grad(d2: np.ndarray, cols2: np.ndarray, piece: int | None):
    """(O, C*kh*kw) = d2 (O, L) @ cols2 (C*kh*kw, L)^T, whole or summed over pieces."""
    if piece is None:  # OpenBLAS runs this order up to 1.7x faster than d2 @ cols2.T
        return (cols2 @ d2.T).T
    o, ckk, m = d2.shape[0], cols2.shape[0], d2.shape[1] // piece
    d3 = d2.reshape(o, m, piece).transpose(1, 0, 2)
    cols3 = cols2.reshape(ckk, m, piece).transpose(1, 2, 0)
    products = np.empty((m, o, ckk), dtype=d2.dtype)  # summed here: the same for any threads
    parallel_slices(lambda s: np.matmul(d3[s], cols3[s], out=products[s]), m, d2.size * ckk)
    return products.sum(axis=0)


# --------------------------------------------------------------------------- per sample
#
# The line layout above needs two transposing copies: the product's output (O, rows, N,
# Wq) back into NCHW, and dout into that order for backward.  For a layer with few values
# per window (C*kh*kw small: a first layer on grey or colour images) those copies cost as
# much as the products, and a second layout wins: columns per sample, (N, C*kh*kw [+ 1],
# Ho*Wo).  Then one product per sample, W (O, C*kh*kw [+ 1]) @ cols[n], writes out[n]
# (O, Ho*Wo), which is NCHW already, and dout[n] (O, Ho*Wo) meets cols[n] as it comes.
# The per-sample products are split over threads by samples (OpenBLAS runs a product
# this small on one core), the job's size counted in multiply-adds.

#: The per-sample layout is used for stride 1 when C*kh*kw is at most this ...
PER_SAMPLE_MAX_CKK = 32
#: ... and a sample has at least this many output pixels (one product per sample).
#: Measured: per-sample wins for C*kh*kw <= 32 at 4x4 to 64x64 outputs; at 72 it loses.
PER_SAMPLE_MIN_PIXELS = 16


def _sample_columns(xp: np.ndarray, g: ConvGeometry, s0: int, s1: int, ws: Workspace,
                    ones: bool) -> np.ndarray:
    """Columns (s1-s0, C*kh*kw [+ 1], Ho*Wo) of samples s0:s1 of the padded xp, in the
    workspace; with ``ones`` a last row of ones per sample (see :func:`_columns`)."""
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


def _samples_per_chunk(n: int, values: int, itemsize: int, bound: int) -> int:
    """Samples per chunk of a batch of n so that ``values`` a sample stay within ``bound``
    bytes."""
    return _rows_per_chunk(n, values * itemsize, bound) if n else 1


def _forward_per_sample(x, weight, bias, g: ConvGeometry, ws: Workspace):
    """:func:`conv2d_forward` in the per-sample layout (see the comment above)."""
    o = weight.shape[0]
    xp = pad(x, g.pads, workspace=ws)
    w2 = weight.reshape(o, g.ckk)
    if bias is not None:
        w2 = np.concatenate([w2, bias[:, None]], axis=1)
    out = np.empty((g.n, o, g.ho * g.wo), dtype=x.dtype)
    per = _samples_per_chunk(g.n, w2.shape[1] * g.ho * g.wo, x.dtype.itemsize, MAX_COLUMN_BYTES)
    cols = None
    for s0, s1 in _chunks(g.n, per):
        cols = _sample_columns(xp, g, s0, s1, ws, ones=bias is not None)
        part = out[s0:s1]
        parallel_slices(lambda s: np.matmul(w2, cols[s], out=part[s]), s1 - s0,
                        part.size * w2.shape[1])
    return out.reshape(g.n, o, g.ho, g.wo), (g, xp, cols if per >= g.n else None)


def _backward_per_sample(dout, weight, saved, has_bias: bool, need_dx: bool, ws: Workspace):
    """:func:`conv2d_backward` in the per-sample layout."""
    g, xp, cols = saved
    o, hw = weight.shape[0], g.ho * g.wo
    d3 = np.ascontiguousarray(dout).reshape(g.n, o, hw)
    if cols is not None and cols.shape[1] != g.ckk + has_bias:  # forward ran without a bias
        cols = None
    per = g.n if cols is not None else \
        _samples_per_chunk(g.n, (g.ckk + has_bias) * hw, dout.dtype.itemsize, MAX_COLUMN_BYTES)
    # one (O, C*kh*kw [+ 1]) product per sample, summed here: the same for any threads
    products = np.empty((g.n, o, g.ckk + has_bias), dtype=dout.dtype)
    for s0, s1 in _chunks(g.n, per):
        if cols is None or per < g.n:
            cols = _sample_columns(xp, g, s0, s1, ws, ones=has_bias)
        d_part, p_part, c_part = d3[s0:s1], products[s0:s1], cols
        parallel_slices(lambda s: np.matmul(d_part[s], c_part[s].transpose(0, 2, 1),
                                            out=p_part[s]), s1 - s0, c_part.size * o)
    dw2 = products.sum(axis=0)
    dbias = dw2[:, g.ckk].copy() if has_bias else None
    dweight = np.ascontiguousarray(dw2[:, :g.ckk]).reshape(weight.shape)
    if not need_dx:
        return None, dweight, dbias
    wt = np.ascontiguousarray(weight.reshape(o, g.ckk).T)
    dxp = np.empty(xp.shape, dtype=dout.dtype)
    per = _samples_per_chunk(g.n, g.ckk * hw, dout.dtype.itemsize, DCOLS_BYTES)
    for s0, s1 in _chunks(g.n, per):
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


# --------------------------------------------------------------------------- samples last
#
# The line layout's junk is Wq - Wo = dw*(kw-1) of every Wq columns: 4 of 14 for a 5x5
# kernel on a 14x14 map (LeNet's second layer), which then pays 40% more for its
# products, copies and adds than it needs.  A third layout has no junk: the phases of
# the padded input with the samples innermost, (sh, sw, C, Hq, Wq, N).  What kernel
# offset (i, j) reads for output row y is then one run of Wo*N values, and the columns
# (C, kh, kw, Ho, Wo, N) are exact.  Its price is a transposing copy each way (x and the
# output in forward, dout and dx in backward), cheap for the small maps where junk is
# high.  It works for any stride, but with strides (6% junk in bench_layers' case) it
# measured 1.07-1.28x slower than lines.

#: The samples-last layout is used for stride 1 when at least this share of the line
#: layout's columns would be junk.  Measured fwd+bwd against lines: 0.83x at 25-29% junk
#: (LeNet conv2), 0.94-0.98x at 20%, 1.03x at 12%, 1.3x at 6-7% (VGG block).
SAMPLES_LAST_MIN_JUNK = 0.2
#: ... and its stride is at most this.
SAMPLES_LAST_MAX_STRIDE = 1
#: Rows of a transposing copy's source taken at a time, so both sides stay in cache.
TRANSPOSE_ROWS = 64


def _offset_reads(g: ConvGeometry) -> list[tuple]:
    """(i, j, a, qi, b, qj) for each kernel offset (i, j): it reads phase (a, b) shifted by
    (qi, qj) (with stride 1 the one phase, shifted by (i*dh, j*dw))."""
    reads = []
    for i in range(g.kh):
        qi, a = divmod(i * g.dh, g.sh)
        for j in range(g.kw):
            qj, b = divmod(j * g.dw, g.sw)
            reads.append((i, j, a, qi, b, qj))
    return reads


def _transpose_2d(dst: np.ndarray, src: np.ndarray) -> None:
    """``dst (B, A) = src (A, B).T``, TRANSPOSE_ROWS rows of src at a time, split over threads."""
    blocks = _chunks(src.shape[0], TRANSPOSE_ROWS)

    def copy(part):
        for a0, a1 in blocks[part]:
            np.copyto(dst[:, a0:a1], src[a0:a1].T)
    parallel_slices(copy, len(blocks), src.size)


def _forward_samples_last(x, weight, bias, g: ConvGeometry, ws: Workspace):
    """:func:`conv2d_forward` in the samples-last layout (see the comment above)."""
    o = weight.shape[0]
    xt, _ = ws.get_zeroed("xt", (g.sh, g.sw, g.c, g.hq, g.wq, g.n), x.dtype,
                          key=(g.phases_key(), "samples last"))
    scatter_phases(x, g, xt.transpose(0, 1, 2, 3, 5, 4))
    w2 = weight.reshape(o, g.ckk)
    if bias is not None:
        w2 = np.concatenate([w2, bias[:, None]], axis=1)
    row = g.wo * g.n  # one output row of every sample
    wide = ws.get("out_wide", (o, g.ho * row), x.dtype)
    rows = _rows_per_chunk(g.ho, w2.shape[1] * row * x.dtype.itemsize)
    cols = None
    for y0, y1 in _chunks(g.ho, rows):
        cols = _exact_columns(xt, g, y0, y1, ws, ones=bias is not None)
        np.matmul(w2, cols, out=wide[:, y0 * row:y1 * row])
    out = np.empty((g.n, o, g.ho, g.wo), dtype=x.dtype)
    size = o * g.ho * g.wo
    _transpose_2d(out.reshape(g.n, size), wide.reshape(size, g.n))
    return out, (g, xt, cols if rows >= g.ho else None)


def _exact_columns(xt: np.ndarray, g: ConvGeometry, y0: int, y1: int, ws: Workspace,
                   ones: bool) -> np.ndarray:
    """Columns (C*kh*kw [+ 1], (y1-y0)*Wo*N) of output rows y0:y1 from the phases xt
    (sh, sw, C, Hq, Wq, N); with ``ones`` a last row of ones (see :func:`_columns`)."""
    cols = ws.get("cols", (g.ckk + ones, (y1 - y0) * g.wo * g.n), xt.dtype)
    dst = cols[:g.ckk].reshape(g.c, g.kh, g.kw, y1 - y0, g.wo, g.n)
    reads = _offset_reads(g)

    def copy(channels):  # per offset and output row: one run of Wo*N values
        for i, j, a, qi, b, qj in reads:
            np.copyto(dst[channels, i, j], xt[a, b, channels, y0 + qi:y1 + qi, qj:qj + g.wo])
    parallel_slices(copy, g.c, dst.size)
    if ones:
        cols[g.ckk] = 1
    return cols


def _backward_samples_last(dout, weight, saved, has_bias: bool, need_dx: bool,
                           ws: Workspace):
    """:func:`conv2d_backward` in the samples-last layout."""
    g, xt, cols = saved
    o = weight.shape[0]
    row = g.wo * g.n
    dwide = ws.get("dout_wide", (o, g.ho, g.wo, g.n), dout.dtype)
    parallel_slices(lambda s: np.copyto(dwide[s], dout[:, s].transpose(1, 2, 3, 0)), o,
                    dout.size)
    dwide = dwide.reshape(o, g.ho * row)
    dw2 = np.zeros((o, g.ckk + has_bias), dtype=dout.dtype)
    if cols is not None and cols.shape[0] != dw2.shape[1]:  # forward ran without a bias
        cols = None
    rows = g.ho if cols is not None else \
        _rows_per_chunk(g.ho, dw2.shape[1] * row * dout.dtype.itemsize)
    for y0, y1 in _chunks(g.ho, rows):
        if rows < g.ho or cols is None:
            cols = _exact_columns(xt, g, y0, y1, ws, ones=has_bias)
        dw2 += _weight_grad(dwide[:, y0 * row:y1 * row], cols, None)
    dbias = dw2[:, g.ckk].copy() if has_bias else None
    dweight = np.ascontiguousarray(dw2[:, :g.ckk]).reshape(weight.shape)
    if not need_dx:
        return None, dweight, dbias
    dxt = ws.get("dxt", xt.shape, dout.dtype)
    images = dxt.reshape(g.sh * g.sw * g.c, -1)
    parallel_slices(lambda s: images[s].fill(0), images.shape[0], dxt.size)
    w2t = weight.reshape(o, g.ckk).T
    reads = _offset_reads(g)
    rows = _rows_per_chunk(g.ho, g.ckk * row * dout.dtype.itemsize, DCOLS_BYTES)
    for y0, y1 in _chunks(g.ho, rows):
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


# --------------------------------------------------------------------------- pooling

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
    if tiled:  # every covered position is written below; zero only the uncovered edge
        dxp = dx if xp is x else np.empty(xp.shape, dtype=dout.dtype)
        dxp[:, :, ho * stride[0]:] = 0
        dxp[:, :, :, wo * stride[1]:] = 0
    else:
        dxp = dx if xp is x else np.empty(xp.shape, dtype=dout.dtype)
        dxp[...] = 0
    offsets = [divmod(k, kw) for k in range(kh * kw)]
    has_nan = bool(np.isnan(out).any())
    # NaN equals nothing, so a NaN window gets no hit here and is handled below.  Without
    # NaN every window holds its maximum somewhere: what no earlier offset took is the last's
    by_rest = not has_nan and len(offsets) > 1
    compared = offsets[:-1] if by_rest else offsets
    # a window of nothing but -inf: its first position inside the input takes the gradient
    # (as PyTorch), not padding that also reads -inf
    inside_only = any(p for pair in pads for p in pair) and bool(np.isneginf(out).any())

    def maxima_at(i, j):
        found = windows[:, :, i, j] == out
        if inside_only:
            found &= _inside(x.shape, pads, i, j, (ho, wo), stride, dilation)
        return found
    hits = _only_first((maxima_at(i, j) for i, j in compared), rest=by_rest)
    for (i, j), hit in zip(offsets, hits):
        grid = offset_grid(dxp, i, j, (ho, wo), stride, dilation)
        if tiled:
            np.multiply(dout, hit, out=grid)
        else:
            grid += np.where(hit, dout, 0)
    if has_nan:
        nan_hits = _only_first(np.isnan(windows[:, :, i, j]) for i, j in reversed(offsets))
        for (i, j), hit in zip(reversed(offsets), nan_hits):
            offset_grid(dxp, i, j, (ho, wo), stride, dilation)[...] += np.where(hit, dout, 0)
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


def route_max(d_pooled: np.ndarray, candidates, pooled: np.ndarray, out) -> None:
    """The gradient of ``pooled = maximum(*candidates)`` (arrays of one shape): into each
    ``out[k]``, d_pooled where ``candidates[k]`` is the first that holds the maximum, else
    0; where the maximum is NaN, into the last candidate that is NaN (as PyTorch's pool)."""
    has_nan = bool(np.isnan(pooled).any())
    which = range(len(candidates))
    # without NaN each position holds its maximum somewhere: what no earlier candidate
    # took is the last's
    compared = which if has_nan else which[:-1]
    hits = _only_first((candidates[k] == pooled for k in compared), rest=not has_nan)
    for k, hit in zip(which, hits):
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


def _padded_shape(shape: tuple, pads: Pads) -> tuple:
    (pt, pb), (pl, pr) = pads
    return (shape[0], shape[1], shape[2] + pt + pb, shape[3] + pl + pr)


from . import conv_banded  # noqa: E402  (it uses this module's helpers: imported last)

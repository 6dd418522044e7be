"""Sizes of one convolution call, of a max-pool after it, and what a forward saves.

A stride-s convolution is a sum of stride-1 convolutions over the s*s *phases* of the
padded input (phase (a, b) holds the pixels at rows a, a+s, ... and columns b, b+s, ...):
kernel offset (i, j) reads phase ((i*dh) % sh, (j*dw) % sw) shifted by ((i*dh) // sh,
(j*dw) // sw).  :class:`ConvGeometry` holds the sizes of the phase images that the line
and samples-last layouts store, each row-major with the samples inside every row.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import as_strided

from ..textbook import output_size
from .workspace import Workspace, scratch

Pads = tuple[tuple[int, int], tuple[int, int]]
Pair = tuple[int, int]

__all__ = ["Pads", "Pair", "ConvGeometry", "PoolGeometry", "Saved", "output_hw", "pad",
           "unpad", "offset_grid"]


def output_hw(hp: int, wp: int, kernel_size: Pair, stride: Pair, dilation: Pair) -> Pair:
    """Output (Ho, Wo) of a window of ``kernel_size`` sliding over an already padded map."""
    return (output_size(hp, kernel_size[0], stride[0], dilation[0]),
            output_size(wp, kernel_size[1], stride[1], dilation[1]))


def pad(x: np.ndarray, pads: Pads, value=0.0, workspace: Workspace | None = None,
        name: str = "padded") -> np.ndarray:
    """``x`` (N, C, H, W) with ``pads = ((top, bottom), (left, right))`` of ``value`` around
    it, in a reused buffer; x itself when there is no padding."""
    (pt, pb), (pl, pr) = pads
    if pt == pb == pl == pr == 0:
        return x
    n, c, h, w = x.shape
    xp = scratch(workspace, name, (n, c, h + pt + pb, w + pl + pr), x.dtype)
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


class ConvGeometry:
    """Sizes of one convolution call, and of its phase images (C, Hq, N, Wq)."""

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

    def offset_reads(self) -> list[tuple]:
        """(i, j, a, qi, b, qj) for each kernel offset (i, j): it reads phase (a, b) shifted
        by (qi, qj) (with stride 1 the one phase, shifted by (i*dh, j*dw))."""
        reads = []
        for i in range(self.kh):
            qi, a = divmod(i * self.dh, self.sh)
            for j in range(self.kw):
                qj, b = divmod(j * self.dw, self.sw)
                reads.append((i, j, a, qi, b, qj))
        return reads

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


class PoolGeometry:
    """A p x q max-pool of stride (p, q) after the convolution ``conv`` ((1, 1): none).

    The pool's window (py, px) holds the convolution's outputs at rows ``p*py + a`` and
    columns ``q*px + b``: the p*q *phases* (a, b) of the window.  Rows and columns past
    the last whole window (the pool's floor mode) are never computed.
    """

    def __init__(self, conv: ConvGeometry, pool: Pair = (1, 1)):
        self.conv = g = conv
        self.p, self.q = pool
        self.hpo, self.wpo = g.ho // self.p, g.wo // self.q
        self.phases = self.p * self.q
        self.pixels = self.hpo * self.wpo  # pooled pixels of one sample and channel
        self.conv_rows = self.p * self.hpo  # output rows computed, per sample
        # every phase reads the same U x V input block past (s*p*py, s*q*px)
        self.u = g.sh * (self.p - 1) + g.dh * (g.kh - 1) + 1
        self.v = g.sw * (self.q - 1) + g.dw * (g.kw - 1) + 1
        self.block = g.c * self.u * self.v  # values of one such block, all channels


@dataclass
class Saved:
    """What a convolution's forward keeps for its backward, in any layout."""

    layout: str                   # the module that ran: 'lines', 'banded', 'phases', ...
    g: ConvGeometry
    has_bias: bool
    source: np.ndarray            # the input as that layout stores it
    cols: np.ndarray | None       # the columns, when they were built in one chunk
    pool: PoolGeometry | None = None       # the joint forms: the max-pool's sizes,
    conv_out: np.ndarray | None = None     # the convolution's output phase by phase,
    pooled: np.ndarray | None = None       # and its maximum over the phases
    weights: np.ndarray | None = None      # banded: the Toeplitz matrix of the forward

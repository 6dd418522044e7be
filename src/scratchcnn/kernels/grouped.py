"""Grouped and depthwise convolutions: the textbook's ``groups`` independent convolutions,
computed for all groups at once.

Weight (O, C/G, kh, kw) with G groups.  Depthwise (one input channel a group) runs as
kh*kw multiply-adds of whole (N, G, M, Ho, Wo) tensors, one per kernel offset, with no
columns at all; other groupings build the textbook's columns, whose rows fall into one
block per group, and meet the weights in one batched matrix product
``(G, O/G, K) @ (G, K, N*Ho*Wo)``.
"""

from __future__ import annotations

import numpy as np

from ..textbook import col2im, im2col
from .geometry import ConvGeometry, Saved, offset_grid, pad, unpad

__all__ = ["forward", "backward"]


def forward(x, weight, bias, g: ConvGeometry, groups: int):
    """(out (N, O, Ho, Wo), :class:`Saved`) of the convolution of x (N, C, H, W) in
    ``groups`` groups."""
    o, cg, kh, kw = weight.shape
    xp = pad(x, g.pads)
    if xp is x:
        xp = x.copy()  # saved for backward: the caller may reuse x
    n, hw = g.n, (g.ho, g.wo)
    if cg == 1:  # depthwise
        xg = xp.reshape(n, groups, 1, g.hp, g.wp)
        wg = weight.reshape(groups, o // groups, kh, kw)
        out = np.zeros((n, groups, o // groups, g.ho, g.wo), x.dtype)
        for i in range(kh):
            for j in range(kw):
                out += wg[:, :, i, j, None, None] * offset_grid(
                    xg, i, j, hw, (g.sh, g.sw), (g.dh, g.dw))
        cols = None
    else:
        # im2col's rows run (c, i, j): group g's are one block of them
        cols = im2col(xp, (kh, kw), (g.sh, g.sw), (g.dh, g.dw)).reshape(groups, cg * kh * kw, -1)
        out = weight.reshape(groups, o // groups, -1) @ cols
        out = out.reshape(groups, o // groups, n, g.ho, g.wo).transpose(2, 0, 1, 3, 4)
    out = np.ascontiguousarray(out.reshape(n, o, g.ho, g.wo))
    if bias is not None:
        out += bias[:, None, None]
    return out, Saved("grouped", g, bias is not None, xp, cols)


def backward(dout, weight, saved: Saved, need_dx: bool, workspace=None):
    """``(dx or None, dweight, dbias or None)`` for dout (N, O, Ho, Wo)."""
    g = saved.g
    o, cg, kh, kw = weight.shape
    groups = g.c // cg
    n, hw = g.n, (g.ho, g.wo)
    dbias = dout.sum(axis=(0, 2, 3)) if saved.has_bias else None
    d5 = dout.reshape(n, groups, o // groups, g.ho, g.wo)
    if saved.cols is None:  # depthwise
        xg = saved.source.reshape(n, groups, 1, g.hp, g.wp)
        wg = weight.reshape(groups, o // groups, kh, kw)
        dweight = np.empty_like(wg)
        dxp = np.zeros_like(xg) if need_dx else None
        for i in range(kh):
            for j in range(kw):
                window = offset_grid(xg, i, j, hw, (g.sh, g.sw), (g.dh, g.dw))
                dweight[:, :, i, j] = np.einsum("ngmyx,ngmyx->gm", d5,
                                                np.broadcast_to(window, d5.shape))
                if need_dx:
                    offset_grid(dxp, i, j, hw, (g.sh, g.sw), (g.dh, g.dw))[:, :, 0] += \
                        np.einsum("ngmyx,gm->ngyx", d5, wg[:, :, i, j])
        dweight = dweight.reshape(weight.shape)
    else:
        d3 = d5.transpose(1, 2, 0, 3, 4).reshape(groups, o // groups, -1)  # (G, O/G, NHW)
        dweight = (d3 @ saved.cols.transpose(0, 2, 1)).reshape(weight.shape)
        if need_dx:
            dcols = weight.reshape(groups, o // groups, -1).transpose(0, 2, 1) @ d3
            dxp = col2im(dcols.reshape(g.ckk, -1), (n, g.c, g.hp, g.wp), (kh, kw),
                         (g.sh, g.sw), (g.dh, g.dw))
    if not need_dx:
        return None, dweight, dbias
    dx = unpad(dxp.reshape(n, g.c, g.hp, g.wp), g.pads)
    return np.ascontiguousarray(dx), dweight, dbias

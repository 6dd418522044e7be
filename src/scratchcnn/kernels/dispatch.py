"""Which layout computes a convolution, and the one forward and backward that run it.

:func:`conv_layout` picks among the layouts by the shape (thresholds in
:data:`.tuning.TUNING`); :func:`joint_layout` says whether a convolution and the max-pool
after it are computed together.  Every forward returns ``(out, saved)`` and
:func:`conv2d_backward` finds the layout's backward from ``saved.layout``.
"""

from __future__ import annotations

from contextlib import contextmanager

import numpy as np

from . import banded, grouped, lines, per_sample, phases, samples_last
from .geometry import ConvGeometry, Pads, Pair, PoolGeometry, Saved
from .tuning import TUNING
from .workspace import Workspace

__all__ = ["LAYOUTS", "conv_layout", "joint_layout", "forced_layout", "conv2d_forward",
           "conv2d_backward", "conv_pool_forward"]

#: The convolution layouts, by name: each module's forward and backward.
LAYOUTS = {"per_sample": per_sample, "banded": banded, "samples_last": samples_last,
           "lines": lines}
_BACKWARD = {**{name: module.backward for name, module in LAYOUTS.items()},
             "phases": phases.backward, "grouped": grouped.backward}


def _allowed(layout: str, g: ConvGeometry, finite: bool) -> bool:
    """Whether ``layout`` can compute geometry ``g`` (per_sample: stride 1 only; banded:
    finite input only, since its zeros times inf are NaN)."""
    if layout == "per_sample":
        return g.sh == g.sw == 1
    return finite or layout != "banded"


def conv_layout(g: ConvGeometry, finite: bool = True) -> str:
    """The layout the convolution of geometry ``g`` runs in: ``"per_sample"`` (stride 1,
    few values a window), ``"banded"`` (small maps, wide kernels), ``"samples_last"``
    (stride 1, much junk in lines) or ``"lines"``.  ``finite``: whether the input is."""
    if TUNING.layout is not None and _allowed(TUNING.layout, g, finite):
        return TUNING.layout
    t = TUNING
    if g.sh == g.sw == 1 and g.ckk <= t.per_sample_max_ckk and \
            g.ho * g.wo >= t.per_sample_min_pixels:
        return "per_sample"
    if g.wp <= t.banded_max_waste * g.kw and g.kw >= t.banded_min_kernel and \
            g.ckk <= t.banded_max_ckk and finite:
        return "banded"
    if max(g.sh, g.sw) <= t.samples_last_max_stride and \
            g.wq - g.wo >= t.samples_last_min_junk * g.wq:
        return "samples_last"
    return "lines"


@contextmanager
def forced_layout(layout: str | None):
    """Within the block every convolution runs in ``layout`` where it can (see
    :func:`conv_layout`; ``TUNING.layout``); None: as the shape picks.  For tests and
    experiments."""
    if layout is not None and layout not in LAYOUTS:
        raise ValueError(f"forced_layout: unknown layout {layout!r}, expected one of "
                         f"{sorted(LAYOUTS)}")
    before, TUNING.layout = TUNING.layout, layout
    try:
        yield
    finally:
        TUNING.layout = before


def conv2d_forward(x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None,
                   stride: Pair = (1, 1), pads: Pads = ((0, 0), (0, 0)),
                   dilation: Pair = (1, 1), workspace: Workspace | None = None):
    """Cross-correlation of x (N, C, H, W) with weight (O, C, kh, kw), plus bias (O,) or None;
    with weight (O, C/G, kh, kw), in G groups (:mod:`.grouped`).

    Returns ``(out, saved)``: out (N, O, Ho, Wo) and the :class:`.geometry.Saved` that
    :func:`conv2d_backward` needs.  The same values as
    :func:`scratchcnn.textbook.conv2d_forward`, in the layout :func:`conv_layout` picks.
    """
    ws = workspace if workspace is not None else Workspace()
    g = ConvGeometry(x.shape, weight.shape[2:], stride, pads, dilation)
    if weight.shape[1] != x.shape[1]:
        with np.errstate(invalid="ignore"):
            return grouped.forward(x, weight, bias, g, x.shape[1] // weight.shape[1])
    layout = conv_layout(g)
    if layout == "banded" and not np.isfinite(x).all():
        layout = conv_layout(g, finite=False)
    with np.errstate(invalid="ignore"):  # NaN and inf in x give NaN, silently, as in PyTorch
        return LAYOUTS[layout].forward(x, weight, bias, g, ws)


def conv2d_backward(dout: np.ndarray, weight: np.ndarray, saved: Saved, need_dx: bool = True,
                    workspace: Workspace | None = None):
    """Gradients of a forward of this module for dout = dL/d(out): ``(dx or None,
    dweight (O, C, kh, kw), dbias (O,) or None)``; of the pool's output after a joint
    forward (:func:`conv_pool_forward`)."""
    ws = workspace if workspace is not None else Workspace()
    with np.errstate(invalid="ignore"):
        return _BACKWARD[saved.layout](dout, weight, saved, need_dx, ws)


def joint_layout(x_shape: tuple, kernel_size: Pair, stride: Pair, pads: Pads,
                 dilation: Pair, pool: Pair) -> str | None:
    """How a convolution and the p x q, stride (p, q) max-pool after it are best computed
    together for a finite input of ``x_shape`` (N, C, H, W): ``"phases"`` or
    ``"banded"``; None when the two are best run one after the other."""
    return _joint_layout(ConvGeometry(x_shape, kernel_size, stride, pads, dilation), pool)


def _joint_layout(g: ConvGeometry, pool: Pair) -> str | None:
    """:func:`joint_layout` of a geometry already built."""
    pp = PoolGeometry(g, pool)
    if pp.hpo < 1 or pp.wpo < 1:
        return None
    if phases.applies(pp):
        return "phases"
    return "banded" if conv_layout(pp.conv) == "banded" else None


def conv_pool_forward(x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None,
                      stride: Pair, pads: Pads, dilation: Pair, pool: Pair,
                      workspace: Workspace | None = None):
    """``max_pool2d(conv2d(x), pool)`` for a finite x (N, C, H, W) computed together, as
    :func:`joint_layout` says: (out (N, O, Ho // p, Wo // q), saved)."""
    ws = workspace if workspace is not None else Workspace()
    g = ConvGeometry(x.shape, weight.shape[2:], stride, pads, dilation)
    layout = _joint_layout(g, pool)
    if layout is None:
        raise ValueError("conv_pool_forward: this convolution and pool are not computed "
                         "together (joint_layout gives None)")
    module = phases if layout == "phases" else banded
    return module.forward(x, weight, bias, g, ws, pool)

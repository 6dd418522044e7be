"""The fast path: the same convolution and pooling as :mod:`scratchcnn.textbook`, in
memory layouts that run faster on BLAS.  Read the textbook first; this package is what
``scratchcnn.use("fast")`` (the default) runs.

Every layout is im2col and matrix products in another arrangement, proven equal to the
textbook and to PyTorch by the tests:

=================  ==========================================================
``lines``          phase images (C, Hq, N, Wq): im2col as long contiguous runs
``per_sample``     columns per sample, one small product each (first layers)
``samples_last``   phases (C, Hq, Wq, N): exact columns on small maps
``banded``         one product with a Toeplitz weight matrix (small maps, wide
                   kernels), also with the max-pool after it
``phases``         a convolution and its max-pool together, by pool phases
``grouped``        grouped and depthwise convolutions, all groups at once
=================  ==========================================================

:mod:`.dispatch` picks the layout (:func:`conv_layout`, thresholds in :data:`TUNING`),
:mod:`.gemm` holds the products, :mod:`.parallel` splits NumPy's memory-bound loops over
threads, :mod:`.pooling` the pools.  Nothing here imports the layers: they call in.
How each layout was chosen, with measurements: ``docs/performance.md``.
"""

from . import pooling
from .dispatch import (LAYOUTS, conv2d_backward, conv2d_forward, conv_layout, conv_pool_forward,
                       forced_layout, joint_layout)
from .geometry import ConvGeometry, PoolGeometry, Saved
from .tuning import TUNING, Tuning
from .workspace import Workspace

__all__ = ["conv2d_forward", "conv2d_backward", "conv_pool_forward", "conv_layout",
           "joint_layout", "forced_layout", "LAYOUTS", "ConvGeometry", "PoolGeometry",
           "Saved", "Workspace", "TUNING", "Tuning", "max_pool2d_forward",
           "max_pool2d_backward", "avg_pool2d_forward", "avg_pool2d_backward",
           "adaptive_avg_pool2d_forward", "adaptive_avg_pool2d_backward"]


def max_pool2d_forward(x, kernel_size, stride, pads, dilation=(1, 1)):
    """Max-pool of x (N, C, H, W): (out, saved) for :func:`max_pool2d_backward`."""
    out = pooling.max_pool2d_forward(x, kernel_size, stride, pads, dilation)
    return out, (x, out, kernel_size, stride, pads, dilation)


def max_pool2d_backward(dout, saved):
    """dL/dx of :func:`max_pool2d_forward` for dout (N, C, Ho, Wo)."""
    x, out, kernel_size, stride, pads, dilation = saved
    return pooling.max_pool2d_backward(dout, x, out, kernel_size, stride, pads, dilation)


def avg_pool2d_forward(x, kernel_size, stride, pads):
    """Average pool of x (N, C, H, W): (out, saved) for :func:`avg_pool2d_backward`."""
    out = pooling.avg_pool2d_forward(x, kernel_size, stride, pads)
    return out, (x.shape, kernel_size, stride, pads)


def avg_pool2d_backward(dout, saved):
    """dL/dx of :func:`avg_pool2d_forward` for dout (N, C, Ho, Wo)."""
    return pooling.avg_pool2d_backward(dout, *saved)


def adaptive_avg_pool2d_forward(x, output_size):
    """Adaptive average pool of x (N, C, H, W) to ``output_size`` (oh, ow): (out, saved)."""
    return pooling.adaptive_avg_pool2d_forward(x, output_size), x.shape


def adaptive_avg_pool2d_backward(dout, saved):
    """dL/dx of :func:`adaptive_avg_pool2d_forward` for dout (N, C, oh, ow)."""
    return pooling.adaptive_avg_pool2d_backward(dout, saved)

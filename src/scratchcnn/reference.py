"""Slow, obvious versions of the kernels in :mod:`scratchcnn.functional`.

They loop over output pixels, exactly as the formulas read, so a reader can check what
the fast kernels compute and the tests can prove it.  Never use them for training.
"""

from __future__ import annotations

import numpy as np


def conv2d(x, weight, bias=None, stride=(1, 1), padding=(0, 0), dilation=(1, 1)):
    """x (N, C, H, W), weight (O, C, kh, kw) -> (N, O, Ho, Wo), symmetric zero padding.

    ``out[n, o, y, x] = bias[o] + sum_{c,i,j} weight[o, c, i, j] *
    xpad[n, c, y*sh + i*dh, x*sw + j*dw]``
    """
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    o_, c_, kh, kw = weight.shape
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    ho = (xp.shape[2] - dh * (kh - 1) - 1) // sh + 1
    wo = (xp.shape[3] - dw * (kw - 1) - 1) // sw + 1
    out = np.zeros((x.shape[0], o_, ho, wo), dtype=np.result_type(x, weight))
    for y in range(ho):
        for x_ in range(wo):
            window = xp[:, :, y * sh:y * sh + dh * (kh - 1) + 1:dh,
                        x_ * sw:x_ * sw + dw * (kw - 1) + 1:dw]          # (N, C, kh, kw)
            out[:, :, y, x_] = np.tensordot(window, weight, axes=([1, 2, 3], [1, 2, 3]))
    if bias is not None:
        out += bias[None, :, None, None]
    return out


def max_pool2d(x, kernel_size, stride, padding=(0, 0)):
    """x (N, C, H, W) -> (N, C, Ho, Wo): the maximum of each window, padding as -inf."""
    (kh, kw), (sh, sw), (ph, pw) = kernel_size, stride, padding
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=-np.inf)
    ho, wo = (xp.shape[2] - kh) // sh + 1, (xp.shape[3] - kw) // sw + 1
    out = np.empty(x.shape[:2] + (ho, wo), dtype=x.dtype)
    for y in range(ho):
        for x_ in range(wo):
            out[:, :, y, x_] = xp[:, :, y * sh:y * sh + kh, x_ * sw:x_ * sw + kw].max(axis=(2, 3))
    return out


def avg_pool2d(x, kernel_size, stride, padding=(0, 0)):
    """x (N, C, H, W) -> (N, C, Ho, Wo): the mean of each window, zero padding included."""
    (kh, kw), (sh, sw), (ph, pw) = kernel_size, stride, padding
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    ho, wo = (xp.shape[2] - kh) // sh + 1, (xp.shape[3] - kw) // sw + 1
    out = np.empty(x.shape[:2] + (ho, wo), dtype=x.dtype)
    for y in range(ho):
        for x_ in range(wo):
            out[:, :, y, x_] = xp[:, :, y * sh:y * sh + kh, x_ * sw:x_ * sw + kw].mean(axis=(2, 3))
    return out

"""Slow, obvious loop versions of the convolution and pooling, forward and backward.

They loop over output pixels, exactly as the formulas read, so a reader can check what
:mod:`scratchcnn.textbook` and the fast :mod:`scratchcnn.kernels` compute, and the tests
can prove it.  Never use them for training.
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


def conv2d_backward(dout, x, weight, stride=(1, 1), padding=(0, 0), dilation=(1, 1)):
    """Gradients of :func:`conv2d` for dout (N, O, Ho, Wo): (dx, dweight, dbias).

    Output pixel (y, x) was a dot product of its window with the weights, so it sends
    ``dout * weight`` back to its window and ``dout * window`` to the weights.
    """
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    kh, kw = weight.shape[2:]
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    dxp, dweight = np.zeros_like(xp), np.zeros_like(weight)
    for y in range(dout.shape[2]):
        for x_ in range(dout.shape[3]):
            rows = slice(y * sh, y * sh + dh * (kh - 1) + 1, dh)
            cols = slice(x_ * sw, x_ * sw + dw * (kw - 1) + 1, dw)
            d = dout[:, :, y, x_]                                          # (N, O)
            dxp[:, :, rows, cols] += np.tensordot(d, weight, axes=([1], [0]))
            dweight += np.tensordot(d, xp[:, :, rows, cols], axes=([0], [0]))
    dx = dxp[:, :, ph:ph + x.shape[2], pw:pw + x.shape[3]]
    return dx, dweight, dout.sum(axis=(0, 2, 3))


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


def max_pool2d_backward(dout, x, kernel_size, stride, padding=(0, 0)):
    """Gradient of :func:`max_pool2d` for finite x: each dout value goes to the first
    maximum of its window (row-major), as PyTorch."""
    (kh, kw), (sh, sw), (ph, pw) = kernel_size, stride, padding
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=-np.inf)
    dxp = np.zeros_like(xp)
    for n in range(dout.shape[0]):
        for c in range(dout.shape[1]):
            for y in range(dout.shape[2]):
                for x_ in range(dout.shape[3]):
                    window = xp[n, c, y * sh:y * sh + kh, x_ * sw:x_ * sw + kw]
                    i, j = divmod(int(np.argmax(window)), kw)
                    dxp[n, c, y * sh + i, x_ * sw + j] += dout[n, c, y, x_]
    return dxp[:, :, ph:ph + x.shape[2], pw:pw + x.shape[3]]


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

"""The convolution and pooling a course teaches: read this module first.

Everything a CNN layer computes, in the form a textbook derives it:

1. pad the input, then view every window the kernel visits through ``as_strided``
   (:func:`sliding_windows`, no copy);
2. copy the windows into columns, one column per output pixel (:func:`im2col`);
3. the convolution is then ONE matrix product, weights ``(O, C*kh*kw)`` times columns
   ``(C*kh*kw, N*Ho*Wo)`` (:func:`conv2d_forward`);
4. the backward pass is two more products, and :func:`col2im` adds the columns'
   gradients back to where they were read from.  col2im is the *adjoint* of im2col,
   not its inverse: a pixel read by several windows receives the sum of their gradients.

Pooling reuses the same columns with one channel at a time: a max-pool is the maximum
of each column, and its gradient goes to the position of that maximum.

``scratchcnn.use("textbook")`` (or ``with scratchcnn.using("textbook"):``) makes every
layer call the functions here, so you can step through them in a debugger while a real
network trains.  The default ``"fast"`` path (:mod:`scratchcnn.kernels`) computes the
same results in memory layouts that run faster; the tests prove the two equal, and both
equal to PyTorch.  All arrays are NCHW and keep their dtype; ``pads`` is
``((top, bottom), (left, right))``.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided

__all__ = ["output_size", "pad", "unpad", "sliding_windows", "im2col", "col2im",
           "conv2d_forward", "conv2d_backward", "grouped_conv2d_forward",
           "grouped_conv2d_backward", "max_pool2d_forward", "max_pool2d_backward",
           "avg_pool2d_forward", "avg_pool2d_backward", "adaptive_avg_pool2d_forward",
           "adaptive_avg_pool2d_backward"]


def output_size(padded: int, kernel: int, stride: int = 1, dilation: int = 1) -> int:
    """Outputs along one axis of an already padded length: PyTorch's formula
    ``floor((padded - dilation*(kernel - 1) - 1) / stride) + 1``."""
    return (padded - dilation * (kernel - 1) - 1) // stride + 1


def pad(x, pads, value=0.0):
    """x (N, C, H, W) -> (N, C, H + top + bottom, W + left + right), new border = value."""
    (top, bottom), (left, right) = pads
    return np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)), constant_values=value)


def unpad(xp, pads):
    """The (N, C, H, W) interior of a padded map: the adjoint of :func:`pad` (a view)."""
    (top, bottom), (left, right) = pads
    return xp[:, :, top:xp.shape[2] - bottom, left:xp.shape[3] - right]


def sliding_windows(xp, kernel_size, stride=(1, 1), dilation=(1, 1)):
    """Read-only view (N, C, kh, kw, Ho, Wo) of every window of a padded xp (N, C, Hp, Wp).

    ``view[n, c, i, j, y, x] is xp[n, c, y*sh + i*dh, x*sw + j*dw]``: moving one step
    along an axis of the view moves a fixed number of bytes in xp, so strides do it all.
    """
    (kh, kw), (sh, sw), (dh, dw) = kernel_size, stride, dilation
    n, c, hp, wp = xp.shape
    ho, wo = output_size(hp, kh, sh, dh), output_size(wp, kw, sw, dw)
    s_n, s_c, s_h, s_w = xp.strides
    return as_strided(xp, (n, c, kh, kw, ho, wo),
                      (s_n, s_c, s_h * dh, s_w * dw, s_h * sh, s_w * sw), writeable=False)


def im2col(xp, kernel_size, stride=(1, 1), dilation=(1, 1)):
    """Columns (C*kh*kw, N*Ho*Wo) of a padded xp (N, C, Hp, Wp): column (n, y, x) holds
    the window of output pixel (y, x) of sample n, rows in the weights' (c, i, j) order."""
    windows = sliding_windows(xp, kernel_size, stride, dilation)
    n, c, kh, kw, ho, wo = windows.shape
    return windows.transpose(1, 2, 3, 0, 4, 5).reshape(c * kh * kw, n * ho * wo)


def col2im(cols, padded_shape, kernel_size, stride=(1, 1), dilation=(1, 1)):
    """The adjoint of :func:`im2col`: add columns (C*kh*kw, N*Ho*Wo) back into a zero
    (N, C, Hp, Wp) map, each value where im2col read it.

    ``np.vdot(im2col(x), y) == np.vdot(x, col2im(y))`` for every x and y.  One strided
    add per kernel offset (i, j) covers all samples, channels and output pixels.
    """
    (kh, kw), (sh, sw), (dh, dw) = kernel_size, stride, dilation
    n, c, hp, wp = padded_shape
    ho, wo = output_size(hp, kh, sh, dh), output_size(wp, kw, sw, dw)
    per_offset = cols.reshape(c, kh, kw, n, ho, wo).transpose(3, 0, 1, 2, 4, 5)
    xp = np.zeros(padded_shape, dtype=cols.dtype)
    for i in range(kh):
        for j in range(kw):
            xp[:, :, i * dh:i * dh + sh * (ho - 1) + 1:sh,
               j * dw:j * dw + sw * (wo - 1) + 1:sw] += per_offset[:, :, i, j]
    return xp


# --------------------------------------------------------------------------- convolution

def conv2d_forward(x, weight, bias, stride=(1, 1), pads=((0, 0), (0, 0)), dilation=(1, 1)):
    """Cross-correlation of x (N, C, H, W) with weight (O, C, kh, kw), plus bias (O,) or None.

    ``out[n, o, y, x] = bias[o] + sum_{c,i,j} weight[o, c, i, j] * xp[n, c, y*sh + i*dh,
    x*sw + j*dw]``.  Returns ``(out, saved)``: out (N, O, Ho, Wo), and what
    :func:`conv2d_backward` needs.
    """
    o, kernel_size = weight.shape[0], weight.shape[2:]
    xp = pad(x, pads)
    cols = im2col(xp, kernel_size, stride, dilation)          # (C*kh*kw, N*Ho*Wo)
    out = weight.reshape(o, -1) @ cols                         # (O, N*Ho*Wo)
    if bias is not None:
        out += bias[:, None]
    n, _, hp, wp = xp.shape
    ho = output_size(hp, kernel_size[0], stride[0], dilation[0])
    wo = output_size(wp, kernel_size[1], stride[1], dilation[1])
    out = np.ascontiguousarray(out.reshape(o, n, ho, wo).transpose(1, 0, 2, 3))
    saved = {"cols": cols, "padded_shape": xp.shape, "stride": stride, "pads": pads,
             "dilation": dilation, "has_bias": bias is not None}
    return out, saved


def conv2d_backward(dout, weight, saved, need_dx=True):
    """Gradients of :func:`conv2d_forward` for dout (N, O, Ho, Wo) = dL/d(out).

    With ``D = dout`` as (O, N*Ho*Wo) and ``X = cols``: ``out = W @ X + b``, so
    ``dW = D @ X.T``, ``db = D summed over its columns`` and ``dX = W.T @ D``, which
    col2im adds back into dL/dx.  Returns ``(dx or None, dweight, dbias or None)``.
    """
    o = weight.shape[0]
    d2 = dout.transpose(1, 0, 2, 3).reshape(o, -1)           # (O, N*Ho*Wo)
    dweight = (d2 @ saved["cols"].T).reshape(weight.shape)
    dbias = d2.sum(axis=1) if saved["has_bias"] else None
    if not need_dx:
        return None, dweight, dbias
    dcols = weight.reshape(o, -1).T @ d2                       # (C*kh*kw, N*Ho*Wo)
    dxp = col2im(dcols, saved["padded_shape"], weight.shape[2:], saved["stride"],
                 saved["dilation"])
    return np.ascontiguousarray(unpad(dxp, saved["pads"])), dweight, dbias


def grouped_conv2d_forward(x, weight, bias, groups, stride=(1, 1), pads=((0, 0), (0, 0)),
                           dilation=(1, 1)):
    """``groups`` independent convolutions: group g convolves input channels
    ``[g*C/groups, (g+1)*C/groups)`` with output channels ``[g*O/groups, (g+1)*O/groups)``
    of weight (O, C/groups, kh, kw).  Depthwise: ``groups == C``, one filter a channel."""
    parts = [conv2d_forward(xg, wg, bg, stride, pads, dilation) for xg, wg, bg in zip(
        np.split(x, groups, axis=1), np.split(weight, groups),
        np.split(bias, groups) if bias is not None else [None] * groups)]
    return np.concatenate([out for out, _ in parts], axis=1), [s for _, s in parts]


def grouped_conv2d_backward(dout, weight, saved, need_dx=True):
    """Gradients of :func:`grouped_conv2d_forward`, group by group, joined again."""
    parts = [conv2d_backward(dg, wg, sg, need_dx) for dg, wg, sg in zip(
        np.split(dout, len(saved), axis=1), np.split(weight, len(saved)), saved)]
    dx, dweight, dbias = zip(*parts)
    return (np.concatenate(dx, axis=1) if need_dx else None, np.concatenate(dweight),
            np.concatenate(dbias) if dbias[0] is not None else None)


# --------------------------------------------------------------------------- pooling

def _pool_columns(x, kernel_size, stride, pads, dilation, value):
    """Columns (kh*kw, N*C*Ho*Wo) of x (N, C, H, W), one channel at a time (each channel
    is pooled on its own), padded with ``value``; also the output shape."""
    n, c, h, w = x.shape
    xp = pad(x.reshape(n * c, 1, h, w), pads, value)
    cols = im2col(xp, kernel_size, stride, dilation)
    ho = output_size(xp.shape[2], kernel_size[0], stride[0], dilation[0])
    wo = output_size(xp.shape[3], kernel_size[1], stride[1], dilation[1])
    return cols, xp.shape, (n, c, ho, wo)


def _pool_backward(dcols, saved):
    """dL/dx (N, C, H, W) from the pool columns' gradients, by col2im."""
    dxp = col2im(dcols, saved["padded_shape"], saved["kernel_size"], saved["stride"],
                 saved["dilation"])
    return np.ascontiguousarray(unpad(dxp, saved["pads"])).reshape(saved["x_shape"])


def max_pool2d_forward(x, kernel_size, stride, pads=((0, 0), (0, 0)), dilation=(1, 1)):
    """The maximum of each window of x (N, C, H, W); padding counts as -inf, NaN wins.

    Returns ``(out (N, C, Ho, Wo), saved)``, saved holding which window position each
    maximum came from: the first one (row-major) inside the input, or the last NaN
    (PyTorch's choices).
    """
    cols, padded_shape, out_shape = _pool_columns(x, kernel_size, stride, pads, dilation,
                                                  -np.inf)
    out = cols.max(axis=0)
    # padding never takes the gradient, even when its -inf ties with the window's maximum
    inside = im2col(pad(np.ones((1, 1) + x.shape[2:], bool), pads, False), kernel_size,
                    stride, dilation)
    inside = np.tile(inside, (1, x.shape[0] * x.shape[1]))
    argmax = np.argmax((cols == out) & inside, axis=0)
    nan = np.isnan(cols)
    last_nan = len(cols) - 1 - np.argmax(nan[::-1], axis=0)
    argmax = np.where(nan.any(axis=0), last_nan, argmax)
    saved = {"argmax": argmax, "rows": len(cols), "padded_shape": padded_shape,
             "kernel_size": kernel_size, "stride": stride, "pads": pads,
             "dilation": dilation, "x_shape": x.shape}
    return out.reshape(out_shape), saved


def max_pool2d_backward(dout, saved):
    """dL/dx for dout (N, C, Ho, Wo): each value goes to its window's maximum."""
    argmax = saved["argmax"]
    dcols = np.zeros((saved["rows"], argmax.size), dtype=dout.dtype)
    dcols[argmax, np.arange(argmax.size)] = dout.reshape(-1)
    return _pool_backward(dcols, saved)


def avg_pool2d_forward(x, kernel_size, stride, pads=((0, 0), (0, 0))):
    """The mean of each window of x (N, C, H, W), zero padding counted in the mean.

    Returns ``(out (N, C, Ho, Wo), saved)``.
    """
    cols, padded_shape, out_shape = _pool_columns(x, kernel_size, stride, pads, (1, 1), 0.0)
    with np.errstate(invalid="ignore"):  # inf + -inf is NaN, silently, as in PyTorch
        out = cols.mean(axis=0)
    saved = {"rows": len(cols), "padded_shape": padded_shape, "kernel_size": kernel_size,
             "stride": stride, "pads": pads, "dilation": (1, 1), "x_shape": x.shape}
    return out.reshape(out_shape).astype(x.dtype, copy=False), saved


def avg_pool2d_backward(dout, saved):
    """dL/dx for dout (N, C, Ho, Wo): each value spread evenly over its window."""
    share = dout.reshape(1, -1) / saved["rows"]
    return _pool_backward(np.broadcast_to(share, (saved["rows"], share.size)), saved)


def adaptive_pool_matrix(size: int, out: int, dtype=np.float64):
    """(out, size): row i averages PyTorch's bin i, input positions
    ``floor(i*size/out)`` to ``ceil((i+1)*size/out)`` (bins may overlap)."""
    i, pos = np.arange(out)[:, None], np.arange(size)
    inside = (pos >= i * size // out) & (pos < -(-(i + 1) * size // out))
    return (inside / inside.sum(axis=1, keepdims=True)).astype(dtype)


def adaptive_avg_pool2d_forward(x, output_size):
    """x (N, C, H, W) -> (N, C, oh, ow): the mean of each bin, as one matrix product per
    axis, ``out = A_h @ x @ A_w.T``.  Global average pooling is ``output_size = (1, 1)``."""
    ah = adaptive_pool_matrix(x.shape[2], output_size[0], x.dtype)
    aw = adaptive_pool_matrix(x.shape[3], output_size[1], x.dtype)
    return ah @ x @ aw.T, (ah, aw)


def adaptive_avg_pool2d_backward(dout, saved):
    """dL/dx for dout (N, C, oh, ow): the products' adjoint, ``A_h.T @ dout @ A_w``."""
    ah, aw = saved
    return ah.T @ dout @ aw

"""What a case's answers would be under a mistaken rule: the detectors' raw material.

Each function recomputes one of a case's answers the way a particular mistake computes
it (the kernel flipped, the stride forgotten, ``=`` where ``+=`` belongs, ...), so that a
detector can compare the learner's result with it.  Plain loops, NCHW float64, as in
:mod:`scratchcnn.reference`.
"""

from __future__ import annotations

import numpy as np

from .. import reference

__all__ = ["close", "close_mask", "conv", "conv_grads", "pool", "pool_dx",
           "conv_dx_assigned", "conv_dw_at", "pool_dx_routed"]


def _tolerance(got: np.ndarray, expected: np.ndarray) -> tuple[float, float]:
    """float32 results (or smaller) get float32's tolerance, float64 ones float64's."""
    scale = max(1.0, float(np.max(np.abs(expected)))) if expected.size else 1.0
    rtol = 1e-4 if got.dtype.kind == "f" and got.dtype.itemsize < 8 else 1e-7
    return rtol, rtol * scale


def close_mask(got, expected) -> np.ndarray:
    """Elementwise: is got right (same shape assumed)?"""
    got, expected = np.asarray(got), np.asarray(expected, dtype=np.float64)
    rtol, atol = _tolerance(got, expected)
    with np.errstate(all="ignore"):
        return np.isclose(got.astype(np.float64), expected, rtol=rtol, atol=atol)


def close(got, expected) -> bool:
    """Same shape and every value equal to float rounding."""
    if got is None or expected is None:
        return False
    got, expected = np.asarray(got), np.asarray(expected)
    if got.shape != expected.shape or got.dtype.kind not in "biuf":
        return False
    return bool(close_mask(got, expected).all())


def _pair(v: int) -> tuple[int, int]:
    return v, v


def conv(case, *, x=None, w=None, b="case", stride=None, padding=None) -> np.ndarray:
    """The case's forward output with some of its inputs replaced."""
    return reference.conv2d(case.x if x is None else x, case.w if w is None else w,
                            case.b if isinstance(b, str) else b,
                            _pair(case.stride if stride is None else stride),
                            _pair(case.padding if padding is None else padding))


def conv_grads(case, *, w=None, stride=None, dout=None):
    """(dx, dw, db) of the case with the weights, stride or dout replaced."""
    return reference.conv2d_backward(case.dout if dout is None else dout, case.x,
                                     case.w if w is None else w,
                                     _pair(case.stride if stride is None else stride),
                                     _pair(case.padding))


def pool(case, *, stride=None, padding=None) -> np.ndarray:
    return reference.max_pool2d(case.x, case.kernel,
                                _pair(case.stride if stride is None else stride),
                                _pair(case.padding if padding is None else padding))


def pool_dx(case, *, stride=None) -> np.ndarray:
    return reference.max_pool2d_backward(case.dout, case.x, case.kernel,
                                         _pair(case.stride if stride is None else stride),
                                         _pair(case.padding))


def _windows(case):
    """(y, x, rows, cols) of every output pixel's window in the padded input."""
    (kh, kw), s = case.kernel, case.stride
    for y in range(case.dout.shape[2]):
        for x in range(case.dout.shape[3]):
            yield y, x, slice(y * s, y * s + kh), slice(x * s, x * s + kw)


def _crop(dxp, case):
    p, (h, w) = case.padding, case.x.shape[2:]
    return dxp[:, :, p:p + h, p:p + w]


def conv_dx_assigned(case, per_filter=False) -> np.ndarray:
    """dX when each window's gradient is assigned (``=``) instead of added (``+=``): where
    windows overlap, the last one wins (looping over the filters outside the windows,
    ``per_filter``, the last filter's last window)."""
    p = case.padding
    dxp = np.zeros(case.x.shape[:2] + (case.x.shape[2] + 2 * p, case.x.shape[3] + 2 * p))
    for o in range(case.w.shape[0]) if per_filter else [None]:
        for y, x, rows, cols in _windows(case):
            if per_filter:
                dxp[:, :, rows, cols] = case.dout[:, o, y, x, None, None, None] * case.w[o]
            else:
                dxp[:, :, rows, cols] = np.tensordot(case.dout[:, :, y, x], case.w,
                                                     axes=([1], [0]))
    return _crop(dxp, case)


def conv_dw_at(case, position, padded=True) -> np.ndarray:
    """dW with output pixel y and kernel row i reading input row ``position(y, i, s)``
    (the right rule is ``y*s + i``) of the padded input, or of the unpadded one; rows
    outside the input read 0."""
    p = case.padding if padded else 0
    xp = np.pad(case.x, ((0, 0), (0, 0), (p, p), (p, p)))
    kh, kw = case.kernel
    dw = np.zeros_like(case.w)
    for i in range(kh):
        for j in range(kw):
            for y in range(case.dout.shape[2]):
                for x in range(case.dout.shape[3]):
                    r, c = position(y, i, case.stride), position(x, j, case.stride)
                    if r < xp.shape[2] and c < xp.shape[3]:
                        dw[:, :, i, j] += case.dout[:, :, y, x].T @ xp[:, :, r, c]
    return dw


def pool_dx_routed(case, route, assign=False) -> np.ndarray:
    """The pooling gradient when ``route(window, d)`` says what each window sends back
    (the right rule: d at the first maximum, 0 elsewhere), added (or assigned)."""
    p = case.padding
    xp = np.pad(case.x, ((0, 0), (0, 0), (p, p), (p, p)), constant_values=-np.inf)
    dxp = np.zeros_like(xp)
    for n in range(case.x.shape[0]):
        for c in range(case.x.shape[1]):
            for y, x, rows, cols in _windows(case):
                share = route(xp[n, c, rows, cols], case.dout[n, c, y, x])
                if assign == "window":
                    dxp[n, c, rows, cols] = share
                elif assign == "point":
                    where = share != 0
                    dxp[n, c, rows, cols][where] = share[where]
                else:
                    dxp[n, c, rows, cols] += share
    return _crop(dxp, case)

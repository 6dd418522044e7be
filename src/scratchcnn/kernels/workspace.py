"""Scratch buffers reused between calls, and the chunking of work that bounds them."""

from __future__ import annotations

import numpy as np

from .parallel import parallel_slices
from .tuning import TUNING

__all__ = ["Workspace", "scratch", "chunks", "rows_per_chunk", "samples_per_chunk", "assign"]


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


def scratch(workspace: Workspace | None, name: str, shape: tuple, dtype) -> np.ndarray:
    """An uninitialised array: from ``workspace`` when there is one, else new."""
    return np.empty(shape, dtype) if workspace is None else workspace.get(name, shape, dtype)


def chunks(length: int, size: int) -> list[tuple[int, int]]:
    """(start, stop) of consecutive chunks of ``size`` covering range(length)."""
    return [(start, min(length, start + size)) for start in range(0, length, size)]


def rows_per_chunk(rows: int, row_bytes: int, bound: int | None = None) -> int:
    """Rows per chunk so that a chunk stays within ``bound`` bytes (default: the column
    bound); the rows are split into equal chunks (BLAS runs best on equal products)."""
    bound = TUNING.max_column_bytes if bound is None else bound
    most = max(1, min(rows, bound // max(row_bytes, 1)))
    return -(-rows // -(-rows // most))


def samples_per_chunk(n: int, values: int, itemsize: int, bound: int | None = None) -> int:
    """Samples per chunk of a batch of n, ``values`` each, within ``bound`` bytes."""
    return rows_per_chunk(n, values * itemsize, bound) if n else 1


def assign(dst: np.ndarray, src: np.ndarray) -> None:
    """``dst[...] = src`` for arrays of one shape, split over threads along axis 0."""
    parallel_slices(lambda s: np.copyto(dst[s], src[s]), dst.shape[0], dst.size)

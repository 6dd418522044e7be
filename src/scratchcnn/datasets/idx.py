"""The IDX file format of MNIST and Fashion-MNIST (raw or gzip-compressed).

Layout: two zero bytes, a type code, the number of dimensions, then each dimension as a
big-endian uint32, then the values in C order, big-endian.
"""

from __future__ import annotations

import gzip
import os
import zlib

import numpy as np

__all__ = ["read_idx", "write_idx", "IDXError"]

TYPES = {0x08: np.dtype(np.uint8), 0x09: np.dtype(np.int8), 0x0B: np.dtype(">i2"),
         0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


class IDXError(ValueError):
    """A file that is not a well-formed IDX file."""


def _read_bytes(path: str) -> bytes:
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:2] == b"\x1f\x8b":
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as err:
            raise IDXError(f"{path}: corrupt or truncated gzip data ({err})") from None
    return raw


def read_idx(path) -> np.ndarray:
    """The array stored in an IDX file, in native byte order."""
    path = os.fspath(path)
    data = _read_bytes(path)
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise IDXError(f"{path}: not an IDX file (bad magic number {data[:4].hex() or 'empty'})")
    code, ndim = data[2], data[3]
    if code not in TYPES:
        raise IDXError(f"{path}: unknown IDX type code 0x{code:02x}")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise IDXError(f"{path}: truncated header ({len(data)} bytes, needs {header})")
    dims = tuple(int(d) for d in np.frombuffer(data, ">u4", ndim, 4))
    dtype = TYPES[code]
    expected = int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    if len(data) - header != expected:
        raise IDXError(f"{path}: header says {dims} of {dtype.name} ({expected:,} bytes) but "
                       f"the file holds {len(data) - header:,} bytes of data "
                       f"({'truncated' if len(data) - header < expected else 'extra data'})")
    return np.frombuffer(data, dtype, offset=header).reshape(dims).astype(
        dtype.newbyteorder("="))


def write_idx(path, array: np.ndarray, compress: bool | None = None) -> None:
    """Write ``array`` as IDX (gzip if ``compress`` or the name ends in .gz)."""
    path = os.fspath(path)
    array = np.asarray(array)
    code = {v.newbyteorder("="): k for k, v in TYPES.items()}.get(array.dtype.newbyteorder("="))
    if code is None:
        raise TypeError(f"write_idx: unsupported dtype {array.dtype}")
    body = bytes([0, 0, code, array.ndim]) + np.asarray(array.shape, ">u4").tobytes() + \
        array.astype(TYPES[code]).tobytes()
    if compress or (compress is None and path.endswith(".gz")):
        body = gzip.compress(body, mtime=0)
    with open(path, "wb") as f:
        f.write(body)

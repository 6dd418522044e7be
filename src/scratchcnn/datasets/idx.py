"""The IDX file format of MNIST and Fashion-MNIST (raw or gzip-compressed).

Layout: two zero bytes, a type code, the number of dimensions, then each dimension as a
big-endian uint32, then the values in C order, big-endian.
"""

from __future__ import annotations

import gzip
import math
import os
import stat
import zlib

import numpy as np

__all__ = ["read_idx", "write_idx", "IDXError"]

TYPES = {0x08: np.dtype(np.uint8), 0x09: np.dtype(np.int8), 0x0B: np.dtype(">i2"),
         0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


class IDXError(ValueError):
    """A file that is not a well-formed IDX file."""


#: The most a deflate stream can expand (about 1032:1): a gzip file cannot justify a
#: header that claims more than this many times its own size.
MAX_GZIP_RATIO = 1032


def _open(path: str):
    """(stream, size of the file, whether it is gzip); IDXError unless a regular file."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise
    except OSError as err:
        raise IDXError(f"{path}: cannot read it ({err.strerror or err})") from None
    if stat.S_ISDIR(st.st_mode):
        raise IDXError(f"{path}: is a directory, not an IDX file")
    if not stat.S_ISREG(st.st_mode):
        raise IDXError(f"{path}: not a regular file (a device or pipe), so not an IDX file")
    f = open(path, "rb")
    is_gzip = f.read(2) == b"\x1f\x8b"
    f.seek(0)
    return (gzip.GzipFile(fileobj=f, mode="rb") if is_gzip else f), st.st_size, is_gzip


def _read_exactly(stream, size: int, path: str, what: str) -> bytes:
    """``size`` bytes of ``stream`` (fewer only at its end), gzip errors as IDXError."""
    try:
        return stream.read(size)
    except (OSError, EOFError, zlib.error) as err:
        raise IDXError(f"{path}: corrupt or truncated gzip data in the {what} ({err})") from None


def read_idx(path) -> np.ndarray:
    """The array stored in an IDX file, in native byte order.

    The header is read first and checked against what the file can hold (its size, or
    for gzip the most deflate can expand to), and then exactly the data it claims is
    read: a corrupt, truncated or crafted file gives an :class:`IDXError` naming it and
    never makes this allocate more than the file justifies.
    """
    path = os.fspath(path)
    stream, file_size, is_gzip = _open(path)
    with stream:
        head = _read_exactly(stream, 4, path, "header")
        if len(head) < 4 or head[0] != 0 or head[1] != 0:
            raise IDXError(f"{path}: not an IDX file (bad magic number {head.hex() or 'empty'})")
        code, ndim = head[2], head[3]
        if code not in TYPES:
            raise IDXError(f"{path}: unknown IDX type code 0x{code:02x}")
        raw_dims = _read_exactly(stream, 4 * ndim, path, "header")
        if len(raw_dims) < 4 * ndim:
            raise IDXError(f"{path}: truncated header ({4 + len(raw_dims)} bytes, needs "
                           f"{4 + 4 * ndim})")
        dims = tuple(int(d) for d in np.frombuffer(raw_dims, ">u4"))
        dtype = TYPES[code]
        expected = math.prod(dims) * dtype.itemsize
        header = 4 + 4 * ndim
        room = file_size * MAX_GZIP_RATIO if is_gzip else file_size - header
        if expected > room:
            raise IDXError(f"{path}: header says {dims} of {dtype.name} ({expected:,} bytes), "
                           f"more than the file can hold ({file_size:,} bytes"
                           f"{', gzip' if is_gzip else ''}): truncated or not an IDX file")
        data = _read_exactly(stream, expected, path, "data")
        extra = _read_exactly(stream, 1, path, "data") if len(data) == expected else b""
    if len(data) != expected or extra:
        held = f"{len(data):,} bytes" if not extra else f"more than {expected:,} bytes"
        raise IDXError(f"{path}: header says {dims} of {dtype.name} ({expected:,} bytes) but "
                       f"the file holds {held} of data "
                       f"({'truncated' if len(data) < expected else 'extra data'})")
    return np.frombuffer(data, dtype).reshape(dims).astype(dtype.newbyteorder("="))


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

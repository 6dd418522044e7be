"""The IDX file format of MNIST and Fashion-MNIST (raw or gzip-compressed).

Layout: two zero bytes, a type code, the number of dimensions, then each dimension as a
big-endian uint32, then the values in C order, big-endian.
"""

from __future__ import annotations

import gzip
import math
import os
import zlib

import numpy as np

from ..archive import regular_file

__all__ = ["read_idx", "write_idx", "IDXError"]

TYPES = {0x08: np.dtype(np.uint8), 0x09: np.dtype(np.int8), 0x0B: np.dtype(">i2"),
         0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


class IDXError(ValueError):
    """A file that is not a well-formed IDX file."""


#: How many times its own size a gzip IDX file may claim to hold.  Deflate can expand
#: about 1032:1, but data sets compress 2-5:1 (MNIST's training images 4.7:1, its labels
#: 2.1:1): a file claiming more is a bomb (1 MB inflating to 1 GB), refused from its
#: header before anything is decompressed.
MAX_GZIP_RATIO = 64
#: What any gzip file may claim, whatever its size (small files of repeated values,
#: such as a label file of one class, compress far better than data sets).
GZIP_ALLOWANCE = 16 << 20
#: How much is decompressed at a time, straight into the array.
CHUNK = 1 << 18


def _open(path: str):
    """(stream, size of the file, whether it is gzip); IDXError unless a regular file."""
    def fail(why):
        raise IDXError(f"{path}: {why}, not an IDX file")
    st = regular_file(path, fail)
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


def _read_into(stream, raw: np.ndarray, path: str) -> int:
    """Fill the bytes ``raw`` from ``stream``, CHUNK at a time; how many it held."""
    filled = 0
    while filled < raw.size:
        piece = _read_exactly(stream, min(CHUNK, raw.size - filled), path, "data")
        if not piece:
            break
        raw[filled:filled + len(piece)] = np.frombuffer(piece, np.uint8)
        filled += len(piece)
    return filled


def read_idx(path) -> np.ndarray:
    """The array stored in an IDX file, in native byte order.

    The header is read first and checked against what the file can hold (its size, or
    for gzip ``MAX_GZIP_RATIO`` times it, at least ``GZIP_ALLOWANCE``), and then exactly
    the data it claims is read, straight into the array: a corrupt, truncated or crafted
    file (a gzip bomb, a FIFO, a device) gives an :class:`IDXError` naming it and never
    makes this allocate more than the file justifies.
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
        room = max(file_size * MAX_GZIP_RATIO, GZIP_ALLOWANCE) if is_gzip else \
            file_size - header
        if expected > room:
            raise IDXError(f"{path}: header says {dims} of {dtype.name} ({expected:,} bytes), "
                           f"more than the file can hold ({file_size:,} bytes"
                           f"{f', gzip, at most {MAX_GZIP_RATIO}:1' if is_gzip else ''}): "
                           f"truncated, a decompression bomb or not an IDX file")
        try:
            array = np.empty(dims, dtype)  # read into its place: no second copy of the data
        except ValueError as err:  # an empty array with absurd other sizes
            raise IDXError(f"{path}: header says {dims}, which NumPy cannot hold ({err})"
                           ) from None
        held = _read_into(stream, array.reshape(-1).view(np.uint8), path)
        extra = _read_exactly(stream, 1, path, "data") if held == expected else b""
    if held != expected or extra:
        held = f"{held:,} bytes" if not extra else f"more than {expected:,} bytes"
        raise IDXError(f"{path}: header says {dims} of {dtype.name} ({expected:,} bytes) but "
                       f"the file holds {held} of data ({'extra data' if extra else 'truncated'})")
    if dtype.byteorder not in "=|":  # big-endian on disk: swapped in place
        array = array.byteswap(inplace=True).view(dtype.newbyteorder("="))
    return array


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

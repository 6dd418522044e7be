"""Read an ``.npz`` archive of plain arrays, and the JSON text kept in such files,
without trusting either; and what every reader of an untrusted file shares: only regular
files (:func:`regular_file`), and no read larger than the file (:class:`BoundedReader`).

``np.load`` would do, but it decides what to allocate from the archive's own claims and
its errors name neither the file nor what is wrong.  Here every member's ``.npy`` header
is read first and checked against the bytes the archive really holds, object arrays
(pickles) are refused without being unpickled, and every failure is an
:class:`ArchiveError` naming the file.  All members together may claim at most
``MAX_EXPANSION`` times the file's own size, checked before any is read, and each is
read straight into its array: so a crafted or broken file can never run code, make this
allocate more than that, or escape as another exception.
"""

from __future__ import annotations

import io
import json
import math
import os
import stat
import zipfile

import numpy as np

__all__ = ["ArchiveError", "read_npz", "regular_file", "BoundedReader", "parse_json",
           "MAX_EXPANSION"]

#: Members an archive may hold (a model of thousands of layers stays far below).
MAX_MEMBERS = 100_000
#: All members of an archive together may hold at most this many times the file's own
#: size.  Arrays written as scratchcnn writes them (``np.savez``, uncompressed) hold less
#: than the file; deflate (``np.savez_compressed``) gains about 1.1:1 on trained weights.
#: A bomb of many small deflated members, each claiming about the file's size, is
#: refused before any member is read.
MAX_EXPANSION = 4
#: How much of a member is decompressed at a time into its array.
CHUNK = 1 << 20
#: The largest integer a file's JSON may hold (a 128-bit random generator's state fits).
MAX_JSON_INT = 2**128


class ArchiveError(ValueError):
    """A file that is not a readable ``.npz`` archive of plain arrays; names the file."""


def regular_file(path: str, fail) -> os.stat_result:
    """``os.stat(path)``, or ``fail(why)`` unless ``path`` is a regular file (links are
    followed): a FIFO would make a reader wait for a writer forever, a device such as
    /dev/zero never ends.  A missing file raises FileNotFoundError."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise
    except (OSError, ValueError) as err:  # permissions, a loop of links, a NUL in the name
        fail(f"cannot read it: {getattr(err, 'strerror', None) or err}")
    if stat.S_ISDIR(st.st_mode):
        fail("it is a directory")
    if not stat.S_ISREG(st.st_mode):
        kind = "a FIFO" if stat.S_ISFIFO(st.st_mode) else "a device" if \
            stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode) else "a socket or other"
        fail(f"not a regular file but {kind}")
    return st


class BoundedReader(io.BufferedReader):
    """The file open on descriptor ``fd``, whose ``read(n)`` never asks for more bytes
    than are left in it: a reader that trusts a length written in the file (Pillow a PNG
    chunk's, up to 2 GiB) then allocates at most the file's own size."""

    def __init__(self, fd: int):
        super().__init__(io.FileIO(fd, "r"))
        self.limit = os.fstat(fd).st_size

    def read(self, size: int | None = -1, /) -> bytes:
        left = max(self.limit - self.tell(), 0)
        return super().read(left if size is None or size < 0 else min(size, left))


def parse_json(text: bytes | str, fail):
    """The JSON value of ``text``, or ``fail(why)``: for text that is not UTF-8 JSON,
    nested too deeply for Python, or holding an integer beyond ``MAX_JSON_INT`` (which
    ``float()`` or NumPy could not take).  ``NaN`` and ``Infinity`` are read (a run's
    history may hold a NaN loss): what a number means is checked where it is used."""
    def integer(digits: str) -> int:
        value = int(digits)
        if abs(value) > MAX_JSON_INT:
            raise ValueError(f"the number {digits[:20]}... is too large")
        return value
    try:
        if isinstance(text, bytes):
            text = text.decode("utf-8")
        return json.loads(text, parse_int=integer)
    except (ValueError, RecursionError) as err:  # JSON and UTF-8 errors, absurd nesting
        fail(f"{type(err).__name__}: {err}")


def read_npz(path: str, what: str = "file") -> dict[str, np.ndarray]:
    """All arrays of the archive at ``path``, by member name less ``.npy``.

    ``what`` names the kind of file in error messages (``"model"``, ``"checkpoint"``).
    A missing file raises FileNotFoundError; anything else that is wrong, ArchiveError.
    """
    def fail(why):
        raise ArchiveError(f"{path}: not a scratchcnn {what} file ({why})")
    size = regular_file(path, fail).st_size
    room = MAX_EXPANSION * size
    try:
        with open(path, "rb") as f:
            if f.read(4) != b"PK\x03\x04":
                fail("not an .npz archive")
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
            if len(members) > MAX_MEMBERS:
                fail(f"{len(members):,} members")
            for info in members:  # every claim checked before any member is read
                if info.file_size > room or info.compress_size > size:  # a bomb's claim
                    fail(f"member {info.filename!r} claims {info.file_size:,} bytes "
                         f"({info.compress_size:,} compressed), more than the whole file "
                         f"({size:,} bytes) can hold")
            total = sum(info.file_size for info in members)
            if total > room:
                fail(f"its {len(members):,} members claim {total:,} bytes together, more "
                     f"than the whole file ({size:,} bytes) can hold (at most "
                     f"{MAX_EXPANSION} times its size)")
            arrays: dict[str, np.ndarray] = {}
            for info in members:
                name = info.filename[:-4] if info.filename.endswith(".npy") else None
                if name is None or name in arrays:
                    fail(f"member {info.filename!r} is {'repeated' if name else 'not an array'}")
                try:
                    with archive.open(info) as member:
                        arrays[name] = _read_member(member, info, fail)
                except ArchiveError:
                    raise
                except Exception as err:  # a broken member's header or data
                    fail(f"member {info.filename!r}: {type(err).__name__}: {err}")
    except ArchiveError:
        raise
    except Exception as err:  # zip, zlib, header-parsing and I/O errors of a broken file
        fail(f"{type(err).__name__}: {err}")
    return arrays


def _read_member(member, info: zipfile.ZipInfo, fail) -> np.ndarray:
    """One ``.npy`` member, its header checked before its data is read into its array."""
    version = np.lib.format.read_magic(member)
    if version == (1, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(member)
    elif version in ((2, 0), (3, 0)):
        shape, fortran, dtype = np.lib.format.read_array_header_2_0(member)
    else:
        fail(f"member {info.filename!r} has .npy version {version}")
    if dtype.hasobject:
        fail(f"member {info.filename!r} holds Python objects (a pickle), which scratchcnn "
             "never loads")
    if not dtype.itemsize:
        fail(f"member {info.filename!r} has dtype {dtype} of no size")
    nbytes = math.prod(shape) * dtype.itemsize
    if nbytes > info.file_size:
        fail(f"member {info.filename!r} claims shape {shape} of {dtype} ({nbytes:,} bytes) in "
             f"{info.file_size:,} bytes")
    array = np.empty(shape[::-1] if fortran else shape, dtype)
    raw, filled = array.reshape(-1).view(np.uint8), 0
    while filled < nbytes:  # never more than CHUNK bytes at a time besides the array
        piece = member.read(min(CHUNK, nbytes - filled))
        if not piece:
            fail(f"member {info.filename!r} is truncated")
        raw[filled:filled + len(piece)] = np.frombuffer(piece, np.uint8)
        filled += len(piece)
    return array.T if fortran else array

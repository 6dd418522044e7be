"""Read an ``.npz`` archive of plain arrays without trusting it.

``np.load`` would do, but it decides what to allocate from the archive's own claims and
its errors name neither the file nor what is wrong.  Here every member's ``.npy`` header
is read first and checked against the bytes the archive really holds, object arrays
(pickles) are refused without being unpickled, and every failure is an
:class:`ArchiveError` naming the file.  So a crafted or broken file can never run code,
make this allocate more than the file's own size, or escape as another exception.
"""

from __future__ import annotations

import math
import os
import stat
import zipfile

import numpy as np

__all__ = ["ArchiveError", "read_npz"]

#: Members an archive may hold (a model of thousands of layers stays far below).
MAX_MEMBERS = 100_000


class ArchiveError(ValueError):
    """A file that is not a readable ``.npz`` archive of plain arrays; names the file."""


def read_npz(path: str, what: str = "file") -> dict[str, np.ndarray]:
    """All arrays of the archive at ``path``, by member name less ``.npy``.

    ``what`` names the kind of file in error messages (``"model"``, ``"checkpoint"``).
    A missing file raises FileNotFoundError; anything else that is wrong, ArchiveError.
    """
    def fail(why):
        raise ArchiveError(f"{path}: not a scratchcnn {what} file ({why})")
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise
    except OSError as err:
        fail(f"cannot read it: {err.strerror or err}")
    if stat.S_ISDIR(st.st_mode):
        fail("it is a directory")
    if not stat.S_ISREG(st.st_mode):
        fail("not a regular file")
    try:
        with open(path, "rb") as f:
            if f.read(4) != b"PK\x03\x04":
                fail("not an .npz archive")
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
            if len(members) > MAX_MEMBERS:
                fail(f"{len(members):,} members")
            arrays: dict[str, np.ndarray] = {}
            for info in members:
                name = info.filename[:-4] if info.filename.endswith(".npy") else None
                if name is None or name in arrays:
                    fail(f"member {info.filename!r} is {'repeated' if name else 'not an array'}")
                if info.file_size > st.st_size:  # a compressed member claiming a bomb's size
                    fail(f"member {info.filename!r} claims {info.file_size:,} bytes, more than "
                         f"the whole file ({st.st_size:,})")
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
    """One ``.npy`` member, its header checked before its data is read."""
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
    nbytes = math.prod(shape) * dtype.itemsize
    if nbytes > info.file_size:
        fail(f"member {info.filename!r} claims shape {shape} of {dtype} ({nbytes:,} bytes) in "
             f"{info.file_size:,} bytes")
    data = member.read(nbytes)
    if len(data) != nbytes:
        fail(f"member {info.filename!r} is truncated")
    array = np.frombuffer(data, dtype)
    array = array.reshape(shape[::-1]).T if fortran else array.reshape(shape)
    return array.copy()

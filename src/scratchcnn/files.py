"""Files written whole or not at all: through a temporary name beside the target, renamed
over it only once written (a crash, Ctrl-C or ``kill -9`` leaves the old file or none)."""

from __future__ import annotations

import os
import tempfile

__all__ = ["atomic_write"]


def atomic_write(path: str, write, prefix: str = ".tmp-") -> None:
    """Call ``write(file)`` on a temporary file next to ``path`` (named ``prefix`` + a
    random part + the file's name), then rename it over ``path``.  Whatever ``write``
    raises (a bad checksum, say) removes the temporary file and goes on up."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=prefix, suffix=os.path.basename(path))
    try:
        _usual_mode(fd)
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _usual_mode(fd: int) -> None:
    """Give a file made by ``tempfile.mkstemp`` (mode 0600) the mode ``open`` would have
    given it (0666 less the umask), so a saved model is as readable as any other file."""
    umask = os.umask(0o022)  # reading the umask means setting it; put it straight back
    os.umask(umask)
    os.fchmod(fd, 0o666 & ~umask)

"""File permissions for files written through a temporary name."""

from __future__ import annotations

import os


def usual_mode(fd: int) -> None:
    """Give a file made by ``tempfile.mkstemp`` (mode 0600) the mode ``open`` would have
    given it (0666 less the umask), so a saved model is as readable as any other file."""
    umask = os.umask(0o022)  # reading the umask means setting it; put it straight back
    os.umask(umask)
    os.fchmod(fd, 0o666 & ~umask)

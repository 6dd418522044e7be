"""Fetch files from a list of mirrors: checksum-verified, atomic, with progress."""

from __future__ import annotations

import hashlib
import logging
import os
import urllib.error
import urllib.request

from ..files import atomic_write
from ..progress import bar as progress_bar

log = logging.getLogger("scratchcnn")

__all__ = ["DownloadError", "download"]


class DownloadError(OSError):
    """No mirror delivered a file with the right checksum."""


def download(filename: str, md5: str, mirrors: list[str], dest_dir: str,
             timeout: float = 10.0, progress: bool = True) -> str:
    """Download ``filename`` into ``dest_dir`` from the first mirror that serves it intact.

    Each mirror is a URL prefix.  The file is streamed to a temporary file beside the
    target and renamed into place only when its MD5 matches, so the cache never holds a
    partial or corrupt file.  Raises :class:`DownloadError` naming every failure.
    """
    target = os.path.join(dest_dir, filename)
    errors = []
    for mirror in mirrors:
        url = mirror.rstrip("/") + "/" + filename

        def fetch(out) -> None:  # streamed into the temporary file; a bad copy raises
            digest = hashlib.md5()
            with urllib.request.urlopen(url, timeout=timeout) as resp:
                total = int(resp.headers.get("Content-Length") or 0)
                with progress_bar(total or None, f"downloading {filename}", "B",
                                  enabled=progress, unit_scale=True) as bar:
                    while chunk := resp.read(1 << 16):
                        out.write(chunk)
                        digest.update(chunk)
                        bar.update(len(chunk))
            if digest.hexdigest() != md5:
                raise DownloadError(f"checksum mismatch (md5 {digest.hexdigest()}, expected "
                                    f"{md5})")
        try:
            atomic_write(target, fetch, prefix=".part-")
            log.info("downloaded %s from %s", filename, url)
            return target
        except (OSError, ValueError) as err:  # URLError, timeouts, HTTP errors, bad checksum
            errors.append(f"{url}: {err}")
            log.info("mirror failed: %s: %s", url, err)
    raise DownloadError(f"could not download {filename}:\n  " + "\n  ".join(errors))

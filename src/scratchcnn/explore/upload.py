"""An uploaded image file (its bytes, never a path) as a model's input, prepared as
``scratchcnn predict`` prepares a photo (:func:`scratchcnn.cli.examine.image_to_input`:
grey, resized, and for a digit model turned light-on-dark and stretched like MNIST).

Limits: :data:`MAX_BYTES` per upload (the server refuses more without decoding it) and
:data:`MAX_PIXELS` per image, read from the file's header before any pixel is decoded.
Needs Pillow (the ``[images]`` extra).
"""

from __future__ import annotations

import io
import os
import tempfile
import warnings

import numpy as np

from ..extras import require

__all__ = ["image_input", "BadImage", "MAX_BYTES", "MAX_PIXELS"]

#: The largest upload taken, in bytes (2 MiB).
MAX_BYTES = 2 * 1024 * 1024
#: The most pixels an uploaded image may have (a 4096 x 4096 photo).
MAX_PIXELS = 4096 * 4096


class BadImage(ValueError):
    """An upload that is not an image this page takes; the message says why, for the page."""


def _header(data: bytes) -> tuple[str, int, int]:
    """(format, width, height) from the file's header; BadImage if Pillow reads no image
    of the formats the library takes, or one of too many pixels."""
    require("PIL", "reading uploaded images")
    from PIL import Image

    from ..datasets.image_folder import FORMATS
    Image.init()
    formats = [f for f in FORMATS if f in Image.OPEN]
    if not data:
        raise BadImage("the file is empty")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=formats) as img:
                (width, height), kind = img.size, img.format
    except Image.DecompressionBombError:
        raise BadImage(f"the image has too many pixels (the limit is {MAX_PIXELS:,})") from None
    except Exception:  # whatever Pillow raises for something that is no image
        raise BadImage(f"this file is not an image: the page takes {', '.join(formats)} "
                       f"files (a photo or a scan of a digit)") from None
    if width * height > MAX_PIXELS:
        raise BadImage(f"the image is {width}x{height}, {width * height:,} pixels; the limit "
                       f"is {MAX_PIXELS:,} (4096x4096)")
    return kind, width, height


def image_input(data: bytes, shape: tuple, dataset: str = "mnist") -> np.ndarray:
    """The bytes of an image file as the input (C, H, W) in [0, 1] of a model taking
    ``shape`` and trained on ``dataset``; BadImage (a ValueError) saying what is wrong."""
    from ..cli.examine import image_to_input
    if len(data) > MAX_BYTES:
        raise BadImage(f"the file is {len(data):,} bytes; the limit is {MAX_BYTES:,} (2 MiB)")
    kind, _, _ = _header(data)
    with tempfile.TemporaryDirectory(prefix="scratchcnn-explore-") as folder:
        path = os.path.join(folder, f"upload.{kind.lower()}")
        with open(path, "wb") as f:
            f.write(data)
        try:
            return image_to_input(path, tuple(shape), dataset)
        except SystemExit as err:  # the command line's one-line errors, for the page
            text = str(err).replace(path, "the file").removeprefix("scratchcnn: ")
            raise BadImage(text) from None

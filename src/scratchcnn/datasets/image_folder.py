"""Image folders: a data set as one subfolder of image files per class.

The layout of torchvision's ``ImageFolder`` and Keras' ``image_dataset_from_directory``::

    pets/                          pets/
      cat/  001.png 002.jpg ...      train/  cat/ ...  dog/ ...
      dog/  a.jpeg b/c.png ...       test/   cat/ ...  dog/ ...

Each subfolder is a class, numbered in sorted order (``cat`` 0, ``dog`` 1), its images
maybe in nested folders; ``train/`` and ``test/`` are the splits, else a seeded split,
stratified by class, holds out ``test_split`` of each class.  Images are
``.png .jpg .jpeg .bmp .gif .webp`` files (any case), decoded as those formats only;
hidden (``.*``) and other files are skipped and counted.  :func:`read_image` (also
``predict``'s) turns each image upright by its EXIF orientation; makes it grey (``L``,
ITU-R 601 luma) or RGB, transparent pixels composited on white, 16-bit grey divided by
65,535; with ``image_size``, scales it (bilinear, antialiased) into ``(H, W)``, aspect
ratio kept, centred on zeros (letterbox; an odd pixel of padding below or right); and
stores float32 in [0, 1]: 8-bit values times ``1/255``, as ``load_mnist`` does.

A FIFO or device is refused unopened; a corrupt or truncated image, or one over
``MAX_PIXELS`` (a bomb), is one :class:`ImageFolderError` naming it, or skipped with
``on_error="skip"``.  Arrays are allocated once, decoded into on ``WORKERS`` threads.
"""

from __future__ import annotations

import functools
import logging
import os
import stat
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ..archive import BoundedReader
from ..extras import require
from ..progress import bar

log = logging.getLogger("scratchcnn")

__all__ = ["load_image_folder", "read_image", "ImageFolderError", "IMAGE_EXTENSIONS", "MAX_PIXELS"]

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")
#: What Pillow may decode a file as (JPEG includes the MPO files some cameras write).
FORMATS = ("PNG", "JPEG", "BMP", "GIF", "WEBP")
#: The most pixels an image may have (Pillow's default ``MAX_IMAGE_PIXELS``, about a
#: 9,500 x 9,500 photo); a lower ``PIL.Image.MAX_IMAGE_PIXELS`` set by the user wins.
MAX_PIXELS = 89_478_485
MAX_ARRAY_BYTES = 8 * 2**30  #: the most one folder's float32 arrays may take
GRAY_MODES = ("1", "L", "LA", "La", "I", "I;16", "I;16L", "I;16B", "I;16N", "F")
#: Images a worker thread decodes between two updates of the progress bar.
CHUNK = 256
WORKERS = 2


class ImageFolderError(ValueError):
    """A file that cannot be used as an image (the message starts with its path)."""


@functools.cache
def _pil():
    """PIL.Image, PIL.ImageOps and those of FORMATS this Pillow reads (WebP is optional
    in a Pillow build), or an ImportError that says ``pip install``."""
    require("PIL", "reading images")
    from PIL import Image, ImageOps
    Image.init()
    return Image, ImageOps, [f for f in FORMATS if f in Image.OPEN]


def _open_file(path: str):
    """``path`` opened for reading no more than it holds; refused unopened unless a regular
    file (links are followed), and checked again once open (non-blocking: a FIFO swapped
    in since the check cannot hang the open)."""
    try:
        mode = os.stat(path).st_mode
        if stat.S_ISREG(mode):
            f = BoundedReader(os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0)))
            mode = os.fstat(f.fileno()).st_mode
            if stat.S_ISREG(mode):
                return f
            f.close()
    except OSError as err:
        raise ImageFolderError(f"{path}: cannot read it ({err.strerror or err})") from None
    kind = "a FIFO" if stat.S_ISFIFO(mode) else "a folder" if stat.S_ISDIR(mode) else \
        "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "not a regular file"
    raise ImageFolderError(f"{path}: {kind}, not an image file; refused unopened")


def _decoded(path: str, header_only: bool = False):
    """The file's PIL image, loaded and upright; or (header_only), without decoding any
    pixels, whether it is grey and its upright ``(H, W)``.  ImageFolderError for
    anything Pillow cannot use, never one of Pillow's exceptions."""
    Image, ImageOps, formats = _pil()
    with _open_file(path) as f:
        try:
            img = Image.open(f, formats=formats)
            (width, height), cap = img.size, min(MAX_PIXELS, Image.MAX_IMAGE_PIXELS or MAX_PIXELS)
            if width * height > cap:
                raise ImageFolderError(f"{path}: {width}x{height} is {width * height:,} pixels, "
                                       f"over the limit of {cap:,} (a decompression bomb?)")
            if header_only:
                return _is_gray(img), _upright_size(img)
            img.load()
        except ImageFolderError:
            raise
        except Exception as err:  # whatever Pillow raises on a bad file: one error
            bomb = (Image.DecompressionBombError, Image.DecompressionBombWarning)
            why = f"too many pixels, a decompression bomb? ({err})" if isinstance(err, bomb) \
                else f"not a {'/'.join(formats)} image" if isinstance(
                    err, Image.UnidentifiedImageError) \
                else f"corrupt or truncated image ({type(err).__name__}: {err})"
            raise ImageFolderError(f"{path}: {why}") from err
    try:
        ImageOps.exif_transpose(img, in_place=True)
    except Exception as err:  # a broken EXIF block: the pixels as stored
        log.info("%s: EXIF orientation unreadable, image used as stored (%s)", path, err)
    return img


def _is_gray(img) -> bool:
    """Whether an opened image holds grey levels only (a palette of greys counts)."""
    if img.mode in ("P", "PA") and img.palette is not None:
        rawmode, data = img.palette.getdata()
        rgb = np.frombuffer(data, np.uint8)
        return rawmode == "RGB" and rgb.size % 3 == 0 and bool(
            (rgb.reshape(-1, 3) == rgb.reshape(-1, 3)[:, :1]).all())
    return img.mode in GRAY_MODES


def _upright_size(img) -> tuple[int, int]:
    """(H, W) after the EXIF orientation, where the header holds it (a PNG's may come
    after the pixels: then the size as stored, and decoding checks it again)."""
    width, height = img.size
    try:
        orientation = img.getexif().get(0x0112, 1) if "exif" in img.info else 1
    except Exception:  # a broken EXIF block is ignored, as when decoding
        orientation = 1
    return (width, height) if orientation in (5, 6, 7, 8) else (height, width)


def _converted(img, channels: int):
    """The image in mode L or RGB (8-bit), or F (16-bit grey divided by 65,535)."""
    Image, *_ = _pil()
    if img.mode in GRAY_MODES[4:]:  # 16- and 32-bit grey
        scale = 1.0 if img.mode == "F" else 1.0 / 65535
        return Image.fromarray(np.clip(np.asarray(img, np.float32) * scale, 0, 1))
    if img.mode in ("RGBA", "LA", "La", "PA", "RGBa") or "transparency" in img.info:
        white = Image.new("RGBA", img.size, (255, 255, 255, 255))
        img = Image.alpha_composite(white, img.convert("RGBA"))
    target = "L" if channels == 1 else "RGB"
    return img if img.mode == target else img.convert(target)


def _write(img, channels: int, size: tuple | None, out: np.ndarray, stretch=False) -> None:
    """Write the image into ``out`` (C, H, W) float32: converted, letterboxed into
    ``size`` (H, W) if given (``out`` must hold zeros then), scaled to [0, 1]."""
    Image, *_ = _pil()
    img = _converted(img, channels)
    top = left = 0
    if size is not None and img.size != (size[1], size[0]):
        h, w = size
        scale = min(w / img.width, h / img.height)
        new = (w, h) if stretch else (max(1, round(img.width * scale)),
                                      max(1, round(img.height * scale)))
        img = img.resize(new, Image.Resampling.BILINEAR)
        top, left = (h - new[1]) // 2, (w - new[0]) // 2
    a = np.asarray(img)
    region = out[:, top:top + img.height, left:left + img.width]
    if img.mode == "F":
        np.copyto(region, a)  # one grey channel, repeated for RGB
    else:
        np.multiply(a if a.ndim == 2 else a.transpose(2, 0, 1), np.float32(1.0 / 255.0),
                    out=region)


def read_image(path: str, image_size=None, color: str | None = None,
               stretch: bool = False) -> np.ndarray:
    """One image file as float32 ``(C, H, W)`` in [0, 1], prepared as
    :func:`load_image_folder` prepares each file (see the module's docstring).

    ``color``: "gray" (C=1), "rgb" (C=3) or None: what the file is.  ``image_size``: int
    or ``(H, W)`` to letterbox into (``stretch``: resize to), or None: the image's own.
    """
    channels, size = _options(color, image_size)
    Image, *_ = _pil()
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        img = _decoded(path)
    channels = channels or (1 if _is_gray(img) else 3)
    x = np.zeros((channels, *(size or (img.height, img.width))), np.float32)
    _write(img, channels, size, x, stretch)
    return x


def _options(color, image_size, on_error="raise", test_split=0.5):
    """The channels ``color`` asks for and the (H, W) of ``image_size``; all checked."""
    if color not in (None, "gray", "grey", "rgb"):
        raise ValueError(f"color must be 'gray', 'rgb' or None, not {color!r}")
    if on_error not in ("raise", "skip"):
        raise ValueError(f"on_error must be 'raise' or 'skip', not {on_error!r}")
    if not 0 < test_split < 1:
        raise ValueError(f"test_split must be between 0 and 1, not {test_split!r}")
    size = image_size if image_size is None or not isinstance(image_size, (int, np.integer)) \
        else (image_size, image_size)
    if size is not None and (len(size) != 2 or not all(
            isinstance(n, (int, np.integer)) and n > 0 for n in size)):
        raise ValueError(f"image_size must be a positive int or (H, W), not {image_size!r}")
    return {None: None, "rgb": 3}.get(color, 1), size and (int(size[0]), int(size[1]))


def _class_folders(folder: str, skipped: dict) -> dict[str, list[str]]:
    """{class name: its image files, sorted by path} for the subfolders of ``folder``
    (their subfolders too, but not hidden ones, nor links to folders inside them)."""
    classes, loose = {}, 0
    for name in sorted(os.listdir(folder)):
        if name.startswith("."):
            skipped["hidden"] += 1
        elif os.path.isdir(os.path.join(folder, name)):
            files = []
            for here, dirs, names in os.walk(os.path.join(folder, name)):
                skipped["hidden"] += sum(n.startswith(".") for n in dirs + names)
                dirs[:] = [d for d in dirs if not d.startswith(".")]
                shown = [n for n in names if not n.startswith(".")]
                images = [n for n in shown if n.lower().endswith(IMAGE_EXTENSIONS)]
                skipped["not_image"] += len(shown) - len(images)
                files.extend((os.path.relpath(here, folder).split(os.sep), n) for n in images)
            if not files:
                raise ValueError(f"{os.path.join(folder, name)}: no images "
                                 f"({' '.join(IMAGE_EXTENSIONS)}) in this class folder")
            classes[name] = [os.path.join(folder, *parts, n) for parts, n in sorted(files)]
        else:  # outside the class folders
            loose += name.lower().endswith(IMAGE_EXTENSIONS)
            skipped["not_image"] += 1
    if not classes:
        raise ValueError(f"{folder}: no class folders; put each class's images in a subfolder "
                         f"named after it" + (f" ({loose} images lie directly in it)"
                                              if loose else ""))
    if loose:
        log.info("%s: %d image files outside the class folders, skipped", folder, loose)
    return classes


def _listing(root: str, skipped: dict, test_split: float, seed: int):
    """The image files (ordered by class, then path), their labels, which are test images,
    and the class names: from ``train/`` and ``test/`` if both are there, else split."""
    from . import stratified_split
    split_dirs = [os.path.join(root, s) for s in ("train", "test")]
    given = all(os.path.isdir(d) for d in split_dirs)
    if given:
        found = [_class_folders(d, skipped) for d in split_dirs]
        classes = sorted(set(found[0]) | set(found[1]))
        for d, part in zip(split_dirs, found):
            if set(part) != set(classes):
                log.info("%s: no folder for class %s", d,
                         ", ".join(sorted(set(classes) - set(part))))
        if set(os.listdir(root)) - {"train", "test"}:
            log.info("%s: reading train/ and test/ only", root)
        entries = [(p, classes.index(c), t) for t, part in enumerate(found)
                   for c in sorted(part) for p in part[c]]
    else:
        found = _class_folders(root, skipped)
        classes = sorted(found)
        entries = [(p, k, False) for k, c in enumerate(classes) for p in found[c]]
    if len(classes) < 2:
        raise ValueError(f"{root}: only one class folder ({classes[0]}); a classifier needs "
                         f"two or more")
    paths, labels, test = zip(*entries)
    labels = np.array(labels, np.int64)
    test = np.array(test, bool) if given else stratified_split(labels, test_split, seed)
    return list(paths), labels, test, classes


def _parallel(fn, items: list, desc: str, progress: bool) -> list:
    """[fn(item) for item in items] on a few threads (Pillow decodes without the GIL);
    an ImageFolderError comes back as the item's result, anything else is raised."""
    def run(chunk):
        results = []
        for item in chunk:
            try:
                results.append(fn(item))
            except ImageFolderError as err:
                results.append(err)
        return results
    out = []
    pool = ThreadPoolExecutor(WORKERS, thread_name_prefix="scratchcnn-images")
    try:
        with bar(len(items), desc, "img", progress) as shown:
            for results in pool.map(run, [items[i:i + CHUNK]
                                          for i in range(0, len(items), CHUNK)]):
                out.extend(results)
                shown.update(len(results))
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return out


def _failed(results: list, on_error: str, skipped: dict) -> np.ndarray:
    """Raise the first error, or (on_error="skip") count and log them: the failed mask."""
    bad = np.array([isinstance(r, ImageFolderError) for r in results], bool)
    if bad.any() and on_error == "raise":
        raise results[int(np.argmax(bad))]
    for i in np.flatnonzero(bad):
        log.warning("skipped %s", results[i])
    skipped["unreadable"] += int(bad.sum())
    return bad


def _different_sizes(a: str, size_a: tuple, b: str, size_b: tuple) -> ValueError:
    return ImageFolderError(f"images differ in size: {a} is {size_a[0]}x{size_a[1]} and {b} "
                            f"is {size_b[0]}x{size_b[1]} (HxW); pass image_size=(H, W)")


def load_image_folder(path: str, image_size=None, color: str | None = None,
                      test_split: float = 0.2, seed: int = 0, on_error: str = "raise",
                      progress: bool = True):
    """A folder of class subfolders of images (see the module's docstring) as a
    :class:`DataSplits`: ``train`` and ``test`` are ``(x, y)``, x float32
    ``(N, C, H, W)`` in [0, 1], y int64 ``(N,)`` in ``0..K-1``; ``classes`` the K
    folder names, sorted; ``name`` the folder's name; ``source`` its absolute path;
    ``skipped`` a dict counting the entries passed over (``hidden``, ``not_image``,
    ``unreadable``).  Each split keeps the order class, then file path.

    Parameters
    ----------
    path : str
        The folder.
    image_size : int, (int, int) or None
        Each image letterboxed into it; None: every image must have one size.
    color : str or None
        "gray" (C=1), "rgb" (C=3), or None: grey if every file is (mode L, 16-bit, a grey
        palette), else RGB for all.
    test_split : float
        The part of each class held out without ``train/`` and ``test/`` folders.
    seed : int
        Seeds that draw (from the file list: a skipped file moves no other).
    on_error : str
        "raise" (an ImageFolderError naming the file) or "skip" (counted, logged).
    progress : bool
        Show progress bars on stderr.
    """
    from . import DataSplits
    Image, *_ = _pil()
    channels, size = _options(color, image_size, on_error, test_split)
    root = os.path.abspath(path)
    skipped = {"hidden": 0, "not_image": 0, "unreadable": 0}
    paths, labels, test, classes = _listing(root, skipped, test_split, seed)
    bad = np.zeros(len(paths), bool)
    with warnings.catch_warnings():  # Pillow's bomb warning is an error, as the limit says
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        if channels is None or size is None:  # the headers tell grey or colour, and sizes
            heads = _parallel(functools.partial(_decoded, header_only=True), paths,
                              "checking images", progress)
            bad = _failed(heads, on_error, skipped)
            good = np.flatnonzero(~bad)
            if not len(good):
                raise ValueError(f"{root}: none of its {len(paths)} images can be read")
            channels = channels or (1 if all(heads[i][0] for i in good) else 3)
            first = heads[good[0]][1]
            for i in good if size is None else ():
                if heads[i][1] != first:
                    raise _different_sizes(paths[good[0]], first, paths[i], heads[i][1])
            size_seen, reference = first, paths[good[0]]
        shape = (channels, *(size or size_seen))
        parts = [np.flatnonzero(~bad & ~test), np.flatnonzero(~bad & test)]
        needed = 4 * int(np.prod(shape)) * int((~bad).sum())
        if needed > MAX_ARRAY_BYTES:
            raise ValueError(f"{root}: {int((~bad).sum()):,} images of {shape} take "
                             f"{needed / 2**30:,.1f} GiB, over {MAX_ARRAY_BYTES / 2**30:.0f} "
                             "GiB: pass a smaller image_size=(H, W)")
        xs = [np.zeros((len(idx), *shape), np.float32) for idx in parts]

        def decode(slot):
            file, x, j = slot
            img = _decoded(file)
            if size is None and (img.height, img.width) != shape[1:]:
                raise _different_sizes(reference, shape[1:], file, (img.height, img.width))
            _write(img, channels, size, x[j])
        slots = [(paths[i], xs[s], j) for s, idx in enumerate(parts) for j, i in enumerate(idx)]
        failed = _failed(_parallel(decode, slots, "decoding images", progress), on_error,
                         skipped)
    splits = []
    for x, idx, lost, name in zip(xs, parts, np.split(failed, [len(parts[0])]),
                                  ("training", "test")):
        keep = np.flatnonzero(~lost)
        for j, i in enumerate(keep):  # drop failed rows in place, without a second copy
            if i != j:
                x[j] = x[i]
        splits.append((x[:len(keep)], labels[idx[keep]]))
        if not len(keep):
            raise ValueError(f"{root}: the {name} split holds no images")
    counts = np.bincount(np.concatenate([y for _, y in splits]), minlength=len(classes))
    if not counts.all():
        raise ValueError(f"{root}: class {classes[int(np.argmin(counts))]} has no readable "
                         f"images left")
    data = DataSplits(splits[0], splits[1], root, os.path.basename(root), tuple(classes))
    data.skipped = skipped
    log.info("%s: %d training and %d test images %s in %d classes; skipped %s", root,
             len(splits[0][1]), len(splits[1][1]), shape, len(classes), skipped)
    return data

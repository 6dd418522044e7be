"""Data sets: MNIST and Fashion-MNIST as float32 images in [0, 1], (N, 1, 28, 28), and
folders of image files, one subfolder per class (:mod:`.image_folder`).

``load_mnist()`` and ``load_fashion_mnist()`` look for the four IDX files, in order:

1. ``data_dir``, if given;
2. the cache directory (``$SCRATCHCNN_DATA`` or ``$XDG_CACHE_HOME/scratchcnn``, else
   ``~/.cache/scratchcnn``), one folder per data set;
3. a system copy (Debian's ``dataset-fashion-mnist`` puts Fashion-MNIST under
   ``/usr/share/datasets/fashion-mnist/``);
4. a download from the public mirrors, tried in turn, each file checked against its
   published MD5 and written into the cache atomically.

Offline (``offline=True`` or ``SCRATCHCNN_OFFLINE=1``) step 4 is skipped.  MNIST then
falls back to the 5,000-image sample shipped in the package, split 4,000 / 1,000.
"""

from __future__ import annotations

import logging
import os
import sys
from dataclasses import dataclass, field

import numpy as np

from .download import DownloadError, download
from .idx import IDXError, read_idx, write_idx
from .image_folder import (IMAGE_EXTENSIONS, MAX_ARRAY_BYTES, ImageFolderError,
                           load_image_folder, read_image)

log = logging.getLogger("scratchcnn")

__all__ = ["DatasetSpec", "DataSplits", "MNIST", "FASHION_MNIST", "load_mnist",
           "load_fashion_mnist", "load_dataset", "load_directory", "load_sample",
           "load_image_folder", "read_image", "ImageFolderError", "IMAGE_EXTENSIONS",
           "stratified_split",
           "read_idx", "write_idx", "IDXError", "DownloadError", "cache_dir", "is_offline"]

FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
         "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


@dataclass(frozen=True)
class DatasetSpec:
    """Where a data set's four IDX files come from.

    Attributes
    ----------
    name : str
        The data set's name, also its cache folder's.
    md5 : dict
        File name -> its MD5 checksum.
    mirrors : tuple of str
        Base URLs tried in order.
    system_dirs : tuple of str
        Folders where a system-wide copy may be.
    classes : tuple of str
        The class names, by label.
    """
    name: str
    md5: dict                       # file name (.gz) -> published MD5
    mirrors: tuple                  # URL prefixes, tried in order
    system_dirs: tuple = ()
    classes: tuple = ()


MNIST = DatasetSpec(
    "mnist",
    {"train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
     "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
     "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
     "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c"},
    ("https://ossci-datasets.s3.amazonaws.com/mnist/",
     "https://storage.googleapis.com/cvdf-datasets/mnist/",
     "http://yann.lecun.com/exdb/mnist/"),
    ("/usr/share/datasets/mnist",),
    tuple(str(d) for d in range(10)))

FASHION_MNIST = DatasetSpec(
    "fashion-mnist",
    {"train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
     "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
     "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
     "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310"},
    ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
     "https://github.com/zalandoresearch/fashion-mnist/raw/master/data/fashion/"),
    ("/usr/share/datasets/fashion-mnist",),
    ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
     "Bag", "Ankle boot"))

SAMPLE_DIR = os.path.join(os.path.dirname(__file__), "mnist-sample")


@dataclass
class DataSplits:
    """Train and test arrays and where they came from.  ``load_image_folder`` adds an
    attribute ``skipped``: a dict counting the files it passed over.

    Attributes
    ----------
    train : (numpy.ndarray, numpy.ndarray)
        (x, y): images (N, C, H, W) float32 in [0, 1] and labels (N,) int64.
    test : (numpy.ndarray, numpy.ndarray)
        The same for the held-out images.
    source : str
        Where the files were found: a path, or "bundled MNIST sample".
    name : str
        The data set's name.
    classes : tuple of str
        The class names, by label.
    """
    train: tuple
    test: tuple
    source: str
    name: str
    classes: tuple = field(default_factory=tuple)


def stratified_split(labels: np.ndarray, test_split: float, seed: int = 0) -> np.ndarray:
    """A boolean mask over ``labels`` (N,), True for the test samples: ``test_split`` of
    each class (rounded half up; at least one, and at least one left for training, where
    a class has two or more), drawn class by class with ``numpy.random.default_rng(seed)``.

    Parameters
    ----------
    labels : numpy.ndarray
        Class labels (N,).
    test_split : float
        The share of each class held out, in (0, 1).
    seed : int
        Seeds the draw.
    """
    rng = np.random.default_rng(seed)
    test = np.zeros(len(labels), bool)
    for k in np.unique(labels):
        members = np.flatnonzero(labels == k)
        n = len(members)
        n_test = min(max(int(n * test_split + 0.5), 1), n - 1) if n >= 2 else 0
        test[rng.permutation(members)[:n_test]] = True
    return test


def is_offline(offline: bool | None = None) -> bool:
    if offline is not None:
        return offline
    return os.environ.get("SCRATCHCNN_OFFLINE", "").strip().lower() in ("1", "true", "yes")


def cache_dir(name: str = "") -> str:
    root = os.environ.get("SCRATCHCNN_DATA") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"),
        "scratchcnn")
    return os.path.join(root, name) if name else root


def _find(directory: str, stem: str) -> str | None:
    for name in (stem + ".gz", stem):
        path = os.path.join(directory, name)
        if os.path.isfile(path):
            return path
    return None


#: Classes a data set may have: a label file claiming more is refused, not allocated for.
MAX_CLASSES = 1000


def _images(array: np.ndarray, path: str) -> np.ndarray:
    """(N, 1, H, W) float32 pixels in [0, 1]: 8-bit files are divided by 255, float files
    must already hold values in [0, 1]."""
    if array.ndim != 3 or not all(array.shape[1:]):
        raise IDXError(f"{path}: expected images (N, H, W), got shape {array.shape}")
    if 4 * array.size > MAX_ARRAY_BYTES:  # as float32, as an image folder's are limited
        raise IDXError(f"{path}: {array.shape[0]:,} images of {array.shape[1]}x"
                       f"{array.shape[2]} take {4 * array.size / 2**30:,.1f} GiB as float32, "
                       f"over {MAX_ARRAY_BYTES / 2**30:.0f} GiB")
    if array.dtype == np.uint8:
        x = array.astype(np.float32)
        x *= 1.0 / 255.0
    elif array.dtype.kind == "f":
        x = array.astype(np.float32)
        if x.size and not (np.isfinite(x).all() and x.min() >= 0 and x.max() <= 1):
            raise IDXError(f"{path}: float pixels must be finite and in [0, 1], got values "
                           f"in [{np.nanmin(x)}, {np.nanmax(x)}]"
                           + ("" if np.isfinite(x).all() else " and NaN or inf"))
    else:
        raise IDXError(f"{path}: images must be 8-bit (0-255) or float pixels in [0, 1], got "
                       f"{array.dtype}")
    return x[:, None]


def _labels(array: np.ndarray, path: str, n: int) -> np.ndarray:
    if array.ndim != 1 or len(array) != n:
        raise IDXError(f"{path}: expected {n} labels to match the images, got shape "
                       f"{array.shape}")
    if array.dtype.kind not in "iu":
        raise IDXError(f"{path}: labels must be integers, got {array.dtype}")
    if n and (array.min() < 0 or array.max() >= MAX_CLASSES):
        raise IDXError(f"{path}: labels must be class numbers 0..{MAX_CLASSES - 1}, got "
                       f"values in [{array.min()}, {array.max()}]")
    return array.astype(np.int64)


def _check_splits(directory: str, train: tuple, test: tuple, classes: tuple) -> None:
    """Both splits non-empty, images of one size, labels 0..K-1 (most of them seen)."""
    (x, y), (xt, yt) = train, test
    if not len(x) or not len(xt):
        raise IDXError(f"{directory}: the {'training' if not len(x) else 'test'} split holds "
                       f"no images")
    if x.shape[1:] != xt.shape[1:]:
        raise IDXError(f"{directory}: test images are {xt.shape[2]}x{xt.shape[3]} but training "
                       f"images {x.shape[2]}x{x.shape[3]}")
    largest = int(max(y.max(), yt.max()))
    if classes and largest >= len(classes):
        raise IDXError(f"{directory}: label {largest} is out of range for its {len(classes)} "
                       f"classes")
    seen = np.unique(np.concatenate([y, yt]))
    if not classes and largest + 1 > 2 * len(seen):  # e.g. 0..9 and one 255: 256 classes?
        missing = np.setdiff1d(np.arange(largest + 1), seen)
        shown = ", ".join(map(str, missing[:5])) + (", ..." if len(missing) > 5 else "")
        raise IDXError(f"{directory}: labels must be class numbers 0..K-1, but the largest is "
                       f"{largest} while only {len(seen)} values occur; {len(missing)} classes "
                       f"below it never appear ({shown})")


def load_directory(directory: str, name: str | None = None, classes: tuple = ()) -> DataSplits:
    """The four MNIST-style IDX files (raw or .gz) in ``directory``; IDXError naming the
    file for anything that is not a usable data set.

    Parameters
    ----------
    directory : str
        The folder holding the files.
    name : str or None
        The data set's name; None: the folder's.
    classes : tuple of str
        The class names, by label.
    """
    paths = [_find(directory, stem) for stem in FILES]
    missing = [stem for stem, p in zip(FILES, paths) if p is None]
    if missing:
        raise FileNotFoundError(f"{directory}: missing {', '.join(missing)} (.gz or raw)")
    xtr, ytr, xte, yte = (read_idx(p) for p in paths)
    xtr, xte = _images(xtr, paths[0]), _images(xte, paths[2])
    train, test = (xtr, _labels(ytr, paths[1], len(xtr))), (xte, _labels(yte, paths[3], len(xte)))
    _check_splits(directory, train, test, classes)
    return DataSplits(train, test, directory,
                      name or os.path.basename(os.path.normpath(directory)), classes)


def load_sample(test_size: int = 1000, seed: int = 0) -> DataSplits:
    """The bundled 5,000 MNIST training images, shuffled and split into train and test.

    Parameters
    ----------
    test_size : int
        Images held out for testing.
    seed : int
        Seeds the shuffle.
    """
    x = _images(read_idx(os.path.join(SAMPLE_DIR, "images-idx3-ubyte.gz")), SAMPLE_DIR)
    y = read_idx(os.path.join(SAMPLE_DIR, "labels-idx1-ubyte.gz")).astype(np.int64)
    order = np.random.default_rng(seed).permutation(len(x))
    test, train = order[:test_size], order[test_size:]
    return DataSplits((x[train], y[train]), (x[test], y[test]),
                      "bundled MNIST sample", "mnist-sample", MNIST.classes)


def load_dataset(spec: DatasetSpec, data_dir: str | None = None, offline: bool | None = None,
                 progress: bool = True, timeout: float = 10.0) -> DataSplits:
    """Find or fetch ``spec``'s files (see the module docstring for the order).

    Parameters
    ----------
    spec : DatasetSpec
        Which data set.
    data_dir : str or None
        A folder to look in first, and to download into.
    offline : bool or None
        True: never download; None: from ``SCRATCHCNN_OFFLINE``.
    progress : bool
        Show a progress bar on stderr while downloading.
    timeout : float
        Seconds to wait for a mirror before trying the next.
    """
    if data_dir:  # a directory the user names must hold the files: no silent fallback
        if not (os.path.isdir(data_dir) and all(_find(data_dir, s) for s in FILES)):
            raise FileNotFoundError(f"{data_dir}: no {spec.name} IDX files there "
                                    f"({', '.join(FILES)})")
        return load_directory(data_dir, spec.name, spec.classes)
    candidates = [cache_dir(spec.name), *spec.system_dirs]
    for directory in candidates:
        if os.path.isdir(directory) and all(_find(directory, s) for s in FILES):
            log.info("%s: reading %s", spec.name, directory)
            return load_directory(directory, spec.name, spec.classes)
    if is_offline(offline):
        raise FileNotFoundError(f"{spec.name}: not found in {', '.join(candidates)} and "
                                f"offline, so not downloaded")
    target = cache_dir(spec.name)
    for filename, md5 in spec.md5.items():
        if not os.path.isfile(os.path.join(target, filename)):
            download(filename, md5, list(spec.mirrors), target, timeout, progress)
    return load_directory(target, spec.name, spec.classes)


def load_mnist(data_dir: str | None = None, offline: bool | None = None,
               progress: bool = True, timeout: float = 5.0) -> DataSplits:
    """MNIST (60,000 / 10,000); without network, the bundled 5,000-image sample.

    Parameters
    ----------
    data_dir : str or None
        A folder to look in first, and to download into.
    offline : bool or None
        True: never download; None: from ``SCRATCHCNN_OFFLINE``.
    progress : bool
        Show a progress bar on stderr while downloading.
    timeout : float
        Seconds to wait for a mirror before trying the next.
    """
    try:
        return load_dataset(MNIST, data_dir, offline, progress, timeout)
    except (FileNotFoundError, DownloadError) as err:
        if data_dir:
            raise
        log.info("MNIST unavailable: %s", err)
        sample = load_sample()
        print(f"scratchcnn: full MNIST unavailable{' (offline)' if is_offline(offline) else ''}"
              f"; using the bundled sample: {len(sample.train[0]):,} training and "
              f"{len(sample.test[0]):,} held-out images", file=sys.stderr)
        return sample


def load_fashion_mnist(data_dir: str | None = None, offline: bool | None = None,
                       progress: bool = True, timeout: float = 10.0) -> DataSplits:
    """Fashion-MNIST (60,000 / 10,000).

    Parameters
    ----------
    data_dir : str or None
        A folder to look in first, and to download into.
    offline : bool or None
        True: never download; None: from ``SCRATCHCNN_OFFLINE``.
    progress : bool
        Show a progress bar on stderr while downloading.
    timeout : float
        Seconds to wait for a mirror before trying the next.
    """
    return load_dataset(FASHION_MNIST, data_dir, offline, progress, timeout)

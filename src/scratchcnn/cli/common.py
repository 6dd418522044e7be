"""What the commands share: loading a data set or a model, with errors for a user."""

from __future__ import annotations

import logging
import os

log = logging.getLogger("scratchcnn")

__all__ = ["load_data", "load_file", "load_model"]


def load_data(dataset: str, offline: bool, input_shape: tuple | None = None):
    """The data set a ``--dataset`` names: mnist-sample (the bundled 5,000 images, never
    the network), mnist, fashion-mnist or a directory, either of
    the four MNIST IDX files or of one subfolder of images per class.  ``input_shape``
    (C, H, W), a model's, makes an image folder's images that size and colour."""
    from .. import datasets as D
    if dataset == "mnist-sample":
        data = D.load_sample()
    elif dataset == "mnist":
        data = D.load_mnist(offline=offline)
    elif dataset in ("fashion-mnist", "fashion_mnist", "fashion"):
        data = D.load_fashion_mnist(offline=offline)
    elif os.path.isdir(dataset) and _holds_class_folders(dataset):
        c, h, w = input_shape or (None, None, None)
        try:
            data = D.load_image_folder(dataset, image_size=h and (h, w),
                                       color=c and ("gray" if c == 1 else "rgb"))
        except ImportError as err:
            raise SystemExit(f"scratchcnn: {err}")
    elif os.path.isdir(dataset):
        data = D.load_directory(dataset)
    else:
        raise SystemExit(f"scratchcnn: --dataset must be mnist-sample, mnist, fashion-mnist or "
                         f"a directory "
                         f"(of IDX files or of class folders of images); {dataset!r} is none "
                         f"of these")
    log.info("data %s from %s: %d training and %d test images of %s", data.name, data.source,
             len(data.train[0]), len(data.test[0]), data.train[0].shape[1:])
    return data


def _holds_class_folders(directory: str) -> bool:
    """Whether ``directory`` is an image folder: no MNIST IDX file, and subfolders or
    image files (an empty directory is taken for IDX: the error names the IDX files)."""
    from ..datasets import FILES, IMAGE_EXTENSIONS
    names = [n for n in os.listdir(directory) if not n.startswith(".")]
    if any(name in names or name + ".gz" in names for name in FILES):
        return False
    return any(os.path.isdir(os.path.join(directory, n)) or
               n.lower().endswith(IMAGE_EXTENSIONS) for n in names)


def load_file(load, path: str, what: str = "model", prefix: str = "scratchcnn: "):
    """``load(path)``, or a one-line exit saying why there is no ``what`` there."""
    if not os.path.isfile(path):
        raise SystemExit(f"{prefix}no {what} file {path}")
    try:
        return load(path)
    except ValueError as err:
        raise SystemExit(f"{prefix}{err}")


def load_model(path: str):
    """The model in file ``path``, or a one-line exit saying why there is none."""
    from ..model import load
    model = load_file(load, path)
    log.info("loaded %s: %d layers, %d parameters", path, len(model.layers),
             sum(p.size for p in model.parameters()))
    return model

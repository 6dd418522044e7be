"""What the commands share: loading a data set or a model, with errors for a user."""

from __future__ import annotations

import logging
import os

log = logging.getLogger("scratchcnn")

__all__ = ["load_data", "load_file", "load_model"]


def load_data(dataset: str, offline: bool):
    """The data set a ``--dataset`` names: mnist, fashion-mnist or a directory."""
    from .. import datasets as D
    if dataset == "mnist":
        data = D.load_mnist(offline=offline)
    elif dataset in ("fashion-mnist", "fashion_mnist", "fashion"):
        data = D.load_fashion_mnist(offline=offline)
    elif os.path.isdir(dataset):
        data = D.load_directory(dataset)
    else:
        raise SystemExit(f"scratchcnn: --dataset must be mnist, fashion-mnist or a directory "
                         f"of IDX files; {dataset!r} is none of these")
    log.info("data %s from %s: %d training and %d test images of %s", data.name, data.source,
             len(data.train[0]), len(data.test[0]), data.train[0].shape[1:])
    return data


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

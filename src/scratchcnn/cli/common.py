"""What the commands share: loading a data set or a model, with errors for a user."""

from __future__ import annotations

import os

__all__ = ["load_data", "load_model"]


def load_data(dataset: str, offline: bool):
    from .. import datasets as D
    if dataset == "mnist":
        return D.load_mnist(offline=offline)
    if dataset in ("fashion-mnist", "fashion_mnist", "fashion"):
        return D.load_fashion_mnist(offline=offline)
    if os.path.isdir(dataset):
        return D.load_directory(dataset)
    raise SystemExit(f"scratchcnn: --dataset must be mnist, fashion-mnist or a directory of "
                     f"IDX files; {dataset!r} is none of these")


def load_model(path: str):
    from ..model import load
    if not os.path.isfile(path):
        raise SystemExit(f"scratchcnn: no model file {path}")
    try:
        return load(path)
    except ValueError as err:
        raise SystemExit(f"scratchcnn: {err}")

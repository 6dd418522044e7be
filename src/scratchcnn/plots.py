"""Pictures of a run: training curves and the confusion matrix (needs matplotlib, the
``[plot]`` extra; each function returns False when it is missing)."""

from __future__ import annotations

import numpy as np

__all__ = ["confusion_matrix", "plot_curves", "plot_confusion"]


def _pyplot():
    """matplotlib.pyplot on the file-only Agg backend, or None if it is not installed."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    return plt


def plot_curves(history: dict, path: str) -> bool:
    """Loss and accuracy per epoch as a PNG; False if matplotlib is not installed."""
    plt = _pyplot()
    if plt is None:
        return False
    epochs = range(1, len(history["loss"]) + 1)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    for key, ax in (("loss", ax1), ("accuracy", ax2)):
        ax.plot(epochs, history[key], "o-", label="train")
        if "val_" + key in history:
            ax.plot(epochs, history["val_" + key], "o-", label="validation")
        ax.set_xlabel("epoch")
        ax.set_title(key)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def confusion_matrix(y_true, y_pred, k: int) -> np.ndarray:
    cm = np.zeros((k, k), dtype=np.int64)
    np.add.at(cm, (y_true, y_pred), 1)
    return cm


def plot_confusion(cm: np.ndarray, path: str) -> bool:
    """The confusion matrix (rows: true class, columns: predicted) as a PNG."""
    plt = _pyplot()
    if plt is None:
        return False
    fig, ax = plt.subplots(figsize=(6, 5))
    im = ax.imshow(cm, cmap="Blues")
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    fig.colorbar(im)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True

"""Pictures of a run: training curves and the confusion matrix (needs matplotlib, the
``[plot]`` extra; each function returns False when it is missing)."""

from __future__ import annotations

import numpy as np

from .extras import pyplot

__all__ = ["confusion_matrix", "plot_curves", "plot_confusion"]


def _pyplot_or_none():
    try:
        return pyplot("a picture of the run")
    except ImportError:
        return None


def plot_curves(history: dict, path: str) -> bool:
    """Loss and accuracy per epoch as a PNG; False if matplotlib is not installed."""
    plt = _pyplot_or_none()
    if plt is None:
        return False
    from matplotlib.ticker import MaxNLocator
    epochs = range(1, len(history["loss"]) + 1)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    for key, ax, label in (("loss", ax1, "mean cross-entropy loss"),
                           ("accuracy", ax2, "fraction correct")):
        ax.plot(epochs, history[key], "o-", label="train")
        if "val_" + key in history:
            ax.plot(epochs, history["val_" + key], "o-", label="validation")
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(key)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle("Training curves")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def confusion_matrix(y_true, y_pred, k: int) -> np.ndarray:
    cm = np.zeros((k, k), dtype=np.int64)
    np.add.at(cm, (y_true, y_pred), 1)
    return cm


def plot_confusion(cm: np.ndarray, path: str, names=None, title: str = "Confusion matrix"
                   ) -> bool:
    """The confusion matrix (rows: true class, columns: predicted) as a PNG: every class
    labelled (by ``names`` when given), each cell's count written in it; False if
    matplotlib is not installed."""
    plt = _pyplot_or_none()
    if plt is None:
        return False
    k = len(cm)
    labels = [str(n) for n in names][:k] if names else []
    labels += [str(i) for i in range(len(labels), k)]
    size = max(5.0, 0.5 * k + 2)
    fig, ax = plt.subplots(figsize=(size + 1, size))
    im = ax.imshow(cm, cmap="Blues")
    ax.set_xticks(range(k), labels, rotation=45 if max(map(len, labels)) > 2 else 0,
                  ha="right" if max(map(len, labels)) > 2 else "center")
    ax.set_yticks(range(k), labels)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    total = int(cm.sum())
    accuracy = np.trace(cm) / total if total else float("nan")
    ax.set_title(f"{title} ({total:,} images, accuracy {accuracy:.2%})")
    threshold = cm.max() / 2 if cm.size else 0
    for i in range(k):
        for j in range(k):
            ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=8,
                    color="white" if cm[i, j] > threshold else "black")
    fig.colorbar(im, ax=ax, label="images")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True

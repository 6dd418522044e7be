"""Pictures of what a network learned: its first filters, the feature maps of every
convolution for one image, and the test images it gets most confidently wrong (needs
matplotlib, the ``[plot]`` extra).  ``scratchcnn visualize`` draws them all."""

from __future__ import annotations

import math

import numpy as np

from .extras import pyplot
from .layers import Conv2d

__all__ = ["plot_filters", "plot_feature_maps", "plot_misclassified", "conv_outputs"]


def _pyplot():
    return pyplot("scratchcnn's pictures")


def _grid(count: int) -> tuple[int, int]:
    cols = math.ceil(math.sqrt(count))
    return math.ceil(count / cols), cols


def _save(fig, path: str) -> str:
    fig.savefig(path, dpi=100)
    _pyplot().close(fig)
    return path


def _tiles(arrays, titles: list[str], label: str, lead=None):
    """A figure of 2-D ``arrays`` in a grid on one symmetric red-blue scale with a colour
    bar; ``lead`` = (image in [0, 1], title) goes first, in grey."""
    plt = _pyplot()
    first = lead is not None
    rows, cols = _grid(len(arrays) + first)
    fig, axes = plt.subplots(rows, cols, figsize=(1.6 * cols + 1.2, 1.6 * rows + 0.8),
                             squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    if first:
        axes.flat[0].imshow(lead[0], cmap="gray", vmin=0, vmax=1)
        axes.flat[0].set_title(lead[1], fontsize=8)
    limit = float(np.abs(arrays).max()) or 1.0
    for ax, array, title in zip(axes.flat[first:], arrays, titles):
        shown = ax.imshow(array, cmap="RdBu_r", vmin=-limit, vmax=limit)
        ax.set_title(title, fontsize=8)
    fig.colorbar(shown, ax=axes.ravel().tolist(), label=label, shrink=0.8)
    return fig


def plot_filters(model, path: str) -> str:
    """The first convolution's filters as a grid, one image per filter (its weights
    summed over input channels), on one symmetric colour scale."""
    index, conv = next(((i, layer) for i, layer in enumerate(model.layers)
                        if isinstance(layer, Conv2d)), (None, None))
    if conv is None:
        raise ValueError("plot_filters: the model has no Conv2d layer")
    weights = conv.params["weight"].sum(axis=1)  # (O, kh, kw)
    fig = _tiles(weights, [f"filter {k}" for k in range(len(weights))], "weight")
    fig.suptitle(f"Layer {index}: {conv!r}\nweights (summed over {conv.in_channels} input "
                 f"channel{'s' if conv.in_channels > 1 else ''})", fontsize=9)
    return _save(fig, path)


def conv_outputs(model, image: np.ndarray) -> list[tuple[int, object, np.ndarray]]:
    """(index, layer, output (C, H, W)) of every Conv2d for one image (C, H, W), each
    layer run on its own in evaluation mode."""
    was_training = model.training
    model.eval()
    try:
        x = model._normalise(image[None])
        found = []
        for i, layer in enumerate(model.layers):
            x = layer.forward(x)
            if isinstance(layer, Conv2d):
                found.append((i, layer, x[0]))
        return found
    finally:
        model.train(was_training)


def plot_feature_maps(index: int, layer, maps: np.ndarray, image: np.ndarray, path: str,
                      most: int = 64) -> str:
    """The input image and the first ``most`` channels of one convolution's output."""
    maps = maps[:most]
    fig = _tiles(maps, [f"channel {k}" for k in range(len(maps))], "activation",
                 lead=(image.mean(axis=0), "input"))
    fig.suptitle(f"Feature maps of layer {index}: {layer!r}\n(before its activation, "
                 f"{maps.shape[1]}x{maps.shape[2]} each)", fontsize=9)
    return _save(fig, path)


def plot_misclassified(images: np.ndarray, labels: np.ndarray, proba: np.ndarray, names,
                       path: str, most: int = 16) -> str:
    """The ``most`` test images the model gets wrong with the highest confidence."""
    plt = _pyplot()
    predicted = proba.argmax(axis=1)
    wrong = np.flatnonzero(predicted != labels)
    wrong = wrong[np.argsort(-proba[wrong, predicted[wrong]])][:most]
    rows, cols = _grid(max(len(wrong), 1))
    fig, axes = plt.subplots(rows, cols, figsize=(1.9 * cols, 2.5 * rows + 0.6), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, k in zip(axes.flat, wrong):
        ax.imshow(images[k].mean(axis=0), cmap="gray", vmin=0, vmax=1)
        ax.set_title(f"true: {names[labels[k]]}\npredicted: {names[predicted[k]]}\n"
                     f"({proba[k, predicted[k]]:.0%})", fontsize=7)
    fig.suptitle(f"The {len(wrong)} most confidently misclassified of {len(labels):,} test "
                 f"images ({len(np.flatnonzero(predicted != labels)):,} wrong in all)",
                 fontsize=9)
    fig.tight_layout()
    return _save(fig, path)

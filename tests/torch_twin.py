"""The torch.nn.Sequential equal to a scratchcnn Sequential (bridge tests, bench_train).

A :class:`scratchcnn.Residual` becomes :class:`TorchResidual`, the torch module written
with attributes ``body`` and ``shortcut`` that the docs show beside ours, so the state
dicts' names agree (``'4.body.0.weight'``)."""

import torch

import scratchcnn as sc


class TorchResidual(torch.nn.Module):
    """``body(x) + shortcut(x)``, the identity when ``shortcut`` is None."""

    def __init__(self, body, shortcut=None):
        super().__init__()
        self.body, self.shortcut = body, shortcut

    def forward(self, x):
        return self.body(x) + (x if self.shortcut is None else self.shortcut(x))


def torch_layer(layer):
    if isinstance(layer, sc.Residual):
        return TorchResidual(torch_stack(layer.body.layers),
                             None if layer.shortcut is None else torch_stack(layer.shortcut.layers))
    c = layer.config()
    if isinstance(layer, sc.Conv2d):
        return torch.nn.Conv2d(c["in_channels"], c["out_channels"], c["kernel_size"],
                               c["stride"], c["padding"], c["dilation"], bias=c["bias"],
                               groups=c.get("groups", 1))
    simple = {sc.MaxPool2d: lambda: torch.nn.MaxPool2d(**c),
              sc.AvgPool2d: lambda: torch.nn.AvgPool2d(**c),
              sc.AdaptiveAvgPool2d: lambda: torch.nn.AdaptiveAvgPool2d(**c),
              sc.Linear: lambda: torch.nn.Linear(**c),
              sc.Flatten: lambda: torch.nn.Flatten(**c),
              sc.ReLU: torch.nn.ReLU, sc.Sigmoid: torch.nn.Sigmoid, sc.Tanh: torch.nn.Tanh,
              sc.LeakyReLU: lambda: torch.nn.LeakyReLU(**c),
              sc.Dropout: lambda: torch.nn.Dropout(**c),
              sc.BatchNorm1d: lambda: torch.nn.BatchNorm1d(**c),
              sc.BatchNorm2d: lambda: torch.nn.BatchNorm2d(**c)}
    return simple[type(layer)]()


def torch_stack(layers) -> torch.nn.Sequential:
    return torch.nn.Sequential(*(torch_layer(layer) for layer in layers))


def torch_twin(model) -> torch.nn.Sequential:
    """Same layers, same order, so the same state-dict names (weights not copied)."""
    return torch_stack(model.layers)

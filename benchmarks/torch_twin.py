"""The torch.nn.Sequential equal to a scratchcnn Sequential (bridge tests, bench_train)."""

import torch

import scratchcnn as sc


def torch_layer(layer):
    c = layer.config()
    if isinstance(layer, sc.Conv2d):
        return torch.nn.Conv2d(c["in_channels"], c["out_channels"], c["kernel_size"],
                               c["stride"], c["padding"], c["dilation"], bias=c["bias"])
    simple = {sc.MaxPool2d: lambda: torch.nn.MaxPool2d(**c),
              sc.AvgPool2d: lambda: torch.nn.AvgPool2d(**c),
              sc.Linear: lambda: torch.nn.Linear(**c),
              sc.Flatten: lambda: torch.nn.Flatten(**c),
              sc.ReLU: torch.nn.ReLU, sc.Sigmoid: torch.nn.Sigmoid, sc.Tanh: torch.nn.Tanh,
              sc.LeakyReLU: lambda: torch.nn.LeakyReLU(**c),
              sc.Dropout: lambda: torch.nn.Dropout(**c),
              sc.BatchNorm1d: lambda: torch.nn.BatchNorm1d(**c),
              sc.BatchNorm2d: lambda: torch.nn.BatchNorm2d(**c)}
    return simple[type(layer)]()


def torch_twin(model) -> torch.nn.Sequential:
    """Same layers, same order, so the same state-dict names (weights not copied)."""
    return torch.nn.Sequential(*(torch_layer(layer) for layer in model.layers))

"""Export a model to ONNX, for onnxruntime and every other runtime that reads it.

Each layer becomes the ONNX operator that computes the same function (in evaluation
mode: BatchNorm with its running statistics, Dropout as Identity), the weights become
float32 initializers under their state-dict names, and the model's input normalisation
(``input_mean``, ``input_std``) becomes a Sub and a Mul in front, so the exported graph
takes pixels in [0, 1] exactly as ``model.predict`` does.  The batch axis is dynamic.
"""

from __future__ import annotations

import os

import numpy as np

from . import layers as L
from .extras import require
from .files import atomic_write

__all__ = ["export_onnx", "OPSET"]

#: The ONNX operator set the graph is written in.
OPSET = 17


def export_onnx(model, path, input_shape) -> str:
    """Write ``model`` as an ONNX graph to ``path`` (``.onnx`` added if missing) for
    inputs of one sample's ``input_shape`` (e.g. ``(1, 28, 28)``), any batch size; the
    path.  A layer without an ONNX form gives a ValueError naming it.

    Parameters
    ----------
    model : Sequential
        The model.
    path : str or os.PathLike
        The file.
    input_shape : tuple of int
        One sample's shape, e.g. ``(1, 28, 28)``.
    """
    onnx = require("onnx", "export_onnx")
    from onnx import TensorProto, helper, numpy_helper
    path = os.fspath(path)
    if not path.endswith(".onnx"):
        path += ".onnx"
    input_shape = tuple(int(d) for d in input_shape)
    out_shape = model.output_shape((1, *input_shape))[1:]  # ValueError if it does not fit
    graph = _Graph(numpy_helper)
    x = "input"
    if model.input_mean is not None:
        shape = (1, -1, 1, 1) if model.input_mean.ndim == 1 else ()
        mean = graph.constant("input_mean", model.input_mean.reshape(shape))
        scale = graph.constant("input_scale", (1.0 / model.input_std).reshape(shape))
        x = graph.node("Mul", [graph.node("Sub", [x, mean]), scale])
    x = _emit_stack(graph, "", model.layers, x, (1, *input_shape))
    graph.nodes.append(helper.make_node("Identity", [x], ["output"]))
    inputs = [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", *input_shape])]
    outputs = [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", *out_shape])]
    proto = helper.make_model(
        helper.make_graph(graph.nodes, "scratchcnn", inputs, outputs, graph.initializers),
        opset_imports=[helper.make_opsetid("", OPSET)], producer_name="scratchcnn")
    onnx.checker.check_model(proto)
    atomic_write(path, lambda f: f.write(proto.SerializeToString()))
    return path


class _Graph:
    """Nodes and initializers as they are added; each node's output gets a fresh name."""

    def __init__(self, numpy_helper):
        self.numpy_helper = numpy_helper
        self.nodes, self.initializers = [], []

    def constant(self, name: str, value) -> str:
        self.initializers.append(self.numpy_helper.from_array(
            np.asarray(value, dtype=np.float32), name))
        return name

    def node(self, op: str, inputs: list[str], **attributes) -> str:
        from onnx import helper
        out = f"t{len(self.nodes)}"
        self.nodes.append(helper.make_node(op, inputs, [out], **attributes))
        return out


def _emit_stack(graph: _Graph, prefix: str, layers, x: str, shape: tuple) -> str:
    """The nodes of ``layers`` one after the other on ``x`` of ``shape``."""
    for i, layer in enumerate(layers):
        x = _emit(graph, f"{prefix}{i}", layer, x, shape)
        shape = layer.output_shape(shape)
    return x


def _emit(graph: _Graph, name: str, layer, x: str, shape: tuple) -> str:
    """The node(s) computing ``layer`` (state-dict prefix ``name``) on ``x`` of ``shape``."""
    if isinstance(layer, L.Residual):
        body = _emit_stack(graph, f"{name}.body.", layer.body.layers, x, shape)
        side = x if layer.shortcut is None else \
            _emit_stack(graph, f"{name}.shortcut.", layer.shortcut.layers, x, shape)
        return graph.node("Add", [body, side])
    rank = len(shape)
    params = {k: graph.constant(f"{name}.{k}", v) for k, v in
              {**layer.params, **layer.buffers}.items()}
    if isinstance(layer, L.Conv2d):
        (top, bottom), (left, right) = layer.pads
        inputs = [x, params["weight"]] + ([params["bias"]] if "bias" in params else [])
        return graph.node("Conv", inputs, kernel_shape=list(layer.kernel_size),
                          strides=list(layer.stride), dilations=list(layer.dilation),
                          pads=[top, left, bottom, right], group=layer.groups)
    if isinstance(layer, L.AdaptiveAvgPool2d):
        return _adaptive_pool(graph, name, layer, x, shape)
    if isinstance(layer, (L.MaxPool2d, L.AvgPool2d)):
        (ph, pw) = layer.padding
        common = dict(kernel_shape=list(layer.kernel_size), strides=list(layer.stride),
                      pads=[ph, pw, ph, pw])
        if isinstance(layer, L.AvgPool2d):  # zero padding counts in the mean, as PyTorch
            return graph.node("AveragePool", [x], count_include_pad=1, **common)
        return graph.node("MaxPool", [x], dilations=list(layer.dilation), **common)
    if isinstance(layer, (L.BatchNorm1d, L.BatchNorm2d)):
        return graph.node("BatchNormalization", [x, params["weight"], params["bias"],
                                                 params["running_mean"], params["running_var"]],
                          epsilon=layer.eps)
    if isinstance(layer, L.Linear):
        if rank == 2:
            inputs = [x, params["weight"]] + ([params["bias"]] if "bias" in params else [])
            return graph.node("Gemm", inputs, transB=1)
        y = graph.node("MatMul", [x, graph.constant(f"{name}.weight_t",
                                                    layer.params["weight"].T)])
        return graph.node("Add", [y, params["bias"]]) if "bias" in params else y
    if isinstance(layer, L.Flatten) and layer.config() == {"start_dim": 1, "end_dim": -1}:
        return graph.node("Flatten", [x], axis=1)
    simple = {L.ReLU: ("Relu", {}), L.Sigmoid: ("Sigmoid", {}), L.Tanh: ("Tanh", {}),
              L.Dropout: ("Identity", {})}
    if type(layer) in simple:
        op, attributes = simple[type(layer)]
        return graph.node(op, [x], **attributes)
    if isinstance(layer, L.LeakyReLU):
        return graph.node("LeakyRelu", [x], alpha=float(layer.config()["negative_slope"]))
    raise ValueError(f"export_onnx: layer {name}, {layer!r}, has no ONNX form here (supported: "
                     "Conv2d, MaxPool2d, AvgPool2d, AdaptiveAvgPool2d, BatchNorm1d/2d, Linear, "
                     "Flatten(1, -1), ReLU, LeakyReLU, Sigmoid, Tanh, Dropout, Residual)")


def _adaptive_pool(graph: _Graph, name: str, layer, x: str, shape: tuple) -> str:
    """GlobalAveragePool for one bin; AveragePool where the bins tile the map; else the
    textbook's bin matrices, ``A_h @ x @ A_w.T`` (two MatMuls)."""
    from .textbook import adaptive_pool_matrix
    (h, w), (oh, ow) = shape[-2:], layer.output_shape(shape)[-2:]
    if (oh, ow) == (1, 1):
        return graph.node("GlobalAveragePool", [x])
    if h % oh == 0 and w % ow == 0:
        window = [h // oh, w // ow]
        return graph.node("AveragePool", [x], kernel_shape=window, strides=window)
    rows = graph.constant(f"{name}.rows", adaptive_pool_matrix(h, oh))
    cols = graph.constant(f"{name}.cols", adaptive_pool_matrix(w, ow).T)
    return graph.node("MatMul", [graph.node("MatMul", [rows, x]), cols])

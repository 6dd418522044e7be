"""The commands that look at a model: evaluate, predict, summary, shape."""

from __future__ import annotations

import os

import numpy as np

from ..extras import pyplot
from ..plots import confusion_matrix, plot_confusion
from . import common

__all__ = ["cmd_evaluate", "cmd_predict", "cmd_summary", "cmd_shape", "cmd_export",
           "cmd_visualize", "image_to_input", "DIGIT_DATASETS"]

#: Data sets of light strokes on black: a photo is read as MNIST shows a digit.
DIGIT_DATASETS = ("mnist", "mnist-sample", "fashion-mnist")


def cmd_evaluate(args) -> int:
    model = common.load_model(args.model)
    data = common.load_data(args.dataset or _trained_on(model), args.offline,
                            model.meta.get("input_shape"))
    x, y = data.test
    pred = model.predict(x, verbose=1, tta=args.tta)
    k = int(max(pred.max(), y.max())) + 1
    cm = confusion_matrix(y, pred, k)
    names = model.meta.get("classes") or [str(i) for i in range(k)]
    print(f"data={data.name} source={data.source} images={len(y)}")
    print(f"accuracy={np.mean(pred == y):.4f}")
    for i in range(k):
        total = cm[i].sum()
        print(f"class={i} name={names[i].replace(' ', '_') if i < len(names) else i} "
              f"accuracy={cm[i, i] / total if total else float('nan'):.4f} support={total}")
    print("confusion matrix (rows: true class, columns: predicted)")
    width = max(len(str(cm.max())), 3)
    print(" " * 4 + " ".join(f"{j:>{width}}" for j in range(k)))
    for i in range(k):
        print(f"{i:>3} " + " ".join(f"{v:>{width}}" for v in cm[i]))
    if args.plot:
        path = os.path.splitext(args.model)[0] + "-confusion.png"
        if not plot_confusion(cm, path, names, f"Confusion matrix on {data.name}"):
            raise SystemExit("scratchcnn: --plot needs matplotlib: pip install 'scratchcnn[plot]'")
        print(f"confusion_file={path}")
    return 0


def _trained_on(model) -> str:
    """The --dataset a model was trained on (a directory, or a data set's name)."""
    source, name = str(model.meta.get("source", "")), model.meta.get("dataset", "mnist")
    if os.path.isdir(source):
        return source
    if os.path.isabs(source) and name not in DIGIT_DATASETS:
        raise SystemExit(f"scratchcnn: the model was trained on {source}, which is not there "
                         f"any more; name the test images with --dataset")
    return name


def _border(x: np.ndarray) -> np.ndarray:
    """The pixels along the four edges of x (C, H, W), flattened."""
    return np.concatenate([x[:, 0].ravel(), x[:, -1].ravel(), x[:, :, 0].ravel(),
                           x[:, :, -1].ravel()])


def image_to_input(path: str, shape: tuple, dataset: str = "mnist") -> np.ndarray:
    """A PNG/JPEG as the input (C, H, W) in [0, 1] of a model trained on ``dataset``.

    A model of an image folder (any data set but those in ``DIGIT_DATASETS``) gets what
    ``load_image_folder`` makes of the file: upright, grey or RGB, letterboxed to (H, W).
    An MNIST-style model gets a photo of a digit: resized to (H, W), turned to MNIST
    polarity (light strokes on a dark background) if its background is light, and
    stretched so that the background (the border's median) is 0 and the brightest pixel 1."""
    from ..datasets import ImageFolderError, read_image
    c, h, w = shape
    digits = dataset in DIGIT_DATASETS
    try:
        x = read_image(path, (h, w), "gray" if c == 1 else "rgb", stretch=digits)
    except ImportError as err:
        raise SystemExit(f"scratchcnn: {err}")
    except ImageFolderError as err:
        raise SystemExit(f"scratchcnn: cannot read image {err}")
    if not digits or _uniform(x):
        return x
    if _border(x).mean() > 0.5:
        x = 1.0 - x
    # a photo's paper is grey, not black: its level becomes 0 and the strokes' peak 1,
    # as in MNIST (an image that is already so is left as it is)
    background = float(np.median(_border(x)))
    return np.clip((x - background) / max(float(x.max()) - background, 1e-6), 0.0, 1.0
                   ).astype(np.float32)


#: Pixel values spanning less than this (of [0, 1]) make an image blank to predict:
#: about ten grey levels of 255.
UNIFORM = 0.04


def _uniform(x: np.ndarray) -> bool:
    return float(x.max()) - float(x.min()) < UNIFORM


def cmd_predict(args) -> int:
    model = common.load_model(args.model)
    shape = tuple(model.meta.get("input_shape", (1, 28, 28)))
    names = [str(n).replace(" ", "_") for n in model.meta.get("classes") or []]
    dataset = model.meta.get("dataset", "mnist")
    x = np.stack([image_to_input(p, shape, dataset) for p in args.images])
    proba = model.predict_proba(x)
    for path, image, p in zip(args.images, x, proba):
        if _uniform(image):  # a blank page is no digit: the model's answer means nothing
            print(f"{path} prediction=none blank=1 (a blank or nearly uniform image: its "
                  f"pixels span {float(image.max()) - float(image.min()):.3f} of [0, 1])")
            continue
        top = np.argsort(p)[::-1][:args.top]
        name = [names[i] if i < len(names) else str(i) for i in top]
        shown = " ".join(f"{int(i)}:{n}={p[i]:.4f}" for i, n in zip(top, name))
        print(f"{path} prediction={int(top[0])} {shown} name={name[0]}")
    return 0


def cmd_summary(args) -> int:
    from ..models import INPUT_SHAPES, MODELS
    if args.model in MODELS:  # built for the input asked about
        shape = args.input or INPUT_SHAPES[args.model]
        model = MODELS[args.model](input_shape=shape)  # a ValueError names what is too small
    else:
        model = common.load_model(args.model)
        shape = args.input or tuple(model.meta.get("input_shape", (1, 28, 28)))
    try:
        print(model.summary(shape))
    except ValueError as err:  # a model file's layers that do not fit that input
        raise ValueError(f"summary: {args.model} does not take input {shape}: {err}") from err
    return 0


def cmd_shape(args) -> int:
    from ..shapes import conv_output_size, conv_params
    c, h, w = args.input
    k, s, p = args.kernel, args.stride, args.padding
    try:
        ho = conv_output_size(h, k, s, p)
        wo = conv_output_size(w, k, s, p)
    except ValueError as err:
        raise SystemExit(f"scratchcnn: {err}")
    params = conv_params(c, args.filters, k)
    print("formula: out = floor((in + 2*padding - kernel) / stride) + 1")
    print(f"height: floor(({h} + 2*{p} - {k}) / {s}) + 1 = {ho}")
    print(f"width: floor(({w} + 2*{p} - {k}) / {s}) + 1 = {wo}")
    print(f"parameters: {k}*{k}*{c}*{args.filters} weights + {args.filters} biases = {params}")
    print(f"output: {args.filters} channels of {ho}x{wo} pixels, C,H,W =")
    print(f"output={args.filters},{ho},{wo}")
    print(f"params={params}")
    return 0


def cmd_export(args) -> int:
    from ..onnx_export import export_onnx
    from ..safetensors_io import save_safetensors
    if not (args.onnx or args.safetensors):
        raise SystemExit("scratchcnn: export: say what to write: --onnx OUT.onnx and/or "
                         "--safetensors OUT.safetensors")
    model = common.load_model(args.model)
    shape = args.input or tuple(model.meta.get("input_shape", (1, 28, 28)))
    try:
        if args.onnx:
            print(f"onnx_file={export_onnx(model, args.onnx, shape)}")
        if args.safetensors:
            print(f"safetensors_file={save_safetensors(model, args.safetensors)}")
    except ImportError as err:
        raise SystemExit(f"scratchcnn: {err}")
    return 0


def cmd_visualize(args) -> int:
    import json

    from .. import pictures
    from ..plots import plot_curves
    try:
        pyplot("scratchcnn visualize")
    except ImportError as err:
        raise SystemExit(f"scratchcnn: {err}")
    model = common.load_model(args.model)
    data = common.load_data(args.dataset or _trained_on(model), args.offline,
                            model.meta.get("input_shape"))
    x, y = data.test
    names = list(model.meta.get("classes") or []) or [str(i) for i in range(model.outputs(x))]
    shape = tuple(model.meta.get("input_shape", x.shape[1:]))
    image = image_to_input(args.image, shape, model.meta.get("dataset", "mnist")) \
        if args.image else x[0]
    os.makedirs(args.out, exist_ok=True)
    out = lambda name: os.path.join(args.out, name)  # noqa: E731
    print(f"filters_file={pictures.plot_filters(model, out('filters.png'))}")
    for i, layer, maps in pictures.conv_outputs(model, image):
        path = pictures.plot_feature_maps(i, layer, maps, image, out(f"feature_maps_{i}.png"))
        print(f"feature_maps_file={path}")
    proba = model.predict_proba(x, verbose=1)
    k = len(names)
    cm = confusion_matrix(y, proba.argmax(axis=1), max(k, int(y.max()) + 1))
    plot_confusion(cm, out("confusion.png"), names, f"Confusion matrix on {data.name}")
    print(f"confusion_file={out('confusion.png')}")
    path = pictures.plot_misclassified(x, y, proba, names, out("misclassified.png"))
    print(f"misclassified_file={path}")
    metrics = os.path.join(os.path.dirname(os.path.abspath(args.model)), "metrics.json")
    if os.path.isfile(metrics):
        with open(metrics) as f:
            history = json.load(f).get("history", {})
        if history.get("loss") and plot_curves(history, out("curves.png")):
            print(f"curves_file={out('curves.png')}")
    return 0

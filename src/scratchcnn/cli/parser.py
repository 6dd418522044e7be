"""The command line's options, each checked by argparse for its type and range."""

from __future__ import annotations

import argparse
import math

__all__ = ["build_parser", "check_option"]


def _int_in(low: int, high: int | None = None):
    """An argparse type: an int in [low, high]."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(
                f"must be {'>= ' + str(low) if high is None else f'in [{low}, {high}]'}, "
                f"got {value}")
        return value
    return parse


def _float_in(low: float, high: float | None = None, low_open: bool = True,
              high_open: bool = True):
    """An argparse type: a finite float in the interval from low to high."""
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        too_low = value <= low if low_open else value < low
        too_high = high is not None and (value >= high if high_open else value > high)
        if not math.isfinite(value) or too_low or too_high:
            interval = f"{'(' if low_open else '['}{low}, " + \
                (f"{high}{')' if high_open else ']'}" if high is not None else "inf)")
            raise argparse.ArgumentTypeError(f"must be in {interval}, got {text}")
        return value
    return parse


def _augment(text: str) -> str | None:
    """An argparse type: an --augment spec that scratchcnn.transforms.parse accepts."""
    from ..transforms import parse
    try:
        parse(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err).replace("--augment: ", "")) from None
    return None if text.strip().lower() in ("", "none") else text


def _triple(text: str, what: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.replace("x", ",").split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{what} must be integers like 1,28,28, got {text!r}")
    if len(values) != 3 or min(values) < 1:
        raise argparse.ArgumentTypeError(f"{what} needs three positive integers, got {text!r}")
    return values


def build_parser() -> argparse.ArgumentParser:
    from ..models import MODELS
    from ..optim import OPTIMIZERS
    from ..training import MAX_EPOCHS
    verbose = argparse.ArgumentParser(add_help=False)  # -v before or after the command
    verbose.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                         help="log what happens, with the function and line of each "
                         "message, and show a traceback on errors")
    ap = argparse.ArgumentParser(prog="scratchcnn", parents=[verbose], description=
                                 "Convolutional neural networks from scratch in NumPy.")
    sub = ap.add_subparsers(dest="command")

    def command(name, **kw):
        return sub.add_parser(name, parents=[verbose], **kw)
    t = command("train", help="train a model (default: convnet_bn_mini on MNIST, with small "
                "random rotations, shifts and zooms)")
    t.add_argument("--model", default="convnet_bn_mini",
                   choices=sorted(set(MODELS) - {"alexnet", "vgg16"}))
    t.add_argument("--dataset", default="mnist", help="mnist, fashion-mnist or a directory: "
                   "the four MNIST-style IDX files, or images in one subfolder per class "
                   "(train/ and test/ subfolders if it has them)")
    t.add_argument("--epochs", type=_int_in(1, MAX_EPOCHS), default=20)
    t.add_argument("--batch-size", type=_int_in(1), default=32)
    t.add_argument("--optimizer", default="adam", choices=sorted(OPTIMIZERS))
    t.add_argument("--lr", type=_float_in(0), default=2e-3, help="learning rate (> 0)")
    t.add_argument("--schedule", default="cosine", choices=["none", "step", "cosine"],
                   help="cosine: from --lr down to 0, updated before every batch; step: "
                   "x0.1 every third of the epochs")
    t.add_argument("--validation-split", type=_float_in(0, 1, low_open=False), default=0.1,
                   help="share of the training images held out for validation, in [0, 1)")
    t.add_argument("--clip-grad-norm", type=_float_in(0), default=None, metavar="MAX_NORM",
                   help="scale the gradients so that their global L2 norm is at most this")
    t.add_argument("--augment", type=_augment, default="affine:10", metavar="SPEC",
                   help="augment every training batch: NAME[:NUMBER],... from shift "
                   "(pixels), crop (padding), flip (probability), erase (probability), "
                   "affine (degrees, with shifts up to 10%% and zooms of 0.9-1.1), e.g. "
                   "'shift:2,erase:0.25'; default affine:10, 'none' for none")
    t.add_argument("--seed", type=_int_in(0), default=0)
    t.add_argument("--out", help="output directory (default runs/MODEL-DATASET, or "
                   "runs/MODEL-DATASET-2, -3, ... when that holds a run already)")
    t.add_argument("--force", action="store_true", help="overwrite the run in --out")
    t.add_argument("--resume", metavar="DIR_OR_FILE", help="continue the run whose "
                   "checkpoint.npz (written after every epoch) is in this directory, with "
                   "its options; --epochs may raise the total")
    e = command("evaluate", help="accuracy, per-class accuracy, confusion matrix")
    e.add_argument("model")
    e.add_argument("--dataset", help="default: the data set the model was trained on")
    e.add_argument("--plot", action="store_true", help="also write the confusion matrix PNG")
    for cmd in (t, e):
        cmd.add_argument("--tta", choices=["flip"], default=None,
                         help="test-time augmentation: average each test image's "
                         "probabilities with its mirror image's (for classes a horizontal "
                         "flip keeps, such as clothes; not digits)")
    p = command("predict", help="classify image files (PNG/JPEG, needs Pillow)")
    p.add_argument("model")
    p.add_argument("images", nargs="+")
    p.add_argument("--top", type=_int_in(1), default=3,
                   help="how many of the most likely classes to print per image (default 3)")
    s = command("summary", help="layers, output shapes, parameters, MACs")
    s.add_argument("model", help=f"{'|'.join(MODELS)} or a model file")
    s.add_argument("--input", type=lambda v: _triple(v, "--input"), help="C,H,W")
    sh = command("shape", help="output size and parameter count of a conv layer")
    sh.add_argument("--input", required=True, type=lambda v: _triple(v, "--input"),
                    help="H,W,C as in the notebook, e.g. 144,144,3")
    sh.add_argument("--filters", type=_int_in(1), required=True)
    sh.add_argument("--kernel", type=_int_in(1), required=True)
    sh.add_argument("--stride", type=_int_in(1), default=1)
    sh.add_argument("--padding", type=_int_in(0), default=0)
    x = command("export", help="write a model for other tools: ONNX (needs [onnx]) or "
                "PyTorch-named safetensors (needs [safetensors])")
    x.add_argument("model", help="a model file")
    x.add_argument("--onnx", metavar="OUT.onnx", help="an ONNX graph with a dynamic batch axis")
    x.add_argument("--safetensors", metavar="OUT.safetensors", help="the weights under "
                   "torch.nn.Sequential's names, the architecture in the metadata")
    x.add_argument("--input", type=lambda v: _triple(v, "--input"), help="C,H,W of one "
                   "sample (default: the shape the model was trained on)")
    v = command("visualize", help="PNGs of a model's first filters, its feature maps for one "
                "image, the confusion matrix, the worst mistakes, its curves (needs [plot])")
    v.add_argument("model", help="a model file")
    v.add_argument("--image", help="an image file (PNG/JPEG) for the feature maps (default: "
                   "the first test image)")
    v.add_argument("--dataset", help="the test images (default: the data set the model was "
                   "trained on)")
    v.add_argument("--out", required=True, help="directory for the PNG files")
    from . import check, explore  # the learning tools declare their own options
    check.add_arguments(command("check", help="run your own convolution and pooling (a "
                                "Python file) against the library and name each mistake"))
    explore.add_arguments(command("explore", help="a local web page to draw a digit and "
                                  "watch it flow through a network"))
    for cmd in (t, e, v):
        cmd.add_argument("--offline", action="store_true", default=None,
                         help="never touch the network (also SCRATCHCNN_OFFLINE=1)")
    return ap


def check_option(name: str, value) -> None:
    """ValueError unless ``value`` is one that ``train --NAME`` accepts (a checkpoint's
    saved options are held to the same rules as the command line's)."""
    train = build_parser()._subparsers._group_actions[0].choices["train"]
    action = next(a for a in train._actions if a.dest == name)
    if value is None and action.default is None:
        return
    if action.choices is not None and value not in action.choices:
        raise ValueError(f"--{name.replace('_', '-')} {value!r} is not one of "
                         f"{sorted(action.choices)}")
    if action.type is not None:
        try:
            parsed = action.type(str(value))
        except argparse.ArgumentTypeError as err:
            raise ValueError(f"--{name.replace('_', '-')} {value!r}: {err}") from None
        if parsed != value or type(parsed) is not type(value):
            raise ValueError(f"--{name.replace('_', '-')} {value!r} is not a "
                             f"{type(parsed).__name__}")

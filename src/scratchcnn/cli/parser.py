"""The command line's options, each checked by argparse for its type and range."""

from __future__ import annotations

import argparse
import math

from ..training import MAX_EPOCHS

__all__ = ["build_parser", "check_option", "TRAIN_OPTIONS", "RUN_OPTIONS", "LATER_OPTIONS"]


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


class _Help(argparse.RawDescriptionHelpFormatter):
    """Every option's help ends with its default (where it has one worth saying)."""

    def _get_help_string(self, action):
        text = action.help or ""
        default = action.default
        if action.option_strings and not any(default is v for v in (None, False,
                                                                    argparse.SUPPRESS)) \
                and "default" not in text:
            text += f" (default: {default})"
        return text


class _Parser(argparse.ArgumentParser):
    """An option error is one line: what is wrong, and where the help is."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


#: What --dataset names when not given: the 5,000 MNIST images shipped in the package,
#: so that the main job never touches the network unless a data set that needs it is named.
DEFAULT_DATASET = "mnist-sample"


def _chw(text: str) -> tuple[int, int, int]:
    """An argparse type: C,H,W, refused where it reads as the notebook's H,W,C: a square
    image when read so and a non-square one as C,H,W (144,144,3 is 3,144,144), or a last
    number that looks like channels (1, 3, 4) after a first that does not (120,160,3)."""
    c, h, w = _triple(text, "--input")
    if (h != w and c == h) or (w in (1, 3, 4) and c not in (1, 3, 4)):
        raise argparse.ArgumentTypeError(
            f"{text} reads as C={c}, H={h}, W={w}; --input is C,H,W: if you mean a {c}x{h} "
            f"image of {w} channels (H,W,C), write {w},{c},{h}")
    return c, h, w


#: The options of ``train`` that define a run, declared once: argparse builds them, a
#: checkpoint keeps their values, and ``--resume`` checks a run against them.  Each is
#: (flags, argparse keywords, the value runs had before the option existed, or ALWAYS);
#: ``choices`` may be a function, called when the parser is built.
ALWAYS = object()


def _trainable() -> list[str]:
    from ..models import MODELS
    return sorted(set(MODELS) - {"alexnet", "vgg16"})


def _optimizers() -> list[str]:
    from ..optim import OPTIMIZERS
    return sorted(OPTIMIZERS)


TRAIN_OPTIONS = [
    (["--model"], dict(default="convnet_bn_mini", choices=_trainable,
                       help="the zoo model to train"), ALWAYS),
    (["--dataset"], dict(default=DEFAULT_DATASET, help="mnist-sample (the 5,000 MNIST "
                         "images in the package, offline), mnist (downloads the full set), "
                         "fashion-mnist (a system copy or a download) or a directory: the "
                         "four MNIST-style IDX files, or images in one subfolder per class "
                         "(train/ and test/ subfolders if it has them)"), ALWAYS),
    (["--epochs"], dict(type=_int_in(1, MAX_EPOCHS), default=20,
                        help="epochs in all (with --resume: at least those done)"), ALWAYS),
    (["--batch-size"], dict(type=_int_in(1), default=32, help="images per step"), ALWAYS),
    (["--optimizer"], dict(default="adam", choices=_optimizers, help="the update rule"),
     ALWAYS),
    (["--lr"], dict(type=_float_in(0), default=2e-3, help="learning rate (> 0)"), ALWAYS),
    (["--schedule"], dict(default="cosine", choices=["none", "step", "cosine"],
                          help="cosine: from --lr down to 0, updated before every batch; "
                          "step: x0.1 every third of the epochs"), ALWAYS),
    (["--validation-split"], dict(type=_float_in(0, 1, low_open=False), default=0.1,
                                  help="share of the training images held out for "
                                  "validation, in [0, 1)"), ALWAYS),
    (["--label-smoothing"], dict(type=_float_in(0, 1, low_open=False), default=0.0,
                                 metavar="E", help="train towards (1 - E) on the true class "
                                 "and E / classes on every class, in [0, 1) (torch's "
                                 "label_smoothing)"), 0.0),
    (["--clip-grad-norm"], dict(type=_float_in(0), default=None, metavar="MAX_NORM",
                                help="scale the gradients so that their global L2 norm is "
                                "at most this"), None),
    (["--augment"], dict(type=_augment, default="affine:10", metavar="SPEC",
                         help="augment every training batch: NAME[:NUMBER],... from shift "
                         "(pixels), crop (padding), flip (probability), erase (probability), "
                         "affine (degrees, with shifts up to 10%% and zooms of 0.9-1.1), e.g. "
                         "'shift:2,erase:0.25'; 'none' for none"), None),
    (["--seed"], dict(type=_int_in(0), default=0, help="seeds the weights, the shuffling, "
                      "the split and the augmentation: the same seed, the same run"), ALWAYS),
]
#: Their names (argparse's dests), and the value older checkpoints had for the later ones.
RUN_OPTIONS = tuple(flags[0][2:].replace("-", "_") for flags, _, _ in TRAIN_OPTIONS)
LATER_OPTIONS = {flags[0][2:].replace("-", "_"): before
                 for flags, _, before in TRAIN_OPTIONS if before is not ALWAYS}


def build_parser() -> argparse.ArgumentParser:
    from ..models import MODELS
    verbose = argparse.ArgumentParser(add_help=False)  # -v before or after the command
    verbose.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                         help="log what happens, with the function and line of each "
                         "message, and show a traceback on errors")
    ap = _Parser(prog="scratchcnn", parents=[verbose], formatter_class=_Help, description=
                 "Convolutional neural networks from scratch in NumPy.  'scratchcnn train' "
                 "is the main job: it trains convnet_bn_mini on the bundled MNIST sample.")
    sub = ap.add_subparsers(dest="command", parser_class=_Parser)

    def command(name, **kw):
        return sub.add_parser(name, parents=[verbose], formatter_class=_Help, **kw)
    t = command("train", help="train a model (default: convnet_bn_mini on MNIST, with small "
                "random rotations, shifts and zooms)")
    for flags, keywords, _ in TRAIN_OPTIONS:
        keywords = dict(keywords)
        if callable(keywords.get("choices")):
            keywords["choices"] = keywords["choices"]()
        t.add_argument(*flags, **keywords)
    t.add_argument("--out", help="output directory (default runs/MODEL-DATASET, or "
                   "runs/MODEL-DATASET-2, -3, ... when that holds a run already)")
    t.add_argument("--force", action="store_true", help="overwrite the run in --out")
    t.add_argument("--resume", metavar="DIR_OR_FILE", help="continue the run whose "
                   "checkpoint.npz (written after every epoch) is in this directory, with "
                   "its options; --epochs may raise the total")
    e = command("evaluate", help="accuracy, per-class accuracy, confusion matrix")
    e.add_argument("model", help="a model file")
    e.add_argument("--dataset", help="default: the data set the model was trained on")
    e.add_argument("--plot", action="store_true", help="also write the confusion matrix PNG")
    for cmd in (t, e):
        cmd.add_argument("--tta", choices=["flip"], default=None,
                         help="test-time augmentation: average each test image's "
                         "probabilities with its mirror image's (for classes a horizontal "
                         "flip keeps, such as clothes; not digits)")
    p = command("predict", help="classify image files (PNG/JPEG, needs Pillow)")
    p.add_argument("model", help="a model file")
    p.add_argument("images", nargs="+", help="PNG/JPEG files")
    p.add_argument("--top", type=_int_in(1), default=3,
                   help="how many of the most likely classes to print per image")
    s = command("summary", help="layers, output shapes, parameters, MACs")
    s.add_argument("model", help=f"{'|'.join(MODELS)} or a model file")
    s.add_argument("--input", type=_chw, help="C,H,W of one sample (default: the model's "
                   "own input shape)")
    sh = command("shape", help="output size and parameter count of a conv layer")
    sh.add_argument("--input", required=True, type=_chw,
                    help="C,H,W of the input, as summary reads it: the notebook's 144x144x3 "
                    "image is 3,144,144")
    sh.add_argument("--filters", type=_int_in(1), required=True, help="output channels")
    sh.add_argument("--kernel", type=_int_in(1), required=True, help="kernel size k (k x k)")
    sh.add_argument("--stride", type=_int_in(1), default=1, help="the stride")
    sh.add_argument("--padding", type=_int_in(0), default=0, help="zeros on each side")
    x = command("export", help="write a model for other tools: ONNX (needs [onnx]) or "
                "PyTorch-named safetensors (needs [safetensors])")
    x.add_argument("model", help="a model file")
    x.add_argument("--onnx", metavar="OUT.onnx", help="an ONNX graph with a dynamic batch axis")
    x.add_argument("--safetensors", metavar="OUT.safetensors", help="the weights under "
                   "torch.nn.Sequential's names, the architecture in the metadata")
    x.add_argument("--input", type=_chw, help="C,H,W of one "
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

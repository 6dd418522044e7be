"""The ``scratchcnn`` command: train, evaluate, predict, summary, shape.

Results are printed as ``key=value`` lines a script can parse; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
import time

import numpy as np

from .plots import confusion_matrix, plot_confusion, plot_curves

log = logging.getLogger("scratchcnn")


# --------------------------------------------------------------------------- helpers

class _Terminated(KeyboardInterrupt):
    """SIGTERM (``kill``, a job scheduler's time limit) while training: stop as on Ctrl-C."""


def _on_sigterm(signum, frame):
    raise _Terminated


def _triple(text: str, what: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.replace("x", ",").split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{what} must be integers like 1,28,28, got {text!r}")
    if len(values) != 3 or min(values) < 1:
        raise argparse.ArgumentTypeError(f"{what} needs three positive integers, got {text!r}")
    return values


def _load_data(dataset: str, offline: bool):
    from . import datasets as D
    if dataset == "mnist":
        return D.load_mnist(offline=offline)
    if dataset in ("fashion-mnist", "fashion_mnist", "fashion"):
        return D.load_fashion_mnist(offline=offline)
    if os.path.isdir(dataset):
        return D.load_directory(dataset)
    raise SystemExit(f"scratchcnn: --dataset must be mnist, fashion-mnist or a directory of "
                     f"IDX files; {dataset!r} is none of these")


def _load_model(path: str):
    from .model import load
    if not os.path.isfile(path):
        raise SystemExit(f"scratchcnn: no model file {path}")
    try:
        return load(path)
    except ValueError as err:
        raise SystemExit(f"scratchcnn: {err}")


# --------------------------------------------------------------------------- commands

#: The options of ``train`` that define a run; a checkpoint keeps them for ``--resume``.
RUN_OPTIONS = ("model", "dataset", "epochs", "batch_size", "optimizer", "lr", "schedule",
               "validation_split", "seed")


def _resume_settings(args) -> tuple[dict, object]:
    """The run options and checkpoint of ``train --resume``, checked against the options
    given on the command line (--epochs may grow the run; the others must match)."""
    from .model import load_checkpoint
    path = args.resume
    if os.path.isdir(path):
        path = os.path.join(path, "checkpoint.npz")
    if not os.path.isfile(path):
        raise SystemExit(f"scratchcnn: --resume: no checkpoint file {path}")
    try:
        checkpoint = load_checkpoint(path)
    except ValueError as err:
        raise SystemExit(f"scratchcnn: --resume: {err}")
    saved = checkpoint.settings.get("options")
    if not isinstance(saved, dict) or set(saved) != set(RUN_OPTIONS):
        raise SystemExit(f"scratchcnn: --resume: {path} was not written by scratchcnn train")
    defaults = build_parser().parse_args(["train"])
    for name in RUN_OPTIONS:
        given = getattr(args, name)
        if name != "epochs" and given != getattr(defaults, name) and given != saved[name]:
            raise SystemExit(f"scratchcnn: --resume: the run was trained with --"
                             f"{name.replace('_', '-')} {saved[name]}, not {given}; resume "
                             f"it without that option")
    options = dict(saved)
    if args.epochs != defaults.epochs:
        options["epochs"] = args.epochs
    args.out = args.out or os.path.dirname(os.path.abspath(path))
    return options, checkpoint


def cmd_train(args) -> int:
    from .io import atomic_write, save_checkpoint
    from .models import MODELS
    from .optim import OPTIMIZERS, CosineAnnealingLR, StepLR
    from .training import Trainer
    checkpoint = None
    if args.resume:
        options, checkpoint = _resume_settings(args)
        args = argparse.Namespace(**{**vars(args), **options})
    if os.path.isdir(args.dataset):  # so that --resume finds it from anywhere
        args.dataset = os.path.abspath(args.dataset)
    options = {name: getattr(args, name) for name in RUN_OPTIONS}
    data = _load_data(args.dataset, args.offline)
    (x, y), (x_test, y_test) = data.train, data.test
    rng = np.random.default_rng(args.seed)
    order = rng.permutation(len(x))
    n_val = int(round(len(x) * args.validation_split))
    val, train = order[:n_val], order[n_val:]
    x_train, y_train = x[train], y[train]
    classes = int(max(y.max(), y_test.max())) + 1
    meta = {"dataset": data.name, "source": data.source, "classes": list(data.classes),
            "input_shape": list(x.shape[1:]), "model": args.model}
    if checkpoint is None:
        model = MODELS[args.model](in_channels=x.shape[1], num_classes=classes, seed=args.seed)
        model.input_mean = np.array(float(x_train.mean()))
        model.input_std = np.array(float(x_train.std()))
        model.meta = meta
    else:
        model = checkpoint.model
        if model.meta != meta:
            raise SystemExit(f"scratchcnn: --resume: the run was trained on {model.meta}, "
                             f"but {args.dataset} now gives {meta}")
    optimizer = OPTIMIZERS[args.optimizer](lr=args.lr)
    scheduler = {"none": None, "step": StepLR(max(args.epochs // 3, 1), 0.1),
                 "cosine": CosineAnnealingLR(max(args.epochs, 1), per_batch=True)}[args.schedule]
    model.trainer = Trainer(model, optimizer, scheduler=scheduler, seed=args.seed)
    if checkpoint is not None:
        model.trainer.load_state_dict(checkpoint.trainer_state)
    print(f"data={data.name} source={data.source} train={len(train)} validation={n_val} "
          f"test={len(x_test)}")
    print(f"model={args.model} params={sum(p.size for p in model.parameters())} "
          f"optimizer={args.optimizer} lr={args.lr} batch_size={args.batch_size} "
          f"epochs={args.epochs} seed={args.seed}", flush=True)
    if checkpoint is not None:
        print(f"resumed={args.resume}\nresumed_after_epoch={model.trainer.epoch}", flush=True)
    out = args.out or os.path.join("runs", f"{args.model}-{data.name}")
    os.makedirs(out, exist_ok=True)
    model_path = os.path.join(out, "model.npz")
    checkpoint_path = os.path.join(out, "checkpoint.npz")

    def keep(trainer):  # after every epoch: a crash or Ctrl-C loses one epoch at most
        model.save(model_path)
        save_checkpoint(trainer, checkpoint_path, {"options": options})
    done_before = model.trainer.epoch
    start = time.perf_counter()
    in_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _on_sigterm) if in_main else None
    try:
        history = model.fit(x_train, y_train, max(0, args.epochs - model.trainer.epoch),
                            args.batch_size, validation_data=(x[val], y[val]) if n_val else None,
                            on_epoch_end=keep)
    except KeyboardInterrupt as stop:
        done = model.trainer.epoch
        how = "terminated" if isinstance(stop, _Terminated) else "interrupted"
        print(f"\nscratchcnn: {how} in epoch {done + 1}; "
              + (f"{model_path} holds the model after epoch {done}; continue with "
                 f"scratchcnn train --resume {out}" if done else
                 "no epoch had finished, nothing was saved"), file=sys.stderr)
        return 128 + (signal.SIGTERM if isinstance(stop, _Terminated) else signal.SIGINT)
    finally:
        if in_main and previous is not None:
            signal.signal(signal.SIGTERM, previous)
    # a resumed run counts the time of the epochs it had done before, too
    train_time = time.perf_counter() - start + sum(history.history.get("time", [])[:done_before])
    result = model.evaluate(x_test, y_test)
    model_path = model.save(model_path)
    metrics = {"test_loss": result["loss"], "test_accuracy": result["accuracy"],
               "train_seconds": train_time, "history": history.history, **model.meta,
               "optimizer": args.optimizer, "lr": args.lr, "batch_size": args.batch_size,
               "epochs": args.epochs, "seed": args.seed}
    metrics_path = os.path.join(out, "metrics.json")
    atomic_write(metrics_path, lambda f: f.write(json.dumps(metrics, indent=2).encode()))
    curves = os.path.join(out, "curves.png")
    print(f"test_loss={result['loss']:.4f}")
    print(f"test_accuracy={result['accuracy']:.4f}")
    print(f"train_seconds={train_time:.1f}")
    print(f"model_file={model_path}")
    print(f"metrics_file={metrics_path}")
    if plot_curves(history.history, curves):
        print(f"curves_file={curves}")
    else:
        print("curves_file= (install scratchcnn[plot] for curves.png)")
    return 0


def cmd_evaluate(args) -> int:
    model = _load_model(args.model)
    data = _load_data(args.dataset or model.meta.get("dataset", "mnist").replace(
        "mnist-sample", "mnist"), args.offline)
    x, y = data.test
    pred = model.predict(x)
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
        if not plot_confusion(cm, path):
            raise SystemExit("scratchcnn: --plot needs matplotlib: pip install 'scratchcnn[plot]'")
        print(f"confusion_file={path}")
    return 0


def image_to_input(path: str, shape: tuple) -> np.ndarray:
    """A PNG/JPEG as the model's input (C, H, W) in [0, 1]: grayscale, resized, and turned
    to MNIST polarity (light strokes on a dark background) if its background is light."""
    try:
        from PIL import Image
    except ImportError:
        raise SystemExit("scratchcnn: predict needs Pillow: pip install 'scratchcnn[images]'")
    c, h, w = shape
    try:
        with Image.open(path) as img:
            img = img.convert("L" if c == 1 else "RGB").resize((w, h), Image.BILINEAR)
            x = np.asarray(img, dtype=np.float32) / 255.0
    except (OSError, ValueError) as err:
        raise SystemExit(f"scratchcnn: cannot read image {path}: {err}")
    x = x[None] if c == 1 else x.transpose(2, 0, 1)
    border = np.concatenate([x[:, 0].ravel(), x[:, -1].ravel(), x[:, :, 0].ravel(),
                             x[:, :, -1].ravel()])
    return 1.0 - x if border.mean() > 0.5 else x


def cmd_predict(args) -> int:
    model = _load_model(args.model)
    shape = tuple(model.meta.get("input_shape", (1, 28, 28)))
    names = model.meta.get("classes") or []
    x = np.stack([image_to_input(p, shape) for p in args.images])
    proba = model.predict_proba(x)
    for path, p in zip(args.images, proba):
        top = np.argsort(p)[::-1][:args.top]
        shown = " ".join(f"{int(i)}:{names[i] if i < len(names) else i}={p[i]:.4f}" for i in top)
        print(f"{path} prediction={int(top[0])} {shown}")
    return 0


def cmd_summary(args) -> int:
    from .models import INPUT_SHAPES, MODELS
    if args.model in MODELS:
        model = MODELS[args.model]()
        shape = args.input or INPUT_SHAPES[args.model]
    else:
        model = _load_model(args.model)
        shape = args.input or tuple(model.meta.get("input_shape", (1, 28, 28)))
    print(model.summary(shape))
    return 0


def cmd_shape(args) -> int:
    from .shapes import conv_output_size, conv_params
    h, w, c = args.input
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
    print(f"output={ho}x{wo}x{args.filters}")
    print(f"params={params}")
    return 0


# --------------------------------------------------------------------------- parser

def build_parser() -> argparse.ArgumentParser:
    from .models import MODELS
    from .optim import OPTIMIZERS
    ap = argparse.ArgumentParser(prog="scratchcnn", description="Convolutional neural "
                                 "networks from scratch in NumPy.")
    ap.add_argument("-v", "--verbose", action="store_true", help="log what happens, with the "
                    "function and line of each message")
    sub = ap.add_subparsers(dest="command")
    t = sub.add_parser("train", help="train a model (default: LeNet-5 on MNIST)")
    t.add_argument("--model", default="lenet5", choices=sorted(set(MODELS) - {"alexnet", "vgg16"}))
    t.add_argument("--dataset", default="mnist", help="mnist, fashion-mnist or a directory "
                   "holding the four MNIST-style IDX files")
    t.add_argument("--epochs", type=int, default=15)
    t.add_argument("--batch-size", type=int, default=64)
    t.add_argument("--optimizer", default="adam", choices=sorted(OPTIMIZERS))
    t.add_argument("--lr", type=float, default=1e-3)
    t.add_argument("--schedule", default="cosine", choices=["none", "step", "cosine"],
                   help="cosine: from --lr down to 0, updated before every batch; step: "
                   "x0.1 every third of the epochs")
    t.add_argument("--validation-split", type=float, default=0.1)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--out", help="output directory (default runs/MODEL-DATASET)")
    t.add_argument("--resume", metavar="DIR_OR_FILE", help="continue the run whose "
                   "checkpoint.npz (written after every epoch) is in this directory, with "
                   "its options; --epochs may raise the total")
    e = sub.add_parser("evaluate", help="accuracy, per-class accuracy, confusion matrix")
    e.add_argument("model")
    e.add_argument("--dataset", help="default: the data set the model was trained on")
    e.add_argument("--plot", action="store_true", help="also write the confusion matrix PNG")
    p = sub.add_parser("predict", help="classify image files (PNG/JPEG, needs Pillow)")
    p.add_argument("model")
    p.add_argument("images", nargs="+")
    p.add_argument("--top", type=int, default=3)
    s = sub.add_parser("summary", help="layers, output shapes, parameters, MACs")
    s.add_argument("model", help=f"{'|'.join(MODELS)} or a model file")
    s.add_argument("--input", type=lambda v: _triple(v, "--input"), help="C,H,W")
    sh = sub.add_parser("shape", help="output size and parameter count of a conv layer")
    sh.add_argument("--input", required=True, type=lambda v: _triple(v, "--input"),
                    help="H,W,C as in the notebook, e.g. 144,144,3")
    sh.add_argument("--filters", type=int, required=True)
    sh.add_argument("--kernel", type=int, required=True)
    sh.add_argument("--stride", type=int, default=1)
    sh.add_argument("--padding", type=int, default=0)
    for cmd in (t, e):
        cmd.add_argument("--offline", action="store_true", default=None,
                         help="never touch the network (also SCRATCHCNN_OFFLINE=1)")
    return ap


COMMANDS = {"train": cmd_train, "evaluate": cmd_evaluate, "predict": cmd_predict,
            "summary": cmd_summary, "shape": cmd_shape}


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if args.verbose:
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s "
                            "%(funcName)s:%(lineno)d %(message)s")
    if args.command is None:
        args = build_parser().parse_args(["train", *(argv or [])])
    try:
        return COMMANDS[args.command](args)
    except KeyboardInterrupt:
        print("scratchcnn: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

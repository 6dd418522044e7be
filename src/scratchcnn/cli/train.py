"""``scratchcnn train``: a run from options, checkpointed after every epoch, resumable."""

from __future__ import annotations

import argparse
import glob
import json
import logging
import os
import signal
import sys
import threading
import time

import numpy as np

from ..plots import plot_curves
from . import common
from .parser import LATER_OPTIONS, RUN_OPTIONS, build_parser, check_option

log = logging.getLogger("scratchcnn")

__all__ = ["cmd_train", "RUN_OPTIONS"]


class _Terminated(KeyboardInterrupt):
    """SIGTERM (``kill``, a job scheduler's time limit) while training: stop as on Ctrl-C."""


def _on_sigterm(signum, frame):
    raise _Terminated


#: Files that make a directory hold a run.
RUN_FILES = ("model.npz", "checkpoint.npz", "metrics.json")


def _resume_settings(args) -> tuple[dict, object]:
    """The run options and checkpoint of ``train --resume``, checked against the options
    given on the command line (--epochs may grow the run; the others must match)."""
    from ..model import load_checkpoint
    path = args.resume
    if os.path.isdir(path):
        path = os.path.join(path, "checkpoint.npz")
    checkpoint = common.load_file(load_checkpoint, path, "checkpoint", "scratchcnn: --resume: ")
    saved = checkpoint.settings.get("options")
    if isinstance(saved, dict):
        saved = {**LATER_OPTIONS, **saved}
    if not isinstance(saved, dict) or set(saved) != set(RUN_OPTIONS):
        raise SystemExit(f"scratchcnn: --resume: {path} was not written by scratchcnn train")
    for name, value in saved.items():
        try:
            check_option(name, value)
        except ValueError as err:
            raise SystemExit(f"scratchcnn: --resume: {path} holds a run option that train "
                             f"refuses: {err}")
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
    done = checkpoint.trainer_state.get("epoch", 0)
    if isinstance(done, int) and options["epochs"] < done:
        raise SystemExit(f"scratchcnn: --resume: {path} has {done} epochs done already; "
                         f"--epochs {options['epochs']} would be fewer (give --epochs {done} "
                         f"or more to continue it)")
    args.saved_epochs = saved["epochs"]
    args.out = args.out or os.path.dirname(os.path.abspath(path))
    return options, checkpoint


def _holds_run(directory: str) -> list[str]:
    return [f for f in RUN_FILES if os.path.exists(os.path.join(directory, f))]


def run_directory(args, data_name: str) -> str:
    """Where the run's files go: ``--out``, refused if it holds another run (unless
    ``--force`` or ``--resume``); by default ``runs/MODEL-DATA``, or the first of
    ``runs/MODEL-DATA-2``, ``-3``, ... that holds none."""
    if args.resume:
        return args.out
    if args.out:
        found = _holds_run(args.out)
        if found and not args.force:
            raise SystemExit(f"scratchcnn: {args.out} already holds a run ({', '.join(found)});"
                             f" --force overwrites it, --resume {args.out} continues it, or "
                             f"choose another --out")
        return args.out
    base = os.path.join("runs", f"{args.model}-{data_name}")
    out, k = base, 1
    while _holds_run(out) and not args.force:
        k += 1
        out = f"{base}-{k}"
    return out


def _remove_stale_temporaries(directory: str) -> None:
    """Temporary files that a killed save left behind (``kill -9`` mid-write)."""
    for path in glob.glob(os.path.join(glob.escape(directory), ".tmp-*")):
        log.info("removing %s, left by an interrupted save", path)
        os.unlink(path)


def cmd_train(args) -> int:
    from ..callbacks import TrainingCheckpoint
    from ..guard import TrainingDiverged
    from ..files import atomic_write
    from ..losses import CrossEntropyLoss
    from ..transforms import parse as parse_augment
    from ..models import MODELS
    from ..optim import OPTIMIZERS, CosineAnnealingLR, StepLR
    from ..training import Trainer
    checkpoint = None
    if args.resume:
        options, checkpoint = _resume_settings(args)
        args = argparse.Namespace(**{**vars(args), **options})
    if os.path.isdir(args.dataset):  # so that --resume finds it from anywhere
        args.dataset = os.path.abspath(args.dataset)
    options = {name: getattr(args, name) for name in RUN_OPTIONS}
    data = common.load_data(args.dataset, args.offline)
    (x, y), (x_test, y_test) = data.train, data.test
    rng = np.random.default_rng(args.seed)
    order = rng.permutation(len(x))
    n_val = int(round(len(x) * args.validation_split))
    if n_val >= len(x):
        raise SystemExit(f"scratchcnn: --validation-split {args.validation_split} leaves no "
                         f"training images of {len(x)}")
    val, train = order[:n_val], order[n_val:]
    x_train, y_train = x[train], y[train]
    classes = int(max(y.max(), y_test.max())) + 1
    meta = {"dataset": data.name, "source": data.source, "classes": list(data.classes),
            "input_shape": list(x.shape[1:]), "model": args.model}
    if checkpoint is None:
        model = MODELS[args.model](input_shape=x.shape[1:], num_classes=classes, seed=args.seed)
        model.input_mean = np.array(float(x_train.mean()))
        model.input_std = np.array(float(x_train.std()))
        model.meta = meta
    else:
        model = checkpoint.model
        if {k: v for k, v in model.meta.items() if k != "input_range"} != meta:
            raise SystemExit(f"scratchcnn: --resume: the run was trained on {model.meta}, "
                             f"but {args.dataset} now gives {meta}")
    optimizer = OPTIMIZERS[args.optimizer](lr=args.lr)
    scheduler = {"none": None, "step": StepLR(max(args.epochs // 3, 1), 0.1),
                 "cosine": CosineAnnealingLR(max(args.epochs, 1), per_batch=True)}[args.schedule]
    loss = CrossEntropyLoss(label_smoothing=args.label_smoothing)
    trainer = Trainer(model, optimizer, loss, scheduler=scheduler, seed=args.seed)
    if checkpoint is not None:
        try:
            trainer.load_state_dict(checkpoint.trainer_state)
        except ValueError as err:
            raise SystemExit(f"scratchcnn: --resume: {args.resume}: the run state does not "
                             f"fit its model and --optimizer {args.optimizer}: {err}")
    out = run_directory(args, data.name)
    print(f"data={data.name} source={data.source} train={len(train)} validation={n_val} "
          f"test={len(x_test)}")
    print(f"model={args.model} params={sum(p.size for p in model.parameters())} "
          f"optimizer={args.optimizer} lr={args.lr} batch_size={args.batch_size} "
          f"epochs={args.epochs} seed={args.seed} out={out}", flush=True)
    if checkpoint is not None:
        print(f"resumed={args.resume}\nresumed_after_epoch={trainer.epoch}", flush=True)
        if args.epochs > args.saved_epochs and scheduler is not None:
            done, base = trainer.epoch, trainer.base_lr
            print(f"schedule={args.schedule} over {args.epochs} epochs (the run had "
                  f"{args.saved_epochs}): epochs {done + 1}-{args.epochs} train at lr "
                  f"{scheduler.lr_at(done, base):.3g} falling to "
                  f"{scheduler.lr_at(args.epochs - 1e-9, base):.3g}", flush=True)
    if os.path.isdir(out):
        _remove_stale_temporaries(out)
    model_path = os.path.join(out, "model.npz")
    checkpoint_path = os.path.join(out, "checkpoint.npz")

    # after every epoch: a crash, Ctrl-C or kill -9 loses one epoch at most
    keep = TrainingCheckpoint(model_path, checkpoint_path, {"options": options})

    def saved_so_far() -> str:
        done = trainer.epoch
        return (f"{model_path} holds the model after epoch {done}; continue with "
                f"scratchcnn train --resume {out}" if done else
                "no epoch had finished, nothing was saved")
    done_before = trainer.epoch
    start = time.perf_counter()
    in_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _on_sigterm) if in_main else None
    try:
        history = trainer.run(x_train, y_train, epochs=max(0, args.epochs - trainer.epoch),
                              batch_size=args.batch_size,
                              validation_data=(x[val], y[val]) if n_val else None,
                              callbacks=[keep], clip_grad_norm=args.clip_grad_norm,
                              augment=parse_augment(args.augment))
    except KeyboardInterrupt as stop:
        how = "terminated" if isinstance(stop, _Terminated) else "interrupted"
        print(f"\nscratchcnn: {how} in epoch {trainer.epoch + 1}; {saved_so_far()}",
              file=sys.stderr)
        return 128 + (signal.SIGTERM if isinstance(stop, _Terminated) else signal.SIGINT)
    except TrainingDiverged as err:
        print(f"scratchcnn: {err}; {saved_so_far()}", file=sys.stderr)
        return 1
    finally:
        if in_main and previous is not None:
            signal.signal(signal.SIGTERM, previous)
    # a resumed run counts the time of the epochs it had done before, too
    train_time = time.perf_counter() - start + sum(history.history.get("time", [])[:done_before])
    result = model.evaluate(x_test, y_test, verbose=1, tta=args.tta)
    model_path = model.save(model_path)
    metrics = {"test_loss": result["loss"], "test_accuracy": result["accuracy"],
               "train_seconds": train_time, "history": history.history, **model.meta,
               "optimizer": args.optimizer, "lr": args.lr, "batch_size": args.batch_size,
               "epochs": args.epochs, "seed": args.seed, "tta": args.tta}
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

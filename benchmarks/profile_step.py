"""Where one training step's time goes, layer by layer, in scratchcnn and in PyTorch.

    python benchmarks/profile_step.py [--model convnet_bn_mini] [--batch-size B]
                                      [--steps 30] [--threads 2]

Each library runs in its own child process (see ``_harness.py``), the same zoo model
(torch's built by ``tests/torch_twin.py``), float32, Adam.  Each leaf layer's forward and
backward is timed on its own (ours: the layer's methods wrapped; torch: module hooks),
median over ``--steps`` steps after a warm-up; "step" is a whole step timed without any
wrapper or hook, and "rest" is what the layers do not account for (loss, optimiser,
the hooks' own cost).  A convolution fused with the pool after it is timed as the
convolution, the pool then shows 0.  Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _harness as H  # noqa: E402
from bench_train import RECIPE_BATCH, data  # noqa: E402


def _median_ms(samples: dict) -> dict:
    return {k: statistics.median(v) * 1e3 for k, v in samples.items()}


def _whole_steps(step, steps: int) -> list[float]:
    """Seconds of ``steps`` whole steps, before any wrapper or hook, after 5 to warm up."""
    whole = []
    for i in range(steps + 5):
        t = time.perf_counter()
        step(i)
        if i >= 5:
            whole.append(time.perf_counter() - t)
    return whole


def _result(step, steps: int, times: dict, leaves: list, whole: list) -> dict:
    """Run ``step`` 5 times to warm the timers, then ``steps`` times: each leaf layer's
    median forward and backward milliseconds, and the median of the ``whole`` steps."""
    for i in range(5):
        step(i)
    times.clear()
    for i in range(steps):
        step(i)
    med = _median_ms(times)
    rows = [[n, type(layer).__name__, med.get((n, "forward"), 0.0),
             med.get((n, "backward"), 0.0)] for n, layer in leaves]
    return {"rows": rows, "step_ms": statistics.median(whole) * 1e3}


def ours(name: str, batch: int, steps: int) -> dict:
    import scratchcnn as sc
    from scratchcnn.layers.container import Container
    x, y = data(batch * 4)
    model = sc.models.MODELS[name](input_shape=x.shape[1:], seed=0)
    opt, loss = sc.Adam(1e-3), sc.CrossEntropyLoss()
    leaves = [(n, layer) for n, layer in model.named_layers() if not isinstance(layer, Container)]
    times: dict = {}

    def timed(key, fn):
        def call(*args, **kwargs):
            t = time.perf_counter()
            out = fn(*args, **kwargs)
            times.setdefault(key, []).append(time.perf_counter() - t)
            return out
        return call

    def step(i):
        xb, yb = x[i % 4 * batch:(i % 4 + 1) * batch], y[i % 4 * batch:(i % 4 + 1) * batch]
        loss.forward(model.forward(xb), yb)
        model.backward(loss.backward())
        opt.step(model)

    whole = _whole_steps(step, steps)
    for n, layer in leaves:  # instance attributes shadow the class's methods
        layer.forward = timed((n, "forward"), layer.forward)
        layer.backward = timed((n, "backward"), layer.backward)
        if hasattr(layer, "forward_fused"):
            layer.forward_fused = timed((n, "forward"), layer.forward_fused)
    return _result(step, steps, times, leaves, whole)


def torch_side(name: str, batch: int, steps: int) -> dict:
    import numpy as np
    import torch
    from torch import nn
    from torch_twin import torch_twin

    import scratchcnn as sc
    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
    x, y = data(batch * 4)
    model = torch_twin(sc.models.MODELS[name](input_shape=x.shape[1:], seed=0))
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    xt, yt = torch.from_numpy(x), torch.from_numpy(np.asarray(y, np.int64))

    def step(i):
        xb, yb = xt[i % 4 * batch:(i % 4 + 1) * batch], yt[i % 4 * batch:(i % 4 + 1) * batch]
        opt.zero_grad()
        nn.functional.cross_entropy(model(xb), yb).backward()
        opt.step()

    whole = _whole_steps(step, steps)
    times: dict = {}
    started: dict = {}
    leaves = [(n, m) for n, m in model.named_modules() if n and not list(m.children())]

    def hooks(n, m):
        def begin(kind):
            return lambda *a: started.__setitem__((n, kind), time.perf_counter())

        def end(kind):
            def hook(*a):
                times.setdefault((n, kind), []).append(time.perf_counter() - started[n, kind])
            return hook
        m.register_forward_pre_hook(begin("forward"))
        m.register_forward_hook(end("forward"))
        m.register_full_backward_pre_hook(begin("backward"))
        m.register_full_backward_hook(end("backward"))

    for n, m in leaves:
        if isinstance(m, nn.ReLU):
            m.inplace = False  # (full backward hooks refuse in-place outputs)
        hooks(n, m)
    xt.requires_grad_(True)  # so the first layer's backward hook fires, as ours runs
    return _result(step, steps, times, leaves, whole)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="convnet_bn_mini")
    ap.add_argument("--batch-size", type=int, default=None)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    batch = args.batch_size or RECIPE_BATCH.get(args.model, 64)
    if args.child:
        run = ours if args.child == "ours" else torch_side
        print(json.dumps(run(args.model, batch, args.steps)))
        return 0
    common = ["--model", args.model, "--batch-size", str(batch), "--steps", str(args.steps)]
    a = H.run_child(__file__, ["--child", "ours", *common], args.threads)
    b = H.run_child(__file__, ["--child", "torch", *common], args.threads)
    theirs = {row[0]: row for row in b["rows"]}
    print(f"{args.model}, batch {batch}, {args.threads} threads: median ms of {args.steps} "
          "steps, each layer on its own")
    print("| layer | type | ours fwd | torch fwd | ours bwd | torch bwd | ours/torch |")
    print("|---|---|---:|---:|---:|---:|---:|")
    total_o = total_t = 0.0
    for n, kind, fwd, bwd in a["rows"]:
        _, _, tf, tb = theirs.get(n, [n, kind, 0.0, 0.0])
        total_o, total_t = total_o + fwd + bwd, total_t + tf + tb
        ratio = f"{(fwd + bwd) / (tf + tb):.2f}" if tf + tb > 0 else "-"
        print(f"| {n} | {kind} | {fwd:.2f} | {tf:.2f} | {bwd:.2f} | {tb:.2f} | {ratio} |")
    print(f"| layers | | | | | | {total_o:.1f} / {total_t:.1f} = {total_o / total_t:.2f} |")
    print(f"| step (no hooks) | | | | | | {a['step_ms']:.1f} / {b['step_ms']:.1f} = "
          f"{a['step_ms'] / b['step_ms']:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

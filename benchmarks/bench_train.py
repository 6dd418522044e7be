"""One epoch of LeNet-5 (or another zoo model) in scratchcnn and in PyTorch, side by side.

    python benchmarks/bench_train.py [--model lenet5] [--images 60000] [--batch-size B]
                                     [--rounds 1]
                                     [--baseline OTHER_CHECKOUT/src]

Same network, batch size, optimiser (Adam 1e-3), float32 and 2 threads; each library in
its own child process (see ``_harness.py``).  Prints epoch seconds, the ratio
ours/torch, the median seconds of one step (robust to this machine's stalls) and both
peak memories (peak RSS during the epoch minus RSS after set-up).
Data: Fashion-MNIST's training images when installed, else random images.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _harness as H  # noqa: E402


def data(n: int):
    import numpy as np
    try:
        from scratchcnn import datasets
        x, y = datasets.load_fashion_mnist(offline=True, progress=False).train
        return x[:n], y[:n]
    except (FileNotFoundError, OSError):
        rng = np.random.default_rng(0)
        return rng.random((n, 1, 28, 28), dtype=np.float32), rng.integers(0, 10, n)


def child(library: str, n: int, batch_size: int, name: str = "lenet5") -> dict:
    import numpy as np
    x, y = data(n)
    if library in ("ours", "base"):
        import scratchcnn as sc
        model = sc.models.MODELS[name](input_shape=x.shape[1:], seed=0)
        steps = []

        def time_steps(trainer):  # fit's own loop, with each step timed
            loss, opt = trainer.loss, trainer.optimizer
            order = trainer.rng.permutation(n)
            for i in range(0, n, batch_size):
                idx = order[i:i + batch_size]
                t = time.perf_counter()
                loss.forward(model.forward(x[idx]), y[idx])
                model.backward(loss.backward())
                opt.step(model)
                steps.append(time.perf_counter() - t)
        base = H.start_peak()
        start = time.perf_counter()
        model.fit(x, y, epochs=1, batch_size=batch_size, optimizer=sc.Adam(1e-3), seed=0,
                  verbose=0)
        seconds = time.perf_counter() - start
        acc = model.evaluate(x[:2000], y[:2000])["accuracy"]
        time_steps(model.trainer)  # a second epoch, step by step, for the median
    else:
        import torch
        from torch import nn
        torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
        import scratchcnn as sc
        from torch_twin import torch_twin
        torch.manual_seed(0)
        model = torch_twin(sc.models.MODELS[name](input_shape=x.shape[1:], seed=0))  # same layers
        opt = torch.optim.Adam(model.parameters(), 1e-3)
        xt, yt = torch.from_numpy(x), torch.from_numpy(np.asarray(y, np.int64))
        gen = torch.Generator().manual_seed(0)
        base = H.start_peak()
        start = time.perf_counter()
        steps = []
        for epoch in range(2):  # the first is timed whole, the second step by step
            order = torch.randperm(n, generator=gen)
            for i in range(0, n, batch_size):
                idx = order[i:i + batch_size]
                t = time.perf_counter()
                opt.zero_grad()
                loss = nn.functional.cross_entropy(model(xt[idx]), yt[idx])
                loss.backward()
                opt.step()
                if epoch:
                    steps.append(time.perf_counter() - t)
            if not epoch:
                seconds = time.perf_counter() - start
                with torch.no_grad():
                    acc = float((model(xt[:2000]).argmax(1) == yt[:2000]).float().mean())
    import statistics
    return {"seconds": [seconds], "peak_mib": H.peak_mib() - base, "accuracy": acc,
            "step_ms": [statistics.median(steps) * 1e3]}


#: The batch size each model's documented run uses: lenet5 this file's history (128),
#: convnet_bn_mini ``scratchcnn train`` with no options (32), convnet_bn_lite the README's
#: Fashion-MNIST run (64).
RECIPE_BATCH = {"lenet5": 128, "convnet_bn_mini": 32, "convnet_bn_lite": 64}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=60000)
    ap.add_argument("--model", default="lenet5", help="a zoo model (both libraries build it)")
    ap.add_argument("--batch-size", type=int, default=None,
                    help="default: the batch the model's documented run trains with "
                    f"({', '.join(f'{m} {b}' for m, b in RECIPE_BATCH.items())}; others 64)")
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--child", help=argparse.SUPPRESS)
    H.add_baseline_option(ap)
    args = ap.parse_args(argv)
    if args.batch_size is None:
        args.batch_size = RECIPE_BATCH.get(args.model, 64)
    if args.child:
        print(json.dumps(child(args.child, args.images, args.batch_size, args.model)))
        return 0
    runs = H.alternate(__file__, ["ours", "torch"], ["--images", str(args.images),
                       "--batch-size", str(args.batch_size), "--model", args.model],
                       args.rounds, args.threads,
                       args.baseline)
    ours, torch_ = H.median_of(runs["ours"], "seconds"), H.median_of(runs["torch"], "seconds")
    mem_o = max(r["peak_mib"] for r in runs["ours"])
    mem_t = max(r["peak_mib"] for r in runs["torch"])
    print(f"{args.model}, one epoch of {args.images} images, batch {args.batch_size}, Adam, "
          f"float32, {args.threads} threads, median of {args.rounds} round(s)")
    print(f"ours_seconds={ours:.2f}")
    print(f"torch_seconds={torch_:.2f}")
    print(f"ratio={ours / torch_:.2f} (target <= 1.3)")
    s_o, s_t = H.median_of(runs["ours"], "step_ms"), H.median_of(runs["torch"], "step_ms")
    print(f"ours_median_step_ms={s_o:.2f}")
    print(f"torch_median_step_ms={s_t:.2f}")
    print(f"step_ratio={s_o / s_t:.2f} (median steps: this machine's stalls excluded)")
    print(f"ours_peak_mib={mem_o:.0f}")
    print(f"torch_peak_mib={mem_t:.0f} (target: ours <= torch)")
    print(f"ours_train_accuracy_after_epoch={runs['ours'][0]['accuracy']:.3f} "
          f"torch={runs['torch'][0]['accuracy']:.3f}")
    if args.baseline:
        base, s_b = H.median_of(runs["base"], "seconds"), H.median_of(runs["base"], "step_ms")
        print(f"base_seconds={base:.2f} base_median_step_ms={s_b:.2f} "
              f"base_peak_mib={max(r['peak_mib'] for r in runs['base']):.0f}")
        print(f"ours_over_base={ours / base:.3f} step_ours_over_base={s_o / s_b:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

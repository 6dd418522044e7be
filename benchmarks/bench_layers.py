"""Time scratchcnn's layers against torch.nn's, float32.

    python benchmarks/bench_layers.py [--repeats 5] [--rounds 2] [--threads 2]
                                      [--baseline OTHER_CHECKOUT/src]

Prints a Markdown table: median milliseconds for forward and for forward+backward, the
ratio ours/torch (the target is judged on these medians), the fastest forward+backward
sample of each side and their ratio, and each side's peak extra memory.  Each library
runs in its own child process (see ``_harness.py``).  The first layer of a network needs
no dL/dx, so the "LeNet conv1" case skips it on both sides (torch: input without
``requires_grad``).
"""

from __future__ import annotations

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _harness as H  # noqa: E402

# name: (N, C_in, H, W, C_out, k, stride, pad, first_layer)
CONV_CASES = {
    "LeNet conv1": (128, 1, 28, 28, 6, 5, 1, 2, True),
    "LeNet conv2": (128, 6, 14, 14, 16, 5, 1, 0, False),
    "CIFAR": (64, 3, 32, 32, 32, 3, 1, 1, False),
    "VGG block": (32, 64, 32, 32, 64, 3, 1, 1, False),
    "strided": (64, 32, 32, 32, 64, 3, 2, 1, False),
    # the convolutions of resnet20 on Fashion-MNIST (1x28x28), batch 64
    "resnet20 stem": (64, 1, 28, 28, 16, 3, 1, 1, True),
    "resnet20 16@28x28": (64, 16, 28, 28, 16, 3, 1, 1, False),
    "resnet20 16->32 stride 2": (64, 16, 28, 28, 32, 3, 2, 1, False),
    "resnet20 1x1 16->32 stride 2": (64, 16, 28, 28, 32, 1, 2, 0, False),
    "resnet20 32@14x14": (64, 32, 14, 14, 32, 3, 1, 1, False),
    "resnet20 32->64 stride 2": (64, 32, 14, 14, 64, 3, 2, 1, False),
    "resnet20 64@7x7": (64, 64, 7, 7, 64, 3, 1, 1, False),
}
# name: (kind, (N, C, H, W)): the layers a ResNet or MobileNet adds
BLOCK_CASES = {
    "global avg pool (64,64,7,7)": ("gap", (64, 64, 7, 7)),
    "residual block 16@28x28": ("residual", (64, 16, 28, 28)),
    "depthwise 3x3 (64,32,14,14)": ("depthwise", (64, 32, 14, 14)),
    "grouped 3x3, 4 groups (64,32,14,14)": ("grouped", (64, 32, 14, 14)),
}
# name: (N, C, H, W, k)
POOL_CASES = {
    "max-pool 2x2 (128,6,28,28)": (128, 6, 28, 28, 2),
    "max-pool 2x2 (32,64,32,32)": (32, 64, 32, 32, 2),
}
TARGETS = {"conv": 1.5, "pool": 1.0, "block": 1.5}


def block_child(library: str, case: str, rng):
    """(fwd, fwd_bwd) closures of one of BLOCK_CASES in ``library``."""
    import numpy as np
    kind, shape = BLOCK_CASES[case]
    n, c, h, w = shape
    x = rng.standard_normal(shape, dtype=np.float32)
    groups = {"depthwise": c, "grouped": 4}.get(kind)
    if library in ("ours", "base"):
        import scratchcnn as sc
        if kind == "gap":
            layer = sc.AdaptiveAvgPool2d(1)
        elif kind == "residual":
            layer = sc.Residual([sc.Conv2d(c, c, 3, padding=1, bias=False, rng=0),
                                 sc.BatchNorm2d(c), sc.ReLU(),
                                 sc.Conv2d(c, c, 3, padding=1, bias=False, rng=1),
                                 sc.BatchNorm2d(c)])
        else:
            layer = sc.Conv2d(c, c, 3, padding=1, groups=groups, rng=0)
        dout = rng.standard_normal(layer.forward(x).shape, dtype=np.float32)
        return (lambda: layer.forward(x)), (lambda: (layer.forward(x), layer.backward(dout)))
    import torch
    from torch import nn
    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
    if kind == "gap":
        layer = nn.AdaptiveAvgPool2d(1)
    elif kind == "residual":
        from torch_twin import TorchResidual
        layer = TorchResidual(nn.Sequential(nn.Conv2d(c, c, 3, padding=1, bias=False),
                                            nn.BatchNorm2d(c), nn.ReLU(),
                                            nn.Conv2d(c, c, 3, padding=1, bias=False),
                                            nn.BatchNorm2d(c)))
    else:
        layer = nn.Conv2d(c, c, 3, padding=1, groups=groups)
    xt = torch.from_numpy(x).requires_grad_()
    with torch.no_grad():
        dout = torch.randn(layer(xt).shape)

    def fwd():
        with torch.no_grad():
            layer(xt)

    def fwd_bwd():
        layer(xt).backward(dout)
        xt.grad = None
    return fwd, fwd_bwd


def child(library: str, case: str, repeats: int) -> dict:
    import numpy as np
    rng = np.random.default_rng(0)
    if case in BLOCK_CASES:
        fwd, fwd_bwd = block_child(library, case, rng)
        base = H.start_peak()
        result = {"fwd": H.time_call(fwd, repeats), "fwd_bwd": H.time_call(fwd_bwd, repeats)}
        result["peak_mib"] = H.peak_mib() - base
        return result
    is_conv = case in CONV_CASES
    if is_conv:
        n, c, h, w, o, k, s, p, first = CONV_CASES[case]
    else:
        n, c, h, w, k = POOL_CASES[case]
        first = False
    x = rng.standard_normal((n, c, h, w), dtype=np.float32)

    if library in ("ours", "base"):
        import scratchcnn as sc
        layer = sc.Conv2d(c, o, k, s, p, rng=0) if is_conv else sc.MaxPool2d(k)
        layer.needs_input_grad = not first
        dout = rng.standard_normal(layer.forward(x).shape, dtype=np.float32)

        def fwd():
            layer.forward(x)

        def fwd_bwd():
            layer.forward(x)
            layer.backward(dout)
    else:
        import torch
        import torch.nn.functional as F
        torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
        xt = torch.from_numpy(x).requires_grad_(not first)
        if is_conv:
            wt = (torch.randn(o, c, k, k) * 0.1).requires_grad_()
            bt = torch.zeros(o, requires_grad=True)

            def op():
                return F.conv2d(xt, wt, bt, s, p)
        else:
            def op():
                return F.max_pool2d(xt, k)
        with torch.no_grad():
            dout = torch.randn(op().shape)

        def fwd():
            with torch.no_grad():
                op()

        def fwd_bwd():
            op().backward(dout)
            xt.grad = None

    base = H.start_peak()
    result = {"fwd": H.time_call(fwd, repeats), "fwd_bwd": H.time_call(fwd_bwd, repeats)}
    result["peak_mib"] = H.peak_mib() - base
    return result


def main(argv=None) -> int:
    args = H.case_arguments(__doc__.splitlines()[0], argv, repeats=5)
    if args.child:
        print(json.dumps(child(args.child, args.case, args.repeats)))
        return 0

    print(f"threads={args.threads}, float32, median of {args.repeats}x{args.rounds} runs; "
          "ratio = ours / torch (lower is better)\n")
    print("| case | fwd ours ms | fwd torch ms | fwd ratio | fwd+bwd ours ms | "
          "fwd+bwd torch ms | fwd+bwd ratio | target | fwd+bwd best ours / torch ms (ratio) "
          "| peak MiB ours / torch |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    failed, against_base = [], []
    for case in [*CONV_CASES, *POOL_CASES, *BLOCK_CASES]:
        if args.only and args.only not in case:
            continue
        runs = H.alternate(__file__, ["ours", "torch"], ["--case", case,
                           "--repeats", str(args.repeats)], args.rounds, args.threads,
                           args.baseline)
        f_o, f_t = H.median_of(runs["ours"], "fwd"), H.median_of(runs["torch"], "fwd")
        b_o, b_t = H.median_of(runs["ours"], "fwd_bwd"), H.median_of(runs["torch"], "fwd_bwd")
        m_o = max(r["peak_mib"] for r in runs["ours"])
        m_t = max(r["peak_mib"] for r in runs["torch"])
        target = TARGETS["conv" if case in CONV_CASES else
                         "block" if case in BLOCK_CASES else "pool"]
        ok = b_o / b_t <= target
        if not ok:
            failed.append(case)
        best_o, best_t = H.best_of(runs["ours"], "fwd_bwd"), H.best_of(runs["torch"], "fwd_bwd")
        name = case + (" (no dx)" if case in CONV_CASES and CONV_CASES[case][-1] else "")
        print(f"| {name} | {f_o:.2f} | {f_t:.2f} | {f_o / f_t:.2f} | {b_o:.2f} | {b_t:.2f} | "
              f"{b_o / b_t:.2f} | <= {target} {'ok' if ok else 'MISSED'} | "
              f"{best_o:.2f} / {best_t:.2f} ({best_o / best_t:.2f}) | "
              f"{m_o:.0f} / {m_t:.0f} |", flush=True)
        if args.baseline:
            f_b, b_b = H.median_of(runs["base"], "fwd"), H.median_of(runs["base"], "fwd_bwd")
            against_base.append(f"| {name} | {f_o:.2f} | {f_b:.2f} | {f_o / f_b:.3f} | "
                                f"{b_o:.2f} | {b_b:.2f} | {b_o / b_b:.3f} |")
    print(f"\ntargets missed: {', '.join(failed) if failed else 'none'}")
    if against_base:
        print(f"\nagainst {args.baseline} (ratio = ours / base)\n")
        print("| case | fwd ours ms | fwd base ms | ratio | fwd+bwd ours ms | fwd+bwd base ms "
              "| ratio |\n|---|---|---|---|---|---|---|")
        print("\n".join(against_base))
    return 0


if __name__ == "__main__":
    sys.exit(main())

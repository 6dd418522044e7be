"""How much of torch's time NumPy's matrix products alone take, per convolution case.

    python benchmarks/bench_products.py [--repeats 9] [--rounds 2] [--threads 2] [--only TEXT]

For each convolution of ``bench_layers.py``, a NumPy child times what an im2col + GEMM
convolution cannot do without, on exact (junk-free) matrix shapes, each product as one
whole matrix in whichever operand order runs fastest:

- the products: forward ``W (O, K) @ cols (K, L)``, the weight gradient
  ``dout (O, L) @ cols^T`` and (unless it is a first layer) the columns' gradient
  ``W^T @ dout``;
- one pass over the columns each way: writing them (what im2col must at least do) and,
  when dx is needed, reading their gradient back (col2im), as contiguous copies split
  over the threads.

K = C*kh*kw and L = N*Ho*Wo.  A torch child times ``torch.nn.functional.conv2d`` forward
and backward as ``bench_layers.py`` does.  The table shows what is left, at the 1.5x
target, for everything else (layout copies, bias, the real im2col/col2im).  For tiny
weights (LeNet conv1, CIFAR) a batch of small products beats one whole product, so
there the sum is not a lower bound; for large layers (the VGG block) it is close to one.
"""

from __future__ import annotations

import json
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _harness as H  # noqa: E402
from bench_layers import CONV_CASES, TARGETS  # noqa: E402


def gemm_shapes(case: str) -> tuple[int, int, int, bool]:
    """(O, K, L, first_layer) of a case's products."""
    n, c, h, w, o, k, s, p, first = CONV_CASES[case]
    ho, wo = ((size + 2 * p - k) // s + 1 for size in (h, w))
    return o, c * k * k, n * ho * wo, first


def numpy_child(case: str, repeats: int) -> dict:
    import numpy as np
    from scratchcnn.kernels.parallel import parallel_slices
    o, k, length, first = gemm_shapes(case)
    rng = np.random.default_rng(0)
    w = rng.standard_normal((o, k), dtype=np.float32)
    cols = rng.standard_normal((k, length), dtype=np.float32)
    dout = rng.standard_normal((o, length), dtype=np.float32)
    w_t, cols_t, dout_t = (np.ascontiguousarray(a.T) for a in (w, cols, dout))

    def fastest(orders: dict) -> list[float]:
        """Samples of the operand order whose median is lowest."""
        timed = [H.time_call(fn, repeats, budget_s=0.5) for fn in orders.values()]
        return min(timed, key=lambda samples: sorted(samples)[len(samples) // 2])

    def into(a, b):  # a @ b into a buffer made once: fresh pages would be timed too
        out = np.empty((a.shape[0], b.shape[1]), dtype=a.dtype)
        return lambda: np.matmul(a, b, out=out)

    products = [
        fastest({"W @ cols": into(w, cols), "cols^T @ W^T": into(cols_t, w_t)}),
        fastest({"dout @ cols^T": into(dout, cols_t), "cols @ dout^T": into(cols, dout_t),
                 "dout @ cols.T": into(dout, cols.T), "cols @ dout.T": into(cols, dout.T)}),
    ]
    if not first:
        products.append(fastest({"W^T @ dout": into(w_t, dout), "dout^T @ W": into(dout_t, w)}))
    target = np.empty_like(cols)

    def one_pass():
        parallel_slices(lambda rows: np.copyto(target[rows], cols[rows]), k, cols.size)
    passes = 1 if first else 2
    column_pass = H.time_call(one_pass, repeats, budget_s=0.5)
    return {"products": products, "column_pass": column_pass, "passes": passes}


def torch_child(case: str, repeats: int) -> dict:
    import torch
    import torch.nn.functional as F
    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
    n, c, h, w, o, k, s, p, first = CONV_CASES[case]
    x = torch.randn(n, c, h, w).requires_grad_(not first)
    weight = (torch.randn(o, c, k, k) * 0.1).requires_grad_()
    bias = torch.zeros(o, requires_grad=True)
    with torch.no_grad():
        dout = torch.randn(F.conv2d(x, weight, bias, s, p).shape)

    def fwd_bwd():
        F.conv2d(x, weight, bias, s, p).backward(dout)
        x.grad = None
    return {"fwd_bwd": H.time_call(fwd_bwd, repeats)}


def main(argv=None) -> int:
    args = H.case_arguments(__doc__.splitlines()[0], argv, repeats=9)
    if args.child:
        run = numpy_child if args.child == "numpy" else torch_child
        print(json.dumps(run(args.case, args.repeats)))
        return 0

    print(f"threads={args.threads}, float32, {args.repeats}x{args.rounds} runs; sums of each "
          "step's median (and of each step's fastest call); ratio = sum / torch's fwd+bwd\n")
    print("| case | products ms | column passes ms | sum ms | torch fwd+bwd ms | ratio | "
          f"fastest: sum / torch ms (ratio) | left at {TARGETS['conv']}x: median / fastest ms |")
    print("|---|---|---|---|---|---|---|---|")
    for case in CONV_CASES:
        if args.only and args.only not in case:
            continue
        runs = H.alternate(__file__, ["numpy", "torch"], ["--case", case,
                           "--repeats", str(args.repeats)], args.rounds, args.threads)
        ours = runs["numpy"]
        passes = ours[0]["passes"]
        steps = [[v for run in ours for v in run["products"][i]]
                 for i in range(len(ours[0]["products"]))]
        products = sum(statistics.median(samples) for samples in steps)
        moves = passes * H.median_of(ours, "column_pass")
        torch_ms = H.median_of(runs["torch"], "fwd_bwd")
        best = sum(map(min, steps)) + passes * H.best_of(ours, "column_pass")
        best_torch = H.best_of(runs["torch"], "fwd_bwd")
        total = products + moves
        left, left_best = (TARGETS["conv"] * t - s for t, s in ((torch_ms, total),
                                                                (best_torch, best)))
        print(f"| {case} | {products:.2f} | {moves:.2f} | {total:.2f} | {torch_ms:.2f} | "
              f"{total / torch_ms:.2f} | {best:.2f} / {best_torch:.2f} "
              f"({best / best_torch:.2f}) | {left:.2f} / {left_best:.2f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

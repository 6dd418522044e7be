"""Peak memory of training LeNet-5 on Fashion-MNIST and of evaluating 10,000 images.

    python benchmarks/bench_memory.py [--images 60000] [--batch-size 256] [--epochs 1]

Each measurement runs in its own child process and reports its peak resident set size
(VmHWM) as a whole, data set included, and the part the work itself added (peak RSS
minus RSS after loading the data).  Targets: training at batch 256 under 1 GiB in all;
evaluating 10,000 images streams in batches, so it adds little beyond the images.
Data: Fashion-MNIST when installed (``apt-get install dataset-fashion-mnist``), else
random images of the same size.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _harness as H  # noqa: E402
from bench_train import data  # noqa: E402

GIB = 1024.0


def child(job: str, images: int, batch_size: int, epochs: int) -> dict:
    import numpy as np
    import scratchcnn as sc
    x, y = data(images)
    model = sc.models.lenet5(seed=0)
    model.input_mean, model.input_std = np.array(float(x.mean())), np.array(float(x.std()))
    base = H.start_peak()
    start = time.perf_counter()
    if job == "train":
        model.fit(x, y, epochs=epochs, batch_size=batch_size, optimizer=sc.Adam(1e-3), seed=0,
                  verbose=0)
    else:
        x, y = x[:10_000], y[:10_000]
        base = H.start_peak()
        model.evaluate(x, y)
        model.predict_proba(x)
    return {"peak_mib": H.peak_mib(), "added_mib": H.peak_mib() - base,
            "data_mib": x.nbytes / 2**20, "seconds": time.perf_counter() - start}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=60000)
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child, args.images, args.batch_size, args.epochs)))
        return 0
    common = ["--images", str(args.images), "--batch-size", str(args.batch_size),
              "--epochs", str(args.epochs)]
    train = H.run_child(__file__, ["--child", "train", *common], args.threads, timeout=3600)
    evaluate = H.run_child(__file__, ["--child", "evaluate", *common], args.threads)
    ok = train["peak_mib"] < GIB
    print(f"LeNet-5, {args.images} images ({train['data_mib']:.0f} MiB as float32), batch "
          f"{args.batch_size}, {args.epochs} epoch(s), {args.threads} threads")
    print(f"train_peak_rss_mib={train['peak_mib']:.0f} (target < {GIB:.0f}: "
          f"{'met' if ok else 'MISSED'})")
    print(f"train_added_mib={train['added_mib']:.0f} train_seconds={train['seconds']:.1f}")
    print(f"evaluate_10000_peak_rss_mib={evaluate['peak_mib']:.0f}")
    print(f"evaluate_10000_added_mib={evaluate['added_mib']:.0f} (images: "
          f"{evaluate['data_mib']:.0f} MiB)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

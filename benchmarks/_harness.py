"""Shared machinery of the benchmarks: one child process per (library, case), alternated.

OpenBLAS's and torch's thread pools slow each other down inside one process, so each
measurement runs in a fresh child with the thread count pinned through the environment.
A child prints one JSON line; the parent alternates the libraries' order every round and
reports medians.  Peak memory is the child's peak resident set size minus its size after
set-up (imports and input arrays), so it counts what the measured work allocates.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

# the torch twin of a model (tests/torch_twin.py) is a test helper the benchmarks share
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "tests"))


def pin_threads(threads: int) -> dict:
    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = str(threads)
    return env


def _status_mib(field: str) -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024.0
    raise KeyError(field)


def start_peak() -> float:
    """Restart the peak-RSS count (Linux) and return the current RSS in MiB."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # resets VmHWM to the current RSS
        return _status_mib("VmRSS")
    except OSError:
        return peak_mib()


def peak_mib() -> float:
    """Peak RSS in MiB since :func:`start_peak` (since process start where it can't reset)."""
    try:
        return _status_mib("VmHWM")
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def time_call(fn, repeats: int, budget_s: float = 1.5) -> list[float]:
    """Milliseconds of single calls: at least ``repeats`` samples, more while in budget.

    This machine's background load makes occasional calls many times slower; single-call
    samples and their median are robust to that, averages over loops are not.
    """
    warm_until = time.perf_counter() + 0.3
    while True:  # warm: buffers allocated, caches and thread pools up
        fn()
        if time.perf_counter() > warm_until:
            break
    samples = []
    stop = time.perf_counter() + budget_s
    while len(samples) < repeats or (time.perf_counter() < stop and len(samples) < 200):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1e3)
    return samples


def run_child(script: str, args: list[str], threads: int, timeout: float = 900,
              source: str | None = None) -> dict:
    """One child's JSON line; with ``source``, the child imports scratchcnn from that
    ``src`` directory (another checkout, e.g. the commit before a change)."""
    env = pin_threads(threads)
    if source:
        env["PYTHONPATH"] = os.pathsep.join([os.path.abspath(source),
                                             *filter(None, [env.get("PYTHONPATH")])])
    proc = subprocess.run([sys.executable, script, *args], env=env,
                          capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"child {args} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def alternate(script: str, libraries: list[str], case_args: list[str], rounds: int,
              threads: int, baseline: str | None = None) -> dict[str, list[dict]]:
    """Run every library's child ``rounds`` times, reversing the order each round.

    With ``baseline`` (a ``src`` directory), a third library ``"base"`` runs scratchcnn
    from there, so that a change is timed side by side with the code before it.
    """
    libraries = [*libraries, "base"] if baseline else list(libraries)
    results: dict[str, list[dict]] = {lib: [] for lib in libraries}
    for r in range(rounds):
        order = libraries if r % 2 == 0 else libraries[::-1]
        for lib in order:
            results[lib].append(run_child(script, ["--child", lib, *case_args], threads,
                                          source=baseline if lib == "base" else None))
    return results


def add_baseline_option(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--baseline", metavar="SRC", help="also time scratchcnn imported from "
                    "this src directory (e.g. a worktree of the commit before a change), "
                    "side by side, and print ours / base")


def median_of(runs: list[dict], key: str) -> float:
    return statistics.median(v for run in runs for v in run[key])


def best_of(runs: list[dict], key: str) -> float:
    """The fastest sample: this machine's stalls only ever add time, so the minimum shows
    the code's own speed where stalls hit most calls and move the median."""
    return min(v for run in runs for v in run[key])


def case_arguments(description: str, argv=None, repeats: int = 5) -> argparse.Namespace:
    """The command line of the per-case benchmarks (the child's own flags hidden)."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--repeats", type=int, default=repeats)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--only", help="run only cases whose name contains this text")
    add_baseline_option(ap)
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--case", help=argparse.SUPPRESS)
    return ap.parse_args(argv)

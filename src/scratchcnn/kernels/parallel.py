"""Split memory-bound NumPy work (copies, adds, maxima) over a few threads.

BLAS already uses every core for the matrix products; NumPy's own loops use one.  NumPy
releases the GIL inside its copy and ufunc loops, so the same call on disjoint slices of
an array runs truly in parallel in threads.  Callers split along an axis whose slices
never write the same memory, so the result is bit-identical for any thread count.

The thread count is ``SCRATCHCNN_NUM_THREADS``, else ``OMP_NUM_THREADS``, else the CPUs
this process may run on (at most 8).

Whether a split pays can be measured (``TUNING.measure_splits``).  Handing a slice to a sleeping thread
costs 15-50 us, and between the products of a training step OpenBLAS keeps its own
threads spinning on the other cores (for about 0.1 s after each threaded product), so
our helper shares its core with one of them.  Measured in LeNet-5's training step on 2
cores: its max-pool backward split over 2 threads took 1.18 ms against 1.11 ms in one
(alone, with OpenBLAS idle: 0.78 against 1.03), and the step went from 9.8 to 9.3 ms
with no splits at all.  So each kind of job (the function's code and the job's size)
is first run a few times each way, timed, and from then on run the faster way.  Both
ways give bit-identical results, so the choice never changes a result, only the time;
``TUNING.measure_splits = False`` splits every job of at least twice
``TUNING.min_parallel_elements``, the same in every run.
"""

from __future__ import annotations

import os
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from .tuning import TUNING

_pool: ThreadPoolExecutor | None = None
_pool_size = 0
_pool_lock = threading.Lock()
_inside = threading.local()  # set while a slice runs: nested calls stay in their thread

#: Timed runs each way (split, one call) before a kind of job keeps the faster way.
TRIALS = 5
#: Kinds of job remembered; past this many the choices are forgotten and measured anew.
MAX_CHOICES = 4096
_clock = time.perf_counter
_choices: dict[tuple, "_Choice"] = {}


def num_threads() -> int:
    """Threads to use for NumPy loops (see the module docstring)."""
    for var in ("SCRATCHCNN_NUM_THREADS", "OMP_NUM_THREADS"):
        value = os.environ.get(var, "")
        if value.strip().isdigit() and int(value) > 0:
            return int(value)
    try:
        return max(1, min(8, len(os.sched_getaffinity(0))))
    except AttributeError:  # not on Linux
        return max(1, min(8, os.cpu_count() or 1))


def _executor(workers: int) -> ThreadPoolExecutor:
    global _pool, _pool_size
    with _pool_lock:
        if _pool is None or _pool_size < workers:
            _pool = ThreadPoolExecutor(workers, thread_name_prefix="scratchcnn")
            _pool_size = workers
        return _pool


def _forget_pool() -> None:  # a forked child does not inherit the pool's threads
    global _pool, _pool_size
    _pool, _pool_size = None, 0


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool)


def parallel_slices(fn, length: int, elements: int) -> None:
    """Call ``fn(slice)`` on consecutive, disjoint slices covering ``range(length)``.

    ``elements`` is the size of the whole job: small jobs run in one call, in this
    thread.  ``fn`` must only write memory that belongs to its slice.
    """
    most = elements // TUNING.min_parallel_elements  # checked first: most jobs are small
    parts = min(num_threads(), length, most) if most > 1 else 1
    if parts <= 1 or getattr(_inside, "active", False):
        fn(slice(0, length))
        return
    if not TUNING.measure_splits:
        _call(fn, length, parts)
        return
    key = (getattr(fn, "__code__", fn), length, elements, parts)
    choice = _choices.get(key)
    if choice is None:
        if len(_choices) >= MAX_CHOICES:
            _choices.clear()
        choice = _choices[key] = _Choice()
    if choice.split is not None:
        _call(fn, length, parts if choice.split else 1)
        return
    split = choice.next_trial()
    start = _clock()
    _call(fn, length, parts if split else 1)
    choice.record(split, _clock() - start)


class _Choice:
    """Trial times of one kind of job, split and whole, until the faster way is known."""

    def __init__(self):
        self.times: dict[bool, list[float]] = {True: [], False: []}
        self.split: bool | None = None  # the decision, once made

    def next_trial(self) -> bool:
        return len(self.times[True]) <= len(self.times[False])  # split first, then alternate

    def record(self, split: bool, seconds: float) -> None:
        self.times[split].append(seconds)
        if len(self.times[False]) >= TRIALS:
            self.split = statistics.median(self.times[True]) < \
                statistics.median(self.times[False])


def _call(fn, length: int, parts: int) -> None:
    """fn over ``parts`` consecutive slices of range(length), all but the first in helpers."""
    if parts == 1:
        fn(slice(0, length))
        return
    bounds = [length * k // parts for k in range(parts + 1)]
    slices = [slice(bounds[k], bounds[k + 1]) for k in range(parts)]
    futures = [_executor(parts - 1).submit(_run_slice, fn, s) for s in slices[1:]]
    try:
        _run_slice(fn, slices[0])
    finally:
        for future in futures:
            future.result()


def _run_slice(fn, part: slice) -> None:
    # a worker waiting on its own nested jobs could deadlock the pool: run them inline
    _inside.active = True
    try:
        fn(part)
    finally:
        _inside.active = False

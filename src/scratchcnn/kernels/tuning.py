"""The fast path's switches, sizes and thresholds, in one object.

Each size was measured on this project's 2-core machine against the alternatives
(``docs/performance.md`` tells how, ``benchmarks/history.md`` gives the numbers).
Change them for an experiment, or to force a layout in a test, through the one shared
instance: ``scratchcnn.kernels.TUNING.max_column_bytes = ...``.  No value changes a
result beyond float rounding; only which layout, chunk sizes and threads compute it.
What else steers a computation: ``scratchcnn.use`` (the textbook or the fast path),
``model.fuse_layers`` (a convolution and its pool together) and the thread count
(``SCRATCHCNN_NUM_THREADS``, else ``OMP_NUM_THREADS``).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Tuning", "TUNING"]


@dataclass
class Tuning:
    #: Upper bound, in bytes, of one column buffer: larger layers go in equal chunks.
    max_column_bytes: int = 32 * 2**20
    #: Bound of one chunk of column gradients, added back while still in cache.
    dcols_bytes: int = 8 * 2**20
    #: Columns of one product when a GEMM with tiny weights is split into many.
    piece_columns: int = 2048
    #: Rows of a transposing copy's source taken at a time, so both sides stay in cache.
    transpose_rows: int = 64
    #: per_sample layout: stride 1, C*kh*kw at most this, ...
    per_sample_max_ckk: int = 32
    #: ... and at least this many output pixels a sample.
    per_sample_min_pixels: int = 16
    #: banded layout: its multiply-adds at most this many times im2col's (Wp / kw), ...
    banded_max_waste: float = 3.0
    #: ... the kernel at least this wide, ...
    banded_min_kernel: int = 5
    #: ... and a window at most this many values.
    banded_max_ckk: int = 320
    #: samples_last layout: at least this share of the line layout's columns junk, ...
    samples_last_min_junk: float = 0.2
    #: ... and a stride at most this.
    samples_last_max_stride: int = 1
    #: conv + max-pool by phases when its column matrix has at most this many rows.
    phases_max_rows: int = 64
    #: Columns per product of the phases form's weight gradient (long inner dimension).
    grad_columns: int = 392
    #: A memory-bound NumPy job (a copy, an add, a maximum) is split over threads when
    #: each thread gets at least this many elements (a hand-off costs ~25 us) ...
    min_parallel_elements: int = 1 << 20
    #: ... where timing both ways, for each kind of job, found the split faster (True;
    #: :mod:`.parallel`), or always (False: the same split in every run, whatever the
    #: clock says).  The results are bit-identical either way; the timed choice trains
    #: ``convnet_bn_mini`` 1.05-1.27x faster than splitting always and 1.27x faster than
    #: never (2026-12-06, ``benchmarks/history.md``), so it is the default.
    measure_splits: bool = True
    #: The layout every convolution runs in where it can ("lines", "banded", ...; None:
    #: as :func:`.dispatch.conv_layout` picks by the shape).  Set it for a block with
    #: :func:`.dispatch.forced_layout`; for tests and experiments.
    layout: str | None = None


TUNING = Tuning()

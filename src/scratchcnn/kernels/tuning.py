"""The fast path's tunable sizes and thresholds, in one object.

Each value was measured on this project's 2-core machine against the alternatives
(``docs/performance.md`` tells how, ``benchmarks/history.md`` gives the numbers).
Change them for an experiment, or to force a layout in a test, through the one shared
instance: ``scratchcnn.kernels.TUNING.max_column_bytes = ...``.  No value changes a
result beyond float rounding; only which layout and chunk sizes compute it.
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


TUNING = Tuning()

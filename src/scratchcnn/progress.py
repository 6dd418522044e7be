"""A dependency-free progress bar for long loops (batches of an epoch, downloads)."""

from __future__ import annotations

import sys
import time


class ProgressBar:
    """``[=====>    ] 12/50 loss 0.41  2,345 img/s`` redrawn in place on a terminal.

    When the stream is not a terminal (a log file, CI) it writes a line at most every
    ``every`` seconds instead, so logs stay short.
    """

    def __init__(self, total: int, prefix: str = "", unit: str = "it", stream=None,
                 width: int = 24, every: float = 10.0, enabled: bool = True):
        self.total, self.prefix, self.unit, self.width = total, prefix, unit, width
        self.stream = stream if stream is not None else sys.stderr
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.every = 0.1 if self.tty else every
        self.enabled = enabled
        self.start = self._last = time.perf_counter()
        self.count = 0

    def update(self, done: int, items: int = 0, **metrics) -> None:
        """``done`` steps of ``total``; ``items`` processed so far (for the rate)."""
        self.count = items or done
        now = time.perf_counter()
        if not self.enabled or (now - self._last < self.every and done < self.total):
            return
        self._last = now
        frac = done / self.total if self.total else 1.0
        filled = int(frac * self.width)
        bar = "=" * filled + (">" if filled < self.width else "") + " " * (self.width - filled - 1)
        rate = self.count / max(now - self.start, 1e-9)
        shown = "  ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}"
                          for k, v in metrics.items())
        line = f"{self.prefix}[{bar}] {done}/{self.total} {shown}  {rate:,.0f} {self.unit}/s"
        if self.tty:
            self.stream.write("\r" + line + ("\n" if done >= self.total else ""))
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

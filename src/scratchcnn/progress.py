"""Progress bars (tqdm) on stderr, so that stdout keeps only the ``key=value`` results.

On a terminal a bar redraws in place and is cleared when done (the result line takes its
place); written to a log file or CI it appears only for work that takes longer than
``LOG_INTERVAL`` seconds, then updates at most that often, so logs stay short.
"""

from __future__ import annotations

import sys

from tqdm import tqdm

__all__ = ["bar", "LOG_INTERVAL"]

#: Seconds between a bar's lines when stderr is not a terminal.
LOG_INTERVAL = 10.0


def bar(total: int, desc: str, unit: str = "it", enabled: bool = True, **kwargs) -> tqdm:
    """A tqdm bar of ``total`` steps on stderr (inert when not ``enabled``)."""
    tty = hasattr(sys.stderr, "isatty") and sys.stderr.isatty()
    timing = dict(mininterval=0.1, leave=False) if tty else \
        dict(mininterval=LOG_INTERVAL, delay=LOG_INTERVAL, leave=True)
    return tqdm(total=total, desc=desc, unit=unit, disable=not enabled, file=sys.stderr,
                dynamic_ncols=True, **timing, **kwargs)

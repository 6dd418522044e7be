"""Force the convolution into one layout, whatever the shape would pick (for tests)."""

from contextlib import contextmanager

from scratchcnn import functional as F

#: The module thresholds that make :func:`scratchcnn.functional.conv_layout` pick each
#: layout for any geometry ("per_sample" only for stride 1, "auto" changes nothing).
FORCE_LAYOUT = {
    "auto": {},
    "per_sample": {"PER_SAMPLE_MAX_CKK": 10**9, "PER_SAMPLE_MIN_PIXELS": 1},
    "banded": {"PER_SAMPLE_MAX_CKK": 0, "BANDED_MAX_WASTE": 10**9, "BANDED_MIN_KERNEL": 0,
               "BANDED_MAX_CKK": 10**9},
    "samples_last": {"PER_SAMPLE_MAX_CKK": 0, "BANDED_MAX_WASTE": 0,
                     "SAMPLES_LAST_MIN_JUNK": 0, "SAMPLES_LAST_MAX_STRIDE": 10**9},
    "lines": {"PER_SAMPLE_MAX_CKK": 0, "BANDED_MAX_WASTE": 0, "SAMPLES_LAST_MIN_JUNK": 2},
}
LAYOUTS = [name for name in FORCE_LAYOUT if name != "auto"]


@contextmanager
def forced_layout(layout: str):
    """Within the block, every convolution runs in ``layout``."""
    saved = {name: getattr(F, name) for name in FORCE_LAYOUT[layout]}
    try:
        for name, value in FORCE_LAYOUT[layout].items():
            setattr(F, name, value)
        yield
    finally:
        for name, value in saved.items():
            setattr(F, name, value)

"""Force the convolution into one layout, whatever the shape would pick (for tests)."""

from scratchcnn import kernels

#: The fast path's convolution layouts.
LAYOUTS = list(kernels.LAYOUTS)
#: What a test may draw: a layout, or "auto" (whichever the shape picks).
CHOICES = ["auto", *LAYOUTS]


def forced_layout(layout: str):
    """Within the block, every convolution runs in ``layout`` where it can (per_sample
    needs stride 1, banded finite input); "auto" changes nothing."""
    return kernels.forced_layout(None if layout == "auto" else layout)

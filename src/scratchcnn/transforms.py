"""Data augmentation on NCHW batches: vectorised over the batch, seeded, composable.

A transform is called as ``transform(x, rng)`` on a batch x (N, C, H, W) of pixels in
[0, 1] with a ``numpy.random.Generator``, and returns a new batch of the same shape and
dtype (x itself is never changed).  Every sample draws its own parameters, all at once.
``fit(..., augment=...)`` applies one to each training batch, drawing from a Generator
of its own whose state is part of the run's checkpoint, so a resumed run stays bit for
bit the same.  :func:`parse` reads the command line's ``--augment`` text.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["RandomShift", "RandomCrop", "RandomHorizontalFlip", "RandomErasing",
           "RandomAffine", "Compose", "parse"]


def _gather(xp: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """out[n, c, i, j] = xp[n, c, rows[n, i], cols[n, j]] for rows (N, H), cols (N, W)."""
    n, c = xp.shape[:2]
    return xp[np.arange(n)[:, None, None, None], np.arange(c)[None, :, None, None],
              rows[:, None, :, None], cols[:, None, None, :]]


def _probability(p, who: str) -> float:
    if not 0 <= float(p) <= 1:
        raise ValueError(f"{who}: p must be a probability in [0, 1], got {p!r}")
    return float(p)


class RandomCrop:
    """Zero-pad by ``padding`` on every side, then cut a random ``size`` window from each
    sample (torchvision's RandomCrop).

    Parameters
    ----------
    size : int, (int, int) or None
        The window's height and width; None: the input's.
    padding : int
        Zeros added on every side first.
    """

    def __init__(self, size=None, padding: int = 4):
        self.size, self.padding = size, int(padding)
        if self.padding < 0:
            raise ValueError(f"{type(self).__name__}: padding must be >= 0, got {padding!r}")

    def __call__(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        n, _, h, w = x.shape
        th, tw = (h, w) if self.size is None else ((self.size,) * 2 if isinstance(
            self.size, int) else tuple(self.size))
        p = self.padding
        xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
        top = rng.integers(0, h + 2 * p - th + 1, n)
        left = rng.integers(0, w + 2 * p - tw + 1, n)
        return _gather(xp, top[:, None] + np.arange(th), left[:, None] + np.arange(tw))

    def __repr__(self):
        return f"RandomCrop(size={self.size}, padding={self.padding})"


class RandomShift(RandomCrop):
    """Move each sample by a random whole number of pixels in [-max_shift, max_shift]
    along each axis, filling with zeros (a crop of the input's size after padding).

    Parameters
    ----------
    max_shift : int
        The largest move, in pixels.
    """

    def __init__(self, max_shift: int = 2):
        super().__init__(None, max_shift)

    def __repr__(self):
        return f"RandomShift(max_shift={self.padding})"


class RandomHorizontalFlip:
    """Mirror each sample left to right with probability ``p`` (not for digits).

    Parameters
    ----------
    p : float
        The probability of a flip, in [0, 1].
    """

    def __init__(self, p: float = 0.5):
        self.p = _probability(p, "RandomHorizontalFlip")

    def __call__(self, x, rng):
        flip = rng.random(len(x)) < self.p
        return np.where(flip[:, None, None, None], x[..., ::-1], x)

    def __repr__(self):
        return f"RandomHorizontalFlip(p={self.p})"


class RandomErasing:
    """With probability ``p``, set a random rectangle of each sample to ``value``: its area
    a ``scale`` share of the image, its aspect ratio in ``ratio`` (Zhong et al., 2017).

    Parameters
    ----------
    p : float
        The probability that a sample gets a rectangle.
    scale : (float, float)
        The range of the rectangle's area, as a share of the image's.
    ratio : (float, float)
        The range of its aspect ratio (height / width).
    value : float
        What the rectangle is filled with.
    """

    def __init__(self, p: float = 0.5, scale=(0.02, 0.2), ratio=(0.3, 3.3), value=0.0):
        self.p, self.scale, self.ratio, self.value = _probability(p, "RandomErasing"), scale, \
            ratio, value

    def __call__(self, x, rng):
        n, _, h, w = x.shape
        area = rng.uniform(*self.scale, n) * h * w
        aspect = np.exp(rng.uniform(math.log(self.ratio[0]), math.log(self.ratio[1]), n))
        eh = np.clip(np.sqrt(area * aspect).astype(int), 1, h)
        ew = np.clip(np.sqrt(area / aspect).astype(int), 1, w)
        top = (rng.random(n) * (h - eh + 1)).astype(int)
        left = (rng.random(n) * (w - ew + 1)).astype(int)
        erase = rng.random(n) < self.p
        rows = (np.arange(h) >= top[:, None]) & (np.arange(h) < (top + eh)[:, None])
        cols = (np.arange(w) >= left[:, None]) & (np.arange(w) < (left + ew)[:, None])
        mask = erase[:, None, None] & rows[:, :, None] & cols[:, None, :]  # (N, H, W)
        return np.where(mask[:, None], np.asarray(self.value, x.dtype), x)

    def __repr__(self):
        return f"RandomErasing(p={self.p}, scale={self.scale}, ratio={self.ratio})"


class RandomAffine:
    """Rotate by up to ``degrees``, scale by a factor in ``scale`` and move by up to
    ``translate`` of the size, about the centre, bilinear, zeros outside (small ones
    suit digits).

    Parameters
    ----------
    degrees : float
        The largest rotation, either way.
    translate : float
        The largest move along each axis, as a share of the image's size.
    scale : (float, float)
        The range of the scale factor.
    """

    def __init__(self, degrees: float = 10.0, translate: float = 0.1, scale=(0.9, 1.1)):
        self.degrees, self.translate, self.scale = float(degrees), float(translate), scale
        if not (math.isfinite(self.degrees) and math.isfinite(self.translate)):
            raise ValueError(f"RandomAffine: degrees and translate must be finite, got "
                             f"{degrees!r}, {translate!r}")

    def __call__(self, x, rng):
        n, c, h, w = x.shape
        angle = np.deg2rad(rng.uniform(-self.degrees, self.degrees, n))
        zoom = rng.uniform(*self.scale, n)
        shift = rng.uniform(-self.translate, self.translate, (n, 2)) * (h, w)
        cy, cx = (h - 1) / 2, (w - 1) / 2
        yy, xx = np.meshgrid(np.arange(h) - cy, np.arange(w) - cx, indexing="ij")
        # each output pixel reads the source point the inverse map sends it to
        cos, sin = (np.cos(angle) / zoom)[:, None, None], (np.sin(angle) / zoom)[:, None, None]
        ys = yy - shift[:, 0, None, None]
        xs = xx - shift[:, 1, None, None]
        src_y, src_x = cos * ys - sin * xs + cy, sin * ys + cos * xs + cx  # (N, H, W)
        y0, x0 = np.floor(src_y).astype(int), np.floor(src_x).astype(int)
        fy, fx = (src_y - y0).astype(x.dtype), (src_x - x0).astype(x.dtype)
        xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))  # reads outside land on zeros
        out = np.zeros_like(x)
        for dy, wy in ((0, 1 - fy), (1, fy)):
            for dx, wx in ((0, 1 - fx), (1, fx)):
                r = np.clip(y0 + dy + 1, 0, h + 1)
                q = np.clip(x0 + dx + 1, 0, w + 1)
                values = xp[np.arange(n)[:, None, None, None], np.arange(c)[None, :, None, None],
                            r[:, None], q[:, None]]
                out += values * (wy * wx)[:, None]
        return out

    def __repr__(self):
        return f"RandomAffine(degrees={self.degrees}, translate={self.translate}, " \
               f"scale={self.scale})"


class Compose:
    """The transforms one after the other.

    Parameters
    ----------
    transforms : sequence of transform
        Callables ``t(x, rng)`` of a batch (N, C, H, W), applied in order.
    """

    def __init__(self, transforms):
        self.transforms = list(transforms)

    def __call__(self, x, rng):
        for t in self.transforms:
            x = t(x, rng)
        return x

    def __repr__(self):
        return f"Compose({self.transforms})"


#: The names ``--augment`` knows: what their one optional number sets, its default, and
#: the range it must lie in (a shift past a few dozen pixels, or an erasing probability
#: of 2, is a typing mistake, not a choice).
NAMES = {"shift": (lambda v: RandomShift(int(v)), 2, (0, 64)),
         "crop": (lambda v: RandomCrop(padding=int(v)), 4, (0, 64)),
         "flip": (lambda v: RandomHorizontalFlip(float(v)), 0.5, (0, 1)),
         "erase": (lambda v: RandomErasing(float(v)), 0.5, (0, 1)),
         "affine": (lambda v: RandomAffine(float(v)), 10.0, (0, 180))}


def parse(text: str | None):
    """A transform from text like ``"shift:2,erase:0.25"`` (``NAME[:NUMBER]``, comma
    separated, applied in that order); None for None or ``"none"``.  A ValueError says
    which part is wrong: an unknown name, or a number that is not one, or out of range.

    Parameters
    ----------
    text : str or None
        What ``scratchcnn train --augment`` takes.
    """
    if text is None or text.strip().lower() in ("", "none"):
        return None
    steps = []
    for part in text.split(","):
        name, _, value = part.strip().partition(":")
        if name not in NAMES:
            raise ValueError(f"--augment: unknown transform {name!r}; choose from "
                             f"{sorted(NAMES)} (e.g. 'shift:2,erase:0.25')")
        make, default, (low, high) = NAMES[name]
        whole = isinstance(default, int)
        try:
            number = (int if whole else float)(value) if value.strip() else default
        except ValueError:
            number = None
        if number is None or not low <= number <= high:  # NaN is never in range
            raise ValueError(f"--augment: {part.strip()!r}: the number after ':' must be "
                             f"{'a whole number' if whole else 'a number'} from {low} to "
                             f"{high} ({name}:{default} by default)")
        steps.append(make(number))
    return steps[0] if len(steps) == 1 else Compose(steps)

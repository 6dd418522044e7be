"""Draw the figure of the page "Batch normalisation and data augmentation":
python docs/figures_training.py [OUT_DIR] [--quick].

As docs/figures.py: the pictures come from scratchcnn itself (the bundled MNIST sample and
the library's transforms, seeded), and the PNGs land in docs/figures/ unless OUT_DIR is
given.  The figure is drawn twice, ``augmentation.png`` with English labels and
``augmentation.ja.png`` with Japanese ones (in a CJK font such as Noto Sans CJK when the
machine has one; without one the Japanese file gets the English labels and a warning).
``--quick`` is accepted for the tests' sake and changes nothing (the figure trains
nothing).  Prints the path of every file it writes.
"""

from __future__ import annotations

import sys

import numpy as np

import scratchcnn as sc
import scratchcnn.transforms

from figure_kit import arguments, each_language, pyplot, save

LANGS = ("en", "ja")
#: the rows of the figure: an --augment spec each ("none": the digit as it is)
SPECS = ("none", "shift:2", "affine:10", "erase:0.5", "shift:2,erase:0.5")
DRAWS = 8


def augmentation(lang: str):
    """One digit of the bundled sample, and what each --augment spec makes of it in
    ``DRAWS`` draws (the same generator seed for every row)."""
    images, labels = sc.datasets.load_sample().train
    digit = images[labels == 7][:1]
    batch = np.repeat(digit, DRAWS, axis=0)
    title = {"en": "One training digit, as each --augment spec changes it in eight draws",
             "ja": "学習用の数字 1 つを、--augment の各指定が 8 回のランダムな変換で変えたもの"
             }[lang]
    none = {"en": "none (as it is)", "ja": "none（そのまま）"}[lang]
    plt = pyplot()
    fig, axes = plt.subplots(len(SPECS), DRAWS, figsize=(DRAWS * 1.05, len(SPECS) * 1.15))
    for row, spec in zip(axes, SPECS):
        transform = sc.transforms.parse(spec)
        out = batch if transform is None else transform(batch, np.random.default_rng(0))
        for ax, image in zip(row, out):
            ax.imshow(image[0], cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
        row[0].set_ylabel(none if spec == "none" else spec, rotation=0, ha="right",
                          va="center", fontsize=9, family="monospace" if spec != "none"
                          else None)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def main(argv=None) -> int:
    args = arguments(__doc__, argv)
    for lang, labels in each_language(LANGS, "figures_training.py: no CJK font found; the "
                                      ".ja.png file gets English labels"):
        print(save(augmentation(labels), args.out_dir, "augmentation.png", lang))
    return 0


if __name__ == "__main__":
    sys.exit(main())

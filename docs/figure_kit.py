"""What every figure script shares: docs/figures.py, docs/figures_topics.py and
docs/figures_training.py import it (``from figure_kit import ...``; they run as scripts from
docs/, so this directory is on their path).

Every script needs matplotlib (on the file-only Agg backend), loaded as the library loads
it (:func:`scratchcnn.extras.pyplot`, the one policy for a missing matplotlib: an
ImportError naming the ``[plot]`` extra); :func:`arguments` loads it once the command line
is read, so that without it a script stops at once, before it computes anything (the
tests skip where it is missing).

A Japanese font is looked for among the machine's fonts (Noto Sans CJK first: Debian's
fonts-noto-cjk); each script decides what to do without one.  A figure is saved as
``name.png`` for the English pages and ``name.ja.png`` for the Japanese ones.
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

from scratchcnn import extras

HERE = os.path.dirname(os.path.abspath(__file__))

#: Japanese-capable fonts, the preferred first
JAPANESE_FONTS = ("Noto Sans CJK JP", "Noto Sans JP", "IPAexGothic", "IPAGothic",
                  "TakaoGothic", "Source Han Sans JP")


def pyplot():
    """matplotlib.pyplot on the Agg backend, or the library's ImportError without it."""
    return extras.pyplot("a documentation figure")


def japanese_font() -> str | None:
    """The family name of a Japanese-capable font matplotlib can use, or None."""
    from matplotlib import font_manager
    names = {f.name for f in font_manager.fontManager.ttflist}
    if not names & set(JAPANESE_FONTS):  # the font cache may predate the fonts: add the files
        for path in font_manager.findSystemFonts():
            base = os.path.basename(path).lower()
            if any(k in base for k in ("cjk", "notosansjp", "ipaexg", "ipag", "takao")):
                try:
                    font_manager.fontManager.addfont(path)
                except (OSError, RuntimeError, ValueError):
                    continue
        names = {f.name for f in font_manager.fontManager.ttflist}
    return next((n for n in JAPANESE_FONTS if n in names), None)


def each_language(languages, warning: str):
    """For each of ``languages``, with matplotlib's font set for it: yield (lang, labels),
    ``labels`` the language to write the figure in (English where no Japanese font can
    draw it; then ``warning`` is printed to stderr, once)."""
    plt = pyplot()
    font = japanese_font()
    if font is None:
        print(warning, file=sys.stderr)
    for lang in languages:
        labels = "ja" if lang == "ja" and font else "en"
        family = [font, "DejaVu Sans"] if labels == "ja" else ["DejaVu Sans"]
        with plt.rc_context({"font.family": family}):
            yield lang, labels


def text_colour(cmap, norm, value, white_below: float = 0.5) -> str:
    """White on a dark cell, black on a light one: white where the cell colour's luminance
    is under ``white_below``."""
    r, g, b, _ = cmap(norm(value))
    return "white" if 0.299 * r + 0.587 * g + 0.114 * b < white_below else "black"


def grid(ax, values, title, cmap="Blues", *, highlight=(), fmt="{:g}", fontsize=8, bold=None,
         symmetric=False, limit=None, white_below=0.5, box_colour="#d62728", box_width=2.5):
    """A matrix with its numbers written in (``fmt``, at ``fontsize``; never "-0").

    ``highlight``: (row0, row1, col0, col1) boxes, drawn in ``box_colour``, ``box_width``
    wide; ``bold``: a boolean mask of the cells whose numbers stand out (in bold, two
    points larger); ``symmetric``: the colours centred on 0, up to ``limit`` (default the
    largest magnitude) either way, else from min(values, 0) to max(values, 1);
    ``white_below``: see :func:`text_colour`."""
    import matplotlib.colors as mcolors
    plt = pyplot()
    values = np.asarray(values, dtype=np.float64)
    cmap = plt.get_cmap(cmap)
    if symmetric:
        top = limit or float(np.abs(values).max()) or 1.0
        norm = mcolors.Normalize(-top, top)
    else:
        norm = mcolors.Normalize(min(values.min(), 0), max(values.max(), 1))
    ax.imshow(values, cmap=cmap, norm=norm)
    for (i, j), v in np.ndenumerate(values):
        shown = fmt.format(v)
        if float(shown) == 0:
            shown = fmt.format(0.0)  # no "-0.00"
        strong = bold is not None and bold[i, j]
        ax.text(j, i, shown, ha="center", va="center",
                fontsize=fontsize + 2 if strong else fontsize,
                fontweight="bold" if strong else "normal",
                color=text_colour(cmap, norm, v, white_below))
    for r0, r1, c0, c1 in highlight:
        ax.add_patch(plt.Rectangle((c0 - 0.5, r0 - 0.5), c1 - c0, r1 - r0, fill=False,
                                   edgecolor=box_colour, linewidth=box_width))
    ax.set_title(title, fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])


def save(fig, out_dir, name, lang="en", *, tight_layout=False, crop=True):
    """Write the figure (110 dpi) as ``name`` (English) or with ``.<lang>`` before the
    extension (``name.ja.png``);
    close it and return the path.  ``tight_layout``: lay it out first; ``crop``: trim the
    page to what is drawn (bbox_inches="tight")."""
    stem, ext = os.path.splitext(name)
    path = os.path.join(out_dir, name if lang == "en" else f"{stem}.{lang}{ext}")
    if tight_layout:
        fig.tight_layout()
    fig.savefig(path, dpi=110, bbox_inches="tight" if crop else None)
    pyplot().close(fig)
    return path


def arguments(doc: str, argv=None) -> argparse.Namespace:
    """The scripts' command line, ``[OUT_DIR] [--quick]`` (OUT_DIR: docs/figures unless
    given; made if missing), described by the first line of ``doc``; then matplotlib is
    loaded (ImportError without it)."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("out_dir", nargs="?", default=os.path.join(HERE, "figures"))
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    pyplot()
    os.makedirs(args.out_dir, exist_ok=True)
    return args

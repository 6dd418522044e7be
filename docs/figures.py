"""Draw the documentation's figures from the library itself: python docs/figures.py [OUT_DIR].

Every number in a figure is computed by scratchcnn here (nothing is drawn by hand); the
PNGs land in docs/figures/ unless OUT_DIR is given.  ``--quick`` trains the tutorial's
model on 500 images for one epoch (the tests use it to check this script runs).

The figures with words are drawn twice: ``name.png`` for the English pages and
``name.ja.png``, with Japanese labels, for the Japanese ones (in Noto Sans CJK where the
machine has it: Debian's fonts-noto-cjk; without it the Japanese figures keep English
labels and the script says so).  A number written on a matrix cell is white on a dark
cell and black on a light one.
"""

from __future__ import annotations

import functools
import os
import sys

import numpy as np

import scratchcnn as sc
import scratchcnn.transforms
from scratchcnn import pictures, textbook

from figure_kit import arguments, grid, japanese_font, pyplot, save

LANGUAGES = ("en", "ja")

#: every label a figure writes, by language (numbers and formulas are filled in)
TEXT = {
    "en": {
        "input x": "input x (8x8)", "filter 0": "filter 0 (3x3)",
        "output y0": "output y[0] (6x6)",
        "x window": "x (4x4); window of output (0, 0)",
        "im2col": "im2col(x, 3x3): {rows}x{cols}, one column per window",
        "col2im": "col2im(ones): windows per pixel",
        "pool input": "input (4x4); each window's maximum in bold",
        "pooled": "max-pooled (2x2)",
        "pool backward": "backward of dout = [[1, 2], [3, 4]]",
        "pool title": "each window's gradient goes to the pixel that held its maximum",
        "receptive": "{depth} x conv 3x3: receptive field {field}",
        "receptive title": "one input pixel through stacked 3x3 convolutions (all weights "
                           "1): how many paths reach each output",
        "out k": "out {k}", "no window": "pixel 19 is\nin no window",
        "windows title": "floor(({size} + 2*0 - {kernel}) / {stride}) + 1 = {n} windows "
                         "of {kernel} pixels, {stride} apart",
        "parameters": "parameters (log scale)",
        "macs": "multiply-accumulates per image (log scale)",
    },
    "ja": {
        "input x": "入力 x（8x8）", "filter 0": "フィルタ 0（3x3）",
        "output y0": "出力 y[0]（6x6）",
        "x window": "x（4x4）と出力 (0, 0) のウィンドウ",
        "im2col": "im2col(x, 3x3): {rows}x{cols}、ウィンドウ 1 つが 1 列",
        "col2im": "col2im(1 の行列): 各画素を含むウィンドウの数",
        "pool input": "入力（4x4）。各ウィンドウの最大値は太字",
        "pooled": "最大値プーリングの出力（2x2）",
        "pool backward": "dout = [[1, 2], [3, 4]] の逆伝搬",
        "pool title": "各ウィンドウの勾配は、そのウィンドウで最大だった画素へ送られる",
        "receptive": "3x3 の畳み込み {depth} 層: 受容野 {field}",
        "receptive title": "入力の 1 画素を 3x3 の畳み込みに重ねて通す（重みはすべて 1）:"
                           "各出力へ届く経路の数",
        "out k": "出力 {k}", "no window": "画素 19 は\nどのウィンドウにも入らない",
        "windows title": "floor(({size} + 2*0 - {kernel}) / {stride}) + 1 = {n}: "
                         "{kernel} 画素のウィンドウが {stride} 画素おきに {n} 個",
        "parameters": "パラメータ数（対数目盛）",
        "macs": "画像 1 枚あたりの積和演算の回数（対数目盛）",
    },
}


def _language(lang: str) -> dict:
    """Set matplotlib's font for ``lang``; its labels (English where no font can draw it)."""
    import matplotlib
    pyplot()
    matplotlib.rcParams["font.family"] = ["DejaVu Sans"]
    if lang == "en":
        return TEXT["en"]
    font = japanese_font()
    if font is None:
        print("figures.py: no Japanese font (Debian: apt-get install fonts-noto-cjk); the "
              "Japanese figures keep English labels", file=sys.stderr)
        return TEXT["en"]
    matplotlib.rcParams["font.family"] = [font, "DejaVu Sans"]
    return TEXT[lang]


#: this script's matrices: numbers at 7 points (9 in bold), white under luminance 0.55,
#: red boxes 2 wide; its figures laid out and saved uncropped
_grid = functools.partial(grid, fontsize=7, white_below=0.55, box_colour="red", box_width=2)
_save = functools.partial(save, tight_layout=True, crop=False)


def notebook_conv():
    """The notebook's example: 8x8 input 0..63, two 3x3 filters 0..17, bias 1."""
    x = np.arange(64, dtype=np.float64).reshape(1, 8, 8)
    conv = sc.Conv2d(1, 2, 3).astype(np.float64)
    conv.params["weight"] = np.arange(18, dtype=np.float64).reshape(2, 1, 3, 3)
    conv.params["bias"] = np.ones(2)
    return x, conv


def convolution_window(out_dir, lang="en"):
    t = _language(lang)
    x, conv = notebook_conv()
    y = conv.forward(x)
    w = conv.params["weight"][0, 0]
    window = x[0, :3, :3]
    terms = " + ".join(f"{int(a)}·{int(b)}" for a, b in zip(window.ravel(), w.ravel()))
    plt = pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(11, 4.2), gridspec_kw={"width_ratios": [8, 3, 6]})
    _grid(axes[0], x[0], t["input x"], highlight=[(0, 3, 0, 3)])
    _grid(axes[1], w, t["filter 0"])
    _grid(axes[2], y[0], t["output y0"], highlight=[(0, 1, 0, 1)])
    fig.suptitle(f"y[0, 0, 0] = {terms} + 1 = {int(y[0, 0, 0])}", fontsize=9)
    return _save(fig, out_dir, "convolution-window.png", lang)


def im2col_figure(out_dir, lang="en"):
    t = _language(lang)
    x = np.arange(16, dtype=np.float64).reshape(1, 1, 4, 4)
    cols = textbook.im2col(x, (3, 3))
    counts = textbook.col2im(np.ones_like(cols), x.shape, (3, 3))
    plt = pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(11, 4.2), gridspec_kw={"width_ratios": [4, 4, 4]})
    _grid(axes[0], x[0, 0], t["x window"], highlight=[(0, 3, 0, 3)])
    _grid(axes[1], cols, t["im2col"].format(rows=cols.shape[0], cols=cols.shape[1]),
          highlight=[(0, 9, 0, 1)])
    _grid(axes[2], counts[0, 0], t["col2im"], cmap="Oranges")
    return _save(fig, out_dir, "im2col.png", lang)


def pooling_backward(out_dir, lang="en"):
    t = _language(lang)
    a = np.array([[[1, 3, 2, 9], [5, 4, 0, 7], [8, 6, 3, 1], [2, 0, 4, 5]]], np.float64)
    pool = sc.MaxPool2d(2)
    p = pool.forward(a)
    d = pool.backward(np.array([[[1.0, 2.0], [3.0, 4.0]]]))
    maxima = d[0] != 0  # where backward sent each window's gradient: its maximum
    plt = pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(10, 3.6))
    _grid(axes[0], a[0], t["pool input"], highlight=[(0, 2, 0, 2)], bold=maxima)
    axes[0].axhline(1.5, color="black", linewidth=1.5)  # the four 2x2 windows' borders
    axes[0].axvline(1.5, color="black", linewidth=1.5)
    _grid(axes[1], p[0], t["pooled"], highlight=[(0, 1, 0, 1)], bold=np.ones((2, 2), bool))
    _grid(axes[2], d[0], t["pool backward"], cmap="Oranges", bold=maxima)
    fig.suptitle(t["pool title"], fontsize=9)
    return _save(fig, out_dir, "pooling-backward.png", lang)


def receptive_fields(out_dir, lang="en"):
    t = _language(lang)
    plt = pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(11, 4))
    impulse = np.zeros((1, 1, 11, 11))
    impulse[0, 0, 5, 5] = 1
    for ax, depth in zip(axes, (1, 2, 3)):
        layers = [sc.Conv2d(1, 1, 3, padding=1, bias=False).astype(np.float64)
                  for _ in range(depth)]
        for layer in layers:
            layer.params["weight"] = np.ones((1, 1, 3, 3))
        out = sc.Sequential(layers).forward(impulse)[0, 0]
        field = sc.shapes.receptive_field(layers)[-1]
        _grid(ax, out, t["receptive"].format(depth=depth, field=field), cmap="Greens")
    fig.suptitle(t["receptive title"], fontsize=9)
    return _save(fig, out_dir, "receptive-field.png", lang)


def output_size(out_dir, lang="en"):
    """The notebook's third question along one axis: 20 pixels, kernel 3, stride 2."""
    t = _language(lang)
    size, kernel, stride = 20, 3, 2
    n_out = sc.conv_output_size(size, kernel, stride)
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(11, 3.2))
    for i in range(size):
        ax.add_patch(plt.Rectangle((i, 0), 1, 1, fill=False, edgecolor="grey"))
        ax.text(i + 0.5, 0.5, str(i), ha="center", va="center", fontsize=8)
    for k in range(n_out):
        left, level = k * stride, 1.3 + 0.35 * (k % 2)
        ax.plot([left + 0.1, left + kernel - 0.1], [level, level], color="tab:blue", lw=3)
        ax.text(left + kernel / 2, level + 0.12, t["out k"].format(k=k), ha="center",
                fontsize=7)
    ax.text(size - 0.5, -0.12, t["no window"], ha="center", va="top", fontsize=7,
            color="tab:red")
    ax.set_xlim(-0.5, size + 0.5)
    ax.set_ylim(-0.75, 2.4)
    ax.axis("off")
    ax.set_title(t["windows title"].format(size=size, kernel=kernel, stride=stride, n=n_out),
                 fontsize=9)
    return _save(fig, out_dir, "output-size.png", lang)


def network_sizes() -> tuple[list[int], list[int]]:
    """Parameters and multiply-accumulates of the zoo's LeNet-5, AlexNet and VGG-16."""
    params, macs = [], []
    for name in ("lenet5", "alexnet", "vgg16"):
        model = sc.models.MODELS[name]()
        params.append(sc.count_params(model))
        last = model.summary(sc.models.INPUT_SHAPES[name]).splitlines()[-1]
        macs.append(int(last.split(": ")[1].replace(",", "")))
        del model
    return params, macs


def networks(out_dir, sizes, lang="en"):
    """Parameters and multiply-accumulates of the zoo's three famous networks."""
    t = _language(lang)
    params, macs = sizes
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for ax, values, title in ((axes[0], params, t["parameters"]),
                              (axes[1], macs, t["macs"])):
        bars = ax.bar(["LeNet-5", "AlexNet", "VGG-16"], values, color="tab:blue")
        ax.set_yscale("log")
        ax.set_title(title, fontsize=9)
        for bar, v in zip(bars, values):
            ax.text(bar.get_x() + bar.get_width() / 2, v, f"{v:,}", ha="center",
                    va="bottom", fontsize=7)
    return _save(fig, out_dir, "networks.png", lang)


def tutorial_pictures(out_dir, quick: bool):
    data = sc.datasets.load_sample()
    (x, y), (x_test, _) = data.train, data.test
    if quick:
        x, y = x[:500], y[:500]
    model = sc.models.convnet_bn_mini(seed=0)
    model.input_mean, model.input_std = x.mean(), x.std()
    epochs = 1 if quick else 20
    model.fit(x, y, epochs=epochs, batch_size=32, optimizer=sc.Adam(2e-3), seed=0, verbose=0,
              scheduler=sc.CosineAnnealingLR(epochs, per_batch=True),
              augment=sc.transforms.RandomAffine(10))
    paths = [pictures.plot_filters(model, os.path.join(out_dir, "tutorial-filters.png"))]
    index, layer, maps = pictures.conv_outputs(model, x_test[0])[0]
    paths.append(pictures.plot_feature_maps(index, layer, maps, x_test[0],
                                            os.path.join(out_dir, "tutorial-feature-maps.png")))
    return paths


def digit_photo(out_dir):
    """A 'photo' of a handwritten digit: a test image of the bundled sample, enlarged,
    dark ink on light paper with uneven light and grain (what ``predict`` must cope with)."""
    from PIL import Image
    data = sc.datasets.load_sample()
    sevens = data.test[0][data.test[1] == 7, 0]
    typical = np.argmax((sevens * sevens.mean(axis=0)).sum(axis=(1, 2)))  # nearest the mean
    image, label = sevens[typical], 7
    big = np.asarray(Image.fromarray((image * 255).astype(np.uint8)).resize((224, 224),
                                                                          Image.BICUBIC))
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:224, 0:224]
    paper = 235 - 25 * (xx + yy) / 448 + rng.normal(0, 4, (224, 224))
    photo = np.clip(paper - big / 255 * 190, 0, 255).astype(np.uint8)
    path = os.path.join(out_dir, f"digit-{label}.png")
    Image.fromarray(np.stack([photo, photo, (photo * 0.97).astype(np.uint8)], -1)).save(path)
    return path


def main(argv=None) -> int:
    args = arguments(__doc__, argv)
    sizes = network_sizes()
    paths = [draw(args.out_dir, lang) for lang in LANGUAGES
             for draw in (convolution_window, im2col_figure, pooling_backward,
                          receptive_fields, output_size)]
    paths += [networks(args.out_dir, sizes, lang) for lang in LANGUAGES]
    _language("en")
    paths += [digit_photo(args.out_dir), *tutorial_pictures(args.out_dir, args.quick)]
    for path in paths:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())

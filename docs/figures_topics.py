"""Draw the figures of the pages "Convolution in depth" and "Inside a CNN":
python docs/figures_topics.py [OUT_DIR] [--quick].

As docs/figures.py: every number in a figure is computed by scratchcnn here, with the
same arrays as the pages' examples, and the PNGs land in docs/figures/ unless OUT_DIR is
given.  Each figure is drawn twice, ``name.png`` with English labels and ``name.ja.png``
with Japanese ones for the Japanese pages (in a CJK font such as Noto Sans CJK when the
machine has one; without one the Japanese file gets the English labels and a warning).
Numbers in cells are written in black or white, whichever reads on the cell's colour.
``--quick`` trains the filters of "before and after" on 500 images instead of 4,000 (the
tests use it to check this script runs).  Prints the path of every file it writes.
"""

from __future__ import annotations

import sys

import numpy as np

import scratchcnn as sc
from scratchcnn import reference

from figure_kit import arguments, each_language, grid, pyplot, save

LANGS = ("en", "ja")


# --------------------------------------------------------------------------- drawing helpers

def _picture(ax, image, title, cmap="gray", symmetric=False):
    """An image without numbers: grey pixels in [0, 1], or a signed map on red-blue."""
    if symmetric:
        top = float(np.abs(image).max()) or 1.0
        ax.imshow(image, cmap=cmap, vmin=-top, vmax=top)
    else:
        ax.imshow(image, cmap=cmap, vmin=0, vmax=max(float(image.max()), 1e-12))
    ax.set_title(title, fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])


# --------------------------------------------------------------------------- the pages' data

def sample_digits():
    """(images, labels) of the bundled MNIST sample's training part (no network)."""
    return sc.datasets.load_sample().train


def seven_and_one():
    images, labels = sample_digits()
    return (images[labels == 7][2].astype(np.float64),
            images[labels == 1][2].astype(np.float64))


SOBEL_X = np.array([[1.0, 0.0, -1.0], [2.0, 0.0, -2.0], [1.0, 0.0, -1.0]])


def edge_layer(stride=1):
    """The pages' hand-made filters: vertical edges (left minus right) and horizontal
    edges (top minus bottom), padding 1."""
    edges = sc.Conv2d(1, 2, 3, stride=stride, padding=1, bias=False).astype(np.float64)
    edges.params["weight"] = np.stack([SOBEL_X, SOBEL_X.T])[:, None]
    return edges


# --------------------------------------------------------------------------- Convolution in depth

def three_channels(lang):
    """One 3x3 filter spanning the R, G and B channels of a 5x5 image: one map."""
    rgb = np.random.default_rng(1).integers(0, 4, (3, 5, 5)).astype(np.float64)
    vertical = np.array([[1.0, 0, -1], [1, 0, -1], [1, 0, -1]])
    centre = np.zeros((3, 3))
    centre[1, 1] = 1
    conv = sc.Conv2d(3, 1, 3).astype(np.float64)
    conv.params["weight"] = np.stack([vertical, vertical.T, centre])[None]
    conv.params["bias"] = np.ones(1)
    out = conv.forward(rgb)[0]
    parts = [reference.conv2d(rgb[None, [c]], conv.params["weight"][:, [c]])[0, 0]
             for c in range(3)]
    t = {"en": {"names": ("R", "G", "B"), "in": "input, channel {}",
                "w": "filter, slice {}", "part": "slice {} ⋆ channel {}",
                "out": "output: the three\nsums + bias 1\n(ONE map)",
                "sup": "one 3x3x3 filter (27 weights, 1 bias) over a 3-channel 5x5 "
                       "image gives one 3x3 map"},
         "ja": {"names": ("R", "G", "B"), "in": "入力の {} チャンネル",
                "w": "フィルタの {} 用の 3x3", "part": "{} 用の 3x3 ⋆ {} チャンネル",
                "out": "出力: 3 つの和\n+ バイアス 1\n（1 枚のマップ）",
                "sup": "3x3x3 のフィルタ 1 枚（重み 27 個、バイアス 1 個）を 3 チャンネルの "
                       "5x5 の画像にかけると、3x3 のマップが 1 枚できる"}}[lang]
    plt = pyplot()
    fig = plt.figure(figsize=(11, 8.2))
    spec = fig.add_gridspec(3, 4, width_ratios=[5, 3.4, 3.4, 3.4], wspace=0.35, hspace=0.4)
    colours = ("Reds", "Greens", "Blues")
    for c, name in enumerate(t["names"]):
        grid(fig.add_subplot(spec[c, 0]), rgb[c], t["in"].format(name), colours[c],
             highlight=[(0, 3, 0, 3)])
        grid(fig.add_subplot(spec[c, 1]), conv.params["weight"][0, c], t["w"].format(name),
             "RdBu_r", symmetric=True, limit=2)
        grid(fig.add_subplot(spec[c, 2]), parts[c], t["part"].format(name, name), "PuOr_r",
             symmetric=True, limit=8, highlight=[(0, 1, 0, 1)])
    ax = fig.add_subplot(spec[1, 3])
    grid(ax, out, t["out"], "PuOr_r", symmetric=True, limit=8, highlight=[(0, 1, 0, 1)])
    total = " + ".join(f"{p[0, 0]:g}" for p in parts)
    ax.set_xlabel(f"{total} + 1 = {out[0, 0]:g}", fontsize=9)
    fig.suptitle(t["sup"], fontsize=10)
    return fig


def backward_full(lang):
    """dx of a 3x3 convolution on a 4x4 input: dout padded by 2, the kernel flipped."""
    layer = sc.Conv2d(1, 1, 3, bias=False).astype(np.float64)
    layer.params["weight"] = np.arange(1.0, 10.0).reshape(1, 1, 3, 3)
    layer.forward(np.zeros((1, 4, 4)))
    dout = np.array([[[1.0, 2.0], [3.0, 4.0]]])
    dx = layer.backward(dout)[0]
    padded = np.pad(dout[0], 2)
    w = layer.params["weight"][0, 0]
    flipped = w[::-1, ::-1]
    r, c = 1, 1
    window = padded[r:r + 3, c:c + 3]
    terms = " + ".join(f"{a:g}·{b:g}" for a, b in zip(window.ravel(), flipped.ravel()) if a)
    t = {"en": ("dout (2x2), zero-padded by 3 - 1 = 2", "kernel w", "w flipped (rotated 180°)",
                "dx = layer.backward(dout)",
                f"dx[{r}, {c}] = {terms} = {dx[r, c]:g}: a window of the padded dout times "
                "the flipped kernel, as in a forward pass"),
         "ja": ("dout (2x2) の周りに 3 - 1 = 2 の 0 を足したもの", "カーネル w",
                "w を反転（180° 回転）", "dx = layer.backward(dout)",
                f"dx[{r}, {c}] = {terms} = {dx[r, c]:g}：パディングした dout のウィンドウと"
                "反転したカーネルの積の和（順伝搬と同じ計算）")}[lang]
    plt = pyplot()
    fig, axes = plt.subplots(1, 4, figsize=(12, 3.8), gridspec_kw={"width_ratios": [6, 3, 3, 4]})
    grid(axes[0], padded, t[0], "Oranges", highlight=[(r, r + 3, c, c + 3)])
    grid(axes[1], w, t[1], "Greens")
    grid(axes[2], flipped, t[2], "Greens")
    grid(axes[3], dx, t[3], "Purples", highlight=[(r, r + 1, c, c + 1)])
    fig.suptitle(t[4], fontsize=9, y=1.04)
    return fig


# --------------------------------------------------------------------------- Inside a CNN

def edge_filter(lang):
    seven, _ = seven_and_one()
    maps = edge_layer().forward(seven)
    t = {"en": ("a 7 of the bundled sample", "vertical edges:\nleft − right",
                "response (red +, blue −)", "horizontal edges:\ntop − bottom",
                "response (red +, blue −)",
                "two hand-made 3x3 filters (Sobel) on a real digit: Conv2d(1, 2, 3, padding=1)"),
         "ja": ("同梱のサンプルの 7", "縦のエッジ:\n左 − 右", "応答（赤 +、青 −）",
                "横のエッジ:\n上 − 下", "応答（赤 +、青 −）",
                "手作りの 3x3 のフィルタ 2 枚（Sobel）を本物の数字にかける: "
                "Conv2d(1, 2, 3, padding=1)")}[lang]
    plt = pyplot()
    fig, axes = plt.subplots(1, 5, figsize=(13, 3.4),
                             gridspec_kw={"width_ratios": [4, 2, 4, 2, 4]})
    _picture(axes[0], seven[0], t[0])
    grid(axes[1], SOBEL_X, t[1], "RdBu_r", symmetric=True, limit=3)
    _picture(axes[2], maps[0], t[2], "RdBu_r", symmetric=True)
    grid(axes[3], SOBEL_X.T, t[3], "RdBu_r", symmetric=True, limit=3)
    _picture(axes[4], maps[1], t[4], "RdBu_r", symmetric=True)
    fig.suptitle(t[5], fontsize=10)
    return fig


def learn_kernel(steps=200):
    """The page's loop: a random 3x3 kernel learns the vertical-edge filter from 8 digits
    and their edge maps.  Returns (losses, {step: kernel})."""
    images, _ = sample_digits()
    digits = images[:8].astype(np.float64)
    target = edge_layer().forward(digits)[:, :1]
    model = sc.Sequential([sc.Conv2d(1, 1, 3, padding=1, bias=False, rng=0)]).astype(np.float64)
    mse, optimizer = sc.MSELoss(), sc.SGD(0.3, momentum=0.9)
    losses, kernels = [], {}
    for step in range(steps):
        if step in (0, 10, 30):
            kernels[step] = model.layers[0].params["weight"][0, 0].copy()
        losses.append(mse.forward(model.forward(digits), target))
        model.backward(mse.backward())
        optimizer.step(model)
    kernels[steps] = model.layers[0].params["weight"][0, 0].copy()
    return losses, kernels


def learned_kernel(lang, learned):
    losses, kernels = learned
    t = {"en": ("mean squared error per step (log scale)", "step", "step {}",
                "target (Sobel)",
                "learning a kernel: SGD(0.3, momentum=0.9) fits a random 3x3 kernel to "
                "the edge maps of 8 digits"),
         "ja": ("ステップごとの平均二乗誤差（対数目盛）", "ステップ", "ステップ {}",
                "目標（Sobel）",
                "カーネルを学習する: SGD(0.3, momentum=0.9) がランダムな 3x3 のカーネルを "
                "8 個の数字のエッジ画像に合わせる")}[lang]
    plt = pyplot()
    fig, axes = plt.subplots(1, 1 + len(kernels) + 1, figsize=(14, 3.4),
                             gridspec_kw={"width_ratios": [5] + [2.2] * (len(kernels) + 1)})
    axes[0].semilogy(losses, color="tab:blue")
    axes[0].set_title(t[0], fontsize=9)
    axes[0].set_xlabel(t[1], fontsize=9)
    axes[0].grid(alpha=0.3)
    for ax, (step, kernel) in zip(axes[1:], kernels.items()):
        grid(ax, kernel, t[2].format(step), "RdBu_r", symmetric=True, limit=2.5,
             fmt="{:.2f}")
    grid(axes[-1], SOBEL_X, t[3], "RdBu_r", symmetric=True, limit=2.5, fmt="{:.2f}")
    fig.suptitle(t[4], fontsize=10, y=1.05)
    return fig


def neighbour_correlation(weights):
    """How alike neighbouring weights of the filters (O, 1, kh, kw) are: the correlation
    of every weight with its right and its lower neighbour (about 0 for noise)."""
    w = weights[:, 0]
    here = np.concatenate([w[:, :, :-1].ravel(), w[:, :-1, :].ravel()])
    there = np.concatenate([w[:, :, 1:].ravel(), w[:, 1:, :].ravel()])
    return float(np.corrcoef(here, there)[0, 1])


def train_filters(quick: bool):
    """The page's run: ゼロから作る's SimpleConvNet, its first layer started as in the book
    (N(0, 0.01)), one epoch of Adam on the bundled sample.  (before, after, accuracy)."""
    data = sc.datasets.load_sample()
    (x, y), (x_test, y_test) = data.train, data.test
    if quick:
        x, y = x[:500], y[:500]
    model = sc.models.simple_convnet(seed=0)
    conv = model.layers[0]
    rng = np.random.default_rng(0)
    conv.params["weight"] = 0.01 * rng.standard_normal(conv.params["weight"].shape,
                                                       dtype=np.float32)
    before = conv.params["weight"].copy()
    model.fit(x, y, epochs=1, batch_size=32, optimizer=sc.Adam(2e-3), seed=0, verbose=0)
    accuracy = model.evaluate(x_test, y_test)["accuracy"]
    return before, conv.params["weight"].copy(), accuracy


def filters_before_after(lang, trained):
    before, after, accuracy = trained
    t = {"en": ("before training: N(0, 0.01) noise (neighbouring weights correlate {:.2f})",
                "after one epoch on 4,000 digits, {:.0%} test accuracy "
                "(neighbouring weights correlate {:.2f})",
                "the 30 first-layer 5x5 filters of SimpleConvNet (each on its own grey "
                "scale, dark = large)"),
         "ja": ("学習前: N(0, 0.01) のノイズ（隣り合う重みの相関 {:.2f}）",
                "4,000 個の数字で 1 エポック学習した後、テストの正解率 {:.0%}"
                "（隣り合う重みの相関 {:.2f}）",
                "SimpleConvNet の第 1 層の 5x5 のフィルタ 30 枚（1 枚ごとに濃淡を合わせ、"
                "黒いほど大きい）")}[lang]
    plt = pyplot()
    fig = plt.figure(figsize=(11, 7))
    blocks = fig.subfigures(2, 1, hspace=0.05)
    for block, weights, title in ((blocks[0], before, t[0].format(neighbour_correlation(before))),
                                  (blocks[1], after, t[1].format(
                                      accuracy, neighbour_correlation(after)))):
        axes = block.subplots(3, 10)
        for ax, w in zip(axes.flat, weights[:, 0]):
            ax.imshow(w, cmap="gray_r", interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
        block.suptitle(title, fontsize=9)
    fig.suptitle(t[2], fontsize=10, y=1.03)
    return fig


def stride_vs_pooling(lang):
    seven, _ = seven_and_one()
    full = np.maximum(edge_layer().forward(seven)[0], 0)
    pooled = sc.MaxPool2d(2).forward(full[None])[0]
    strided = np.maximum(edge_layer(stride=2).forward(seven)[0], 0)
    t = {"en": ("input (28x28)", "ReLU(conv), stride 1 (28x28)",
                "then MaxPool2d(2) (14x14)", "ReLU(conv), stride 2 (14x14)",
                "two ways to halve a map: pool a full convolution, or compute only every "
                "second output (the vertical-edge filter after a ReLU: the strokes' "
                "right-hand edges)"),
         "ja": ("入力 (28x28)", "ReLU(畳み込み)、ストライド 1 (28x28)",
                "その後 MaxPool2d(2) (14x14)", "ReLU(畳み込み)、ストライド 2 (14x14)",
                "マップを半分にする 2 つの方法: 全部計算してからプーリングするか、"
                "1 つおきの出力だけを計算するか（縦のエッジのフィルタと ReLU: 線の右側の縁）")}[lang]
    plt = pyplot()
    fig, axes = plt.subplots(1, 4, figsize=(12, 3.5))
    _picture(axes[0], seven[0], t[0])
    _picture(axes[1], full, t[1], "magma_r")
    _picture(axes[2], pooled, t[2], "magma_r")
    _picture(axes[3], strided, t[3], "magma_r")
    fig.suptitle(t[4], fontsize=10)
    return fig


def global_average_pooling(lang):
    seven, one = seven_and_one()
    gap = sc.AdaptiveAvgPool2d(1)
    t = {"en": ("a {}", "|vertical edges|", "|horizontal edges|", "mean", "vertical",
                "horizontal",
                "global average pooling: each map becomes its mean, whatever its size "
                "(AdaptiveAvgPool2d(1))"),
         "ja": ("{} の画像", "|縦のエッジ|", "|横のエッジ|", "平均", "縦", "横",
                "グローバル平均プーリング: マップの大きさによらず、各マップがその平均 1 つになる"
                "（AdaptiveAvgPool2d(1)）")}[lang]
    plt = pyplot()
    fig, axes = plt.subplots(2, 4, figsize=(12, 6), gridspec_kw={"width_ratios": [3, 3, 3, 3]})
    for row, (digit, name) in enumerate(((one, "1"), (seven, "7"))):
        maps = np.abs(edge_layer().forward(digit))
        means = gap.forward(maps).ravel()
        _picture(axes[row, 0], digit[0], t[0].format(name))
        for k in range(2):
            _picture(axes[row, 1 + k], maps[k], f"{t[1 + k]}: {t[3]} {means[k]:.3f}", "magma_r")
        bars = axes[row, 3].bar([t[4], t[5]], means, color=["tab:purple", "tab:orange"])
        axes[row, 3].set_ylim(0, 0.6)
        axes[row, 3].set_title(t[3], fontsize=9)
        for bar, v in zip(bars, means):
            axes[row, 3].text(bar.get_x() + bar.get_width() / 2, v, f"{v:.3f}", ha="center",
                              va="bottom", fontsize=8)
    fig.suptitle(t[6], fontsize=10)
    return fig


def main(argv=None) -> int:
    args = arguments(__doc__, argv)
    learned, trained = learn_kernel(), train_filters(args.quick)
    figures = {"filter-three-channels.png": three_channels,
               "conv-backward-full.png": backward_full,
               "edge-filter.png": edge_filter,
               "learned-kernel.png": lambda lang: learned_kernel(lang, learned),
               "filters-before-after.png": lambda lang: filters_before_after(lang, trained),
               "stride-vs-pooling.png": stride_vs_pooling,
               "global-average-pooling.png": global_average_pooling}
    for lang, labels in each_language(LANGS, "figures_topics.py: no CJK font found; the "
                                      ".ja.png files get English labels"):
        for name, draw in figures.items():
            print(save(draw(labels), args.out_dir, name, lang))
    return 0


if __name__ == "__main__":
    sys.exit(main())

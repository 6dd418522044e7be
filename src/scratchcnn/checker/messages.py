"""Every sentence a report can say, in English and in Japanese.

``MISTAKES[lang][key]`` is (title, hint) for each entry of the catalogue, with
``{fields}`` filled from the detector's details; ``VARIANTS`` says how a detector's
``how``/``axis`` detail reads; ``TEXT`` holds the rest of the report.
"""

from __future__ import annotations

import os

__all__ = ["MISTAKES", "VARIANTS", "TEXT", "CASES", "resolve_lang"]


def resolve_lang(lang: str | None = None) -> str:
    """"en" or "ja": the one asked for, else the locale's (LC_ALL, LC_MESSAGES or LANG
    starting with "ja" is Japanese)."""
    if lang is not None:
        if lang not in ("en", "ja"):
            raise ValueError(f"lang must be 'en' or 'ja', got {lang!r}")
        return lang
    for name in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = os.environ.get(name)
        if value:
            return "ja" if value.lower().startswith("ja") else "en"
    return "en"


MISTAKES = {"en": {
    "numpy_alias": ("{alias} no longer exists in NumPy >= {version}: use {use}",
                    "NumPy {version} removed this alias. Replace every {alias} in the file "
                    "(the checker does not patch it for you)."),
    "no_channel_axis": ("weights have no input-channel axis",
                        "{weight} has shape {shape}, (FN, FH, FW): one FH x FW kernel per "
                        "filter, used on every channel alike. A filter holds one kernel per "
                        "input channel, (FN, C, FH, FW), and the output adds the channels up: "
                        "out[o] = sum over c of x[c] * W[o, c], plus b[o]. Only the cases with "
                        "one input channel were run."),
    "one_bias": ("one bias for the whole layer",
                 "{bias} is one number; each filter has its own bias, shape (FN,), added to "
                 "every output pixel of that filter. The cases were run with the same bias "
                 "for every filter."),
    "first_pixel_only": ("only the first output pixel is written",
                         "Every window's value lands in out[..., 0, 0] and the other pixels "
                         "are never written: the output indices (j, i) start at 0 and never "
                         "advance. Increase them in the loops, or compute them "
                         "(j = high // stride)."),
    "uninitialised": ("uninitialised output (np.empty left unwritten)",
                      "Some values change from one run to the next: np.empty hands back "
                      "memory as it was left, and these elements were never written (or were "
                      "added to with +=). Start from np.zeros, or write every element."),
    "output_size_off_by_one": ("output size off by one",
                               "Expected {expected}, got {got}. Along each axis the window "
                               "fits (H + 2P - FH) // S + 1 times: the + 1 counts its first "
                               "position, and range(0, H + 2P - FH + 1, S) visits them all."),
    "padding_ignored": ("padding ignored",
                        "The output is what no padding gives. Pad the input first, "
                        "np.pad(x, ((0, 0), (0, 0), (P, P), (P, P))) (for one (C, H, W) image "
                        "((0, 0), (P, P), (P, P)); max pooling pads with -inf), then slide "
                        "the window over the padded array."),
    "stride_ignored": ("stride ignored",
                       "The windows move one pixel at a time. Output pixel (y, x) reads the "
                       "window that starts at (y*S, x*S), and its gradient goes back to that "
                       "same window."),
    "kernel_flipped": ("kernel flipped (true convolution instead of cross-correlation)",
                       "The result is what the kernel turned by 180 degrees gives. CNN "
                       "layers, PyTorch's included, compute a cross-correlation: out[y, x] = "
                       "sum over i, j of W[i, j] * x[y*S + i, x*S + j], with W as it is "
                       "(no W[::-1, ::-1])."),
    "no_channel_sum": ("no sum over input channels", "{variant}"),
    "bias_wrong": ("bias added wrongly",
                   "{variant} Each filter's bias is added once to every output pixel of "
                   "that filter: out[n, o, y, x] = (sum of the products) + b[o]."),
    "weights_updated_in_backward": ("weights updated inside backward",
                                    "backward changed {names}. It should only compute the "
                                    "gradients (keep dW and db, return dX); the optimiser "
                                    "updates the weights afterwards. Updating inside mixes "
                                    "the learning rate into every call, and a weight can "
                                    "change before dX is computed with it."),
    "mean_not_sum": ("mean instead of sum in a gradient",
                     "got = expected / {count}. A weight or a bias is used at every output "
                     "position (and for every image of the batch), so its gradient is the "
                     "sum of those contributions, not their mean: "
                     "db = dout.sum(axis=(0, 2, 3))."),
    "dw_misindexed": ("dW windows mis-indexed",
                      "{variant} dW[o, c, i, j] = sum over n, y, x of dout[n, o, y, x] * "
                      "x_padded[n, c, y*S + i, x*S + j]."),
    "dx_kernel_row_missing": ("a kernel row or column missing from dX",
                              "dX is what the kernel without its {variant} {index} sends "
                              "back: a loop over the kernel stops one short "
                              "(range(FH - 1)?). Every W[o, c, i, j], i in range(FH), j in "
                              "range(FW), sends dout * W[o, c, i, j] back to "
                              "x[y*S + i, x*S + j]."),
    "dx_overwrite": ("dX assigned instead of added where windows overlap",
                     "Where windows overlap, an input pixel receives a gradient from each of "
                     "them; assigning with = keeps only the last one. Add them with +=."),
    "dx_padded": ("dX still padded",
                  "dX has the padded input's shape. The padding is not part of the input, "
                  "so cut its border off before returning: dX = dX_padded[..., P:P + H, "
                  "P:P + W]."),
    "pool_grad_transposed": ("pooling gradient transposed",
                             "dX is the right answer with its rows and columns swapped (a .T, "
                             "or a reshape in the wrong order). Each dout[c, y, x] goes to "
                             "the (row, column) of the maximum inside its own window."),
    "pool_grad_whole_window": ("pooling gradient sent to every element of the window",
                               "{variant} Only the window's maximum made the output, so only "
                               "its position receives dout and the others get 0 (np.argmax "
                               "finds it)."),
    "pool_ties": ("ties broken differently from PyTorch",
                  "{variant} When several elements share a window's maximum, PyTorch sends "
                  "dout to the first of them, row by row: np.argmax of the window gives it."),
}, "ja": {
    "numpy_alias": ("{alias} は NumPy {version} 以降にはありません: {use} を使ってください",
                    "NumPy {version} でこの別名は削除されました。ファイル中の {alias} を"
                    "すべて置き換えてください（チェッカーは書き換えません）。"),
    "no_channel_axis": ("重みに入力チャンネルの軸がない",
                        "{weight} の形は {shape}、つまり (FN, FH, FW) です。フィルター 1 枚に "
                        "FH x FW のカーネルが 1 つだけで、どのチャンネルにも同じものを使って"
                        "います。フィルターは入力チャンネルごとにカーネルを持ち "
                        "(FN, C, FH, FW)、出力はチャンネルについて足し合わせます: "
                        "out[o] = Σ_c x[c] * W[o, c] + b[o]。入力チャンネルが 1 つの"
                        "ケースだけを実行しました。"),
    "one_bias": ("層全体でバイアスが 1 つしかない",
                 "{bias} は数 1 つです。バイアスはフィルターごとに 1 つ（形 (FN,)）あり、"
                 "そのフィルターの出力のすべての画素に足されます。ケースはすべての"
                 "フィルターに同じバイアスを使って実行しました。"),
    "first_pixel_only": ("出力の最初の画素しか書かれていない",
                         "どのウィンドウの値も out[..., 0, 0] に書き込まれ、ほかの画素には"
                         "何も書かれていません。出力の添字 (j, i) が 0 のまま進んでいません。"
                         "ループの中で増やすか、j = high // stride のように計算してください。"),
    "uninitialised": ("初期化されていない出力（np.empty のまま）",
                      "実行するたびに変わる値があります。np.empty は前に使われたメモリを"
                      "そのまま返すので、書き込まれなかった要素（または += で足し込んだ"
                      "要素）にはでたらめな値が残ります。np.zeros から始めるか、すべての"
                      "要素に書き込んでください。"),
    "output_size_off_by_one": ("出力サイズが 1 ずれている",
                               "期待値は {expected}、実際は {got} です。各軸でウィンドウが"
                               "置ける位置は (H + 2P - FH) // S + 1 個です（+1 は最初の位置の"
                               "分）。range(0, H + 2P - FH + 1, S) ですべての位置を回れます。"),
    "padding_ignored": ("パディングが無視されている",
                        "出力がパディングなしの場合と同じです。先に入力を "
                        "np.pad(x, ((0, 0), (0, 0), (P, P), (P, P))) でパディングし（(C, H, W) "
                        "の画像 1 枚なら ((0, 0), (P, P), (P, P))。最大値プーリングは -inf で"
                        "パディングします）、パディングした配列の上でウィンドウを動かして"
                        "ください。"),
    "stride_ignored": ("ストライドが無視されている",
                       "ウィンドウが 1 画素ずつしか動いていません。出力の画素 (y, x) は "
                       "(y*S, x*S) から始まるウィンドウを読み、その勾配も同じウィンドウに"
                       "戻ります。"),
    "kernel_flipped": ("カーネルが反転している（相互相関ではなく数学の畳み込み）",
                       "カーネルを 180 度回したときの結果になっています。CNN の畳み込み層は"
                       "（PyTorch も）相互相関を計算します: out[y, x] = "
                       "Σ_{{i,j}} W[i, j] * x[y*S + i, x*S + j]。W は反転しません"
                       "（W[::-1, ::-1] は不要）。"),
    "no_channel_sum": ("入力チャンネルについての和がない", "{variant}"),
    "bias_wrong": ("バイアスの足し方が違う",
                   "{variant}各フィルターのバイアスは、そのフィルターの出力のすべての画素に"
                   "1 回ずつ足します: out[n, o, y, x] = （積の和）+ b[o]。"),
    "weights_updated_in_backward": ("逆伝搬の中で重みを更新している",
                                    "backward が {names} を変えました。backward は勾配を計算"
                                    "するだけにして（dW と db を保存し、dX を返す）、重みの"
                                    "更新は後で最適化手法が行います。中で更新すると毎回"
                                    "学習率が混ざり、dX の計算に使う前に重みが変わって"
                                    "しまうこともあります。"),
    "mean_not_sum": ("勾配で和の代わりに平均を取っている",
                     "実際の値 = 期待値 / {count} です。重みやバイアスは出力のすべての位置で"
                     "（バッチのすべての画像でも）使われるので、勾配はそれらの寄与の平均では"
                     "なく和です: db = dout.sum(axis=(0, 2, 3))。"),
    "dw_misindexed": ("dW のウィンドウの添字が違う",
                      "{variant}dW[o, c, i, j] = Σ_{{n,y,x}} dout[n, o, y, x] * "
                      "x_padded[n, c, y*S + i, x*S + j] です。"),
    "dx_kernel_row_missing": ("dX でカーネルの行か列が抜けている",
                              "カーネルの{variant} {index} がないときの dX になっています。"
                              "カーネルのループが 1 回足りません（range(FH - 1) など）。"
                              "すべての W[o, c, i, j]（i は range(FH)、j は range(FW)）が "
                              "dout * W[o, c, i, j] を x[y*S + i, x*S + j] に返します。"),
    "dx_overwrite": ("ウィンドウが重なる所で dX を足さずに代入している",
                     "ウィンドウが重なる所では、入力の画素はそれぞれのウィンドウから勾配を"
                     "受け取ります。= で代入すると最後の 1 つしか残りません。+= で足して"
                     "ください。"),
    "dx_padded": ("dX にパディングが残っている",
                  "dX がパディングした入力の形のままです。パディングは入力の一部ではない"
                  "ので、返す前に周りを切り落としてください: dX = dX_padded[..., P:P + H, "
                  "P:P + W]。"),
    "pool_grad_transposed": ("プーリングの勾配が転置されている",
                             "dX が正しい答えの行と列を入れ替えたものになっています（余分な "
                             ".T か、順番の違う reshape）。dout[c, y, x] はそれぞれ自分の"
                             "ウィンドウの中の最大値の位置（行, 列）に戻ります。"),
    "pool_grad_whole_window": ("プーリングの勾配をウィンドウのすべての要素に送っている",
                               "{variant}出力を決めたのはウィンドウの最大値だけなので、dout "
                               "を受け取るのはその位置だけで、ほかは 0 です（位置は "
                               "np.argmax で求まります）。"),
    "pool_ties": ("同じ最大値が複数あるときの扱いが PyTorch と違う",
                  "{variant}ウィンドウの最大値を複数の要素が共有するとき、PyTorch は行優先で"
                  "最初の要素に dout を送ります（ウィンドウの np.argmax がその位置です）。"),
}}

VARIANTS = {"en": {
    "input": "The output equals what input channel {index} alone gives. out[o] adds the "
             "products over every input channel: sum over c, i, j of W[o, c, i, j] * "
             "x[c, y*S + i, x*S + j] (add across channels with +=, don't assign).",
    "filter": "dX equals what filter {index} alone sends back. Every filter read the input, "
              "so dX[c] adds what all of them send: sum over o of dout[o] * W[o, c].",
    "missing": "The bias is not added.", "once": "The bias is added to the first output "
    "pixel only.", "twice": "The bias is added twice.",
    "per_term": "The bias is added inside the window's sum, once per product.",
    "last_axis": "The bias runs along the width, not the filters: b of shape (FN,) meets "
                 "(..., W) when added; write b[:, None, None].",
    "row_axis": "The bias runs along the rows, not the filters; write b[:, None, None].",
    "swapped": "Its kernel rows and columns are swapped (i and j exchanged).",
    "stride_on_kernel": "The stride multiplies the kernel offset (y + i*S) instead of the "
                        "output position (y*S + i).",
    "unpadded": "It reads the input without its padding.",
    "row": "row", "column": "column",
    "each": "Every element of a window receives dout.",
    "average": "dout is spread evenly over the window (average pooling's gradient).",
    "all": "Each of the tied maxima receives dout, so it is counted several times.",
    "last": "The last of the tied maxima receives dout.",
}, "ja": {
    "input": "出力が入力チャンネル {index} だけのときと同じです。out[o] はすべての入力"
             "チャンネルについて積を足し合わせます: Σ_{{c,i,j}} W[o, c, i, j] * "
             "x[c, y*S + i, x*S + j]（チャンネルごとに = で代入せず += で足す）。",
    "filter": "dX がフィルター {index} だけから戻る勾配と同じです。どのフィルターも入力を"
              "読んだので、dX[c] はすべてのフィルターからの勾配の和です: "
              "Σ_o dout[o] * W[o, c]。",
    "missing": "バイアスが足されていません。", "once": "バイアスが出力の最初の画素にしか"
    "足されていません。", "twice": "バイアスが 2 回足されています。",
    "per_term": "バイアスがウィンドウの和の中で、積ごとに足されています。",
    "last_axis": "バイアスがフィルターではなく幅の方向に並んでいます。形 (FN,) の b を "
                 "(..., W) に足すとそうなります。b[:, None, None] と書いてください。",
    "row_axis": "バイアスがフィルターではなく行の方向に並んでいます。b[:, None, None] と"
                "書いてください。",
    "swapped": "カーネルの行と列が入れ替わっています（i と j が逆）。",
    "stride_on_kernel": "ストライドを出力の位置 (y*S + i) ではなくカーネル内の位置 "
                        "(y + i*S) に掛けています。",
    "unpadded": "パディングしていない入力を読んでいます。",
    "row": "行", "column": "列",
    "each": "ウィンドウのすべての要素が dout を受け取っています。",
    "average": "dout をウィンドウに均等に分けています（平均値プーリングの勾配）。",
    "all": "同じ最大値を持つ要素がそれぞれ dout を受け取るので、何回も数えられています。",
    "last": "同じ最大値のうち最後の要素が dout を受け取っています。",
}}

#: the ladder's rungs: what each case is about
CASES = {"en": {"course": "the course's example", "stride": "stride", "padding": "padding",
                "stride_padding": "stride and padding", "channels": "several channels",
                "batch": "a batch", "random": "random values", "ties": "ties"},
         "ja": {"course": "講座の例", "stride": "ストライド", "padding": "パディング",
                "stride_padding": "ストライドとパディング", "channels": "複数のチャンネル",
                "batch": "バッチ", "random": "乱数の値", "ties": "同じ値の最大値"}}

TEXT = {"en": {
    "class": "a class", "functions": "functions", "and": "and", "sep": ", ",
    "batched": "(N, C, H, W) batches", "single": "one (C, H, W) image at a time",
    "weights": "weights {weight}, bias {bias}", "no_bias_attr": "weights {weight}, no bias",
    "no_backward_fn": "no backward",
    "missing_conv": "no convolution found (a class or function with 'conv' in its name)",
    "missing_pool": "no max pooling found (a class or function with 'pool' in its name)",
    "conv_case": "x {x}, {o} filters {k}, stride {s}, padding {p}",
    "pool_case": "x {x}, window {k}, stride {s}, padding {p}",
    "case": "case {index} of {total}, {label}",
    "heading": {"out": "forward", "update": "backward", "dx": "dX", "dw": "dW", "db": "db",
                "setup": "weights", "init": "constructor", "forward": "forward",
                "backward": "backward", "combine": "forward", "import": ""},
    "check": {"out": "forward", "update": "backward keeps the weights", "dx": "dX",
              "dw": "dW", "db": "db"},
    "stage": {"init": "the constructor", "setup": "setting the weights",
              "forward": "forward", "backward": "backward", "combine":
              "joining the images' results", "import": "importing the file"},
    "raised": "{stage} raised {error}", "at": "at {file} line {line}: {code}",
    "unexplained": "no mistake in the catalogue explains this; compare expected and got:",
    "shape": "shape: expected {expected}, got {got}",
    "not_array": {"out": "forward returned {returned}, not an array of numbers",
                  "dx": "backward returned {returned}, not dX",
                  "dw": "dW is {returned}, not an array of numbers",
                  "db": "db is {returned}, not an array of numbers"},
    "expected": "expected", "got": "got", "rows": " (rows {start}-{end})",
    "unknown_mark": "(? = a value that changed from one run to the next: memory never written)",
    "mistakes": "Mistakes found:", "none_found": "No mistakes found.",
    "summary": "Summary:", "pass": "pass", "fail": "fail", "not_checked": "not checked",
    "cases_passed": "pass ({run} cases)", "failed_at": "fail at case {index}",
    "skipped": {"channels": "{n} skipped (weights for one input channel)",
                "padding": "{n} skipped (no padding parameter)",
                "stride": "{n} skipped (no stride parameter)"},
    "notes": {"dw_missing": "found no dW after backward (dW, dw, grad_W, grads['weight'], "
                            "...)",
              "db_missing": "found no db after backward (db, dB, grad_b, grads['bias'], ...)",
              "db_one_number": "db is one number (one bias for the layer)",
              "no_bias": "no bias found", "no_backward": "no backward"},
    "cannot_use": "cannot use {target}: {reason}",
}, "ja": {
    "class": "クラス", "functions": "関数", "and": "と", "sep": "、",
    "batched": "(N, C, H, W) のバッチ", "single": "(C, H, W) の画像 1 枚ずつ",
    "weights": "重み {weight}、バイアス {bias}", "no_bias_attr": "重み {weight}、バイアスなし",
    "no_backward_fn": "backward なし",
    "missing_conv": "畳み込みが見つかりません（名前に 'conv' を含むクラスか関数）",
    "missing_pool": "最大値プーリングが見つかりません（名前に 'pool' を含むクラスか関数）",
    "conv_case": "x {x}、{k} のフィルター {o} 枚、ストライド {s}、パディング {p}",
    "pool_case": "x {x}、{k} のウィンドウ、ストライド {s}、パディング {p}",
    "case": "ケース {index}/{total}（{label}）",
    "heading": {"out": "順伝搬", "update": "逆伝搬", "dx": "dX", "dw": "dW", "db": "db",
                "setup": "重み", "init": "コンストラクター", "forward": "順伝搬",
                "backward": "逆伝搬", "combine": "順伝搬", "import": ""},
    "check": {"out": "順伝搬", "update": "逆伝搬で重みを変えない", "dx": "dX", "dw": "dW",
              "db": "db"},
    "stage": {"init": "コンストラクター", "setup": "重みの設定", "forward": "forward",
              "backward": "backward", "combine": "画像ごとの結果をまとめるとき",
              "import": "ファイルの読み込み"},
    "raised": "{stage}で {error} が発生しました", "at": "{file} の {line} 行目: {code}",
    "unexplained": "カタログのどの誤りにも当てはまりません。期待値と実際の値を比べて"
                   "ください:",
    "shape": "形: 期待値 {expected}、実際 {got}",
    "not_array": {"out": "forward が数の配列ではなく {returned} を返しました",
                  "dx": "backward が dX ではなく {returned} を返しました",
                  "dw": "dW が数の配列ではなく {returned} です",
                  "db": "db が数の配列ではなく {returned} です"},
    "expected": "期待値", "got": "実際の値", "rows": "（{start}〜{end} 行目）",
    "unknown_mark": "(? = 実行ごとに変わった値: 書き込まれていないメモリ)",
    "mistakes": "見つかった誤り:", "none_found": "誤りは見つかりませんでした。",
    "summary": "まとめ:", "pass": "合格", "fail": "不合格", "not_checked": "未チェック",
    "cases_passed": "合格（{run} ケース）", "failed_at": "ケース {index} で不合格",
    "skipped": {"channels": "{n} ケースはスキップ（重みが入力チャンネル 1 つ分）",
                "padding": "{n} ケースはスキップ（パディングの引数なし）",
                "stride": "{n} ケースはスキップ（ストライドの引数なし）"},
    "notes": {"dw_missing": "backward の後に dW が見つかりません（dW, dw, grad_W, "
                            "grads['weight'] など）",
              "db_missing": "backward の後に db が見つかりません（db, dB, grad_b, "
                            "grads['bias'] など）",
              "db_one_number": "db が数 1 つです（層全体でバイアスが 1 つ）",
              "no_bias": "バイアスが見つかりません", "no_backward": "backward なし"},
    "cannot_use": "{target} を使えません: {reason}",
}}

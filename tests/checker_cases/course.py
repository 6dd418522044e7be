"""A learner's convolution and max pooling in the course's signatures, right, written
with plain loops on one (C, H, W) image at a time.

``layers(bug)`` builds the same two classes with one mistake of the checker's catalogue
put in (``bug`` is its key), so that each entry has a hand-made implementation to
recognise; ``Conv2d`` and ``MaxPool2D`` at the bottom are the right ones.
"""

import types

import numpy as np


def layers(bug=None):
    class Conv2d:
        def __init__(self, FN, FH, FW, padding, ir, stride=1):
            self.FN, self.FH, self.FW, self.P, self.S, self.ir = FN, FH, FW, padding, stride, ir
            # weights (FN, C, FH, FW): C is known only when an image comes, so they are
            # set from outside before forward (the mistake: one kernel per filter)
            self.W = np.zeros((FN, FH, FW)) if bug == "no_channel_axis" else None
            self.B = 0.0 if bug == "one_bias" else np.zeros(FN)
            self.dW = self.dB = None

        def kernels(self):
            W = self.W[:, None] if self.W.ndim == 3 else self.W
            return W[:, :, ::-1, ::-1] if bug == "kernel_flipped" else W

        def forward(self, X):
            self.X = X
            C, H, Wd = X.shape
            P = 0 if bug == "padding_ignored" else self.P
            Xp = np.pad(X, ((0, 0), (P, P), (P, P)))
            one = 0 if bug == "output_size_off_by_one" else 1
            out_h = (H + 2 * P - self.FH) // self.S + one
            out_w = (Wd + 2 * P - self.FW) // self.S + one
            step = 1 if bug == "stride_ignored" else self.S
            W, B = self.kernels(), np.broadcast_to(self.B, (self.FN,))
            make = np.empty if bug == "uninitialised" else np.zeros
            out = make((self.FN, out_h, out_w))
            for f in range(self.FN):
                j = 0
                for y in range(out_h):
                    i = 0
                    for x in range(out_w):
                        window = Xp[:, y * step:y * step + self.FH, x * step:x * step + self.FW]
                        if bug == "no_channel_sum":
                            for c in range(C):
                                value = np.sum(window[c] * W[f, c])
                        else:
                            value = np.sum(window * W[f])
                        if bug != "bias_wrong":
                            value += B[f]
                        if bug == "uninitialised":
                            out[f, y, x] += value
                        elif bug == "first_pixel_only":
                            out[f, j, i] = value
                        else:
                            out[f, y, x] = value
            return out

        def backward(self, delta):
            C, H, Wd = self.X.shape
            P, S, FH, FW = self.P, self.S, self.FH, self.FW
            Xp = np.pad(self.X, ((0, 0), (P, P), (P, P)))
            W = self.kernels()
            dXp, dW = np.zeros_like(Xp), np.zeros_like(W)
            for f in range(delta.shape[0]):
                for y in range(delta.shape[1]):
                    for x in range(delta.shape[2]):
                        d, ys, xs = delta[f, y, x], y * S, x * S
                        if bug == "dx_overwrite":
                            dXp[:, ys:ys + FH, xs:xs + FW] = d * W[f]
                        else:
                            for i in range(FH - 1 if bug == "dx_kernel_row_missing" else FH):
                                for j in range(FW):
                                    dXp[:, ys + i, xs + j] += d * W[f, :, i, j]
                        for i in range(FH):
                            for j in range(FW):
                                a, b = (j, i) if bug == "dw_misindexed" else (i, j)
                                dW[f, :, i, j] += d * Xp[:, ys + a, xs + b]
            self.dW = dW[:, 0] if self.W.ndim == 3 else dW
            self.dB = delta.mean(axis=(1, 2)) if bug == "mean_not_sum" else delta.sum(axis=(1, 2))
            if bug == "one_bias":
                self.dB = self.dB.sum()
            if bug == "weights_updated_in_backward":
                self.W = self.W - self.ir * self.dW
                self.B = self.B - self.ir * self.dB
            return dXp if bug == "dx_padded" else dXp[:, P:P + H, P:P + Wd]

    class MaxPool2D:
        def __init__(self, FH, FW, padding=0, stride=None):
            self.FH, self.FW, self.P = FH, FW, padding
            self.S = FW if stride is None else stride

        def forward(self, X):
            self.X = X
            C, H, Wd = X.shape
            P, S, FH, FW = self.P, self.S, self.FH, self.FW
            Xp = np.pad(X, ((0, 0), (P, P), (P, P)), constant_values=-np.inf)
            out = np.zeros((C, (H + 2 * P - FH) // S + 1, (Wd + 2 * P - FW) // S + 1))
            self.where = np.zeros(out.shape + (2,), int)
            for c in range(C):
                for y in range(out.shape[1]):
                    for x in range(out.shape[2]):
                        window = Xp[c, y * S:y * S + FH, x * S:x * S + FW]
                        i, j = divmod(int(np.argmax(window)), FW)
                        out[c, y, x] = window[i, j]
                        self.where[c, y, x] = y * S + i, x * S + j
            return out

        def backward(self, delta):
            C, H, Wd = self.X.shape
            P, S, FH, FW = self.P, self.S, self.FH, self.FW
            Xp = np.pad(self.X, ((0, 0), (P, P), (P, P)), constant_values=-np.inf)
            dXp = np.zeros_like(Xp)
            for c in range(C):
                for y in range(delta.shape[1]):
                    for x in range(delta.shape[2]):
                        rows, cols = slice(y * S, y * S + FH), slice(x * S, x * S + FW)
                        window = Xp[c, rows, cols]
                        if bug == "pool_grad_whole_window":
                            dXp[c, rows, cols] += delta[c, y, x]
                        elif bug == "pool_ties":
                            dXp[c, rows, cols] += (window == window.max()) * delta[c, y, x]
                        else:
                            i, j = self.where[c, y, x]
                            dXp[c, i, j] += delta[c, y, x]
            dX = dXp[:, P:P + H, P:P + Wd]
            return dX.transpose(0, 2, 1) if bug == "pool_grad_transposed" else dX

    return types.SimpleNamespace(Conv2d=Conv2d, MaxPool2D=MaxPool2D)


Conv2d, MaxPool2D = layers().Conv2d, layers().MaxPool2D

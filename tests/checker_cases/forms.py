"""Right convolutions and max poolings in the other forms the checker accepts, built on
scratchcnn.reference (the point is how they are called, not how they compute)."""

import types

import numpy as np

from scratchcnn import reference


def pair(v):
    return (v, v)


class Conv2d:
    """PyTorch's signature, (N, C, H, W) batches, weights in a dict (as scratchcnn's)."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0):
        self.stride, self.padding = stride, padding
        rng = np.random.default_rng(0)
        self.params = {"weight": rng.standard_normal((out_channels, in_channels,
                                                      kernel_size, kernel_size)),
                       "bias": np.zeros(out_channels)}
        self.grads = {}

    def forward(self, x):
        self.x = x
        return reference.conv2d(x, self.params["weight"], self.params["bias"],
                                pair(self.stride), pair(self.padding))

    def backward(self, dout):
        dx, self.grads["weight"], self.grads["bias"] = reference.conv2d_backward(
            dout, self.x, self.params["weight"], pair(self.stride), pair(self.padding))
        return dx


class MaxPool2d:
    def __init__(self, kernel_size, stride=None, padding=0):
        self.k, self.s, self.p = kernel_size, stride or kernel_size, padding

    def forward(self, x):
        self.x = x
        return reference.max_pool2d(x, pair(self.k), pair(self.s), pair(self.p))

    def backward(self, dout):
        return reference.max_pool2d_backward(dout, self.x, pair(self.k), pair(self.s),
                                             pair(self.p))


class Convolution:
    """Deep Learning from Scratch's: weights given to the constructor, dW and db after."""

    def __init__(self, W, b, stride=1, pad=0):
        self.W, self.b, self.stride, self.pad = W, b, stride, pad

    def forward(self, x):
        self.x = x
        return reference.conv2d(x, self.W, self.b, pair(self.stride), pair(self.pad))

    def backward(self, dout):
        dx, self.dW, self.db = reference.conv2d_backward(dout, self.x, self.W,
                                                         pair(self.stride), pair(self.pad))
        return dx


class Pooling:
    def __init__(self, pool_h, pool_w, stride=1, pad=0):
        self.k, self.s, self.p = (pool_h, pool_w), stride, pad

    def forward(self, x):
        self.x = x
        return reference.max_pool2d(x, self.k, pair(self.s), pair(self.p))

    def backward(self, dout):
        return reference.max_pool2d_backward(dout, self.x, self.k, pair(self.s), pair(self.p))


def conv_forward_naive(x, w, b, conv_param):
    """CS231n's: (out, cache), conv_param = {'stride': S, 'pad': P}."""
    s, p = conv_param["stride"], conv_param["pad"]
    return reference.conv2d(x, w, b, pair(s), pair(p)), (x, w, b, conv_param)


def conv_backward_naive(dout, cache):
    x, w, b, conv_param = cache
    s, p = conv_param["stride"], conv_param["pad"]
    return reference.conv2d_backward(dout, x, w, pair(s), pair(p))


def max_pool_forward_naive(x, pool_param):
    k, s = (pool_param["pool_height"], pool_param["pool_width"]), pool_param["stride"]
    return reference.max_pool2d(x, k, pair(s)), (x, pool_param)


def max_pool_backward_naive(dout, cache):
    x, pool_param = cache
    k, s = (pool_param["pool_height"], pool_param["pool_width"]), pool_param["stride"]
    return reference.max_pool2d_backward(dout, x, k, pair(s))


def conv2d(x, w, b, stride, padding):
    """Plain functions, (C, H, W) images, backward given the forward's inputs."""
    return reference.conv2d(x[None], w, b, pair(stride), pair(padding))[0]


def conv2d_backward(dout, x, w, stride, padding):
    dx, dw, db = reference.conv2d_backward(dout[None], x[None], w, pair(stride), pair(padding))
    return dx[0], dw, db


def max_pool2d(x, k, stride):
    return reference.max_pool2d(x[None], pair(k), pair(stride))[0]


def max_pool2d_backward(dout, x, k, stride):
    return reference.max_pool2d_backward(dout[None], x[None], pair(k), pair(stride))[0]


FORMS = {
    "pytorch": types.SimpleNamespace(Conv2d=Conv2d, MaxPool2d=MaxPool2d),
    "dlfs": types.SimpleNamespace(Convolution=Convolution, Pooling=Pooling),
    "cs231n": types.SimpleNamespace(conv_forward_naive=conv_forward_naive,
                                    conv_backward_naive=conv_backward_naive,
                                    max_pool_forward_naive=max_pool_forward_naive,
                                    max_pool_backward_naive=max_pool_backward_naive),
    "functions": types.SimpleNamespace(conv2d=conv2d, conv2d_backward=conv2d_backward,
                                       max_pool2d=max_pool2d,
                                       max_pool2d_backward=max_pool2d_backward),
}

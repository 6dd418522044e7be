"""Conv2d: a 2-D convolution layer (cross-correlation, as in PyTorch)."""

from __future__ import annotations

import numpy as np

from .. import backend, kernels
from ..init import as_generator, default_
from ..shapes import pair, window_output_hw
from .base import Layer
from .pooling import MaxPool2d

__all__ = ["Conv2d"]


class Conv2d(Layer):
    """2-D convolution over (N, C_in, H, W) giving (N, C_out, Ho, Wo).

    ``out[n, o] = bias[o] + sum_c cross_correlate(x[n, c], weight[o, c])`` (with
    ``groups``, c runs over output channel o's group only) with
    ``Ho = floor((H + 2*padding - dilation*(kh - 1) - 1) / stride) + 1`` (likewise Wo).

    Parameters
    ----------
    in_channels : int
        C_in, the input's channels.
    out_channels : int
        C_out, the number of filters.
    kernel_size : int or (int, int)
        The filter's height and width.
    stride : int or (int, int)
        The step between windows.
    padding : int, (int, int), 'valid' or 'same'
        Zeros added on each side; ``'valid'``: none; ``'same'``: output size = input size
        (stride 1 only; an odd total goes one more to the bottom/right, as PyTorch).
    dilation : int or (int, int)
        The spacing between the filter's taps.
    bias : bool
        Whether each filter adds a bias.
    rng : numpy.random.Generator, int or None
        The generator (or a seed for one) of PyTorch's default initialisation,
        U(-1/sqrt(fan_in), 1/sqrt(fan_in)), of weight (out, in // groups, kh, kw) and
        bias (out,).
    dtype : numpy dtype
        The parameters' dtype.
    groups : int
        Divides both channel counts: input and output channels split into ``groups``
        groups, each convolved on its own (``groups == in_channels``: depthwise).  Weight
        (out, in // groups, kh, kw), as PyTorch's.
    """

    batched_ndim = 4
    input_layout = "(N, C, H, W)"

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 dilation=1, bias: bool = True, rng=None, dtype=np.float32, groups: int = 1):
        super().__init__()
        for what, v in (("in_channels", in_channels), ("out_channels", out_channels),
                        ("groups", groups)):
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 1:
                raise ValueError(f"Conv2d: {what} must be a positive int, got {v!r}")
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"Conv2d: groups={groups} must divide in_channels={in_channels} "
                             f"and out_channels={out_channels}")
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)
        self.groups = int(groups)
        self.kernel_size = pair(kernel_size, "Conv2d kernel_size", minimum=1)
        self.stride = pair(stride, "Conv2d stride", minimum=1)
        self.dilation = pair(dilation, "Conv2d dilation", minimum=1)
        self.padding = padding if isinstance(padding, str) else pair(padding, "Conv2d padding")
        self.pads = self._pads()
        self.params["weight"] = np.empty((out_channels, in_channels // groups) + self.kernel_size,
                                         dtype)
        if bias:
            self.params["bias"] = np.empty(out_channels, dtype)
        default_(self.params["weight"], self.params.get("bias"), as_generator(rng))
        self._workspace = kernels.Workspace()  # the fast path's buffers, reused between calls
        self._ran = None  # the path (textbook or fast) of the last forward, for backward
        self._joint = None  # how the last forward_fused ran: 'phases', 'banded' or None

    def _pads(self) -> kernels.geometry.Pads:
        if self.padding == "valid":
            return ((0, 0), (0, 0))
        if self.padding == "same":
            if self.stride != (1, 1):
                raise ValueError("Conv2d: padding='same' is not supported for strided "
                                 f"convolutions (stride={self.stride})")
            totals = [d * (k - 1) for d, k in zip(self.dilation, self.kernel_size)]
            return tuple((t // 2, t - t // 2) for t in totals)
        if isinstance(self.padding, str):
            raise ValueError(f"Conv2d: padding must be an int, a pair, 'valid' or 'same', "
                             f"got {self.padding!r}")
        return tuple((p, p) for p in self.padding)

    def output_shape(self, input_shape: tuple) -> tuple:
        """Output shape for an input shape ([N,] C_in, H, W); ValueError if it cannot fit."""
        if len(input_shape) < 3 or input_shape[-3] != self.in_channels:
            raise ValueError(f"Conv2d: expected input with {self.in_channels} channels, got "
                             f"input shape {tuple(input_shape)}")
        hw = window_output_hw(self.name, input_shape, self.kernel_size, self.stride, self.pads,
                              self.dilation)
        return (*input_shape[:-3], self.out_channels, *hw)

    def _forward(self, x):
        self._check_size(x, 1, self.in_channels, "channels")
        self.output_shape(x.shape)
        self._ran, self._joint = backend.current(), None
        out, self._saved = self._ran.conv2d_forward(
            x, self.params["weight"], self.params.get("bias"), self.stride, self.pads,
            self.dilation, self._workspace)
        return out

    def fuses_with(self, after, x) -> bool:
        """Whether :meth:`forward_fused` computes this layer and ``after`` together for
        the input ``x``: on the fast path, when ``after`` is a p x q :class:`MaxPool2d` of
        stride (p, q) without padding, a joint form pays for this size
        (:func:`scratchcnn.kernels.joint_layout`) and x is finite (the joint forms
        multiply zero weights by every value they read: 0 * inf is NaN)."""
        return backend.current().fuses and self.groups == 1 and self._joint_layout(after, np.shape(x)) is not None \
            and bool(np.isfinite(x).all())

    def _joint_layout(self, pool, shape: tuple) -> str | None:
        if not (isinstance(pool, MaxPool2d) and pool.stride == pool.kernel_size
                and pool.padding == (0, 0) and pool.dilation == (1, 1)
                and len(shape) in (3, 4) and shape[-3] == self.in_channels):
            return None
        try:
            pooled = pool.output_shape(self.output_shape(shape))
        except ValueError:  # too small: the layers one after the other say why
            return None
        if not all(pooled[-2:]):
            return None
        batched = (shape[0] if len(shape) == 4 else 1, *shape[-3:])
        return kernels.joint_layout(batched, self.kernel_size, self.stride, self.pads,
                                    self.dilation, pool.kernel_size)

    def forward_fused(self, x, pool: MaxPool2d) -> np.ndarray:
        """``pool.forward(self.forward(x))`` computed in one pass
        (:func:`scratchcnn.kernels.conv_pool_forward`), when :meth:`fuses_with` says so.

        :meth:`backward` then takes the gradient of the pooled output; ``pool`` itself
        does not run and keeps no state of this call.
        """
        def compute(x):
            self._check_size(x, 1, self.in_channels, "channels")
            self._ran = backend.PATHS["fast"]  # the joint forms are the fast path's
            out, self._saved = kernels.conv_pool_forward(
                x, self.params["weight"], self.params.get("bias"), self.stride, self.pads,
                self.dilation, pool.kernel_size, self._workspace)
            self._joint = self._saved.layout
            return out
        return self._forward_with(compute, x)

    def _backward(self, dout):
        dx, dw, db = self._ran.conv2d_backward(dout, self.params["weight"], self._saved,
                                               self.needs_input_grad, self._workspace)
        self.grads["weight"] = dw
        if db is not None:
            self.grads["bias"] = db
        return dx

    @classmethod
    def state_shapes(cls, config: dict, shapes_of=None) -> dict[str, tuple]:
        o, groups = int(config["out_channels"]), int(config.get("groups", 1))
        if groups < 1 or int(config["in_channels"]) % groups or o % groups:
            raise ValueError(f"groups={groups} does not divide the channels")
        shapes = {"weight": (o, int(config["in_channels"]) // groups,
                             *pair(config["kernel_size"], "Conv2d kernel_size", minimum=1))}
        return {**shapes, "bias": (o,)} if config.get("bias", True) else shapes

    def config(self) -> dict:
        return {"in_channels": self.in_channels, "out_channels": self.out_channels,
                "kernel_size": self.kernel_size, "stride": self.stride,
                "padding": self.padding, "dilation": self.dilation, "bias": "bias" in self.params,
                **({"groups": self.groups} if self.groups != 1 else {})}

    def extra_repr(self) -> str:
        s = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
             f"stride={self.stride}")
        if self.padding not in ((0, 0), "valid"):
            s += f", padding={self.padding!r}" if isinstance(self.padding, str) \
                else f", padding={self.padding}"
        if self.dilation != (1, 1):
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if "bias" not in self.params:
            s += ", bias=False"
        return s

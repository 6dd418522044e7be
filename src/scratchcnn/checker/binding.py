"""How the checker calls a learner's code: it reads the parameters' names.

``Conv2d(FN, FH, FW, padding, ir, stride=1)``, ``Conv2d(in_channels, out_channels,
kernel_size, stride, padding)``, ``Convolution(W, b, stride=1, pad=0)``,
``conv2d(x, w, b, stride, padding)``, ``conv_forward_naive(x, w, b, conv_param)``: each
parameter's name says what it wants (its *role*: the input, the weights, the number of
filters, the stride, ...).  A parameter with a default and no known role keeps its
default; one without either makes the learner's code unusable, and the report says which.
"""

from __future__ import annotations

import inspect

__all__ = ["ROLES", "Unbindable", "call", "role_of", "LEARNING_RATE", "PAIR_WANTED"]

#: the learning rate handed to a constructor or backward that asks for one: with 1, a
#: backward that updates ``W -= lr * dW`` moves the weights by exactly the gradient
LEARNING_RATE = 1.0

_SIZE = {"stride": {"stride", "s", "strides", "step", "slide", "stride_size"},
         "padding": {"padding", "pad", "p", "pads", "pad_size", "zero_padding"},
         "kernel_h": {"fh", "kh", "kernel_h", "filter_h", "filter_height", "kernel_height",
                      "k_h", "hh", "pool_h", "pool_height", "window_h"},
         "kernel_w": {"fw", "kw", "kernel_w", "filter_w", "filter_width", "kernel_width",
                      "k_w", "ww", "pool_w", "pool_width", "window_w"}}
_KERNEL = {"kernel_size", "kernel", "ksize", "k", "filter_size", "fsize", "f_size", "size",
           "window", "window_size", "kernel_shape", "pool_size", "pool", "f"}
_ARRAYS = {"x": {"x", "input", "inputs", "img", "image", "images", "inp", "data", "a",
                 "a_prev", "x_in", "feature_map", "feature_maps"},
           "dout": {"dout", "dy", "delta", "grad", "grad_out", "grad_output", "d_out", "dz",
                    "dl_dout", "upstream", "dl", "grad_y", "dh", "dout_", "d", "dl_dy",
                    "error", "err", "dnext", "d_next", "gradient"},
           "cache": {"cache", "saved", "ctx", "context", "caches", "forward_cache",
                     "fwd_cache", "memory", "saved_tensors"}}

#: context -> role -> the parameter names (lower case) that mean it
ROLES = {
    "conv_class": {
        **_SIZE, "kernel": _KERNEL - {"f"},
        "in_channels": {"in_channels", "in_channel", "in_ch", "in_chans", "c_in", "cin",
                        "input_channels", "input_channel", "channels", "n_channels",
                        "num_channels", "c", "ch", "n_in", "in_c", "channel", "n_c",
                        "channels_in", "input_channel_num"},
        "out_channels": {"out_channels", "out_channel", "out_ch", "c_out", "cout", "fn",
                         "filters", "num_filters", "n_filters", "filter_num", "nb_filter",
                         "out_c", "n_out", "f", "num_kernels", "n_kernels", "n_f",
                         "output_channels", "channels_out", "number_of_filters"},
        "lr": {"ir", "lr", "learning_rate", "alpha", "eta", "rate", "lr_rate"},
        "w": {"w", "weight", "weights", "initial_w", "w_init", "init_w"},
        "b": {"b", "bias", "biases", "initial_b", "b_init", "init_b"}},
    "pool_class": {**_SIZE, "kernel": _KERNEL},
    "backward_method": {"dout": _ARRAYS["dout"], "lr": {"ir", "lr", "learning_rate",
                                                        "alpha", "eta", "rate"}},
    "forward_method": {"x": _ARRAYS["x"]},
    "conv_function": {
        **_SIZE, **_ARRAYS,
        "w": {"w", "weight", "weights", "kernel", "kernels", "filter", "filters", "k", "f",
              "wt"},
        "b": {"b", "bias", "biases"},
        "conv_param": {"conv_param", "conv_params", "param", "params", "hparams",
                       "hyperparams"}},
    "pool_function": {**_SIZE, **_ARRAYS, "kernel": _KERNEL,
                      "pool_param": {"pool_param", "pool_params", "param", "params",
                                     "hparams", "hyperparams"}},
}


class Unbindable(TypeError):
    """A required parameter whose name says nothing the checker knows."""

    def __init__(self, func, name: str, context: str):
        self.func, self.name, self.context = func, name, context
        super().__init__(f"cannot tell what to pass for {name!r} of {describe(func)}")


def describe(func) -> str:
    """``name(a, b, c=1)``: the signature without annotations."""
    try:
        sig = inspect.signature(func)
    except (TypeError, ValueError):
        return getattr(func, "__name__", repr(func))
    sig = sig.replace(parameters=[p.replace(annotation=p.empty)
                                  for p in sig.parameters.values()],
                      return_annotation=sig.empty)
    return f"{getattr(func, '__name__', '?')}{sig}"


def role_of(name: str, context: str) -> str | None:
    low = name.lower()
    return next((role for role, names in ROLES[context].items() if low in names), None)


def _as_pair(value, default):
    """An int as the learner's parameter wants it: the int, a pair, or pairs of pairs
    (``pads=((top, bottom), (left, right))``) when the default looks like that."""
    if isinstance(default, (tuple, list)) and default and isinstance(default[0], (tuple, list)):
        return ((value, value), (value, value))
    return (value, value)


def call(func, context: str, values: dict, pairs: bool = False, first: str | None = None):
    """Call ``func`` with each parameter taken from ``values`` by its role.

    Sizes (stride, padding, kernel) go as ints, or as pairs when ``pairs`` is set or the
    parameter's default is a tuple.  With ``first``, a method's first parameter gets that
    role whatever its name (``forward(self, anything)``).  Raises :class:`Unbindable` for
    a required parameter of no known role.
    """
    args, kwargs = [], {}
    for index, (name, param) in enumerate(inspect.signature(func).parameters.items()):
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        role = first if index == 0 and first else role_of(name, context)
        has_default = param.default is not param.empty
        if role in ("w", "b") and isinstance(param.default, bool):
            role = None  # Conv2d(..., bias=True): a switch, not the array
        if role is None or role not in values:
            if has_default:
                continue
            raise Unbindable(func, name, context)
        value = values[role]
        if role in ("stride", "padding", "kernel") and isinstance(value, int) and (
                pairs or isinstance(param.default, (tuple, list))):
            value = _as_pair(value, param.default)
        if param.kind == param.POSITIONAL_ONLY:
            args.append(value)
        else:
            kwargs[name] = value
    return func(*args, **kwargs)


#: what an int passed where a pair was wanted says, in Python's words
PAIR_WANTED = ("cannot unpack non-iterable int", "'int' object is not iterable",
               "'int' object is not subscriptable", "object of type 'int' has no len()")

"""Forward and backward equal torch.nn.functional's on randomised configurations."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import scratchcnn as sc
from conftest import PATHS
from layouts import CHOICES, forced_layout

torch = pytest.importorskip("torch")
TF = torch.nn.functional

RTOL = {np.float64: 1e-9, np.float32: 1e-4}
dtypes = st.sampled_from([np.float64, np.float32])


def assert_close(ours, theirs, dtype, what):
    theirs = theirs.detach().numpy() if hasattr(theirs, "detach") else np.asarray(theirs)
    assert ours.shape == theirs.shape, what
    assert ours.dtype == dtype, f"{what}: dtype {ours.dtype}"
    # infinities must match exactly (assert_allclose checks them); they set no scale
    scale = max(1.0, float(np.abs(theirs[np.isfinite(theirs)]).max(initial=0)))
    np.testing.assert_allclose(ours, theirs, rtol=RTOL[dtype], atol=RTOL[dtype] * scale,
                               err_msg=what)


def run_both(layer, x, torch_fn, torch_params, dtype, rng):
    """Forward and backward through ``layer`` and ``torch_fn``; compare everything."""
    layer.astype(dtype)
    y = layer.forward(x)
    dout = rng.standard_normal(y.shape).astype(dtype)
    dx = layer.backward(dout)
    xt = torch.tensor(x, requires_grad=True)
    pt = {k: torch.tensor(layer.params[k], requires_grad=True) for k in torch_params}
    yt = torch_fn(xt, **pt)
    yt.backward(torch.tensor(dout))
    assert_close(y, yt, dtype, "forward")
    assert_close(dx, xt.grad, dtype, "dx")
    for k in torch_params:
        assert_close(layer.grads[k], pt[k].grad, dtype, f"grads[{k!r}]")


@st.composite
def conv_configs(draw):
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    dh, dw = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    mode = draw(st.sampled_from(["int", "pair", "same", "valid"]))
    layout = draw(st.sampled_from(CHOICES))
    sh, sw = (1, 1) if mode == "same" or layout == "per_sample" else \
        (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    ph, pw = draw(st.integers(0, 2)), draw(st.integers(0, 2))
    padding = {"int": ph, "pair": (ph, pw), "same": "same", "valid": "valid"}[mode]
    pad_h, pad_w = {"int": (ph, ph), "pair": (ph, pw)}.get(mode, (0, 0))
    h = draw(st.integers(max(1, dh * (kh - 1) + 1 - 2 * pad_h), 12))
    w = draw(st.integers(max(1, dw * (kw - 1) + 1 - 2 * pad_w), 12))
    return dict(n=draw(st.integers(1, 3)), c=draw(st.integers(1, 4)), o=draw(st.integers(1, 4)),
                h=h, w=w, kernel_size=(kh, kw) if draw(st.booleans()) or kh != kw else kh,
                stride=(sh, sw), padding=padding, dilation=(dh, dw), bias=draw(st.booleans()),
                unbatched=draw(st.booleans()), dtype=draw(dtypes), seed=draw(st.integers(0, 2**16)),
                layout=layout, finite=draw(st.sampled_from([True, True, True, False])))


@pytest.mark.parametrize("path", PATHS)
@settings(max_examples=250)
@given(cfg=conv_configs())
def test_conv2d_matches_torch(path, cfg):
    rng = np.random.default_rng(cfg["seed"])
    layer = sc.Conv2d(cfg["c"], cfg["o"], cfg["kernel_size"], cfg["stride"], cfg["padding"],
                      cfg["dilation"], bias=cfg["bias"], rng=rng)
    shape = (cfg["c"], cfg["h"], cfg["w"]) if cfg["unbatched"] else \
        (cfg["n"], cfg["c"], cfg["h"], cfg["w"])
    x = rng.standard_normal(shape).astype(cfg["dtype"])
    if not cfg["finite"]:  # NaN and inf reach exactly the outputs and gradients that read them
        x[rng.random(shape) < 0.05] = np.nan
        x[rng.random(shape) < 0.05] = np.inf
    names = ["weight", "bias"] if cfg["bias"] else ["weight"]

    def torch_conv(xt, weight, bias=None):
        return TF.conv2d(xt, weight, bias, cfg["stride"], cfg["padding"], cfg["dilation"])
    # the fast path in the layout drawn ("auto": whichever the shape picks), or the textbook
    with sc.using(path), forced_layout(cfg["layout"]):
        run_both(layer, x, torch_conv, names, cfg["dtype"], rng)


@st.composite
def pool_configs(draw):
    if draw(st.booleans()):  # the common 2x2 pool, which has a path of its own
        (kh, kw), stride, ph, pw = (2, 2), None, 0, 0
    else:
        kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
        stride = draw(st.one_of(st.none(), st.tuples(st.integers(1, 3), st.integers(1, 3))))
        ph, pw = draw(st.integers(0, kh // 2)), draw(st.integers(0, kw // 2))
    return dict(kernel_size=(kh, kw), stride=stride, padding=(ph, pw),
                n=draw(st.integers(1, 3)), c=draw(st.integers(1, 3)),
                h=draw(st.integers(max(1, kh - 2 * ph), 11)),
                w=draw(st.integers(max(1, kw - 2 * pw), 11)), unbatched=draw(st.booleans()),
                dtype=draw(dtypes), values=draw(st.sampled_from(["normal", "ties", "nan", "inf"])),
                seed=draw(st.integers(0, 2**16)))


def pool_input(cfg, rng):
    shape = (cfg["c"], cfg["h"], cfg["w"]) if cfg["unbatched"] else \
        (cfg["n"], cfg["c"], cfg["h"], cfg["w"])
    if cfg["values"] == "normal":
        return rng.standard_normal(shape).astype(cfg["dtype"])
    x = rng.integers(0, 3, shape).astype(cfg["dtype"])  # few values: many ties in windows
    if cfg["values"] == "nan":  # and windows with one or several NaNs
        x[rng.random(shape) < 0.2] = np.nan
    if cfg["values"] == "inf":  # windows of nothing but -inf, some in the padding
        x[rng.random(shape) < 0.6] = -np.inf
        x[rng.random(shape) < 0.05] = np.inf
    return x


POOLS = {"max": (sc.MaxPool2d, TF.max_pool2d), "avg": (sc.AvgPool2d, TF.avg_pool2d)}


@pytest.mark.parametrize("kind", sorted(POOLS))
@pytest.mark.parametrize("path", PATHS)
@settings(max_examples=150)
@given(cfg=pool_configs())
def test_pools_match_torch(kind, path, cfg):
    rng = np.random.default_rng(cfg["seed"])
    ours, theirs = POOLS[kind]
    layer = ours(cfg["kernel_size"], cfg["stride"], cfg["padding"])
    stride = cfg["stride"] or cfg["kernel_size"]
    with sc.using(path):
        run_both(layer, pool_input(cfg, rng),
                 lambda xt: theirs(xt, cfg["kernel_size"], stride, cfg["padding"]), [],
                 cfg["dtype"], rng)


def test_max_pool2d_dilation_matches_torch(rng, path):
    layer = sc.MaxPool2d(3, 2, 1, dilation=2)
    x = rng.standard_normal((2, 3, 11, 9))
    run_both(layer, x, lambda xt: TF.max_pool2d(xt, 3, 2, 1, 2), [], np.float64, rng)


@settings(max_examples=100)
@given(lead=st.lists(st.integers(1, 4), min_size=0, max_size=2), fin=st.integers(1, 7),
       fout=st.integers(1, 7), bias=st.booleans(), dtype=dtypes, seed=st.integers(0, 2**16))
def test_linear_matches_torch(lead, fin, fout, bias, dtype, seed):
    rng = np.random.default_rng(seed)
    layer = sc.Linear(fin, fout, bias=bias, rng=rng)
    x = rng.standard_normal((*lead, fin)).astype(dtype)
    run_both(layer, x, lambda xt, weight, bias=None: TF.linear(xt, weight, bias),
             ["weight", "bias"] if bias else ["weight"], dtype, rng)


ACTIVATIONS = {
    "relu": (sc.ReLU, TF.relu),
    "leaky": (lambda: sc.LeakyReLU(0.2), lambda t: TF.leaky_relu(t, 0.2)),
    "leaky_default": (sc.LeakyReLU, TF.leaky_relu),
    "sigmoid": (sc.Sigmoid, torch.sigmoid),
    "tanh": (sc.Tanh, torch.tanh),
}


@settings(max_examples=100)
@given(name=st.sampled_from(sorted(ACTIVATIONS)), shape=st.lists(st.integers(1, 5), min_size=1,
       max_size=4), scale=st.sampled_from([1.0, 30.0]), dtype=dtypes, seed=st.integers(0, 2**16))
def test_activations_match_torch(name, shape, scale, dtype, seed):
    rng = np.random.default_rng(seed)
    make, fn = ACTIVATIONS[name]
    x = (rng.standard_normal(shape) * scale).astype(dtype)
    run_both(make(), x, fn, [], dtype, rng)


@pytest.mark.parametrize("start, end, shape", [(1, -1, (2, 3, 4, 5)), (0, -1, (2, 3, 4)),
                                               (2, 3, (2, 3, 4, 5)), (1, 1, (3, 4)),
                                               (1, -1, (3, 4, 5))])
def test_flatten_matches_torch(start, end, shape, rng):
    x = rng.standard_normal(shape)
    run_both(sc.Flatten(start, end), x, lambda xt: torch.flatten(xt, start, end), [],
             np.float64, rng)

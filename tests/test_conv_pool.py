"""A convolution and the max-pool after it computed together: by phases
(scratchcnn.kernels.phases) or in the banded layout (scratchcnn.kernels.banded)."""

from contextlib import contextmanager

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import scratchcnn as sc
from scratchcnn.kernels import TUNING
from scratchcnn.kernels.pooling import route_max
from gradcheck import numerical_grad
from layouts import forced_layout


@contextmanager
def patched(module, **values):
    saved = {k: getattr(module, k) for k in values}
    try:
        for k, v in values.items():
            setattr(module, k, v)
        yield
    finally:
        for k, v in saved.items():
            setattr(module, k, v)


def conv_then_pool(c, o, kernel, stride=1, padding=0, dilation=1, pool=2, bias=True, seed=0):
    return sc.Sequential([sc.Conv2d(c, o, kernel, stride, padding, dilation, bias=bias,
                                    rng=seed), sc.MaxPool2d(pool)])


@contextmanager
def joint(kind):
    """Within the block, a conv + pool pair that can be computed together is, in ``kind``
    ('phases' or 'banded'), whatever its size."""
    if kind == "phases":
        with patched(TUNING, phases_max_rows=10**9):
            yield
    else:
        with patched(TUNING, phases_max_rows=0), forced_layout("banded"):
            yield


def run(model, x, dout=None, fuse=True):
    """Forward and backward through ``model``: (out, dx, grads), and how it was joined
    ('phases', 'banded' or None)."""
    model.fuse_layers = fuse
    y = model.forward(x)
    joined = model.layers[0]._joint
    dout = np.ones_like(y) if dout is None else dout
    dx = model.backward(dout)
    grads = {k: v.copy() for k, v in model.layers[0].grads.items()}
    return y, dx, grads, joined


def integer_input(shape, rng, dtype):
    """Few distinct values, so that many pool windows hold ties (integer weights keep the
    convolution's sums exact)."""
    return rng.integers(0, 3, shape).astype(dtype)


@st.composite
def configs(draw):
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    dh, dw = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    sh, sw = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    pad = draw(st.integers(0, 2))
    pool = draw(st.sampled_from([2, 3, (2, 3)]))
    ph, pw = (pool, pool) if isinstance(pool, int) else pool
    # the convolution's output must hold at least one pool window
    h = draw(st.integers(max(1, sh * (ph - 1) + dh * (kh - 1) + 1 - 2 * pad), 13))
    w = draw(st.integers(max(1, sw * (pw - 1) + dw * (kw - 1) + 1 - 2 * pad), 13))
    return dict(n=draw(st.integers(0, 3)), c=draw(st.integers(1, 3)), o=draw(st.integers(1, 4)),
                h=h, w=w, kernel=(kh, kw), stride=(sh, sw), padding=pad, dilation=(dh, dw),
                pool=pool, bias=draw(st.booleans()), unbatched=draw(st.booleans()),
                dtype=draw(st.sampled_from([np.float64, np.float32])),
                values=draw(st.sampled_from(["normal", "ties"])),
                joint=draw(st.sampled_from(["phases", "banded"])),
                seed=draw(st.integers(0, 2**16)))


@settings(max_examples=300)
@given(cfg=configs())
def test_conv_then_max_pool_matches_torch(cfg):
    torch = pytest.importorskip("torch")
    TF = torch.nn.functional
    rng = np.random.default_rng(cfg["seed"])
    dtype = cfg["dtype"]
    model = conv_then_pool(cfg["c"], cfg["o"], cfg["kernel"], cfg["stride"], cfg["padding"],
                           cfg["dilation"], cfg["pool"], cfg["bias"], rng).astype(dtype)
    conv = model.layers[0]
    shape = (cfg["c"], cfg["h"], cfg["w"]) if cfg["unbatched"] else \
        (cfg["n"], cfg["c"], cfg["h"], cfg["w"])
    if cfg["values"] == "normal":
        x = rng.standard_normal(shape).astype(dtype)
    else:
        x = integer_input(shape, rng, dtype)
        for p in conv.params.values():  # integers: every sum exact, whatever its order
            p[...] = rng.integers(-1, 2, p.shape)
    with joint(cfg["joint"]):
        y, dx, grads, joined = run(model, x, rng.standard_normal(
            model.layers[1].output_shape(conv.output_shape(shape))).astype(dtype))
    assert joined == cfg["joint"]
    assert y.dtype == dx.dtype == dtype
    xt = torch.tensor(x, requires_grad=True)
    params = {k: torch.tensor(v, requires_grad=True) for k, v in conv.params.items()}
    yt = TF.max_pool2d(TF.conv2d(xt, params["weight"], params.get("bias"), cfg["stride"],
                                 cfg["padding"], cfg["dilation"]), cfg["pool"])
    dout = rng.standard_normal(y.shape).astype(dtype)
    with joint(cfg["joint"]):
        dx = model.backward(dout)
    yt.backward(torch.tensor(dout))
    tol = {np.float64: 1e-9, np.float32: 1e-4}[dtype]

    def close(ours, theirs, what):
        theirs = theirs.detach().numpy()
        assert ours.shape == theirs.shape, what
        scale = max(1.0, float(np.abs(theirs[np.isfinite(theirs)]).max(initial=0)))
        np.testing.assert_allclose(ours, theirs, rtol=tol, atol=tol * scale, err_msg=what)
    close(y, yt, "forward")
    close(dx, xt.grad, "dx")
    for k, p in params.items():
        close(conv.grads[k], p.grad, f"grads[{k!r}]")


@pytest.mark.parametrize("kind", ["phases", "banded"])
def test_fused_equals_the_two_layers_and_numerical_gradients(rng, kind):
    model = conv_then_pool(2, 3, 3, padding=1).astype(np.float64)
    x = rng.standard_normal((2, 2, 9, 8))  # odd height: the pool drops the last row
    dout = rng.standard_normal((2, 3, 4, 4))
    with joint(kind):
        fused = run(model, x, dout)
    plain = run(model, x, dout, fuse=False)
    assert fused[3] == kind and plain[3] is None
    np.testing.assert_allclose(fused[0], plain[0], rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(fused[1], plain[1], rtol=1e-12, atol=1e-13)
    for k in fused[2]:
        np.testing.assert_allclose(fused[2][k], plain[2][k], rtol=1e-12, atol=1e-13)

    model.fuse_layers = True

    def loss():
        with joint(kind):
            out = model.forward(x)
        assert model.layers[0]._joint == kind
        return float(np.sum(out * dout))
    conv = model.layers[0]
    np.testing.assert_allclose(fused[1], numerical_grad(loss, x), rtol=1e-6, atol=1e-8)
    for k, p in conv.params.items():
        np.testing.assert_allclose(fused[2][k], numerical_grad(loss, p), rtol=1e-6, atol=1e-8)


def test_column_chunks_and_gradient_pieces_give_the_same_result(rng, monkeypatch):
    model = conv_then_pool(1, 6, 5, padding=2).astype(np.float64)
    x = rng.random((5, 1, 28, 28))
    dout = rng.standard_normal((5, 6, 14, 14))
    whole = run(model, x, dout)
    # 2 samples' columns per chunk (three chunks, rebuilt in backward), and weight-gradient
    # products of 100 columns with a remainder
    monkeypatch.setattr(TUNING, "max_column_bytes", 2 * 37 * 196 * 8)
    monkeypatch.setattr(TUNING, "grad_columns", 100)
    chunked = run(model, x, dout)
    assert model.layers[0]._saved.cols is None  # the columns were not kept
    for a, b in zip(whole[:2], chunked[:2]):
        np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-13)
    for k in whole[2]:
        np.testing.assert_allclose(whole[2][k], chunked[2][k], rtol=1e-12, atol=1e-12)


def test_banded_joint_in_column_chunks_gives_the_same_result(rng, monkeypatch):
    model = conv_then_pool(6, 16, 5).astype(np.float64)  # LeNet-5's second layer
    x = rng.random((5, 6, 15, 14))  # odd height: the last output row is not computed
    dout = rng.standard_normal((5, 16, 5, 5))
    whole = run(model, x, dout)
    plain = run(model, x, dout, fuse=False)
    assert whole[3] == "banded" and plain[3] is None
    # 2 samples' rows per chunk (three chunks, rebuilt in backward); dx in chunks of 1
    monkeypatch.setattr(TUNING, "max_column_bytes", 2 * 10 * 421 * 8)
    monkeypatch.setattr(TUNING, "dcols_bytes", 10 * 420 * 8)
    chunked = run(model, x, dout)
    assert chunked[3] == "banded" and model.layers[0]._saved.cols is None
    for other in (plain, chunked):
        for a, b in zip(whole[:2], other[:2]):
            np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-13)
        for k in whole[2]:
            np.testing.assert_allclose(whole[2][k], other[2][k], rtol=1e-12, atol=1e-12)


def test_first_layer_skips_dx_and_empty_batch_works(rng):
    model = sc.models.lenet5(seed=0)
    model.layers[0].needs_input_grad = False
    x = rng.random((4, 1, 28, 28)).astype(np.float32)
    out = model.forward(x)
    assert model.layers[0]._joint == "phases" and model.layers[3]._joint == "banded"
    assert model.backward(np.ones_like(out)) is None
    assert model.layers[0].grads["weight"].any()
    model.layers[0].needs_input_grad = True
    empty = model.forward(np.zeros((0, 1, 28, 28), np.float32))
    assert empty.shape == (0, 10)
    assert model.backward(empty).shape == (0, 1, 28, 28)
    assert not model.layers[0].grads["weight"].any()


def test_which_pairs_are_fused(rng):
    conv = sc.Conv2d(1, 4, 3, padding=1)
    x = np.zeros((8, 1, 28, 28), np.float32)
    assert conv.fuses_with(sc.MaxPool2d(2), x)
    assert conv.fuses_with(sc.MaxPool2d(2), x[0])  # unbatched too
    assert conv.fuses_with(sc.MaxPool2d(2), x[:0])  # and an empty batch
    assert not conv.fuses_with(sc.MaxPool2d(3, 2), x)  # overlapping windows
    assert not conv.fuses_with(sc.MaxPool2d(2, padding=1), x)
    assert not conv.fuses_with(sc.AvgPool2d(2), x)
    assert not conv.fuses_with(sc.ReLU(), x)
    assert not conv.fuses_with(None, x)
    assert not conv.fuses_with(sc.MaxPool2d(2), np.zeros((8, 2, 28, 28)))  # wrong channels
    assert not conv.fuses_with(sc.MaxPool2d(2), np.zeros((8, 1, 1, 1)))  # and too small: the
    # layers raise themselves; a 5x5 kernel on a small map: the banded layout (LeNet-5)
    lenet2, x2 = sc.Conv2d(6, 16, 5), np.zeros((8, 6, 14, 14))
    assert lenet2.fuses_with(sc.MaxPool2d(2), x2)
    assert lenet2._joint_layout(sc.MaxPool2d(2), x2.shape) == "banded"
    # many input channels and a 3x3 kernel: neither the phases' extra products nor the
    # banded layout pay
    assert not sc.Conv2d(6, 16, 3).fuses_with(sc.MaxPool2d(2), x2)
    x[3, 0, 5, 5] = np.inf  # not finite: 0 * inf would be NaN in the other phases
    assert not conv.fuses_with(sc.MaxPool2d(2), x)
    x2[0, 1, 2, 3] = np.nan
    assert not lenet2.fuses_with(sc.MaxPool2d(2), x2)
    model = sc.Sequential([sc.Conv2d(1, 4, 3), sc.MaxPool2d(2)])
    with pytest.raises(ValueError, match=r"Conv2d: expected input with 1 channels, got 2"):
        model.forward(np.zeros((1, 2, 8, 8), np.float32))


def test_backward_needs_a_forward_and_the_skipped_pool_says_so(rng):
    model = sc.models.lenet5(seed=0)
    with pytest.raises(ValueError, match="Sequential: backward called before forward"):
        model.backward(np.ones((1, 10), np.float32))
    model.forward(rng.random((2, 1, 28, 28)).astype(np.float32))
    with pytest.raises(ValueError, match="MaxPool2d: backward called before forward"):
        model.layers[1].backward(np.ones((2, 6, 14, 14), np.float32))


def test_unbatched_input(rng):
    model = conv_then_pool(1, 3, 3, padding=1).astype(np.float64)
    x = rng.standard_normal((1, 6, 6))
    y, dx, grads, fused = run(model, x)
    assert fused == "phases" and y.shape == (3, 3, 3) and dx.shape == (1, 6, 6)
    batched = run(model, x[None])
    np.testing.assert_array_equal(y, batched[0][0])
    np.testing.assert_array_equal(dx, batched[1][0])


@pytest.mark.parametrize("kind", ["phases", "banded"])
def test_input_that_is_not_finite_runs_the_two_layers(rng, kind):
    # both would multiply inf and NaN by zero weights
    model = conv_then_pool(1, 3, 3, padding=1).astype(np.float64)
    x = rng.standard_normal((2, 1, 8, 8))
    x[0, 0, 2, 3], x[1, 0, 6, 6] = np.nan, np.inf
    dout = rng.standard_normal((2, 3, 4, 4))
    with joint(kind):
        assert run(model, np.abs(x[:, :, :2]), dout[:, :, :1])[3] == kind
        ours = run(model, x, dout)
    assert ours[3] is None
    conv, pool = sc.Conv2d(1, 3, 3, padding=1).astype(np.float64), sc.MaxPool2d(2)
    conv.params = {k: v.copy() for k, v in model.layers[0].params.items()}
    with joint(kind):  # the same layout for the convolution alone
        alone = pool.forward(conv.forward(x)), conv.backward(pool.backward(dout))
    np.testing.assert_array_equal(ours[0], alone[0])
    np.testing.assert_array_equal(ours[1], alone[1])
    for k in ours[2]:
        np.testing.assert_array_equal(ours[2][k], conv.grads[k])


@pytest.mark.parametrize("nan", [False, True])
def test_route_max_matches_torch_with_ties_and_nan(rng, nan):
    torch = pytest.importorskip("torch")
    x = rng.integers(0, 3, (3, 2, 6, 8)).astype(np.float64)  # many ties
    if nan:
        x[rng.random(x.shape) < 0.15] = np.nan
    candidates = [x[:, :, a::2, b::2] for a in range(2) for b in range(2)]
    pooled = np.maximum(np.maximum(candidates[0], candidates[1]),
                        np.maximum(candidates[2], candidates[3]))
    d_pooled = rng.standard_normal(pooled.shape)
    dx = np.full(x.shape, 7.0)  # every entry must be written
    route_max(d_pooled, candidates, pooled, [dx[:, :, a::2, b::2] for a in range(2)
                                               for b in range(2)])
    xt = torch.tensor(x, requires_grad=True)
    yt = torch.nn.functional.max_pool2d(xt, 2)
    np.testing.assert_array_equal(pooled, yt.detach().numpy())
    yt.backward(torch.tensor(d_pooled))
    np.testing.assert_array_equal(dx, xt.grad.numpy())

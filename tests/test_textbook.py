"""The textbook path: its kernels against the loop reference, and the switch between paths."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import scratchcnn as sc
from scratchcnn import backend, reference
from scratchcnn import textbook as T


@st.composite
def convolutions(draw):
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    dh, dw = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    ph, pw = draw(st.integers(0, 2)), draw(st.integers(0, 2))
    h = draw(st.integers(max(1, dh * (kh - 1) + 1 - 2 * ph), 9))
    w = draw(st.integers(max(1, dw * (kw - 1) + 1 - 2 * pw), 9))
    return dict(shape=(draw(st.integers(1, 3)), draw(st.integers(1, 3)), h, w),
                o=draw(st.integers(1, 3)), kernel=(kh, kw), stride=(sh, sw),
                padding=(ph, pw), dilation=(dh, dw), seed=draw(st.integers(0, 999)))


@settings(max_examples=60)
@given(cfg=convolutions())
def test_conv_forward_and_backward_equal_the_loops(cfg):
    rng = np.random.default_rng(cfg["seed"])
    x = rng.standard_normal(cfg["shape"])
    w = rng.standard_normal((cfg["o"], cfg["shape"][1], *cfg["kernel"]))
    b = rng.standard_normal(cfg["o"])
    (ph, pw), args = cfg["padding"], (cfg["stride"], cfg["padding"], cfg["dilation"])
    out, saved = T.conv2d_forward(x, w, b, cfg["stride"], ((ph, ph), (pw, pw)), cfg["dilation"])
    np.testing.assert_allclose(out, reference.conv2d(x, w, b, *args), rtol=1e-12, atol=1e-12)
    dout = rng.standard_normal(out.shape)
    dx, dw, db = T.conv2d_backward(dout, w, saved)
    for ours, loops in zip((dx, dw, db), reference.conv2d_backward(dout, x, w, *args)):
        np.testing.assert_allclose(ours, loops, rtol=1e-12, atol=1e-12)
    assert T.conv2d_backward(dout, w, saved, need_dx=False)[0] is None


def test_col2im_is_the_adjoint_not_the_inverse(rng):
    xp = rng.integers(-9, 9, (2, 3, 6, 5)).astype(np.float64)  # sums exact
    cols = T.im2col(xp, (3, 2), (1, 1), (1, 1))
    assert cols.shape == (3 * 3 * 2, 2 * 4 * 4)
    y = rng.standard_normal(cols.shape)
    assert np.vdot(cols, y) == pytest.approx(np.vdot(xp, T.col2im(y, xp.shape, (3, 2))))
    # a pixel read by k windows comes back k times: col2im(im2col(x)) is not x
    counts = T.col2im(np.ones_like(cols), xp.shape, (3, 2))
    assert counts[0, 0, 0, 0] == 1 and counts[0, 0, 2, 2] == 6
    np.testing.assert_array_equal(T.col2im(cols, xp.shape, (3, 2)), xp * counts)


@pytest.mark.parametrize("kernel, stride, pad", [(2, 2, 0), (3, 2, 1), (3, 1, 1), (2, 1, 0)])
def test_pools_equal_the_loops(rng, kernel, stride, pad):
    x = rng.standard_normal((2, 3, 7, 6))
    args = ((kernel,) * 2, (stride,) * 2)
    pads = ((pad, pad),) * 2
    out, saved = T.max_pool2d_forward(x, *args, pads)
    np.testing.assert_array_equal(out, reference.max_pool2d(x, *args, (pad, pad)))
    dout = rng.standard_normal(out.shape)
    np.testing.assert_allclose(T.max_pool2d_backward(dout, saved),  # overlaps: sums
                               reference.max_pool2d_backward(dout, x, *args, (pad, pad)),
                               rtol=1e-14, atol=1e-15)
    out, saved = T.avg_pool2d_forward(x, *args, pads)
    np.testing.assert_allclose(out, reference.avg_pool2d(x, *args, (pad, pad)), rtol=1e-13,
                               atol=1e-15)


def test_use_and_using_switch_every_layer(rng, monkeypatch):
    calls = []
    for name in ("conv2d_forward", "conv2d_backward", "max_pool2d_forward",
                 "max_pool2d_backward"):
        real = getattr(T, name)
        monkeypatch.setattr(T, name, lambda *a, _real=real, _name=name, **k:
                            calls.append(_name) or _real(*a, **k))
    model = sc.models.lenet5(seed=0)
    x = rng.random((2, 1, 28, 28), dtype=np.float32)
    model.backward(model.forward(x))
    assert calls == [] and backend.current().name == "fast"
    with sc.using("textbook") as path:
        assert path.name == "textbook" == backend.current().name
        model.backward(model.forward(x))
    assert calls.count("conv2d_forward") == 2 and calls.count("max_pool2d_backward") == 2
    assert backend.current().name == "fast"
    sc.use("textbook")
    try:
        y = model.forward(x)
        sc.use("fast")  # backward runs on the path its forward ran on
        model.backward(y)
        assert calls.count("conv2d_backward") == 4
    finally:
        sc.use("fast")
    with pytest.raises(ValueError, match="unknown path 'slow'"):
        sc.use("slow")
    with pytest.raises(RuntimeError), sc.using("textbook"):
        raise RuntimeError
    assert backend.current().name == "fast"


def test_lenet5_trains_alike_on_both_paths(rng):
    """A few Adam steps from the same start end within float32 rounding of each other."""
    x, y = rng.random((64, 1, 28, 28), dtype=np.float32), rng.integers(0, 10, 64)
    weights = {}
    for name in ("fast", "textbook"):
        model = sc.models.lenet5(seed=0)
        with sc.using(name):
            model.fit(x, y, epochs=2, batch_size=16, optimizer=sc.Adam(1e-3), seed=0, verbose=0)
        weights[name] = model.state_dict()
    moved = 0.0
    for key, fast in weights["fast"].items():
        np.testing.assert_allclose(weights["textbook"][key], fast, rtol=1e-4, atol=2e-5,
                                   err_msg=key)
        moved = max(moved, float(np.abs(fast - sc.models.lenet5(seed=0).state_dict()[key]).max()))
    assert moved > 1e-3  # the steps were taken

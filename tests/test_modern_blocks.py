"""Grouped and depthwise convolution, adaptive average pooling and residual blocks:
equal to PyTorch forward and backward on both paths (hypothesis), gradient-checked, and
a residual block with a projection shortcut inside a Sequential, trained, saved, loaded."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import scratchcnn as sc
from conftest import PATHS
from gradcheck import check_layer_gradients, numerical_grad

torch = pytest.importorskip("torch")
from torch_twin import torch_twin  # noqa: E402

TF = torch.nn.functional
RTOL = {np.float64: 1e-9, np.float32: 1e-4}


def close(ours, theirs, dtype, what):
    theirs = theirs.detach().numpy()
    assert ours.shape == theirs.shape and ours.dtype == dtype, what
    scale = max(1.0, float(np.abs(theirs).max(initial=0)))
    np.testing.assert_allclose(ours, theirs, rtol=RTOL[dtype], atol=RTOL[dtype] * scale,
                               err_msg=what)


@st.composite
def grouped_configs(draw):
    groups = draw(st.integers(1, 4))
    depthwise = draw(st.booleans())
    per_in = 1 if depthwise else draw(st.integers(1, 3))
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    dh, dw = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    ph, pw = draw(st.integers(0, 2)), draw(st.integers(0, 2))
    return dict(groups=groups, c=groups * per_in, o=groups * draw(st.integers(1, 3)),
                kernel_size=(kh, kw), stride=(draw(st.integers(1, 3)), draw(st.integers(1, 3))),
                padding=(ph, pw), dilation=(dh, dw), bias=draw(st.booleans()),
                n=draw(st.integers(1, 3)), h=draw(st.integers(max(1, dh * (kh - 1) + 1 - 2 * ph), 10)),
                w=draw(st.integers(max(1, dw * (kw - 1) + 1 - 2 * pw), 10)),
                unbatched=draw(st.booleans()), dtype=draw(st.sampled_from([np.float64, np.float32])),
                seed=draw(st.integers(0, 2**16)))


@pytest.mark.parametrize("path", PATHS)
@settings(max_examples=120)
@given(cfg=grouped_configs())
def test_grouped_and_depthwise_conv2d_match_torch(path, cfg):
    rng = np.random.default_rng(cfg["seed"])
    layer = sc.Conv2d(cfg["c"], cfg["o"], cfg["kernel_size"], cfg["stride"], cfg["padding"],
                      cfg["dilation"], bias=cfg["bias"], groups=cfg["groups"], rng=rng)
    assert layer.params["weight"].shape == (cfg["o"], cfg["c"] // cfg["groups"],
                                            *cfg["kernel_size"])
    dtype = cfg["dtype"]
    layer.astype(dtype)
    shape = (cfg["c"], cfg["h"], cfg["w"]) if cfg["unbatched"] else \
        (cfg["n"], cfg["c"], cfg["h"], cfg["w"])
    x = rng.standard_normal(shape).astype(dtype)
    with sc.using(path):
        y = layer.forward(x)
        dout = rng.standard_normal(y.shape).astype(dtype)
        dx = layer.backward(dout)
    xt = torch.tensor(x, requires_grad=True)
    wt = torch.tensor(layer.params["weight"], requires_grad=True)
    bt = torch.tensor(layer.params["bias"], requires_grad=True) if cfg["bias"] else None
    yt = TF.conv2d(xt, wt, bt, cfg["stride"], cfg["padding"], cfg["dilation"], cfg["groups"])
    yt.backward(torch.tensor(dout))
    close(y, yt, dtype, "forward")
    close(dx, xt.grad, dtype, "dx")
    close(layer.grads["weight"], wt.grad, dtype, "dweight")
    if cfg["bias"]:
        close(layer.grads["bias"], bt.grad, dtype, "dbias")


@pytest.mark.parametrize("path", PATHS)
@settings(max_examples=120)
@given(h=st.integers(1, 12), w=st.integers(1, 12), oh=st.one_of(st.none(), st.integers(1, 8)),
       ow=st.integers(1, 8), n=st.integers(1, 3), c=st.integers(1, 3),
       dtype=st.sampled_from([np.float64, np.float32]), seed=st.integers(0, 2**16),
       unbatched=st.booleans())
def test_adaptive_avg_pool2d_matches_torch(path, h, w, oh, ow, n, c, dtype, seed, unbatched):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((c, h, w) if unbatched else (n, c, h, w)).astype(dtype)
    layer = sc.AdaptiveAvgPool2d((oh, ow))
    with sc.using(path):
        y = layer.forward(x)
        dout = rng.standard_normal(y.shape).astype(dtype)
        dx = layer.backward(dout)
    assert y.shape == layer.output_shape(x.shape)
    xt = torch.tensor(x, requires_grad=True)
    yt = TF.adaptive_avg_pool2d(xt, (oh, ow))
    yt.backward(torch.tensor(dout))
    close(y, yt, dtype, "forward")
    close(dx, xt.grad, dtype, "dx")


def projection_block(cin, cout, stride, seed=0):
    body = [sc.Conv2d(cin, cout, 3, stride, 1, bias=False, rng=seed), sc.BatchNorm2d(cout),
            sc.ReLU(), sc.Conv2d(cout, cout, 3, padding=1, bias=False, rng=seed + 1),
            sc.BatchNorm2d(cout)]
    shortcut = [sc.Conv2d(cin, cout, 1, stride, bias=False, rng=seed + 2), sc.BatchNorm2d(cout)]
    return sc.Residual(body, shortcut)


def residual_net(seed=0):
    """A stem, a projection block, an identity block, global pooling, a classifier."""
    identity = sc.Residual([sc.Conv2d(6, 6, 3, padding=1, groups=3, rng=seed + 7),
                            sc.BatchNorm2d(6), sc.ReLU(),
                            sc.Conv2d(6, 6, 3, padding=1, groups=6, rng=seed + 8)])
    return sc.Sequential([sc.Conv2d(2, 4, 3, padding=1, rng=seed), sc.ReLU(),
                          projection_block(4, 6, 2, seed + 3), sc.ReLU(), identity, sc.ReLU(),
                          sc.AdaptiveAvgPool2d(1), sc.Flatten(), sc.Linear(6, 5, rng=seed + 9)])


@pytest.mark.parametrize("path", PATHS)
@settings(max_examples=30)
@given(n=st.integers(2, 4), h=st.integers(3, 9), w=st.integers(3, 9), seed=st.integers(0, 999),
       training=st.booleans())
def test_a_residual_net_matches_its_torch_twin_in_every_gradient(path, n, h, w, seed, training):
    model = residual_net(seed).astype(np.float64)
    twin = torch_twin(model).double()
    twin.load_state_dict({k: torch.tensor(v) for k, v in model.state_dict().items()},
                         strict=True)
    model.train(training)
    twin.train(training)
    model[0].needs_input_grad = True
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 2, h, w))
    with sc.using(path):
        y = model.forward(x)
        dout = rng.standard_normal(y.shape)
        dx = model.backward(dout)
    xt = torch.tensor(x, requires_grad=True)
    yt = twin(xt)
    yt.backward(torch.tensor(dout))
    close(y, yt, np.float64, "forward")
    close(dx, xt.grad, np.float64, "dx")
    theirs = dict(twin.named_parameters())
    for name, _, grad in model.named_parameters():
        close(grad, theirs[name].grad, np.float64, name)
    buffers = dict(twin.named_buffers())
    for name, value in model.state_dict().items():
        if "running" in name:
            np.testing.assert_allclose(value, buffers[name].numpy(), rtol=1e-12, err_msg=name)


@pytest.mark.parametrize("path", PATHS)
def test_numerical_gradients_of_the_new_layers(path, rng):
    with sc.using(path):
        check_layer_gradients(sc.Conv2d(4, 6, 3, stride=2, padding=1, groups=2, rng=1),
                              rng.standard_normal((2, 4, 6, 5)), rng)
        check_layer_gradients(sc.Conv2d(3, 6, (2, 3), padding=(1, 0), dilation=2, groups=3,
                                        rng=2), rng.standard_normal((2, 3, 7, 7)), rng)
        check_layer_gradients(sc.AdaptiveAvgPool2d((3, 2)), rng.standard_normal((2, 2, 7, 5)),
                              rng)
        block = projection_block(3, 4, 2).astype(np.float64).eval()  # BN: running statistics
        check_layer_gradients(block, rng.standard_normal((2, 3, 6, 6)), rng)
        model = residual_net(1).astype(np.float64)
        x = rng.standard_normal((3, 2, 6, 6))
        model[0].needs_input_grad = True
        dout = rng.standard_normal((3, 5))
        model.forward(x)
        dx = model.backward(dout)
        loss = lambda: float(np.sum(model.forward(x) * dout))  # noqa: E731 (training BN)
        np.testing.assert_allclose(dx, numerical_grad(loss, x), rtol=1e-5, atol=1e-7)
        model.forward(x)
        model.backward(dout)
        grads = {k: g.copy() for k, _, g in model.named_parameters()}
        for name, p, _ in model.named_parameters():
            np.testing.assert_allclose(grads[name], numerical_grad(loss, p), rtol=1e-5,
                                       atol=1e-7, err_msg=name)


def test_residual_net_trains_saves_loads_and_reports(tmp_path):
    data = sc.datasets.load_sample()
    (x, y), (xt, yt) = data.train, data.test
    model = sc.Sequential([sc.Conv2d(1, 8, 3, padding=1, bias=False, rng=0), sc.BatchNorm2d(8),
                           sc.ReLU(), sc.MaxPool2d(2), projection_block(8, 16, 2, 1), sc.ReLU(),
                           sc.AdaptiveAvgPool2d(3), sc.Flatten(), sc.Linear(144, 10, rng=2)])
    assert {"4.body.0.weight", "4.shortcut.1.running_var", "8.bias"} <= set(model.state_dict())
    model.fit(x[:2000], y[:2000], epochs=2, batch_size=32, optimizer=sc.Adam(3e-3), seed=0,
              verbose=0)
    accuracy = model.evaluate(xt, yt)["accuracy"]
    assert accuracy > 0.88  # 0.933 measured
    again = sc.load(sc.save(model, tmp_path / "res"))
    np.testing.assert_array_equal(again.predict_proba(xt[:50]), model.predict_proba(xt[:50]))
    with sc.using("textbook"):
        assert again.evaluate(xt, yt)["accuracy"] == pytest.approx(accuracy, abs=2e-3)
    table = model.summary((1, 28, 28))
    assert "Residual(body: Conv2d, BatchNorm2d, ReLU, Conv2d, BatchNorm2d; shortcut: " \
           "Conv2d, BatchNorm2d)" in table
    # 8*16*9 + 16*16*9 + 8*16 multiply-adds per output pixel of the 7x7 map
    row = next(line for line in table.splitlines() if line.startswith("4: Residual"))
    assert f"{(8 * 16 * 9 + 16 * 16 * 9 + 8 * 16) * 7 * 7:,}" in row
    assert row.split()[-1] == "16x16"  # 3x3 stem, 2x2 pool, 3x3 stride 2, 3x3


def test_a_residual_block_says_when_its_branches_do_not_fit():
    block = sc.Residual([sc.Conv2d(2, 4, 3, padding=1)])  # channels change, no shortcut
    with pytest.raises(ValueError, match=r"Residual: the body gives \(1, 4, 5, 5\) but the "
                                         r"shortcut \(1, 2, 5, 5\)"):
        block.forward(np.zeros((1, 2, 5, 5), np.float32))
    with pytest.raises(ValueError, match=r"groups=4 must divide in_channels=6"):
        sc.Conv2d(6, 8, 3, groups=4)
    with pytest.raises(TypeError, match="Residual: body must be a Sequential or a list"):
        sc.Residual(3)


def test_resnet20_has_its_torch_twins_parameter_count_and_trains(tmp_path):
    for shape, count in (((1, 28, 28), 272_186), ((3, 32, 32), 272_474)):  # stem 1 or 3 in
        model = sc.models.resnet20(input_shape=shape)
        twin = torch_twin(model)
        assert sc.count_params(model) == sum(p.numel() for p in twin.parameters()) == count
        twin.load_state_dict({k: torch.tensor(v) for k, v in model.state_dict().items()},
                             strict=True)
        assert model.output_shape((2, *shape)) == (2, 10)
    x, y = sc.datasets.load_sample().train
    model = sc.models.resnet20(input_shape=(1, 28, 28), seed=0)
    history = model.fit(x[:256], y[:256], epochs=2, batch_size=64, seed=0, verbose=0)
    assert history.history["loss"][1] < history.history["loss"][0]
    again = sc.load(sc.save(model, tmp_path / "resnet20"))
    np.testing.assert_array_equal(again.predict_proba(x[:8]), model.predict_proba(x[:8]))


def test_containers_inside_a_model_work_whole_and_say_what_they_cannot(tmp_path):
    from scratchcnn.layers import Stack
    rng = np.random.default_rng(0)
    first = sc.Sequential([sc.Residual([sc.Conv2d(1, 1, 3, padding=1, rng=0)]), sc.Flatten(),
                           sc.Linear(16, 2, rng=1)])
    one = rng.random((1, 4, 4), dtype=np.float32)  # one sample, no batch axis
    assert first.forward(one).shape == first.output_shape((1, 4, 4)) == (2,)
    np.testing.assert_allclose(first.forward(one), first.forward(one[None])[0], rtol=1e-6)

    stacked = sc.Sequential([Stack([sc.Conv2d(1, 2, 3, rng=2), sc.ReLU()]), sc.Flatten(),
                             sc.Linear(18, 2, rng=3)])
    row = stacked.summary((1, 5, 5)).splitlines()[2]
    assert row.startswith("0: Stack(Conv2d, ReLU)") and row.endswith("3x3")
    x = rng.random((3, 1, 5, 5), dtype=np.float32)
    again = sc.load(sc.save(stacked, tmp_path / "stacked"))
    np.testing.assert_array_equal(again.forward(x), stacked.forward(x))

    with pytest.raises(ValueError, match="Residual: the body needs at least one layer"):
        sc.Residual([])
    with pytest.raises(ValueError, match=r"save: layer 0 is a Sequential, which a model file "
                                         r"cannot hold"):
        sc.save(sc.Sequential([sc.Sequential([sc.Conv2d(1, 1, 3)])]), tmp_path / "nested")
    normalising = sc.models.lenet5()
    normalising.input_mean, normalising.input_std = 0.1, 0.3
    with pytest.raises(ValueError, match="Residual: the body normalises its input"):
        sc.Residual(normalising)

    fitted = sc.Sequential([sc.Conv2d(2, 2, 3, padding=1, rng=4)])
    fitted.layers[0].needs_input_grad = False  # as fit marks a model's first layer
    block = sc.Residual(fitted)  # inside a block, its input's gradient is needed again
    block.forward(x.repeat(2, axis=1))
    assert block.backward(np.ones((3, 2, 5, 5), np.float32)).shape == (3, 2, 5, 5)

    model = sc.models.resnet20(input_shape=(1, 28, 28))
    model.fuse_layers = False  # reaches the stacks inside every block
    assert model[3].body.fuse_layers is False and model[5].body.fuse_layers is False

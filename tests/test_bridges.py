"""Bridges, each proven by running the other side: PyTorch reads our safetensors and we
read its, onnxruntime runs our exported graphs; on real MNIST images."""

import functools

import numpy as np
import pytest

import scratchcnn as sc
from scratchcnn.cli import main

torch = pytest.importorskip("torch")
safetensors_torch = pytest.importorskip("safetensors.torch")
onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from torch_twin import torch_twin  # noqa: E402

DATA = sc.datasets.load_sample()
X_TEST = DATA.test[0][:64]


def trained(build, steps=3):
    """A zoo model after a few training steps: batch-norm statistics that are not 0 and 1."""
    model = build(seed=0)
    x, y = DATA.train
    model.input_mean, model.input_std = np.array(float(x.mean())), np.array(float(x.std()))
    model.fit(x[:32 * steps], y[:32 * steps], epochs=1, batch_size=32, verbose=0)
    return model.eval()


def ours(model, x):
    model.eval()
    return model.forward(x)


def normalised(model, x):
    return torch.tensor((x - model.input_mean.astype(np.float32)) /
                        model.input_std.astype(np.float32))


def mnist_model(name):
    """The zoo builder ``name`` for MNIST's (1, 28, 28)."""
    return functools.partial(sc.models.MODELS[name], input_shape=(1, 28, 28))


ZOO = ["lenet5", "simple_convnet", "convnet_bn_mini", "resnet20"]


def modern_net():
    """A residual block with a projection shortcut, an identity one, grouped and
    depthwise convolutions, adaptive pools whose bins tile the map and do not, global
    average pooling."""
    def block(cin, cout, stride, seed):
        body = [sc.Conv2d(cin, cout, 3, stride, 1, bias=False, rng=seed), sc.BatchNorm2d(cout),
                sc.ReLU(), sc.Conv2d(cout, cout, 3, padding=1, groups=cout, rng=seed + 1),
                sc.Conv2d(cout, cout, 1, groups=2, bias=False, rng=seed + 2), sc.BatchNorm2d(cout)]
        shortcut = None if cin == cout and stride == 1 else \
            [sc.Conv2d(cin, cout, 1, stride, bias=False, rng=seed + 3), sc.BatchNorm2d(cout)]
        return sc.Residual(body, shortcut)
    return sc.Sequential([sc.Conv2d(1, 4, 3, padding=1, rng=0), block(4, 8, 2, 1), sc.ReLU(),
                          block(8, 8, 1, 5), sc.AdaptiveAvgPool2d(5), sc.ReLU(),
                          sc.AdaptiveAvgPool2d((None, 1)), sc.AdaptiveAvgPool2d(1),
                          sc.Flatten(), sc.Linear(8, 10, rng=9)])


@pytest.mark.parametrize("name", ZOO)
def test_pytorch_reads_our_safetensors_and_gives_the_same_logits(name, tmp_path):
    model = trained(mnist_model(name))
    path = sc.save_safetensors(model, tmp_path / name)
    assert path.endswith(".safetensors")
    twin = torch_twin(model)
    twin.load_state_dict(safetensors_torch.load_file(path), strict=True)
    twin.eval()
    with torch.no_grad():
        theirs = twin(normalised(model, X_TEST)).numpy()
    np.testing.assert_allclose(ours(model, X_TEST), theirs, rtol=1e-5, atol=1e-5)
    back = sc.load_safetensors(path)  # rebuilt from the metadata alone
    np.testing.assert_array_equal(back.predict_proba(X_TEST), model.predict_proba(X_TEST))


@pytest.mark.parametrize("name", ZOO)
def test_a_state_dict_trained_in_pytorch_loads_into_our_model(name, tmp_path):
    model = mnist_model(name)(seed=1)
    twin = torch_twin(model)
    torch.manual_seed(0)
    opt = torch.optim.SGD(twin.parameters(), lr=0.05)
    x, y = DATA.train
    for start in range(0, 96, 32):  # a few steps in torch, on pixels in [0, 1]
        opt.zero_grad()
        torch.nn.functional.cross_entropy(twin(torch.tensor(x[start:start + 32])),
                                          torch.tensor(y[start:start + 32])).backward()
        opt.step()
    twin.eval()
    path = tmp_path / "torch.safetensors"
    safetensors_torch.save_file(twin.state_dict(), str(path))
    loaded = sc.load_safetensors(path, model=model)
    with torch.no_grad():
        theirs = twin(torch.tensor(X_TEST)).numpy()
    np.testing.assert_allclose(ours(loaded, X_TEST), theirs, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(loaded.predict(X_TEST), theirs.argmax(axis=1))


def test_safetensors_that_do_not_fit_are_refused_naming_the_tensor(tmp_path):
    model = sc.models.lenet5(seed=0)
    state = {k: torch.tensor(v) for k, v in model.state_dict().items()}
    bad = dict(state, **{"3.weight": torch.zeros(16, 6, 3, 3)})
    safetensors_torch.save_file(bad, str(tmp_path / "shape.safetensors"))
    with pytest.raises(ValueError, match=r"tensor '3.weight' has shape \(16, 6, 3, 3\), "
                                         r"expected \(16, 6, 5, 5\)"):
        sc.load_safetensors(tmp_path / "shape.safetensors", model=model)
    missing = {k: v for k, v in state.items() if k != "7.bias"}
    safetensors_torch.save_file(missing, str(tmp_path / "missing.safetensors"))
    with pytest.raises(ValueError, match=r"tensors missing: \['7.bias'\]"):
        sc.load_safetensors(tmp_path / "missing.safetensors", model=model)
    with pytest.raises(ValueError, match="no scratchcnn architecture in its metadata"):
        sc.load_safetensors(tmp_path / "missing.safetensors")
    (tmp_path / "junk.safetensors").write_bytes(b"\x05\x00\x00\x00\x00\x00\x00\x00junk!")
    with pytest.raises(ValueError, match="junk.safetensors: not a safetensors file"):
        sc.load_safetensors(tmp_path / "junk.safetensors")


def every_layer_net():
    """One of each layer type and geometry the zoo uses, and a few it does not."""
    return sc.Sequential([
        sc.Conv2d(1, 4, 3, stride=2, padding=1, rng=0), sc.BatchNorm2d(4), sc.LeakyReLU(0.1),
        sc.Conv2d(4, 6, (3, 2), padding="same", dilation=(2, 1), rng=1), sc.Tanh(),
        sc.AvgPool2d(3, 2, 1), sc.Conv2d(6, 5, 2, bias=False, rng=2), sc.Sigmoid(),
        sc.MaxPool2d(2, 1, 1, dilation=2), sc.Dropout(0.5), sc.Flatten(),
        sc.Linear(5 * 6 * 6, 12, rng=3), sc.BatchNorm1d(12), sc.ReLU(), sc.Linear(12, 10, rng=4)])


@pytest.mark.parametrize("name", [*ZOO, "convnet_bn", "convnet_bn_lite", "every layer",
                                  "modern blocks"])
def test_onnxruntime_runs_our_export_with_any_batch(name, tmp_path):
    if name == "modern blocks":
        model = trained(lambda seed: modern_net(), steps=2)
    elif name == "every layer":
        model = every_layer_net()
        model.input_mean, model.input_std = np.array(0.2), np.array(0.5)
        x, y = DATA.train
        model.fit(x[:64], y[:64], epochs=1, batch_size=32, verbose=0)
        model.eval()
    else:
        model = trained(mnist_model(name), steps=2)
    path = sc.export_onnx(model, tmp_path / name.replace(" ", "_"), (1, 28, 28))
    proto = onnx.load(path)
    onnx.checker.check_model(proto, full_check=True)
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    for batch in (X_TEST[:1], X_TEST[:7], X_TEST):  # the batch axis is dynamic
        theirs = session.run(None, {"input": batch})[0]
        expected = ours(model, batch)
        scale = max(1.0, float(np.abs(expected).max()))
        np.testing.assert_allclose(theirs, expected, rtol=1e-5, atol=1e-5 * scale)


def test_a_layer_without_an_onnx_form_is_named(tmp_path):
    model = sc.Sequential([sc.Conv2d(1, 2, 3), sc.Flatten(start_dim=2), sc.Linear(676, 3)])
    with pytest.raises(ValueError, match=r"export_onnx: layer 1, Flatten\(start_dim=2, "
                                         r"end_dim=-1\), has no ONNX form here"):
        sc.export_onnx(model, tmp_path / "x.onnx", (1, 28, 28))
    with pytest.raises(ValueError, match="Conv2d: expected input with 1 channels"):
        sc.export_onnx(sc.models.lenet5(), tmp_path / "y.onnx", (3, 28, 28))


def test_export_from_the_command_line(tmp_path, capsys):
    model = trained(sc.models.lenet5, steps=1)
    model.meta = {"input_shape": [1, 28, 28]}
    path = sc.save(model, tmp_path / "m")
    assert main(["export", path, "--onnx", str(tmp_path / "m.onnx"), "--safetensors",
                 str(tmp_path / "m")]) == 0
    out = capsys.readouterr().out
    assert f"onnx_file={tmp_path / 'm.onnx'}" in out
    assert f"safetensors_file={tmp_path / 'm.safetensors'}" in out
    session = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(session.run(None, {"input": X_TEST})[0], ours(model, X_TEST),
                               rtol=1e-5, atol=1e-5)
    with pytest.raises(SystemExit, match="say what to write"):
        main(["export", path])


def test_a_missing_extra_says_which_pip_install_brings_it(monkeypatch):
    import builtins
    real = builtins.__import__

    def no_onnx(name, *args, **kwargs):
        if name.split(".")[0] == "onnx":
            raise ImportError(f"No module named {name!r}")
        return real(name, *args, **kwargs)
    monkeypatch.setattr(builtins, "__import__", no_onnx)
    monkeypatch.delitem(__import__("sys").modules, "onnx", raising=False)
    with pytest.raises(ImportError, match=r"export_onnx needs onnx: pip install "
                                          r"'scratchcnn\[onnx\]'"):
        sc.export_onnx(sc.models.lenet5(), "/tmp/never.onnx", (1, 28, 28))

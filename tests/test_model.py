"""Sequential, the zoo, save/load and end-to-end training."""

import json
import os
import zipfile

import numpy as np
import pytest

import scratchcnn as sc
from scratchcnn import datasets, models


def test_state_dict_keys_number_every_layer():
    model = sc.Sequential([sc.Conv2d(1, 2, 3), sc.ReLU(), sc.MaxPool2d(2), sc.Conv2d(2, 2, 3)])
    assert list(model.state_dict()) == ["0.weight", "0.bias", "3.weight", "3.bias"]
    bn = sc.Sequential([sc.Linear(3, 4), sc.BatchNorm1d(4)])
    assert list(bn.state_dict()) == ["0.weight", "0.bias", "1.weight", "1.bias",
                                     "1.running_mean", "1.running_var"]


def test_load_state_dict_checks_keys_and_shapes():
    model = models.lenet5(seed=1)
    sd = models.lenet5(seed=2).state_dict()
    model.load_state_dict(sd)
    np.testing.assert_array_equal(model.state_dict()["3.weight"], sd["3.weight"])
    with pytest.raises(KeyError, match="missing keys"):
        model.load_state_dict({k: v for k, v in sd.items() if k != "0.bias"})
    sd["0.bias"] = np.zeros(7)
    with pytest.raises(ValueError, match=r"0.bias has shape \(7,\)"):
        model.load_state_dict(sd)


def test_sequential_backward_matches_torch(rng, path):
    torch = pytest.importorskip("torch")
    model = models.lenet5(seed=0).astype(np.float64)
    model.input_mean, model.input_std = np.array(0.1), np.array(0.3)
    x = rng.random((3, 1, 28, 28))
    # torch's net has the classic order, ReLU before each pool; ours pools first
    tm = torch.nn.Sequential(
        torch.nn.Conv2d(1, 6, 5, padding=2), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(6, 16, 5), torch.nn.ReLU(), torch.nn.MaxPool2d(2), torch.nn.Flatten(),
        torch.nn.Linear(400, 120), torch.nn.ReLU(), torch.nn.Linear(120, 84), torch.nn.ReLU(),
        torch.nn.Linear(84, 10)).double()
    tm.load_state_dict({k: torch.tensor(v) for k, v in model.state_dict().items()})
    y = model.forward(x)
    # on the fast path both convolutions run together with their pools: by phases, then
    # banded; the textbook runs every layer on its own
    joints = ["phases", "banded"] if path == "fast" else [None, None]
    assert [model.layers[i]._joint for i in (0, 3)] == joints
    dout = rng.standard_normal(y.shape)
    dx = model.backward(dout)
    xt = torch.tensor(x, requires_grad=True)
    yt = tm((xt - 0.1) / 0.3)
    yt.backward(torch.tensor(dout))
    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-8, atol=1e-12)
    for name, p, g in model.named_parameters():
        np.testing.assert_allclose(g, dict(tm.named_parameters())[name].grad.numpy(),
                                   rtol=1e-8, atol=1e-12, err_msg=name)


def test_convnet_bn_lite_trains_as_torch_does(rng):
    # whole-model parity in training mode: batch statistics, pooling before normalisation
    torch = pytest.importorskip("torch")
    nn = torch.nn
    model = models.convnet_bn_lite(seed=0, dropout=0.0).astype(np.float64)
    tm = nn.Sequential(
        nn.Conv2d(1, 32, 5, padding=2, bias=False), nn.MaxPool2d(2), nn.BatchNorm2d(32),
        nn.ReLU(),
        nn.Conv2d(32, 64, 3, padding=1, bias=False), nn.MaxPool2d(2), nn.BatchNorm2d(64),
        nn.ReLU(), nn.Flatten(),
        nn.Linear(64 * 7 * 7, 128, bias=False), nn.BatchNorm1d(128), nn.ReLU(),
        nn.Dropout(0.0), nn.Linear(128, 10)).double()
    tm.load_state_dict({k: torch.tensor(v) for k, v in model.state_dict().items()},
                       strict=False)  # torch's num_batches_tracked has no counterpart
    x = rng.random((5, 1, 28, 28))
    y = model.train().forward(x)
    dout = rng.standard_normal(y.shape)
    dx = model.backward(dout)
    xt = torch.tensor(x, requires_grad=True)
    yt = tm.train()(xt)
    yt.backward(torch.tensor(dout))
    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-7, atol=1e-10)
    torch_params = dict(tm.named_parameters())
    for name, p, g in model.named_parameters():
        np.testing.assert_allclose(g, torch_params[name].grad.numpy(), rtol=1e-7, atol=1e-10,
                                   err_msg=name)
    for name, value in tm.state_dict().items():
        if "running" in name:
            np.testing.assert_allclose(model.state_dict()[name], value.numpy(), rtol=1e-9,
                                       err_msg=name)


def test_zoo_parameter_counts():
    assert sc.count_params(models.lenet5()) == 61_706
    summary = models.lenet5().summary((1, 28, 28))
    assert "Total params: 61,706" in summary and "(16, 5, 5)" in summary
    assert models.simple_convnet().summary((1, 28, 28)).count("\n") > 5
    lite = models.convnet_bn_lite().summary((1, 28, 28))
    # 32*25 + 2*32 + 64*32*9 + 2*64 + 3136*128 + 2*128 + 128*10 + 10
    assert "Total params: 422,378" in lite and "(64, 7, 7)" in lite
    # 28*28*32*25 + 14*14*64*32*9 + 3136*128 + 128*10 (conv MACs at the conv's output size)
    assert "Total MACs per sample: 4,642,560" in lite
    mini = models.convnet_bn_mini().summary((1, 28, 28))
    # 24*9 + 2*24 + 48*24*9 + 2*48 + 2352*128 + 2*128 + 128*10 + 10
    assert "Total params: 313,330" in mini and "(48, 7, 7)" in mini
    # 28*28*24*9 + 14*14*48*24*9 + 2352*128 + 128*10
    assert "Total MACs per sample: 2,503,808" in mini
    assert sc.count_params(models.simple_convnet()) == 30 * 25 + 30 + 4320 * 100 + 100 + 1010


@pytest.mark.parametrize("name, total", [("alexnet", "61,100,840"), ("vgg16", "138,357,544")])
def test_big_zoo_summaries(name, total):
    text = models.MODELS[name]().summary((3, 224, 224))
    assert f"Total params: {total}" in text


def test_save_load_predicts_identically(tmp_path, rng):
    model = models.convnet_bn(seed=3)
    model.input_mean, model.input_std = np.array(0.2), np.array(0.35)
    model.meta = {"classes": ["a"] * 10}
    x = rng.random((6, 1, 28, 28), dtype=np.float32)
    model.forward(x)  # move BatchNorm's running statistics off their start
    path = sc.save(model, tmp_path / "m")
    assert path.endswith("m.npz")
    loaded = sc.load(path)
    np.testing.assert_array_equal(loaded.predict_proba(x), model.predict_proba(x))
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
    assert loaded.meta == model.meta and repr(loaded) == repr(model)
    umask = os.umask(0o022)
    os.umask(umask)
    assert os.stat(path).st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's private 0600


def test_load_refuses_pickles_and_junk(tmp_path):
    pickled = tmp_path / "evil.npz"
    np.savez(pickled, **{"__architecture__": np.array([{"a": 1}], dtype=object)})
    with pytest.raises(ValueError, match="evil.npz: not a scratchcnn model file"):
        sc.load(pickled)
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="junk.npz: not a scratchcnn model file"):
        sc.load(junk)
    arch = {"format": "scratchcnn-model", "version": 1, "layers": [{"type": "os.system",
                                                                    "config": {}}]}
    bad = tmp_path / "bad.npz"
    np.savez(bad, __architecture__=np.frombuffer(json.dumps(arch).encode(), np.uint8))
    with pytest.raises(ValueError, match="unknown type 'os.system'"):
        sc.load(bad)
    assert zipfile.is_zipfile(bad)


def test_fit_on_the_bundled_sample_reaches_accuracy():
    data = datasets.load_sample()
    (x, y), (xt, yt) = data.train, data.test
    model = models.lenet5(seed=0)
    model.input_mean, model.input_std = np.array(x.mean()), np.array(x.std())
    history = model.fit(x, y, epochs=3, batch_size=64, optimizer=sc.Adam(2e-3), seed=0,
                        validation_data=(xt[:200], yt[:200]), verbose=0)
    assert len(history["loss"]) == 3 and history["loss"][2] < history["loss"][0]
    result = model.evaluate(xt, yt)
    assert result["accuracy"] >= 0.90, result
    assert model.predict(xt[:10]).dtype == np.int64
    np.testing.assert_allclose(model.predict_proba(xt[:10]).sum(axis=1), 1, rtol=1e-5)


def test_same_seed_gives_a_bit_identical_run():
    data = datasets.load_sample()
    x, y = data.train[0][:512], data.train[1][:512]

    def run():
        model = models.convnet_bn(seed=4)
        model.fit(x, y, epochs=1, batch_size=128, optimizer="adam", seed=9, verbose=0)
        return model.state_dict()
    a, b = run(), run()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def test_trainer_state_resumes_a_run_bit_for_bit():
    data = datasets.load_sample()
    x, y = data.train[0][:192], data.train[1][:192]

    def net(seed):
        return sc.Sequential([sc.Conv2d(1, 4, 3, rng=seed), sc.BatchNorm2d(4), sc.ReLU(),
                              sc.MaxPool2d(2), sc.Flatten(), sc.Dropout(0.3, rng=seed + 1),
                              sc.Linear(4 * 13 * 13, 10, rng=seed + 2)])

    def fit(model, epochs):
        return model.fit(x, y, epochs=epochs, batch_size=64, optimizer="adam", seed=5,
                         scheduler=sc.optim.CosineAnnealingLR(3), verbose=0)

    straight = net(0)
    fit(straight, 3)
    first = net(0)
    fit(first, 1)
    state = first.trainer.state_dict()
    json.dumps({k: v for k, v in state.items() if k not in ("model", "optimizer")})
    resumed = net(7)  # other weights and other generators until the state is loaded
    fit(resumed, 0)
    resumed.trainer.load_state_dict(state)
    resumed.fit(x, y, epochs=2, batch_size=64, verbose=0)
    for k, v in straight.state_dict().items():
        np.testing.assert_array_equal(resumed.state_dict()[k], v, err_msg=k)
    untimed = [{k: v for k, v in t.history.history.items() if k != "time"}
               for t in (resumed.trainer, straight.trainer)]
    assert untimed[0] == untimed[1] and len(untimed[0]["loss"]) == 3
    assert resumed.trainer.epoch == 3


def test_plain_floats_as_normalisation_are_stored_as_arrays(tmp_path):
    model = models.lenet5(seed=0)
    model.input_mean, model.input_std = 0.1307, 0.3081  # floats, not NumPy scalars
    assert model.input_mean.dtype == np.float64 and model.input_mean.ndim == 0
    x = np.random.default_rng(0).random((3, 1, 28, 28)).astype(np.float32)
    same = sc.load(sc.save(model, tmp_path / "m"))
    np.testing.assert_array_equal(same.predict_proba(x), model.predict_proba(x))
    assert float(same.input_std) == 0.3081


def test_flip_test_time_augmentation_averages_the_mirror_images_probabilities():
    model = models.convnet_bn_mini(seed=0).astype(np.float64)
    x = np.random.default_rng(1).random((5, 1, 28, 28))
    plain, mirrored = model.predict_proba(x), model.predict_proba(x[..., ::-1])
    np.testing.assert_allclose(model.predict_proba(x, tta="flip"), (plain + mirrored) / 2,
                               rtol=1e-12, atol=1e-15)
    y = np.arange(5)
    expected = -np.mean(np.log(((plain + mirrored) / 2)[np.arange(5), y]))
    assert model.evaluate(x, y, tta="flip")["loss"] == pytest.approx(expected, rel=1e-12)
    np.testing.assert_array_equal(model.predict(x, tta="flip"),
                                  ((plain + mirrored) / 2).argmax(axis=1))
    with pytest.raises(ValueError, match="tta must be None or 'flip', got 'rotate'"):
        model.predict(x, tta="rotate")

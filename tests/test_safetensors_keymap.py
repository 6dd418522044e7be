"""PyTorch weights from any module (issue 24): a state dict saved by a torch module with
its own attribute names loads through ``key_map`` (a dict, or ``"order"``) and goes back
under those names; torch is the oracle, on real images."""

import re

import numpy as np
import pytest

import scratchcnn as sc

torch = pytest.importorskip("torch")
safetensors_torch = pytest.importorskip("safetensors.torch")
nn, F = torch.nn, torch.nn.functional

DATA = sc.datasets.load_sample()
X_TEST = DATA.test[0][:64]


class Net(nn.Module):
    """The PyTorch tutorial's LeNet for 28x28: ``sc.models.lenet5()``'s function (it
    pools before the ReLU, the same thing: ReLU is monotone)."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 5, padding=2)
        self.pool = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x):
        x = self.pool(F.relu(self.conv1(x)))
        x = self.pool(F.relu(self.conv2(x)))
        x = torch.flatten(x, 1)
        return self.fc3(F.relu(self.fc2(F.relu(self.fc1(x)))))


LENET_MAP = {"conv1.weight": "0.weight", "conv1.bias": "0.bias", "conv2.weight": "3.weight",
             "conv2.bias": "3.bias", "fc1.weight": "7.weight", "fc1.bias": "7.bias",
             "fc2.weight": "9.weight", "fc2.bias": "9.bias", "fc3.weight": "11.weight",
             "fc3.bias": "11.bias"}


class BNNet(nn.Module):
    """``sc.models.convnet_bn_mini()``'s function; its names sort bn1, bn2, bn3, conv1, ...,
    not in definition order."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 24, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(24)
        self.conv2 = nn.Conv2d(24, 48, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(48)
        self.fc1 = nn.Linear(48 * 7 * 7, 128, bias=False)
        self.bn3 = nn.BatchNorm1d(128)
        self.drop = nn.Dropout(0.3)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        x = F.relu(self.bn1(F.max_pool2d(self.conv1(x), 2)))
        x = F.relu(self.bn2(F.max_pool2d(self.conv2(x), 2)))
        x = self.drop(F.relu(self.bn3(self.fc1(torch.flatten(x, 1)))))
        return self.fc2(x)


BN_MAP = {"conv1.weight": "0.weight", "bn1.weight": "2.weight", "bn1.bias": "2.bias",
          "bn1.running_mean": "2.running_mean", "bn1.running_var": "2.running_var",
          "bn1.num_batches_tracked": "2.num_batches_tracked", "conv2.weight": "4.weight",
          "bn2.weight": "6.weight", "bn2.bias": "6.bias", "bn2.running_mean": "6.running_mean",
          "bn2.running_var": "6.running_var", "bn2.num_batches_tracked": "6.num_batches_tracked",
          "fc1.weight": "9.weight", "bn3.weight": "10.weight", "bn3.bias": "10.bias",
          "bn3.running_mean": "10.running_mean", "bn3.running_var": "10.running_var",
          "bn3.num_batches_tracked": "10.num_batches_tracked", "fc2.weight": "13.weight",
          "fc2.bias": "13.bias"}


def trained(net, steps=30, seed=0):
    """``net`` after a few dozen Adam steps on real images (non-trivial BN statistics)."""
    torch.manual_seed(seed)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    x, y = DATA.train
    net.train()
    for step in range(steps):
        i = slice(32 * step, 32 * step + 32)
        opt.zero_grad()
        F.cross_entropy(net(torch.tensor(x[i])), torch.tensor(y[i])).backward()
        opt.step()
    return net.eval()


def logits(model_or_net, x=X_TEST):
    if isinstance(model_or_net, nn.Module):
        with torch.no_grad():
            return model_or_net.eval()(torch.tensor(x)).numpy()
    return model_or_net.eval().forward(x)


def counters(model):
    return {name: layer.batches_tracked for name, layer in model.named_layers()
            if hasattr(layer, "batches_tracked")}


CASES = [(Net, sc.models.lenet5, LENET_MAP), (BNNet, sc.models.convnet_bn_mini, BN_MAP)]


@pytest.fixture(scope="module", params=CASES, ids=["lenet", "bn"])
def case(request, tmp_path_factory):
    make_net, build, key_map = request.param
    net = trained(make_net())
    path = tmp_path_factory.mktemp("st") / "net.safetensors"
    safetensors_torch.save_file(net.state_dict(), str(path))
    return net, build, key_map, path


@pytest.mark.parametrize("form", ["dict", "order"])
def test_a_torch_modules_weights_load_by_key_map_and_give_its_logits(case, form):
    net, build, key_map, path = case
    model = build(seed=5)
    assert model.input_mean is None
    loaded = sc.load_safetensors(path, model, key_map=key_map if form == "dict" else "order")
    assert loaded is model
    np.testing.assert_allclose(logits(model), logits(net), rtol=1e-5, atol=1e-5)
    torch_counts = {key_map[k].rpartition(".")[0]: int(v) for k, v in net.state_dict().items()
                    if k.endswith("num_batches_tracked")}
    assert counters(model) == torch_counts
    assert all(n == 30 for n in torch_counts.values())


def test_the_dict_and_the_order_agree_array_for_array(case):
    net, build, key_map, path = case
    by_dict = sc.load_safetensors(path, build(seed=1), key_map=key_map).state_dict()
    by_order = sc.load_safetensors(path, build(seed=2), key_map="order").state_dict()
    assert by_dict.keys() == by_order.keys()
    for k in by_dict:
        np.testing.assert_array_equal(by_dict[k], by_order[k])


@pytest.mark.parametrize("with_counters", [True, False])
def test_saved_under_their_names_torch_loads_strictly(case, tmp_path, with_counters):
    net, build, key_map, path = case
    model = sc.load_safetensors(path, build(seed=3), key_map=key_map)
    inverse = {ours: theirs for theirs, ours in key_map.items()
               if with_counters or not theirs.endswith("num_batches_tracked")}
    path2 = sc.save_safetensors(model, tmp_path / "back", key_map=inverse)
    state = safetensors_torch.load_file(path2)
    assert set(state) == set(net.state_dict())
    net2 = type(net)()
    net2.load_state_dict(state, strict=True)
    np.testing.assert_array_equal(logits(net2), logits(net))
    for k, v in net.state_dict().items():
        assert torch.equal(state[k], v), k
    # the file keeps our architecture and the key map: it reads back without being told
    again = sc.load_safetensors(path2)
    np.testing.assert_array_equal(logits(again), logits(model))
    assert counters(again) == counters(model)
    np.testing.assert_array_equal(logits(sc.load_safetensors(path2, build(seed=4))),
                                  logits(model))


def both_sides_listed(message, *names):
    assert "in the model" in message and "(*: the two sides differ)" in message
    for name in names:
        assert name in message, name


def test_a_dict_that_misses_a_tensor_or_sends_it_astray_is_refused(tmp_path):
    path = tmp_path / "lenet.safetensors"
    safetensors_torch.save_file(Net().state_dict(), str(path))
    model = sc.models.lenet5()
    before = model.state_dict()
    missing = {k: v for k, v in LENET_MAP.items() if k != "fc2.bias"}
    with pytest.raises(ValueError, match=r"lenet.safetensors: key_map does not fit: the "
                                         r"file's 'fc2.bias' is not in key_map") as err:
        sc.load_safetensors(path, model, key_map=missing)
    both_sides_listed(str(err.value), "fc2.bias (84,)", "9.bias (84,)", "conv1.weight (6, 1, 5, 5)",
                      "0.weight (6, 1, 5, 5)")
    astray = dict(LENET_MAP, **{"fc3.bias": "12.bias"})
    with pytest.raises(ValueError, match=r"lenet.safetensors: .*'fc3.bias' to '12.bias', "
                                         r"which the model does not have") as err:
        sc.load_safetensors(path, model, key_map=astray)
    assert "the model's '11.bias' is reached by no tensor" in str(err.value)
    twice = dict(LENET_MAP, **{"fc3.bias": "9.bias"})
    with pytest.raises(ValueError, match=r"sends both 'fc2.bias' and 'fc3.bias' to '9.bias'"):
        sc.load_safetensors(path, model, key_map=twice)
    extra = dict(LENET_MAP, **{"fc4.weight": "13.weight"})
    with pytest.raises(ValueError, match=r"key_map names 'fc4.weight', which the file does "
                                         r"not hold"):
        sc.load_safetensors(path, model, key_map=extra)
    for k, v in model.state_dict().items():  # nothing was loaded
        np.testing.assert_array_equal(v, before[k])


def test_a_dict_onto_a_tensor_of_another_shape_is_refused(tmp_path):
    net = Net()
    net.fc3 = nn.Linear(84, 5)
    path = tmp_path / "five.safetensors"
    safetensors_torch.save_file(net.state_dict(), str(path))
    with pytest.raises(ValueError, match=re.escape(
            "five.safetensors: key_map does not fit: tensor 'fc3.weight' has shape (5, 84), "
            "the model's '11.weight' is (10, 84)")) as err:
        sc.load_safetensors(path, sc.models.lenet5(), key_map=LENET_MAP)
    both_sides_listed(str(err.value), "* fc3.weight (5, 84)", "11.weight (10, 84)")
    with pytest.raises(ValueError, match=r"five.safetensors: key_map='order' refused: no "
                                         r"order .* Pass key_map as a dict") as err:
        sc.load_safetensors(path, sc.models.lenet5(), key_map="order")
    both_sides_listed(str(err.value), "fc3.bias (5,)", "11.bias (10,)")


class FeaturesClassifier(nn.Module):
    """Attributes defined features, then classifier: sorted by name, classifier first."""

    def __init__(self, width=16, same=True):
        super().__init__()
        self.features = nn.Sequential(nn.Linear(width, width), nn.ReLU(),
                                      nn.Linear(width, width), nn.ReLU())
        self.classifier = nn.Linear(width, width if same else 3)

    def forward(self, x):
        return self.classifier(self.features(x))


def dense(width=16, out=16):
    return sc.Sequential([sc.layers.Linear(width, width), sc.layers.ReLU(),
                          sc.layers.Linear(width, width), sc.layers.ReLU(),
                          sc.layers.Linear(width, out)])


def test_order_refuses_modules_that_shapes_cannot_tell_apart(tmp_path):
    torch.manual_seed(0)
    path = tmp_path / "fc.safetensors"
    safetensors_torch.save_file(FeaturesClassifier().state_dict(), str(path))
    with pytest.raises(ValueError, match=r"fc.safetensors: key_map='order' refused: the "
                                         r"shapes cannot tell the file's modules apart: the "
                                         r"model's '0' could be the file's 'classifier' or "
                                         r"'features.0'.* Pass key_map as a dict") as err:
        sc.load_safetensors(path, dense(), key_map="order")
    both_sides_listed(str(err.value), "classifier.weight (16, 16)", "features.2.bias (16,)",
                      "4.bias (16,)")


def test_order_takes_the_one_order_that_fits_whatever_the_names_sort_to(tmp_path):
    torch.manual_seed(0)
    net = FeaturesClassifier(same=False)
    path = tmp_path / "fc.safetensors"
    safetensors_torch.save_file(net.state_dict(), str(path))
    model = sc.load_safetensors(path, dense(out=3), key_map="order")
    x = np.random.default_rng(0).standard_normal((5, 16)).astype(np.float32)
    np.testing.assert_allclose(logits(model, x), logits(net, x), rtol=1e-6, atol=1e-6)


def test_numbered_modules_keep_their_order_even_with_equal_shapes(tmp_path):
    torch.manual_seed(0)
    net = nn.Sequential(*[m for _ in range(11) for m in (nn.Linear(8, 8), nn.ReLU())])
    path = tmp_path / "deep.safetensors"
    safetensors_torch.save_file(net.state_dict(), str(path))  # '10.weight' sorts before '2.'
    model = sc.Sequential([m for _ in range(11) for m in (sc.layers.Linear(8, 8),
                                                           sc.layers.ReLU())])
    sc.load_safetensors(path, model, key_map="order")
    x = np.random.default_rng(0).standard_normal((4, 8)).astype(np.float32)
    np.testing.assert_allclose(logits(model, x), logits(net, x), rtol=1e-5, atol=1e-5)


def test_order_needs_a_model_and_key_map_must_be_a_dict_or_order(tmp_path):
    path = sc.save_safetensors(sc.models.lenet5(), tmp_path / "m")
    with pytest.raises(ValueError, match="a dict, or 'order' with the model to match; got "
                                         "'order' and no model"):
        sc.load_safetensors(path, key_map="order")
    with pytest.raises(ValueError, match="key_map must be a dict, or 'order' with the model "
                                         "to match; got 'names'$"):
        sc.load_safetensors(path, sc.models.lenet5(), key_map="names")
    with pytest.raises(TypeError, match="key_map must be a dict"):
        sc.load_safetensors(path, sc.models.lenet5(), key_map=["0.weight"])


def test_save_refuses_a_key_map_that_misses_a_name_or_merges_two(tmp_path):
    model = sc.models.convnet_bn_mini()
    inverse = {ours: theirs for theirs, ours in BN_MAP.items()}
    short = {k: v for k, v in inverse.items() if k != "13.bias"}
    with pytest.raises(ValueError, match=r"key_map misses \['13.bias'\]"):
        sc.save_safetensors(model, tmp_path / "a", key_map=short)
    with pytest.raises(ValueError, match=r"sends both '9.weight' and '13.weight' to "
                                         r"'fc1.weight'"):
        sc.save_safetensors(model, tmp_path / "b", key_map=dict(inverse, **{"13.weight":
                                                                            "fc1.weight"}))
    with pytest.raises(ValueError, match=r"key_map names \['14.weight'\], which the model"):
        sc.save_safetensors(model, tmp_path / "c", key_map=dict(inverse, **{"14.weight": "x"}))
    assert not list(tmp_path.iterdir())  # nothing written


class Block(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(cin, cout, 3, stride=2, padding=1, bias=False),
                                  nn.BatchNorm2d(cout), nn.ReLU(),
                                  nn.Conv2d(cout, cout, 3, padding=1))
        self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=2, bias=False),
                                      nn.BatchNorm2d(cout))

    def forward(self, x):
        return self.body(x) + self.shortcut(x)


def residual_model():
    L = sc.layers
    return sc.Sequential([
        L.Conv2d(1, 4, 3, padding=1), L.ReLU(),
        L.Residual([L.Conv2d(4, 8, 3, stride=2, padding=1, bias=False), L.BatchNorm2d(8),
                    L.ReLU(), L.Conv2d(8, 8, 3, padding=1)],
                   [L.Conv2d(4, 8, 1, stride=2, bias=False), L.BatchNorm2d(8)]),
        L.ReLU(), L.AdaptiveAvgPool2d(1), L.Flatten(), L.Linear(8, 10)])


@pytest.mark.parametrize("key_map", [None, "order"])
def test_a_residual_torch_module_loads_under_its_own_names(tmp_path, key_map):
    net = trained(nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), Block(4, 8),
                                nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                                nn.Linear(8, 10)), steps=12)
    assert "2.shortcut.1.running_mean" in net.state_dict()
    path = tmp_path / "res.safetensors"
    safetensors_torch.save_file(net.state_dict(), str(path))
    model = sc.load_safetensors(path, residual_model(), key_map=key_map)
    np.testing.assert_allclose(logits(model), logits(net), rtol=1e-5, atol=1e-5)
    assert counters(model) == {"2.body.1": 12, "2.shortcut.1": 12}
    back = sc.save_safetensors(model, tmp_path / "back")
    net2 = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), Block(4, 8), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 10))
    net2.load_state_dict(safetensors_torch.load_file(back), strict=True)
    np.testing.assert_array_equal(logits(net2), logits(net))

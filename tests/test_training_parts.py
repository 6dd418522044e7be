"""BatchNorm, Dropout, losses and optimisers against PyTorch."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import scratchcnn as sc
from gradcheck import check_layer_gradients

torch = pytest.importorskip("torch")


@pytest.mark.parametrize("cls, tcls, shape", [(sc.BatchNorm2d, torch.nn.BatchNorm2d, (4, 3, 5, 6)),
                                              (sc.BatchNorm1d, torch.nn.BatchNorm1d, (6, 4)),
                                              (sc.BatchNorm1d, torch.nn.BatchNorm1d, (3, 4, 5))])
def test_batchnorm_matches_torch_in_train_and_eval(cls, tcls, shape, rng):
    ours = cls(shape[1], momentum=0.2).astype(np.float64)
    theirs = tcls(shape[1], momentum=0.2).double()
    w, b = rng.standard_normal(shape[1]), rng.standard_normal(shape[1])
    ours.params["weight"], ours.params["bias"] = w.copy(), b.copy()
    with torch.no_grad():
        theirs.weight.copy_(torch.tensor(w))
        theirs.bias.copy_(torch.tensor(b))
    for mode in ("train", "train", "eval"):
        ours.train(mode == "train")
        theirs.train(mode == "train")
        x = rng.standard_normal(shape) * 2 + 1
        dout = rng.standard_normal(shape)
        y = ours.forward(x)
        dx = ours.backward(dout)
        xt = torch.tensor(x, requires_grad=True)
        yt = theirs(xt)
        yt.backward(torch.tensor(dout))
        np.testing.assert_allclose(y, yt.detach().numpy(), rtol=1e-9, atol=1e-10)
        np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-8, atol=1e-10)
        np.testing.assert_allclose(ours.grads["weight"], theirs.weight.grad.numpy(), rtol=1e-9)
        np.testing.assert_allclose(ours.grads["bias"], theirs.bias.grad.numpy(), rtol=1e-9)
        theirs.weight.grad = theirs.bias.grad = None
        np.testing.assert_allclose(ours.buffers["running_mean"], theirs.running_mean.numpy(),
                                   rtol=1e-12)
        np.testing.assert_allclose(ours.buffers["running_var"], theirs.running_var.numpy(),
                                   rtol=1e-12)


def test_batchnorm_gradcheck(rng):
    check_layer_gradients(sc.BatchNorm2d(2), rng.standard_normal((3, 2, 3, 3)), rng, rtol=1e-4)


def test_dropout_train_and_eval(rng):
    layer = sc.Dropout(0.3, rng=5)
    x = rng.standard_normal((200, 50))
    y = layer.forward(x)
    kept = y != 0
    assert 0.66 < kept.mean() < 0.74
    np.testing.assert_allclose(y[kept], x[kept] / 0.7)
    dout = rng.standard_normal(x.shape)
    np.testing.assert_allclose(layer.backward(dout), np.where(kept, dout / 0.7, 0))
    layer.eval()
    np.testing.assert_array_equal(layer.forward(x), x)
    # the same seed draws the same mask
    a, b = sc.Dropout(0.5, rng=1), sc.Dropout(0.5, rng=1)
    np.testing.assert_array_equal(a.forward(x), b.forward(x))
    # eval mode equals torch's
    np.testing.assert_array_equal(layer.forward(x), torch.nn.Dropout(0.3).eval()(
        torch.tensor(x)).numpy())


def test_cross_entropy_matches_torch(rng):
    logits = rng.standard_normal((7, 5)) * 40  # large: needs log-sum-exp
    labels = rng.integers(0, 5, 7)
    loss = sc.CrossEntropyLoss()
    value = loss.forward(logits, labels)
    lt = torch.tensor(logits, requires_grad=True)
    ref = torch.nn.functional.cross_entropy(lt, torch.tensor(labels))
    ref.backward()
    assert value == pytest.approx(ref.item(), rel=1e-12)
    np.testing.assert_allclose(loss.backward(), lt.grad.numpy(), rtol=1e-10, atol=1e-15)
    onehot = np.eye(5)[labels]
    assert loss.forward(logits, onehot) == pytest.approx(value, rel=1e-12)
    soft = rng.dirichlet(np.ones(5), 7)
    lt.grad = None
    ref = torch.nn.functional.cross_entropy(lt, torch.tensor(soft))
    ref.backward()
    assert loss.forward(logits, soft) == pytest.approx(ref.item(), rel=1e-12)
    np.testing.assert_allclose(loss.backward(), lt.grad.numpy(), rtol=1e-10, atol=1e-15)
    with pytest.raises(ValueError, match=r"labels must be in \[0, 5\)"):
        loss.forward(logits, np.full(7, 5))


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 9), k=st.integers(2, 12), e=st.floats(0, 1), soft=st.booleans(),
       seed=st.integers(0, 2**16))
def test_label_smoothing_matches_torch(n, k, e, soft, seed):
    rng = np.random.default_rng(seed)
    logits = rng.standard_normal((n, k)) * 5
    target = rng.dirichlet(np.ones(k), n) if soft else rng.integers(0, k, n)
    loss = sc.CrossEntropyLoss(label_smoothing=e)
    value = loss.forward(logits, target)
    lt = torch.tensor(logits, requires_grad=True)
    ref = torch.nn.functional.cross_entropy(lt, torch.tensor(target), label_smoothing=e)
    ref.backward()
    assert value == pytest.approx(ref.item(), rel=1e-12, abs=1e-14)
    np.testing.assert_allclose(loss.backward(), lt.grad.numpy(), rtol=1e-10, atol=1e-15)


@pytest.mark.parametrize("bad", [-0.1, 1.5, float("nan"), True, "0.1"])
def test_label_smoothing_outside_0_1_is_refused(bad):
    with pytest.raises(ValueError, match="label_smoothing must be a number in \\[0, 1\\]"):
        sc.CrossEntropyLoss(label_smoothing=bad)


def test_mse_matches_torch(rng):
    out, target = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
    loss = sc.MSELoss()
    ot = torch.tensor(out, requires_grad=True)
    ref = torch.nn.functional.mse_loss(ot, torch.tensor(target))
    ref.backward()
    assert loss.forward(out, target) == pytest.approx(ref.item(), rel=1e-12)
    np.testing.assert_allclose(loss.backward(), ot.grad.numpy(), rtol=1e-12)


def test_losses_of_an_empty_batch_are_nan_as_in_torch():
    import warnings
    empty = np.zeros((0, 5))
    ref_ce = torch.nn.functional.cross_entropy(torch.tensor(empty),
                                               torch.zeros(0, dtype=torch.int64)).item()
    ref_mse = torch.nn.functional.mse_loss(torch.tensor(empty), torch.tensor(empty)).item()
    assert np.isnan(ref_ce) and np.isnan(ref_mse)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no NumPy warning either
        ce, mse = sc.CrossEntropyLoss(), sc.MSELoss()
        assert np.isnan(ce.forward(empty, np.zeros(0, np.int64)))
        assert np.isnan(mse.forward(empty, empty))
        assert ce.backward().shape == mse.backward().shape == (0, 5)


class _Params:
    """Two parameter arrays with externally set gradients, on the optimiser protocol."""

    def __init__(self, arrays):
        self.arrays = arrays
        self.grads = [None] * len(arrays)

    def named_parameters(self):
        for i, (p, g) in enumerate(zip(self.arrays, self.grads)):
            yield str(i), p, g


OPTIMISERS = [
    (lambda: sc.SGD(0.1), lambda ps: torch.optim.SGD(ps, 0.1)),
    (lambda: sc.SGD(0.1, momentum=0.9, weight_decay=0.01),
     lambda ps: torch.optim.SGD(ps, 0.1, momentum=0.9, weight_decay=0.01)),
    (lambda: sc.SGD(0.1, momentum=0.9, nesterov=True),
     lambda ps: torch.optim.SGD(ps, 0.1, momentum=0.9, nesterov=True)),
    (lambda: sc.AdaGrad(0.1), lambda ps: torch.optim.Adagrad(ps, 0.1)),
    (lambda: sc.RMSprop(0.01), lambda ps: torch.optim.RMSprop(ps, 0.01)),
    (lambda: sc.RMSprop(0.01, momentum=0.5, centered=True),
     lambda ps: torch.optim.RMSprop(ps, 0.01, momentum=0.5, centered=True)),
    (lambda: sc.Adam(0.01), lambda ps: torch.optim.Adam(ps, 0.01)),
    (lambda: sc.Adam(0.01, weight_decay=0.1), lambda ps: torch.optim.Adam(ps, 0.01,
                                                                          weight_decay=0.1)),
    (lambda: sc.AdamW(0.01), lambda ps: torch.optim.AdamW(ps, 0.01)),
]


@pytest.mark.parametrize("k", range(len(OPTIMISERS)))
def test_optimisers_follow_torch_for_several_steps(k, rng):
    make_ours, make_theirs = OPTIMISERS[k]
    # the long one is updated in cache-sized pieces
    start = [rng.standard_normal((3, 4)), rng.standard_normal(5), rng.standard_normal(70001)]
    ours = _Params([a.copy() for a in start])
    theirs = [torch.tensor(a, requires_grad=True) for a in start]
    opt, topt = make_ours(), make_theirs(theirs)
    for _ in range(6):
        grads = [rng.standard_normal(a.shape) for a in start]
        ours.grads = grads
        opt.step(ours)
        for t, g in zip(theirs, grads):
            t.grad = torch.tensor(g)
        topt.step()
        for a, t in zip(ours.arrays, theirs):
            np.testing.assert_allclose(a, t.detach().numpy(), rtol=1e-10, atol=1e-12)


def test_schedules_match_torch():
    p = [torch.zeros(1, requires_grad=True)]
    for ours, make in ((sc.StepLR(3, 0.5), lambda o: torch.optim.lr_scheduler.StepLR(o, 3, 0.5)),
                       (sc.CosineAnnealingLR(7, 0.01),
                        lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, 7, 0.01))):
        opt = torch.optim.SGD(p, 0.1)
        sched = make(opt)
        for epoch in range(8):
            assert ours.lr_at(epoch, 0.1) == pytest.approx(opt.param_groups[0]["lr"], rel=1e-9)
            opt.step()
            sched.step()


def test_per_batch_cosine_in_fit_matches_torch_stepped_every_batch(rng):
    class RecordingSGD(sc.SGD):
        def step(self, model):
            used.append(self.lr)
            super().step(model)

    used = []
    model = sc.Sequential([sc.Flatten(), sc.Linear(6, 3, rng=0)]).astype(np.float64)
    x, y = rng.standard_normal((37, 2, 3)), rng.integers(0, 3, 37)
    model.fit(x, y, epochs=3, batch_size=8, optimizer=RecordingSGD(lr=0.1), seed=0,
              scheduler=sc.CosineAnnealingLR(3, 0.01, per_batch=True), verbose=0)
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], 0.1)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, 3 * 5, 0.01)  # 5 batches/epoch
    expected = []
    for _ in range(15):
        expected.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    np.testing.assert_allclose(used, expected, rtol=1e-12)
    assert model.trainer.history["lr"] == pytest.approx(expected[4::5], rel=1e-12)

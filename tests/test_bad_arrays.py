"""Bad arrays get one clear error before any training step; diverging training stops."""

import pathlib
import tempfile

import numpy as np
import pytest

import scratchcnn as sc
from scratchcnn.guard import TrainingDiverged

torch = pytest.importorskip("torch")

RNG = np.random.default_rng(0)
X = RNG.random((12, 1, 28, 28), dtype=np.float32)
Y = np.arange(12) % 10


def nan_at(index):
    x = X.copy()
    x[index] = np.nan
    return x


#: (x, y, error type, the message's words): each case is refused by fit, evaluate and
#: (for x) predict, naming the argument, what was expected and what came.
CASES = {
    "nan": (nan_at((3, 0, 5, 7)), Y, ValueError,
            r"x holds 1 NaN or infinite values \(the first at index \(3, 0, 5, 7\)\)"),
    "inf": (np.where(X > 0.99, np.inf, X), Y, ValueError, r"x holds .* NaN or infinite"),
    "strings": (np.array([["a"]] * 12), Y, TypeError, r"x must be a numeric array, got dtype <U1"),
    "objects": (np.array([object()] * 12), Y, TypeError, r"x must be a numeric array, got "
                r"dtype object"),
    "bools": (X > 0.5, Y, TypeError, r"x must be a numeric array, got a bool array"),
    "ragged": ([[1.0, 2.0], [3.0]], Y, TypeError, r"x must be a numeric array"),
    "uint8 0-255": ((X * 255).astype(np.uint8), Y, ValueError,
                    r"x holds uint8 values in \[0, 25\d\]: 8-bit images with pixels 0-255, it "
                    r"seems; models take real values: scale them first, x / 255.0"),
    "int64 0-255": ((X * 255).astype(np.int64), Y, ValueError,
                    r"x holds int64 values in \[0, 25\d\]: 8-bit images"),
    "empty": (X[:0], Y[:0], ValueError, r"x is empty: expected at least one sample, got shape "
              r"\(0, 1, 28, 28\)"),
    "no channel axis": (X[:, 0], Y, ValueError, r"x must be images \(N, C, H, W\) with C = 1, "
                        r"got shape \(12, 28, 28\) \(no channel axis\?\): add the channel axis"),
    "three channels": (np.repeat(X, 3, axis=1), Y, ValueError, r"x has 3 channels \(shape "
                       r"\(12, 3, 28, 28\)\), but the model's first layer, Conv2d, takes 1"),
    "63 inputs, 64 labels": (X[:11], Y, ValueError, r"x has 11 samples but y has 12"),
    "float labels": (X, Y.astype(np.float64) + 0.5, TypeError,
                     r"y must be integer class labels, got float64"),
    "label out of range": (X, np.where(Y == 9, 10, Y), ValueError,
                           r"y must be class labels in \[0, 10\) for the model's 10 outputs, got "
                           r"values in \[0, 10\]"),
    "negative label": (X, Y - 1, ValueError, r"y must be class labels in \[0, 10\)"),
    "string labels": (X, np.array(["cat"] * 12), TypeError, r"y must be a numeric array"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_fit_evaluate_and_predict_refuse_bad_arrays_before_any_step(case, monkeypatch):
    x, y, error, words = CASES[case]
    model = sc.models.lenet5(seed=0)
    before = model.state_dict()
    steps = []
    monkeypatch.setattr(sc.Adam, "step", lambda self, m: steps.append(1))
    with pytest.raises(error, match=words):
        model.fit(x, y, epochs=1, batch_size=4, verbose=0)
    with pytest.raises(error, match=words):
        model.evaluate(x, y)
    if "label" not in case and "64" not in case:
        with pytest.raises(error, match=words):
            model.predict(x)
        with pytest.raises(error, match=words):
            model.predict_proba(x)
    assert not steps
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(value, before[key])


def test_any_finite_values_are_taken_but_raw_pixels_not_by_a_model_trained_on_0_1():
    model = sc.models.lenet5(seed=0)
    standardised = (X - X.mean()) / X.std()  # negative values and values above 1
    model.fit(standardised, Y, epochs=1, batch_size=4, verbose=0)
    assert model.meta["input_range"] == [float(standardised.min()), float(standardised.max())]
    model.predict(X * 255)  # trained on standardised features: nothing to compare to
    model.predict(np.array([[[[-3, 0], [1, 0]]]]).repeat(14, 2).repeat(14, 3))  # small ints

    pixels = sc.models.lenet5(seed=0)
    pixels.fit(X, Y, epochs=1, batch_size=4, verbose=0)
    assert pixels.meta["input_range"] == [float(X.min()), float(X.max())]
    words = (r"x holds values in \[0.*, 25\d.*\], like raw 0-255 pixels, but the model was "
             r"trained on data in \[.*, 0.9.*\]; divide by 255.0 first")
    for call in (lambda: pixels.predict(X * 255), lambda: pixels.evaluate(X * 255, Y),
                 lambda: pixels.fit(X * 255, Y, verbose=0)):
        with pytest.raises(ValueError, match=words):
            call()
    pixels.predict(X * 1.5)  # a little past 1 (augmentation, resizing) is no mistake
    saved = sc.load(sc.save(pixels, str(pathlib.Path(tempfile.mkdtemp()) / "m")))
    with pytest.raises(ValueError, match="like raw 0-255 pixels"):
        saved.predict(X * 255)  # the range is saved with the model


def test_validation_data_and_fit_arguments_are_checked_too():
    model = sc.models.lenet5(seed=0)
    with pytest.raises(ValueError, match=r"validation_data\[0\] holds 1 NaN"):
        model.fit(X, Y, validation_data=(nan_at((0, 0, 0, 0)), Y), verbose=0)
    with pytest.raises(ValueError, match=r"x has 12 samples but validation_data\[1\] has 11"):
        model.fit(X, Y, validation_data=(X, Y[:11]), verbose=0)
    for name, value in (("epochs", 1.5), ("epochs", -1), ("batch_size", 0), ("epochs", True)):
        with pytest.raises(ValueError, match=f"fit: {name} must be an int"):
            model.fit(X, Y, **{name: value}, verbose=0)
    with pytest.raises(ValueError, match="clip_grad_norm must be a positive number"):
        model.fit(X, Y, clip_grad_norm=0, verbose=0)
    with pytest.raises(ValueError, match="batch_size must be an int >= 1, got 0"):
        model.predict(X, batch_size=0)


def test_a_linear_model_takes_any_real_features():
    model = sc.Sequential([sc.Linear(5, 3, rng=0)])
    x, y = RNG.standard_normal((20, 5)) * 100, np.arange(20) % 3
    model.fit(x, y, epochs=1, batch_size=8, verbose=0)  # no pixel range for features
    with pytest.raises(ValueError, match=r"x must be \(N, \.\.\., 5\) for the model's first "
                                         r"layer, Linear\(5, \.\.\.\), got shape \(20, 4\)"):
        model.predict(x[:, :4])


def test_a_lone_last_sample_joins_the_batch_before_it():
    model = sc.models.convnet_bn_mini(seed=0)  # batch norm: one sample cannot train
    history = model.fit(X[:9], Y[:9], epochs=1, batch_size=4, verbose=0)  # 4 + 5, not 4+4+1
    assert np.isfinite(history["loss"][0])
    from scratchcnn.training import batch_bounds
    assert batch_bounds(9, 4) == [0, 4, 9] and batch_bounds(8, 4) == [0, 4, 8]
    assert batch_bounds(1, 4) == [0, 1] and batch_bounds(0, 4) == [0]


def test_a_diverging_loss_stops_fit_naming_epoch_and_batch():
    model = sc.models.lenet5(seed=0)
    with pytest.raises(TrainingDiverged, match=r"training diverged in epoch 1, batch \d+: the "
                                               r"loss (became (nan|inf)|grew from)") as info:
        model.fit(X, Y, epochs=3, batch_size=2, optimizer=sc.Adam(1e6), verbose=0)
    assert info.value.epoch == 1 and info.value.layer is None
    assert model.trainer.epoch == 0  # no epoch finished, none recorded


def test_a_gradient_that_is_not_finite_names_its_layer(monkeypatch):
    model = sc.models.lenet5(seed=0)
    real = sc.Linear._backward

    def poisoned(self, dout):  # layer 9 (the second Linear) computes an inf gradient
        dx = real(self, dout)
        if self is model.layers[9]:
            self.grads["weight"][0, 0] = np.inf
        return dx
    monkeypatch.setattr(sc.Linear, "_backward", poisoned)
    weights = model.layers[9].params["weight"].copy()
    with pytest.raises(TrainingDiverged, match=r"epoch 1, batch 1: the gradient of layer 9 "
                                               r"\(Linear\) 'weight' is not finite") as info:
        model.fit(X, Y, epochs=1, batch_size=4, verbose=0)
    assert info.value.layer == 9
    np.testing.assert_array_equal(model.layers[9].params["weight"], weights)  # no step taken


def test_clip_grad_norm_equals_torch(rng):
    model = sc.models.lenet5(seed=0).astype(np.float64)
    x = rng.random((4, 1, 28, 28))
    loss = sc.CrossEntropyLoss()
    loss.forward(model.forward(x), np.arange(4))
    model.backward(loss.backward())
    params = [torch.nn.Parameter(torch.tensor(p)) for p in model.parameters()]
    for p, (_, _, g) in zip(params, model.named_parameters()):
        p.grad = torch.tensor(g)
    from scratchcnn.guard import clip_grad_norm
    ours = clip_grad_norm(model, 0.05)
    theirs = torch.nn.utils.clip_grad_norm_(params, 0.05)
    assert ours == pytest.approx(float(theirs), rel=1e-12) and ours > 0.05
    for p, (_, _, g) in zip(params, model.named_parameters()):
        np.testing.assert_allclose(g, p.grad.numpy(), rtol=1e-12)
    assert clip_grad_norm(model, 1e9) == pytest.approx(0.05, rel=1e-5)  # now within: as is
    history = model.fit(x, np.arange(4), epochs=2, batch_size=2, clip_grad_norm=0.1, verbose=0)
    assert np.isfinite(history["loss"]).all()

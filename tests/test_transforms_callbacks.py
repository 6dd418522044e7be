"""Augmentation (seeded, moving pixels as stated, resumable) and fit's callbacks."""

import numpy as np
import pytest

import scratchcnn as sc
from scratchcnn import transforms as T
from scratchcnn.callbacks import Callback, EarlyStopping, LambdaCallback, ModelCheckpoint
from scratchcnn.cli import main

RNG = np.random.default_rng(0)
X = RNG.random((6, 2, 9, 7), dtype=np.float32)
ALL = [T.RandomShift(2), T.RandomCrop(padding=3), T.RandomCrop((5, 4), padding=1),
       T.RandomHorizontalFlip(), T.RandomErasing(p=1.0), T.RandomAffine(15, 0.1),
       T.Compose([T.RandomShift(1), T.RandomErasing()])]


@pytest.mark.parametrize("transform", ALL, ids=repr)
def test_every_transform_is_seeded_keeps_dtype_and_never_changes_its_input(transform):
    before = X.copy()
    a = transform(X, np.random.default_rng(5))
    b = transform(X, np.random.default_rng(5))
    np.testing.assert_array_equal(a, b)  # the same seed, the same batch
    np.testing.assert_array_equal(X, before)
    assert a.dtype == X.dtype and a.shape[:2] == X.shape[:2]
    assert a.shape[2:] == ((5, 4) if getattr(transform, "size", None) else X.shape[2:])
    assert not np.array_equal(a, transform(X, np.random.default_rng(6)))  # another seed
    assert 0 <= a.min() and a.max() <= 1


def test_shift_moves_each_sample_by_its_own_whole_pixels():
    x = np.zeros((50, 1, 8, 8), np.float32)
    x[:, 0, 4, 3] = 1.0  # one lit pixel
    out = T.RandomShift(2)(x, np.random.default_rng(0))
    moves = set()
    for n in range(50):
        (r,), (c,) = np.nonzero(out[n, 0])
        moves.add((r - 4, c - 3))
        assert out[n].sum() == 1  # moved, not blurred
    assert moves <= {(dy, dx) for dy in range(-2, 3) for dx in range(-2, 3)}
    assert len(moves) > 10  # per sample, not one shift for the batch
    edge = np.zeros((1, 1, 4, 4), np.float32)
    edge[0, 0, :, 0] = 1  # a column at the left edge moves out and zeros come in
    shifted = {T.RandomShift(1)(edge, np.random.default_rng(s))[0, 0, :, 0].sum()
               for s in range(20)}
    assert shifted >= {0.0, 4.0}


def test_flip_mirrors_exactly_the_chosen_samples():
    out = T.RandomHorizontalFlip(0.5)(X, np.random.default_rng(1))
    flipped = [bool(np.array_equal(out[n], X[n, :, :, ::-1])) for n in range(len(X))]
    kept = [bool(np.array_equal(out[n], X[n])) for n in range(len(X))]
    assert all(f != k for f, k in zip(flipped, kept)) and any(flipped) and any(kept)
    np.testing.assert_array_equal(T.RandomHorizontalFlip(1.0)(X, RNG), X[..., ::-1])


def test_erasing_zeroes_one_rectangle_per_sample():
    ones = np.ones((20, 3, 10, 10), np.float32)
    out = T.RandomErasing(p=1.0, scale=(0.1, 0.3))(ones, np.random.default_rng(2))
    for n in range(20):
        rows, cols = np.nonzero(out[n, 0] == 0)
        area = (rows.max() - rows.min() + 1) * (cols.max() - cols.min() + 1)
        assert len(rows) == area and 1 <= area <= 40  # one rectangle, about 10-30 %
        np.testing.assert_array_equal(out[n, 1], out[n, 0])  # all channels alike


def test_affine_without_change_is_the_identity_and_rotation_keeps_the_centre():
    same = T.RandomAffine(degrees=0, translate=0, scale=(1, 1))(X, RNG)
    np.testing.assert_allclose(same, X, atol=1e-6)
    x = np.zeros((4, 1, 9, 9), np.float32)
    x[:, 0, 4, 4] = 1  # the centre pixel stays where rotation and zoom leave it
    out = T.RandomAffine(degrees=30, translate=0, scale=(1, 1))(x, np.random.default_rng(3))
    assert (out[:, 0, 4, 4] > 0.5).all()


def test_parse_reads_the_command_lines_specs():
    t = T.parse("shift:3,erase:0.25")
    assert isinstance(t, T.Compose) and t.transforms[0].padding == 3
    assert t.transforms[1].p == 0.25 and T.parse("none") is None and T.parse(None) is None
    assert isinstance(T.parse("flip"), T.RandomHorizontalFlip)
    with pytest.raises(ValueError, match="unknown transform 'spin'"):
        T.parse("spin")
    with pytest.raises(ValueError, match="'shift:x': the number"):
        T.parse("shift:x")


DATA = sc.datasets.load_sample()


def fit(model, epochs, **kw):
    (x, y), (xt, yt) = DATA.train, DATA.test
    return model.fit(x[:600], y[:600], epochs=epochs, batch_size=64, seed=3, verbose=0,
                     validation_data=(xt[:200], yt[:200]), **kw)


def test_augmented_training_resumes_bit_for_bit():
    augment = T.parse("shift:2,erase:0.3")
    straight = sc.models.lenet5(seed=0)
    fit(straight, 3, augment=augment)
    cut = sc.models.lenet5(seed=0)
    fit(cut, 1, augment=augment)
    state = cut.trainer.state_dict()
    assert "augment_rng" in state
    resumed = sc.models.lenet5(seed=5)
    resumed.fit(DATA.train[0][:1], DATA.train[1][:1], epochs=0, seed=99)  # a fresh trainer
    resumed.trainer.load_state_dict(state)
    fit(resumed, 2, augment=augment)
    for (k, a), (_, b) in zip(straight.state_dict().items(), resumed.state_dict().items()):
        np.testing.assert_array_equal(a, b, err_msg=k)
    plain = sc.models.lenet5(seed=0)
    fit(plain, 1)
    assert not np.array_equal(plain.state_dict()["0.weight"], cut.state_dict()["0.weight"])


def test_early_stopping_stops_and_restores_the_best_weights():
    model = sc.models.lenet5(seed=0)
    seen = []
    stop = EarlyStopping(monitor="val_accuracy", patience=1, restore_best_weights=True)
    history = fit(model, 40, optimizer=sc.Adam(2e-2), callbacks=[stop, LambdaCallback(
        on_epoch_end=lambda trainer, epoch, logs: seen.append(
            (epoch, logs["val_accuracy"], trainer.model.state_dict())))])
    accuracies = history["val_accuracy"]
    assert stop.stopped_epoch is not None and len(accuracies) == stop.stopped_epoch + 1 < 40
    best = int(np.argmax(accuracies))
    assert stop.best_epoch == best and accuracies[best] == max(accuracies)
    assert all(accuracies[best] >= a for a in accuracies[best + 1:])  # patience ran out
    for k, v in model.state_dict().items():  # the model ends with its best epoch's weights
        np.testing.assert_array_equal(v, seen[best][2][k], err_msg=k)
    with pytest.raises(ValueError, match="the metric 'val_f1' is not measured"):
        fit(sc.models.lenet5(seed=0), 1, callbacks=[EarlyStopping("val_f1")])


def test_model_checkpoint_keeps_the_best_model(tmp_path):
    model = sc.models.lenet5(seed=0)
    keep = ModelCheckpoint(tmp_path / "best.npz", monitor="val_loss")
    history = fit(model, 4, optimizer=sc.Adam(3e-3), callbacks=[keep])
    best = int(np.argmin(history["val_loss"]))
    assert keep.best_epoch == best
    (xt, yt) = DATA.test
    saved = sc.load(tmp_path / "best.npz").evaluate(xt[:200], yt[:200])
    assert saved["loss"] == pytest.approx(history["val_loss"][best], rel=1e-6)


def test_callbacks_see_every_hook_in_order():
    calls = []

    class Recorder(Callback):
        def __getattribute__(self, name):
            if name.startswith("on_"):
                return lambda *args: calls.append(name)
            return super().__getattribute__(name)
    model = sc.models.lenet5(seed=0)
    x, y = DATA.train
    model.fit(x[:96], y[:96], epochs=2, batch_size=48, verbose=0, callbacks=[Recorder()])
    epoch = ["on_epoch_begin"] + ["on_batch_begin", "on_batch_end"] * 2 + ["on_epoch_end"]
    assert calls == ["on_train_begin", *epoch, *epoch, "on_train_end"]
    with pytest.raises(TypeError, match="callbacks must be Callback objects"):
        model.fit(x[:8], y[:8], callbacks=[print], verbose=0)


def test_train_augment_option(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("SCRATCHCNN_OFFLINE", "1")
    assert main(["train", "--epochs", "1", "--augment", "shift:2,erase:0.25", "--out",
                 str(tmp_path / "run")]) == 0
    capsys.readouterr()
    import json
    checkpoint = sc.load_checkpoint(tmp_path / "run" / "checkpoint.npz")
    assert checkpoint.settings["options"]["augment"] == "shift:2,erase:0.25"
    assert main(["train", "--resume", str(tmp_path / "run"), "--epochs", "2"]) == 0
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["epochs"] == 2
    with pytest.raises(SystemExit):
        main(["train", "--augment", "spin"])
    assert "unknown transform 'spin'" in capsys.readouterr().err

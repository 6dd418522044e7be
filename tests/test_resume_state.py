"""A resumed run goes on with the whole run's state (the divergence guard's first loss,
EarlyStopping's counters) and can never write a file that load refuses (issue 26)."""

import numpy as np
import pytest

import scratchcnn as sc
from scratchcnn.callbacks import EarlyStopping, TrainingCheckpoint
from scratchcnn.guard import TrainingDiverged
from scratchcnn.training import Trainer

DATA = sc.datasets.load_sample()
X, Y = DATA.train[0][:256], DATA.train[1][:256]


def first_run(tmp_path, callbacks=()):
    model = sc.models.lenet5(seed=0)
    keep = TrainingCheckpoint(tmp_path / "model.npz", tmp_path / "checkpoint.npz")
    model.trainer = Trainer(model, sc.Adam(1e-3), seed=0)
    model.fit(X, Y, epochs=2, batch_size=64, callbacks=[*callbacks, keep], verbose=0)
    return model


def resumed(path):
    checkpoint = sc.load_checkpoint(path)
    trainer = Trainer(checkpoint.model, sc.Adam(1e-3), seed=0)
    trainer.load_state_dict(checkpoint.trainer_state)
    checkpoint.model.trainer = trainer
    return checkpoint.model


def test_the_guards_first_loss_and_early_stoppings_state_are_checkpointed(tmp_path):
    stop = EarlyStopping(monitor="loss", patience=5)
    model = first_run(tmp_path, [stop])
    state = model.trainer.state_dict()
    assert state["guard"]["first_loss"] == model.trainer._guard.first_loss > 1.0
    assert state["callbacks"] == {"0.EarlyStopping": stop.state_dict()}
    again = resumed(tmp_path / "checkpoint.npz")
    assert again.trainer._guard.first_loss == state["guard"]["first_loss"]
    fresh = EarlyStopping(monitor="loss", patience=5)
    again.fit(X, Y, epochs=1, batch_size=64, callbacks=[fresh], verbose=0)
    assert fresh.best <= stop.best and fresh.best_epoch in (1, 2)  # it went on counting
    with pytest.raises(ValueError, match="EarlyStopping: not a state it saved"):
        EarlyStopping().load_state_dict({"wait": -1, "best": None, "best_epoch": None,
                                         "stopped_epoch": None})


def test_a_checkpoint_whose_optimiser_state_blows_up_a_weight_stops_before_any_save(
        tmp_path):
    first_run(tmp_path)
    model_before = (tmp_path / "model.npz").read_bytes()
    checkpoint = sc.load_checkpoint(tmp_path / "checkpoint.npz")
    state = checkpoint.trainer_state
    moments = state["optimizer"]["state"]["0.weight"]
    moments["exp_avg"] = np.full_like(moments["exp_avg"], 3e38)  # finite, within float32
    trainer = Trainer(checkpoint.model, sc.Adam(1e-3), seed=0)
    trainer.load_state_dict(state)
    keep = TrainingCheckpoint(tmp_path / "model.npz", tmp_path / "checkpoint.npz")
    with pytest.raises(TrainingDiverged, match=r"the step made layer 0 \(Conv2d\) 'weight' "
                                               r"not finite"):
        trainer.run(X, Y, epochs=1, batch_size=64, callbacks=[keep], verbose=0)
    assert (tmp_path / "model.npz").read_bytes() == model_before  # nothing written after
    sc.load(tmp_path / "model.npz")  # and what is there loads


@pytest.mark.parametrize("change, words", [
    ({"state": {"state": 1.5, "inc": 1}}, "whole numbers"),  # NumPy would truncate it
    ({"state": {"state": 2**200, "inc": 1}}, "OverflowError"),
    ({"state": {"state": -1, "inc": 1}}, "OverflowError"),
    ({"uinteger": -5}, "OverflowError"),
    ({"has_uint32": True}, "whole numbers"),
    ({"state": [1]}, "whole numbers"),
    ({"bit_generator": "MT19937"}, "ValueError"),
])
def test_a_bad_generator_state_is_refused_before_anything_is_restored(change, words, tmp_path):
    model = first_run(tmp_path)
    state = model.trainer.state_dict()
    state["augment_rng"] = {**state["augment_rng"], **change}
    fresh = sc.models.lenet5(seed=1)
    before = fresh.state_dict()
    trainer = Trainer(fresh, sc.Adam(1e-3), seed=0)
    with pytest.raises(ValueError, match="random generator state augment_rng is not one a "
                                         "PCG64 takes") as info:
        trainer.load_state_dict(state)
    assert words in str(info.value)
    assert all(np.array_equal(before[k], v) for k, v in fresh.state_dict().items())

"""The scratchcnn command, run as a user would."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import scratchcnn as sc
from scratchcnn.cli import main


def run(capsys, *argv):
    assert main(list(argv)) == 0
    return capsys.readouterr().out


def parse(out):
    return dict(line.split("=", 1) for line in out.splitlines()
                if "=" in line and " " not in line.split("=", 1)[0])


def test_shape_answers_the_notebook(capsys):
    # the notebook's 144x144x3 image, read as C,H,W like summary reads it
    out = parse(run(capsys, "shape", "--input", "3,144,144", "--filters", "6", "--kernel", "3"))
    assert out["output"] == "6,142,142" and out["params"] == "168"
    out = parse(run(capsys, "shape", "--input", "10,20,20", "--filters", "20", "--kernel", "3",
                    "--stride", "2"))
    assert out["output"] == "20,9,9" and out["params"] == "1820"
    with pytest.raises(SystemExit):
        main(["shape", "--input", "1,2,2", "--filters", "1", "--kernel", "5"])


@pytest.mark.parametrize("command", [["shape", "--filters", "6", "--kernel", "3"],
                                     ["summary", "lenet5"]])
def test_an_input_that_reads_as_h_w_c_is_refused_by_shape_and_summary(command, capsys):
    with pytest.raises(SystemExit):
        main([*command, "--input", "120,160,3"])  # channels last: 3,120,160 it is
    assert "write 3,120,160" in capsys.readouterr().err
    with pytest.raises(SystemExit) as stop:
        main([*command, "--input", "144,144,3"])
    assert stop.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"scratchcnn {command[0]}: error: argument --input: 144,144,3 reads as "
                   f"C=144, H=144, W=3; --input is C,H,W: if you mean a 144x144 image of 3 "
                   f"channels (H,W,C), write 3,144,144 (see 'scratchcnn {command[0]} --help')"]


def test_summary_builds_a_zoo_model_for_the_input_and_refuses_what_does_not_fit(capsys):
    assert "Total params: 82,826" in run(capsys, "summary", "lenet5", "--input", "1,32,32")
    assert sc.models.lenet5().output_shape((1, 28, 28)) == (10,)  # one sample: unbatched
    assert main(["summary", "lenet5", "--input", "1,2,2"]) == 1
    assert capsys.readouterr().err.strip() == (
        "scratchcnn: lenet5: input 2x2 is too small; it takes images of at least 4x4 (resize "
        "or pad them, or choose a model that takes smaller ones: resnet20)")


def test_a_bare_command_prints_help_and_help_shows_the_defaults(capsys):
    assert main([]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: scratchcnn") and "train" in out and "main job" in out
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    for default in ("(default: convnet_bn_mini)", "(default: mnist-sample)", "(default: 20)",
                    "(default: 32)", "(default: adam)", "(default: 0.002)", "(default: cosine)",
                    "(default: 0.1)", "(default: affine:10)", "(default: 0)"):
        assert default in out, default


def test_summary(capsys):
    assert "Total params: 61,706" in run(capsys, "summary", "lenet5")
    assert "(30, 24, 24)" in run(capsys, "summary", "simple_convnet")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    env = {**os.environ, "SCRATCHCNN_OFFLINE": "1"}
    proc = subprocess.run([sys.executable, "-m", "scratchcnn", "train", "--model", "lenet5",
                           "--epochs", "2", "--batch-size", "64", "--augment", "none",
                           "--lr", "1e-3", "--out", str(out)], capture_output=True,
                          text=True, env=env)  # no time limit: slow machines pass
    assert proc.returncode == 0, proc.stderr
    return out, proc


def test_train_writes_model_and_metrics(trained):
    out, proc = trained
    values = parse(proc.stdout)
    assert values["model_file"] == str(out / "model.npz")
    # two epochs of 3,600 images, the rate annealed to 0 within them: about 85 %
    assert float(values["test_accuracy"]) > 0.8
    metrics = json.loads((out / "metrics.json").read_text())
    assert len(metrics["history"]["val_accuracy"]) == 2
    assert metrics["test_accuracy"] == pytest.approx(float(values["test_accuracy"]), abs=1e-4)
    # the default data set is the bundled sample: named as such, no network tried
    assert "epoch 2/2" in proc.stdout and "source=bundled MNIST sample" in proc.stdout
    assert "full MNIST unavailable" not in proc.stderr
    pytest.importorskip("matplotlib")
    assert values["curves_file"] == str(out / "curves.png")
    assert (out / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_evaluate_and_summary_of_a_model_file(trained, capsys, monkeypatch):
    out, proc = trained
    monkeypatch.setenv("SCRATCHCNN_OFFLINE", "1")
    text = run(capsys, "evaluate", str(out / "model.npz"))
    assert float(parse(text)["accuracy"]) == pytest.approx(
        float(parse(proc.stdout)["test_accuracy"]), abs=1e-4)
    assert text.count("class=") == 10 and "confusion matrix" in text
    assert "Total params: 61,706" in run(capsys, "summary", str(out / "model.npz"))
    model = sc.load(out / "model.npz")
    x, y = sc.datasets.load_sample().test
    flipped = run(capsys, "evaluate", str(out / "model.npz"), "--tta", "flip")
    assert float(parse(flipped)["accuracy"]) == pytest.approx(
        np.mean(model.predict(x, tta="flip") == y), abs=1e-4)


def test_predict_an_image_file(trained, capsys, tmp_path):
    Image = pytest.importorskip("PIL.Image")
    from scratchcnn import datasets
    x, y = datasets.load_sample().test
    i = int(np.flatnonzero(y == 3)[0])
    # a white-background, dark-ink, larger image: predict must resize and invert it
    img = Image.fromarray((255 - x[i, 0] * 255).astype(np.uint8)).resize((112, 112))
    img.save(tmp_path / "three.png")
    out = run(capsys, "predict", str(trained[0] / "model.npz"), str(tmp_path / "three.png"))
    assert "prediction=3" in out


def test_verbose_logs_function_and_line(capsys, monkeypatch):
    import logging
    monkeypatch.setattr(logging.root, "handlers", [])
    run(capsys, "-v", "summary", "lenet5")
    logging.getLogger("scratchcnn").info("hello")
    assert "test_verbose_logs_function_and_line:" in capsys.readouterr().err


def test_bad_dataset_is_a_clear_error():
    with pytest.raises(SystemExit, match="--dataset must be mnist-sample, mnist, fashion-mnist "
                                         "or a directory"):
        main(["train", "--dataset", "nope"])


def use_tiny_data(monkeypatch, seed):
    """80 random 28x28 images for ``train`` (its first 20 are also the test set)."""
    from scratchcnn import cli, datasets
    x = np.random.default_rng(seed).random((80, 1, 28, 28), dtype=np.float32)
    y = np.arange(80) % 10
    tiny = datasets.DataSplits((x, y), (x[:20], y[:20]), "test", "tiny")
    monkeypatch.setattr(cli.common, "load_data", lambda name, offline: tiny)


def ctrl_c_at_batch(monkeypatch, batch):
    """Make the ``batch``-th backward pass from now on raise KeyboardInterrupt."""
    from scratchcnn import model as model_module
    backward = model_module.Sequential.backward
    calls = []

    def counting(self, dout):
        calls.append(1)
        if len(calls) == batch:
            raise KeyboardInterrupt
        return backward(self, dout)
    monkeypatch.setattr(model_module.Sequential, "backward", counting)
    return lambda: monkeypatch.setattr(model_module.Sequential, "backward", backward)


def test_interrupted_training_keeps_the_last_finished_epoch(tmp_path, capsys, monkeypatch):
    from scratchcnn import io  # noqa: F401
    use_tiny_data(monkeypatch, 0)
    # a constant rate: epoch 1 of a 1-epoch and of a 3-epoch run are then the same
    args = ["train", "--batch-size", "32", "--validation-split", "0", "--schedule", "none"]
    assert main(args + ["--epochs", "1", "--out", str(tmp_path / "one")]) == 0
    ctrl_c_at_batch(monkeypatch, 4)  # 3 batches an epoch: the 4th is epoch 2's first
    assert main(args + ["--epochs", "3", "--out", str(tmp_path / "cut")]) == 130
    assert "holds the model after epoch 1" in capsys.readouterr().err
    assert not (tmp_path / "cut" / "metrics.json").exists()
    kept, one = sc.load(tmp_path / "cut" / "model.npz"), sc.load(tmp_path / "one" / "model.npz")
    for (name, a), (_, b) in zip(kept.state_dict().items(), one.state_dict().items()):
        np.testing.assert_array_equal(a, b, err_msg=name)


def test_resume_continues_an_interrupted_run_bit_for_bit(tmp_path, capsys, monkeypatch):
    from scratchcnn import io  # noqa: F401
    use_tiny_data(monkeypatch, 1)
    # dropout, batch norm, a validation split and the per-batch cosine schedule: every
    # Generator and the schedule's position must be restored
    args = ["train", "--model", "convnet_bn", "--batch-size", "16", "--epochs", "3",
            "--optimizer", "adamw"]
    assert main(args + ["--out", str(tmp_path / "straight")]) == 0
    straight = parse(capsys.readouterr().out)

    restore = ctrl_c_at_batch(monkeypatch, 6)  # 72 images, 5 batches: the 6th is epoch 2's
    cut = tmp_path / "cut"
    assert main(args + ["--out", str(cut)]) == 130
    assert f"scratchcnn train --resume {cut}" in capsys.readouterr().err
    restore()
    with pytest.raises(SystemExit, match="--lr 0.002, not 0.5"):
        main(["train", "--resume", str(cut), "--lr", "0.5"])
    assert main(["train", "--resume", str(cut)]) == 0
    resumed = parse(capsys.readouterr().out)
    assert resumed["resumed"] == str(cut) and resumed["resumed_after_epoch"] == "1"
    assert resumed["test_accuracy"] == straight["test_accuracy"]
    a, b = sc.load(cut / "model.npz"), sc.load(tmp_path / "straight" / "model.npz")
    for (name, p), (_, q) in zip(a.state_dict().items(), b.state_dict().items()):
        np.testing.assert_array_equal(p, q, err_msg=name)
    history = [json.loads((d / "metrics.json").read_text())["history"] for d in
               (cut, tmp_path / "straight")]
    for key in ("loss", "accuracy", "val_loss", "val_accuracy", "lr"):
        assert history[0][key] == history[1][key], key


def test_checkpoint_files_are_checked(tmp_path):
    from scratchcnn import io, models
    model = models.lenet5(seed=0)
    model.fit(np.zeros((8, 1, 28, 28), np.float32), np.arange(8), epochs=1, batch_size=4,
              verbose=0)
    path = io.save_checkpoint(model.trainer, tmp_path / "c", {"note": "x"})
    back = sc.load_checkpoint(path)
    assert back.settings == {"note": "x"} and back.trainer_state["epoch"] == 1
    assert set(back.trainer_state["optimizer"]["state"]) == set(model.state_dict())
    with pytest.raises(ValueError, match="training checkpoint"):
        sc.load(path)
    with pytest.raises(ValueError, match="not a scratchcnn checkpoint file"):
        sc.load_checkpoint(io.save(model, tmp_path / "m"))
    with pytest.raises(SystemExit, match="no checkpoint file"):
        main(["train", "--resume", str(tmp_path / "nowhere")])


def test_sigterm_stops_training_like_ctrl_c(tmp_path):
    import signal
    import time
    from scratchcnn.datasets import FILES, write_idx
    rng = np.random.default_rng(0)
    data = tmp_path / "tiny"
    data.mkdir()
    images = (rng.random((100, 28, 28)) * 255).astype(np.uint8)
    labels = (np.arange(100) % 10).astype(np.uint8)
    for stem, array in zip(FILES, (images, labels, images[:20], labels[:20])):
        write_idx(data / stem, array)
    out = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "scratchcnn", "train", "--dataset", str(data),
                             "--epochs", "100000", "--out", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    while not (out / "checkpoint.npz").exists():  # (no deadline: a slow machine waits)
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate()
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert "scratchcnn: terminated in epoch" in err
    assert f"continue with scratchcnn train --resume {out}" in err
    assert not (out / "metrics.json").exists()


def test_confusion_matrix_png_labels_every_class_with_counts(trained, capsys, monkeypatch):
    pytest.importorskip("matplotlib")
    import matplotlib.pyplot as plt
    from scratchcnn import plots
    out, _ = trained
    monkeypatch.setenv("SCRATCHCNN_OFFLINE", "1")
    drawn = {}
    real = plt.Figure.savefig

    def keep(fig, path, **kw):  # look at the figure as it is saved
        ax = fig.axes[0]
        drawn.update(ticks=[t.get_text() for t in ax.get_xticklabels()],
                     title=ax.get_title(), cells=[t.get_text() for t in ax.texts],
                     colorbar=len(fig.axes) == 2)
        return real(fig, path, **kw)
    monkeypatch.setattr(plt.Figure, "savefig", keep)
    text = run(capsys, "evaluate", str(out / "model.npz"), "--plot")
    path = parse(text)["confusion_file"]
    assert open(path, "rb").read(8) == b"\x89PNG\r\n\x1a\n"
    assert drawn["ticks"] == [str(i) for i in range(10)]  # every class, not every other
    assert "Confusion matrix on mnist-sample (1,000 images" in drawn["title"]
    assert len(drawn["cells"]) == 100 and sum(map(int, drawn["cells"])) == 1000
    assert drawn["colorbar"]
    assert plots.plot_confusion(np.eye(3, dtype=int), os.devnull, ["a", "b", "c"])


def test_predict_refuses_a_decompression_bomb(trained, tmp_path, monkeypatch):
    Image = pytest.importorskip("PIL.Image")
    out, _ = trained
    Image.fromarray(np.zeros((64, 64), np.uint8)).save(tmp_path / "big.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # 4,096 pixels: twice over is a bomb
    with pytest.raises(SystemExit, match="cannot read image .*big.png"):
        main(["predict", str(out / "model.npz"), str(tmp_path / "big.png")])


def test_resume_refuses_a_checkpoint_claiming_a_billion_epochs(tmp_path):
    from scratchcnn import io, models
    from scratchcnn.cli.train import RUN_OPTIONS
    model = models.lenet5(seed=0)
    model.fit(np.zeros((8, 1, 28, 28), np.float32), np.arange(8), epochs=1, batch_size=4,
              verbose=0)
    options = {"model": "lenet5", "dataset": "mnist", "epochs": 10**9, "batch_size": 64,
               "optimizer": "adam", "lr": 1e-3, "schedule": "cosine", "validation_split": 0.1,
               "clip_grad_norm": None, "augment": None, "seed": 0}
    assert set(options) | {"label_smoothing"} == set(RUN_OPTIONS)  # (a later option)
    io.save_checkpoint(model.trainer, tmp_path / "checkpoint", {"options": options})
    with pytest.raises(SystemExit, match=r"holds a run option that train refuses: --epochs "
                                         r"1000000000: must be in \[1, 100000\]"):
        main(["train", "--resume", str(tmp_path)])
    options.update(epochs=2, lr="0.001")  # a string where a number belongs
    io.save_checkpoint(model.trainer, tmp_path / "checkpoint", {"options": options})
    with pytest.raises(SystemExit, match="--lr '0.001' is not a float"):
        main(["train", "--resume", str(tmp_path)])


def test_divergence_in_epoch_2_keeps_epoch_1s_files(tmp_path, capsys, monkeypatch):
    use_tiny_data(monkeypatch, 0)
    args = ["train", "--batch-size", "32", "--validation-split", "0", "--schedule", "none",
            "--clip-grad-norm", "5"]
    assert main(args + ["--epochs", "1", "--out", str(tmp_path / "one")]) == 0
    from scratchcnn import losses
    real, calls = losses.CrossEntropyLoss.forward, []

    def nan_in_epoch_2(self, logits, target):  # 3 batches an epoch: the 5th is epoch 2's
        calls.append(1)
        value = real(self, logits, target)
        return float("nan") if len(calls) == 5 else value
    monkeypatch.setattr(losses.CrossEntropyLoss, "forward", nan_in_epoch_2)
    cut = tmp_path / "cut"
    assert main(args + ["--epochs", "3", "--out", str(cut)]) == 1
    err = capsys.readouterr().err
    assert "training diverged in epoch 2, batch 2: the loss became nan" in err
    assert f"{cut / 'model.npz'} holds the model after epoch 1" in err
    kept, one = sc.load(cut / "model.npz"), sc.load(tmp_path / "one" / "model.npz")
    for (name, p), (_, q) in zip(kept.state_dict().items(), one.state_dict().items()):
        np.testing.assert_array_equal(p, q, err_msg=name)
    assert not (cut / "metrics.json").exists()


def test_progress_bars_go_to_stderr_and_results_to_stdout(monkeypatch, capsys):
    import io as pyio

    class Terminal(pyio.StringIO):
        def isatty(self):
            return True
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    model = sc.models.lenet5(seed=0)
    x = np.random.default_rng(0).random((64, 1, 28, 28), dtype=np.float32)
    model.fit(x, np.arange(64) % 10, epochs=1, batch_size=16, verbose=1)
    model.evaluate(x, np.arange(64) % 10, verbose=1)
    bars, out = terminal.getvalue(), capsys.readouterr().out
    assert "epoch 1/1:" in bars and "/4 [" in bars and "batch/s" in bars
    assert "evaluate:" in bars and "/64 [" in bars and "img/s" in bars
    assert out.startswith("epoch 1/1 loss=") and "%|" not in out


def test_a_photo_on_grey_paper_is_read_like_an_mnist_digit(tmp_path):
    Image = pytest.importorskip("PIL.Image")
    from scratchcnn.cli.examine import image_to_input
    paper = np.full((84, 84), 200, np.uint8)
    paper[20:64, 38:46] = 40  # a dark vertical stroke: a "1"
    Image.fromarray(paper).save(tmp_path / "one.png")
    x = image_to_input(str(tmp_path / "one.png"), (1, 28, 28))
    assert x.shape == (1, 28, 28) and x.dtype == np.float32
    assert x[0, 0].max() == 0.0 and x.max() == 1.0  # paper at 0, the ink at 1
    assert x[0, 14, 14] == 1.0 and x[0, 14, 3] == 0.0


def test_resume_refuses_fewer_epochs_and_says_what_schedule_an_extension_trains_on(
        trained, tmp_path, capsys):
    import shutil
    out, _ = trained
    run_dir = tmp_path / "run"
    shutil.copytree(out, run_dir)
    before = (run_dir / "model.npz").read_bytes()
    with pytest.raises(SystemExit, match=r"has 2 epochs done already; --epochs 1 would be "
                                         r"fewer \(give --epochs 2 or more to continue it\)"):
        main(["train", "--resume", str(run_dir), "--epochs", "1", "--offline"])
    assert (run_dir / "model.npz").read_bytes() == before
    assert main(["train", "--resume", str(run_dir), "--epochs", "3", "--offline"]) == 0
    lines = capsys.readouterr().out.splitlines()
    # cosine over 3 epochs from 1e-3: epoch 3 starts at 1e-3 * (1 + cos(2 pi / 3)) / 2
    assert any(line.startswith("schedule=cosine over 3 epochs (the run had 2): epochs 3-3 "
                               "train at lr 0.00025 falling to") for line in lines), lines


def test_label_smoothing_trains_towards_softened_targets_and_is_kept_for_resume(
        tmp_path, capsys, monkeypatch):
    use_tiny_data(monkeypatch, 0)
    args = ["train", "--batch-size", "32", "--epochs", "1", "--validation-split", "0"]
    assert main(args + ["--out", str(tmp_path / "plain")]) == 0
    assert main(args + ["--label-smoothing", "0.3", "--out", str(tmp_path / "smooth")]) == 0
    losses = [json.loads((tmp_path / d / "metrics.json").read_text())["history"]["loss"][0]
              for d in ("plain", "smooth")]
    assert losses[1] > losses[0]  # the same steps' losses against flatter targets
    options = sc.load_checkpoint(tmp_path / "smooth" / "checkpoint.npz").settings["options"]
    assert options["label_smoothing"] == 0.3
    with pytest.raises(SystemExit, match="--label-smoothing 0.3, not 0.1"):
        main(["train", "--resume", str(tmp_path / "smooth"), "--label-smoothing", "0.1"])
    with pytest.raises(SystemExit):
        main(args + ["--label-smoothing", "1"])
    assert "must be in [0, 1), got 1" in capsys.readouterr().err


def test_the_run_options_are_declared_once_and_drive_the_parser_and_resume():
    from scratchcnn.cli import parser as P
    from scratchcnn.cli import train
    actions = {a.dest: a for a in P.build_parser()._subparsers._group_actions[0]
               .choices["train"]._actions}
    assert set(P.RUN_OPTIONS) <= set(actions)
    assert train.RUN_OPTIONS is P.RUN_OPTIONS and train.LATER_OPTIONS is P.LATER_OPTIONS
    for flags, keywords, _ in P.TRAIN_OPTIONS:  # what argparse got is the table's
        action = actions[flags[0][2:].replace("-", "_")]
        assert action.default == keywords.get("default") and action.help == keywords["help"]
    assert P.LATER_OPTIONS == {"label_smoothing": 0.0, "clip_grad_norm": None, "augment": None}

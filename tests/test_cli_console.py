"""The real ``scratchcnn`` console script, as a user runs it: mistakes end in one line on
stderr and a non-zero exit, never a traceback, and never destroy a run; kill -9 loses
nothing that --resume cannot restore bit for bit."""

import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import scratchcnn as sc
from scratchcnn.datasets import FILES, write_idx

SCRIPT = shutil.which("scratchcnn")
pytestmark = pytest.mark.skipif(SCRIPT is None, reason="the scratchcnn console script is not "
                                "installed (pip install '.[test]' puts it on PATH)")


def scratchcnn(*args, cwd=None, timeout=None):
    env = {**os.environ, "SCRATCHCNN_OFFLINE": "1"}
    return subprocess.run([SCRIPT, *map(str, args)], capture_output=True, text=True, cwd=cwd,
                          timeout=timeout, env=env)


def one_line_error(proc, words: str, code: int = 1):
    """The command failed with ``code`` and a single stderr line saying ``words``."""
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == code, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr, proc.stderr
    assert any(words in line for line in lines), proc.stderr
    return lines


def image_dataset(directory, n_train=200, n_test=40, seed=0):
    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True, exist_ok=True)
    images = (rng.random((n_train + n_test, 28, 28)) * 255).astype(np.uint8)
    labels = (np.arange(n_train + n_test) % 10).astype(np.uint8)
    for stem, array in zip(FILES, (images[:n_train], labels[:n_train], images[n_train:],
                                   labels[n_train:])):
        write_idx(directory / stem, array)
    return directory


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return image_dataset(tmp_path_factory.mktemp("data") / "tiny")


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory, data):
    out = tmp_path_factory.mktemp("runs") / "run"
    proc = scratchcnn("train", "--dataset", data, "--epochs", 1, "--out", out)
    assert proc.returncode == 0, proc.stderr
    return out


@pytest.mark.parametrize("option, value, words", [
    ("--epochs", -1, "--epochs: must be in [1, 100000], got -1"),
    ("--epochs", 0, "--epochs: must be in [1, 100000], got 0"),
    ("--epochs", 1.5, "--epochs: expected an integer, got '1.5'"),
    ("--batch-size", 0, "--batch-size: must be >= 1, got 0"),
    ("--validation-split", 1.5, "--validation-split: must be in [0, 1), got 1.5"),
    ("--lr", "nan", "--lr: must be in (0, inf), got nan"),
    ("--lr", -1, "--lr: must be in (0, inf), got -1"),
])
def test_bad_options_are_refused_and_the_last_run_survives(finished_run, option, value, words):
    before = {f: (finished_run / f).read_bytes() for f in ("model.npz", "metrics.json")}
    proc = scratchcnn("train", "--out", finished_run, option, value)
    one_line_error(proc, words, code=2)  # argparse's usage line, then the error
    assert {f: (finished_run / f).read_bytes() for f in before} == before


def test_a_second_run_never_overwrites_the_first(finished_run, data, tmp_path):
    before = (finished_run / "model.npz").read_bytes()
    one_line_error(scratchcnn("train", "--dataset", data, "--out", finished_run),
                   f"{finished_run} already holds a run (model.npz, checkpoint.npz, "
                   f"metrics.json); --force overwrites it")
    assert (finished_run / "model.npz").read_bytes() == before
    # without --out, the next free numbered directory
    for expected in ("runs/convnet_bn_mini-tiny", "runs/convnet_bn_mini-tiny-2"):
        proc = scratchcnn("train", "--dataset", data, "--epochs", 1, cwd=tmp_path)
        # (the default model, convnet_bn_mini, names the directories)
        assert proc.returncode == 0 and f"out={expected}" in proc.stdout, proc.stderr
        assert (tmp_path / expected / "model.npz").is_file()
    proc = scratchcnn("train", "--dataset", data, "--epochs", 1, "--out", finished_run,
                      "--force", "--seed", 3)
    assert proc.returncode == 0 and (finished_run / "model.npz").read_bytes() != before


def test_user_mistakes_are_one_line(finished_run, tmp_path):
    one_line_error(scratchcnn("summary", "lenet5", "--input", "3,2,2"),
                   "lenet5: input 2x2 is too small; it takes images of at least 4x4")
    one_line_error(scratchcnn("summary", finished_run / "model.npz", "--input", "1,2,2"),
                   "summary: " + str(finished_run / "model.npz") + " does not take input "
                   "(1, 2, 2): MaxPool2d: window (2, 2)")
    lines = one_line_error(scratchcnn("evaluate", "/etc/hostname"),
                           "/etc/hostname: not a scratchcnn model file (not an .npz archive)")
    assert not any("pickle" in line for line in lines)
    one_line_error(scratchcnn("evaluate", tmp_path), "no model file")
    (tmp_path / "bad").mkdir()
    one_line_error(scratchcnn("train", "--dataset", tmp_path / "bad"), "missing train-images")
    one_line_error(scratchcnn("predict", finished_run / "model.npz", "/etc/hostname"),
                   "cannot read image /etc/hostname")
    one_line_error(scratchcnn("shape", "--input", "1,5,5", "--filters", 1, "--kernel", 7),
                   "does not fit an input of size 5")


def test_verbose_after_the_command_and_help_for_every_option(finished_run):
    proc = scratchcnn("evaluate", "-v", finished_run / "model.npz")
    assert proc.returncode == 0 and "INFO scratchcnn" in proc.stderr, proc.stderr
    help_text = scratchcnn("predict", "--help").stdout
    assert "--top TOP" in help_text and "most likely classes" in help_text
    proc = scratchcnn("-v", "summary", "lenet5", "--input", "3,2,2")
    assert proc.returncode == 1 and "Traceback" in proc.stderr  # -v shows where it failed


def test_summary_columns_stay_aligned_past_row_ten():
    lines = scratchcnn("summary", "lenet5").stdout.splitlines()
    rows = [line for line in lines if line[:3].strip().rstrip(":").isdigit()]
    assert len(rows) == 12
    assert {line.index(": ") for line in rows} == {2}  # layer names start in one column
    assert len({len(line) for line in rows}) == 1
    assert rows[9].startswith(" 9: Linear") and rows[10].startswith("10: ReLU")


def test_bad_data_sets_are_refused_before_training(tmp_path):
    x = (np.random.default_rng(0).random((30, 28, 28)) * 255).astype(np.uint8)
    cases = {
        "huge label": (x, np.r_[np.arange(29) % 10, 2**31 - 1].astype(np.int32), x[:5],
                       np.arange(5).astype(np.uint8), "labels must be class numbers 0..999"),
        "label 255": (x, np.r_[np.arange(29) % 10, 255].astype(np.uint8), x[:5],
                      np.arange(5).astype(np.uint8), "the largest is 255 while only 11"),
        "empty test": (x, (np.arange(30) % 10).astype(np.uint8), x[:0],
                       np.zeros(0, np.uint8), "the test split holds no images"),
        "other size": (x, (np.arange(30) % 10).astype(np.uint8), x[:5, :20, :20],
                       np.arange(5).astype(np.uint8), "test images are 20x20 but training "
                                                      "images 28x28"),
    }
    for name, (xtr, ytr, xte, yte, words) in cases.items():
        d = tmp_path / name.replace(" ", "_")
        d.mkdir()
        for stem, array in zip(FILES, (xtr, ytr, xte, yte)):
            write_idx(d / stem, array)
        one_line_error(scratchcnn("train", "--dataset", d, "--out", d / "run"), words)
        assert not (d / "run").exists()


def test_a_diverging_run_stops_and_keeps_the_last_good_epoch(data, tmp_path):
    out = tmp_path / "run"
    proc = scratchcnn("train", "--dataset", data, "--epochs", 2, "--lr", "1e9", "--out", out,
                      "--optimizer", "sgd", "--schedule", "none")
    lines = one_line_error(proc, "training diverged in epoch 1, batch")
    assert "no epoch had finished, nothing was saved" in lines[-1]
    assert not out.exists()


@pytest.mark.slow
def test_kill_9_mid_epoch_then_resume_is_bit_identical(tmp_path):
    data = image_dataset(tmp_path / "data", n_train=3000, n_test=100)
    args = ["train", "--dataset", data, "--epochs", 3, "--batch-size", 16,
            "--validation-split", 0]
    straight = scratchcnn(*args, "--out", tmp_path / "straight")
    assert straight.returncode == 0, straight.stderr
    cut = tmp_path / "cut"
    for attempt in range(3):  # the kill must land in epoch 2 or 3, not after the run ended
        shutil.rmtree(cut, ignore_errors=True)
        proc = subprocess.Popen([SCRIPT, *map(str, args), "--out", str(cut)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        while not (cut / "checkpoint.npz").exists():  # (no deadline: a slow machine waits)
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.02)
        time.sleep(0.2 * attempt + 0.1)
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
        if proc.returncode == -signal.SIGKILL and not (cut / "metrics.json").exists():
            break
    else:
        pytest.fail("training ended before it could be killed three times")
    (cut / ".tmp-abcdefmodel.npz").write_bytes(b"half a file")  # as a kill mid-save leaves
    resumed = scratchcnn("train", "--resume", cut)
    assert resumed.returncode == 0, resumed.stderr
    after = int(next(line.split("=")[1] for line in resumed.stdout.splitlines()
                     if line.startswith("resumed_after_epoch=")))
    assert after in (1, 2)
    a, b = sc.load(cut / "model.npz"), sc.load(tmp_path / "straight" / "model.npz")
    for (name, p), (_, q) in zip(a.state_dict().items(), b.state_dict().items()):
        np.testing.assert_array_equal(p, q, err_msg=name)
    assert not [f for f in os.listdir(cut) if f.startswith(".")]  # no temporary file left
    assert sys.executable  # (the script ran in this interpreter's environment)

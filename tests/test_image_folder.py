"""Image folders on real files: PNG and JPEG, grey and RGB, odd files, broken ones, and
the command line from ``train --dataset DIR`` to ``predict``."""

import io
import json
import logging
import os
import re
import struct
import threading
import zlib

import numpy as np
import pytest

import scratchcnn as sc
from scratchcnn.cli import main
from scratchcnn.datasets import ImageFolderError, load_image_folder, read_image

Image = pytest.importorskip("PIL.Image")

#: Class folders named so that sorted order is not digit order: labels must follow names.
NAMES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
PER_CLASS = 12  # 9 grey PNGs, 2 grey JPEGs, 1 RGB PNG


def sample_digits():
    """{digit: its first PER_CLASS images of the bundled sample, float32 (28, 28)}."""
    x, y = sc.datasets.load_sample().train
    return {k: x[np.flatnonzero(y == k)[:PER_CLASS], 0] for k in range(10)}


def u8(image):
    return np.rint(image * 255).astype(np.uint8)


def write_digits(root, digits, rgb=True, jpeg=True):
    """The tree root/<name>/NN.png|jpg; returns {path: (digit, float pixels or None)}."""
    written = {}
    for k, images in digits.items():
        folder = root / NAMES[k]
        folder.mkdir(parents=True)
        for j, image in enumerate(images):
            if j in (9, 10) and jpeg:
                path = folder / f"{j:02d}.jpg"
                Image.fromarray(u8(image)).save(path, quality=95)
                written[str(path)] = (k, None)
            elif j == 11 and rgb:
                path = folder / f"{j:02d}.png"
                v = u8(image)
                Image.fromarray(np.stack([v, v // 2, np.zeros_like(v)], axis=-1)).save(path)
                written[str(path)] = (k, None)
            else:
                path = folder / f"{j:02d}.png"
                Image.fromarray(u8(image)).save(path)
                written[str(path)] = (k, image)
    return written


@pytest.fixture(scope="module")
def digits():
    return sample_digits()


@pytest.fixture(scope="module")
def tree(tmp_path_factory, digits):
    """120 digits in 10 class folders, with a stray notes.txt, a hidden file and folder."""
    root = tmp_path_factory.mktemp("tree") / "digits"
    written = write_digits(root, digits)
    (root / "seven" / "notes.txt").write_text("not an image")
    (root / "three" / ".thumbnail.png").write_bytes(b"hidden")
    (root / ".cache").mkdir()
    (root / ".cache" / "x.png").write_bytes(b"hidden folder")
    return root, written


def expected_order(written, test_split=0.2, seed=0):
    """The files as load_image_folder orders them (class name, then file) and its split."""
    classes = sorted(NAMES)
    paths = sorted(written, key=lambda p: (classes.index(NAMES[written[p][0]]), p))
    labels = np.array([classes.index(NAMES[written[p][0]]) for p in paths])
    test = sc.datasets.stratified_split(labels, test_split, seed)
    return paths, labels, test


def test_a_tree_of_grey_and_colour_pngs_and_jpegs(tree, digits):
    root, written = tree
    data = load_image_folder(root, progress=False)
    assert isinstance(data, sc.datasets.DataSplits)
    assert data.classes == tuple(sorted(NAMES)) and data.name == "digits"
    assert data.source == os.path.abspath(root)
    assert data.skipped == {"hidden": 2, "not_image": 1, "unreadable": 0}
    (x, y), (xt, yt) = data.train, data.test
    assert x.shape == (100, 3, 28, 28) and xt.shape == (20, 3, 28, 28)  # one RGB file: RGB
    assert x.dtype == xt.dtype == np.float32 and y.dtype == yt.dtype == np.int64
    assert 0 <= x.min() and x.max() <= 1 and x.max() == 1.0
    paths, labels, test = expected_order(written)
    np.testing.assert_array_equal(y, labels[~test])
    np.testing.assert_array_equal(yt, labels[test])
    for row, path in zip(np.concatenate([x, xt]), [paths[i] for i in np.flatnonzero(~test)] +
                         [paths[i] for i in np.flatnonzero(test)]):
        k, pixels = written[path]
        if pixels is not None:  # a grey PNG: the sample's pixels, bit for bit, thrice
            for c in range(3):
                np.testing.assert_array_equal(row[c], pixels, err_msg=path)
        elif path.endswith(".jpg"):  # JPEG: close to them
            assert np.abs(row - digits[k][int(path[-6:-4])]).mean() < 0.02, path
        else:  # the RGB one: red is the digit, green half of it, blue nothing
            np.testing.assert_array_equal(row[0], digits[k][11])
            np.testing.assert_array_equal(row[2], 0)


def test_color_gray_and_rgb(tree, digits):
    root, written = tree
    grey = load_image_folder(root, color="gray", progress=False)
    rgb = load_image_folder(root, color="rgb", progress=False)
    assert grey.train[0].shape == (100, 1, 28, 28) and rgb.train[0].shape == (100, 3, 28, 28)
    paths, _, test = expected_order(written)
    for row, path in zip(grey.train[0], [paths[i] for i in np.flatnonzero(~test)]):
        k, pixels = written[path]
        if pixels is not None:
            np.testing.assert_array_equal(row[0], pixels)
        elif path.endswith(".png"):  # RGB to grey: ITU-R 601 luma, as Pillow's convert("L")
            v = u8(digits[k][11]).astype(float)
            np.testing.assert_allclose(row[0] * 255, (299 * v + 587 * (v // 2)) / 1000, atol=1)


def test_the_split_is_stratified_and_seeded(tree):
    root, _ = tree
    a, b = (load_image_folder(root, progress=False) for _ in range(2))
    c = load_image_folder(root, seed=1, progress=False)
    np.testing.assert_array_equal(a.test[0], b.test[0])
    assert not np.array_equal(a.test[0], c.test[0])
    for data in (a, c):
        assert np.bincount(data.test[1]).tolist() == [2] * 10  # 12 * 0.2, rounded
        assert np.bincount(data.train[1]).tolist() == [10] * 10
    half = load_image_folder(root, test_split=0.5, color="gray", progress=False)
    assert np.bincount(half.test[1]).tolist() == [6] * 10


def test_train_and_test_folders_are_the_splits(tmp_path, digits, caplog):
    root = tmp_path / "split"
    write_digits(root / "train", {k: digits[k][:8] for k in (1, 2, 3)}, rgb=False, jpeg=False)
    write_digits(root / "test", {k: digits[k][8:] for k in (1, 2)}, rgb=False, jpeg=False)
    with caplog.at_level(logging.INFO, logger="scratchcnn"):
        data = load_image_folder(root, progress=False)
    assert data.classes == ("one", "three", "two")
    assert data.train[0].shape == (24, 1, 28, 28) and data.test[0].shape == (8, 1, 28, 28)
    np.testing.assert_array_equal(data.test[1], [0] * 4 + [2] * 4)  # no "three" in test
    np.testing.assert_array_equal(data.test[0][0, 0], digits[1][8])
    assert "no folder for class three" in caplog.text
    for item in (root / "test").iterdir():
        for f in item.iterdir():
            f.unlink()
        item.rmdir()
    with pytest.raises(ValueError, match=re.escape(f"{root / 'test'}: no class folders")):
        load_image_folder(root, progress=False)


def test_image_size_letterboxes_and_sizes_must_agree_without_it(tmp_path):
    root = tmp_path / "sizes"
    for name, shape in (("wide", (20, 40)), ("square", (28, 28))):
        (root / name).mkdir(parents=True)
        for file in ("a.png", "b.png"):
            Image.fromarray(np.full(shape, 255, np.uint8)).save(root / name / file)
    with pytest.raises(ValueError, match=r"images differ in size: .*square/a.png is 28x28 "
                                         r"and .*wide/a.png is 20x40 \(HxW\); pass "
                                         r"image_size=\(H, W\)"):
        load_image_folder(root, progress=False)
    x, y = load_image_folder(root, image_size=28, progress=False).train
    assert x.shape == (2, 1, 28, 28)
    wide = x[y == 1][0, 0]  # classes: square, wide
    # 20x40 scaled by 0.7 to 14x28, centred: rows 7-20 the image, 7 rows of zeros each side
    np.testing.assert_array_equal(wide[7:21], 1.0)
    np.testing.assert_array_equal(wide[:7], 0.0)
    np.testing.assert_array_equal(wide[21:], 0.0)
    tall = read_image(str(root / "wide" / "a.png"), (40, 10))  # (H, W): 5x10 in 40x10
    assert tall.shape == (1, 40, 10) and tall.sum() == 50 and tall[0, 17:22].min() == 1


def test_exif_orientation_is_honoured(tmp_path):
    stored = np.zeros((20, 40, 3), np.uint8)
    stored[:, :20] = 255  # the left half white
    for orientation, white_half in ((6, "top"), (8, "bottom")):
        img = Image.fromarray(stored)
        exif = img.getexif()
        exif[0x0112] = orientation
        path = tmp_path / f"turned-{orientation}.jpg"
        img.save(path, exif=exif, quality=95)
        x = read_image(str(path))
        assert x.shape == (3, 40, 20)  # upright: 40 high, 20 wide
        top, bottom = x[:, :18].mean(), x[:, 22:].mean()
        assert (top, bottom) == pytest.approx((1, 0) if white_half == "top" else (0, 1),
                                              abs=0.02)


def test_16_bit_grey_alpha_and_palettes(tmp_path):
    Image.fromarray(np.array([[0, 65535], [32768, 1000]], np.uint16)).save(tmp_path / "a.png")
    np.testing.assert_allclose(read_image(str(tmp_path / "a.png"))[0],
                               [[0, 1], [32768 / 65535, 1000 / 65535]], rtol=1e-6)
    rgba = np.zeros((2, 2, 4), np.uint8)
    rgba[0, 0] = (0, 0, 0, 255)  # one opaque black pixel, the rest transparent black
    Image.fromarray(rgba, "RGBA").save(tmp_path / "b.png")
    np.testing.assert_array_equal(read_image(str(tmp_path / "b.png"))[:, :, :],
                                  np.array([[[0, 1], [1, 1]]] * 3))  # on white
    Image.fromarray(np.arange(0, 256, 16, dtype=np.uint8).reshape(4, 4)).convert("P").save(
        tmp_path / "c.gif")
    assert read_image(str(tmp_path / "c.gif")).shape == (1, 4, 4)  # a palette of greys


def bomb_png(width, height):
    """A small PNG whose header claims width x height pixels."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(
            ">I", zlib.crc32(kind + data))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0,
                                                             0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\0" * 1000)) + chunk(b"IEND", b""))


@pytest.fixture
def small_tree(tmp_path, digits):
    root = tmp_path / "small"
    write_digits(root, {k: digits[k][:4] for k in (0, 1)}, rgb=False, jpeg=False)
    return root


def test_bad_files_are_one_error_naming_them_or_skipped(small_tree, digits):
    noise = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (28, 28), np.uint8)).save(
        noise, "PNG")
    whole = noise.getvalue()
    bad = {"truncated.png": (whole[:len(whole) // 2], "corrupt or truncated image"),
           "text.jpg": (b"hello, not a JPEG", "not a PNG/JPEG/BMP/GIF"),
           "bomb.png": (bomb_png(100_000, 100_000), "decompression bomb"),  # > 2x the limit
           "warned.png": (bomb_png(10_000, 10_000), "decompression bomb")}  # > the limit
    for name, (content, why) in bad.items():
        path = small_tree / "zero" / name
        path.write_bytes(content)
        with pytest.raises(ImageFolderError) as info:
            load_image_folder(small_tree, progress=False)
        assert type(info.value) is ImageFolderError and str(info.value).startswith(f"{path}: ")
        assert why in str(info.value)
        with pytest.raises(ImageFolderError, match=f"^{re.escape(str(path))}: "):
            read_image(str(path))
        path.rename(path.with_suffix(".keep"))  # out of the way: not an image name
    for name in bad:
        (small_tree / "zero" / name).with_suffix(".keep").rename(small_tree / "zero" / name)
    data = load_image_folder(small_tree, on_error="skip", progress=False)
    assert data.skipped["unreadable"] == 4
    (x, y), (xt, yt) = data.train, data.test
    assert len(y) + len(yt) == 8
    for row, label in zip(np.concatenate([x, xt]), np.concatenate([y, yt])):
        digit = NAMES.index(data.classes[label])  # only the good images, in their class
        assert any(np.array_equal(row[0], d) for d in digits[digit][:4])


def test_a_fifo_is_refused_without_hanging(small_tree):
    fifo = small_tree / "one" / "pipe.png"
    os.mkfifo(fifo)
    outcome = {}

    def load(**kwargs):
        try:
            outcome["data"] = load_image_folder(small_tree, progress=False, **kwargs)
        except ImageFolderError as err:
            outcome["error"] = err
    for kwargs in ({}, {"on_error": "skip"}):
        outcome.clear()
        worker = threading.Thread(target=load, kwargs=kwargs, daemon=True)
        worker.start()
        worker.join(timeout=60)
        if worker.is_alive():  # a reader blocked in open(): a writer unblocks it
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
            pytest.fail("load_image_folder hung on a FIFO")
        if kwargs:
            assert outcome["data"].skipped["unreadable"] == 1
        else:
            assert str(outcome["error"]) == f"{fifo}: a FIFO, not an image file; refused unopened"


def test_symlinks_to_files_are_followed(small_tree, tmp_path):
    target = small_tree / "one" / "00.png"
    (small_tree / "one" / "link.png").symlink_to(target)
    (small_tree / "one" / "dangling.png").symlink_to(tmp_path / "nowhere.png")
    with pytest.raises(ImageFolderError, match="dangling.png: cannot read it"):
        load_image_folder(small_tree, progress=False)
    (small_tree / "one" / "dangling.png").unlink()
    data = load_image_folder(small_tree, progress=False)
    assert len(data.train[1]) + len(data.test[1]) == 9


def test_folders_that_are_not_data_sets(tmp_path, digits, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match=re.escape(f"{empty}: no class folders")):
        load_image_folder(empty)
    flat = tmp_path / "flat"
    flat.mkdir()
    Image.fromarray(u8(digits[0][0])).save(flat / "a.png")
    with pytest.raises(ValueError, match=r"no class folders; .* \(1 images lie directly"):
        load_image_folder(flat)
    assert main(["train", "--dataset", str(flat)]) == 1  # taken for an image folder, not IDX
    assert "no class folders" in capsys.readouterr().err
    one = tmp_path / "one"
    write_digits(one, {3: digits[3][:3]}, rgb=False, jpeg=False)
    with pytest.raises(ValueError, match=re.escape(f"{one}: only one class folder (three)")):
        load_image_folder(one)
    (one / "notes").mkdir()
    (one / "notes" / "a.txt").write_text("x")
    with pytest.raises(ValueError, match=re.escape(f"{one / 'notes'}: no images")):
        load_image_folder(one)
    with pytest.raises(ValueError, match="color must be"):
        load_image_folder(one, color="cmyk")
    with pytest.raises(ValueError, match="image_size must be"):
        load_image_folder(one, image_size=(0, 28))


def parse(out):
    return dict(line.split("=", 1) for line in out.splitlines()
                if "=" in line and " " not in line.split("=", 1)[0])


def run(capsys, *argv):
    assert main([str(a) for a in argv]) == 0
    return capsys.readouterr().out


def test_train_evaluate_predict_on_an_image_folder(tmp_path, digits, capsys, monkeypatch):
    monkeypatch.setenv("SCRATCHCNN_OFFLINE", "1")
    root = tmp_path / "pngs"
    write_digits(root, digits, rgb=False)  # grey 28x28: LeNet-5's input
    (root / "README.txt").write_text("ten digits")
    out = tmp_path / "run"
    text = run(capsys, "train", "--dataset", root, "--model", "lenet5", "--epochs", "1",
               "--augment", "none", "--offline", "--out", out)
    values = parse(text)
    assert values["model_file"] == str(out / "model.npz") and "test=20" in text
    model = sc.load(out / "model.npz")
    assert model.meta["classes"] == sorted(NAMES) and model.meta["input_shape"] == [1, 28, 28]
    assert model.meta["dataset"] == "pngs" and model.meta["source"] == str(root)
    assert json.loads((out / "metrics.json").read_text())["classes"] == sorted(NAMES)

    text = run(capsys, "evaluate", out / "model.npz")  # the folder it was trained on
    assert f"data=pngs source={root} images=20" in text
    assert float(parse(text)["accuracy"]) == pytest.approx(float(values["test_accuracy"]),
                                                           abs=1e-4)
    assert "class=0 name=eight " in text and "class=9 name=zero " in text

    files = [root / "seven" / "00.png", root / "two" / "03.png"]
    lines = run(capsys, "predict", out / "model.npz", *files).splitlines()
    x = np.stack([read_image(str(f), (28, 28), "gray") for f in files])  # no inversion
    for line, f, p in zip(lines, files, model.predict_proba(x)):
        k = int(p.argmax())
        assert line.startswith(f"{f} prediction={k} {k}:{sorted(NAMES)[k]}={p[k]:.4f} ")
        assert line.endswith(f" name={sorted(NAMES)[k]}")


def test_an_rgb_image_folder_trains_with_three_channels(tmp_path, digits, capsys):
    root = tmp_path / "colour"
    for k in (0, 1, 2):
        (root / NAMES[k]).mkdir(parents=True)
        for j, image in enumerate(digits[k][:6]):
            v = u8(image)
            Image.fromarray(np.stack([v, 255 - v, v // 2], axis=-1)).save(
                root / NAMES[k] / f"{j}.png")
    out = tmp_path / "run"
    try:
        code = main(["train", "--dataset", str(root), "--model", "lenet5", "--epochs", "1",
                     "--augment", "none", "--offline", "--validation-split", "0",
                     "--out", str(out)])
    except (TypeError, ValueError) as err:  # a zoo without input_shape=(C, H, W) yet
        pytest.skip(f"lenet5 cannot take 3 channels here: {err}")
    if code != 0:
        pytest.skip("lenet5 cannot take 3 channels here: " + capsys.readouterr().err)
    capsys.readouterr()
    assert sc.load(out / "model.npz").meta["input_shape"] == [3, 28, 28]
    line = run(capsys, "predict", out / "model.npz", root / "one" / "0.png")
    assert " name=" in line and "prediction=" in line


def test_a_folder_too_large_to_decode_is_refused_before_any_allocation(small_tree,
                                                                       monkeypatch):
    from scratchcnn.datasets import image_folder
    monkeypatch.setattr(image_folder, "MAX_ARRAY_BYTES", 10_000)  # a few 28x28 images
    with pytest.raises(ValueError, match=r"images of \(1, 28, 28\) take 0.0 GiB, over 0 GiB: "
                                         r"pass a smaller image_size=\(H, W\)"):
        sc.datasets.load_image_folder(small_tree, color="gray", progress=False)

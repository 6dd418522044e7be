"""Hostile input, round two (issue 26): every loader ends in a correct load or the
project's own error naming the file; never another exception, a MemoryError or a hang.

A test that could allocate GiBs on a loader without bounds runs it in a child process
under a 2 GiB address-space limit and reads the child's peak resident memory (VmHWM), so
a regression fails the test instead of the machine.
"""

import gzip
import io as pyio
import json
import os
import pathlib
import struct
import subprocess
import sys
import zipfile
import zlib

import numpy as np
import pytest

import scratchcnn as sc
from scratchcnn import datasets as D
from scratchcnn.io import ModelFileError
from scratchcnn.training import Trainer

LIMIT = 2 << 30  # the child's address space
CHILD = """
import json, resource, sys
resource.setrlimit(resource.RLIMIT_AS, ({limit}, {limit}))
def peak_mib():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
try:
{body}
    result = {{"outcome": "loaded"}}
except BaseException as err:
    result = {{"outcome": type(err).__name__, "message": str(err)[:3000]}}
result["peak_mib"] = peak_mib()
print("RESULT " + json.dumps(result))
"""


def in_child(body: str, timeout: float = 120) -> dict:
    """Run ``body`` (indented code; ``sc``, ``D`` and ``np`` imported) in a child under
    LIMIT: {'outcome': 'loaded' or the exception's type, 'message', 'peak_mib'}."""
    code = CHILD.format(limit=LIMIT, body="\n".join(
        "    " + line for line in ["import numpy as np, scratchcnn as sc",
                                   "from scratchcnn import datasets as D", *body.splitlines()]))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
           "MKL_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=timeout, env=env)
    line = next((x for x in done.stdout.splitlines() if x.startswith("RESULT ")), None)
    assert line, done.stdout + done.stderr
    return json.loads(line[len("RESULT "):])


def own_error(result: dict, kind: str, *words: str, peak_mib: float = 400) -> None:
    """The child ended in the project's error ``kind`` holding ``words``, in little memory."""
    assert result["outcome"] == kind, result
    for word in words:
        assert word in result["message"], result
    assert "MemoryError" not in result["message"], result
    assert result["peak_mib"] < peak_mib, result


# --------------------------------------------------------------------- decompression
def gzip_bomb(path: pathlib.Path, gib: int = 1) -> pathlib.Path:
    """An IDX .gz of about 1 MB whose header claims, and whose stream inflates to,
    ``gib`` GiB of zeros (gzip members concatenated: one of 16 MiB made once, repeated)."""
    header = bytes([0, 0, 0x08, 3]) + b"".join(n.to_bytes(4, "big") for n in
                                               (1024 * gib, 1024, 1024))
    zeros = gzip.compress(bytes(16 << 20), compresslevel=9, mtime=0)
    path.write_bytes(gzip.compress(header, mtime=0) + zeros * (64 * gib))
    return path


def test_a_gzip_bomb_is_refused_by_read_idx_from_its_header(tmp_path):
    bomb = gzip_bomb(tmp_path / "bomb-idx3-ubyte.gz")
    assert bomb.stat().st_size < 1.2e6
    result = in_child(f"D.read_idx({str(bomb)!r})")
    own_error(result, "IDXError", str(bomb), "decompression bomb")


def test_load_mnist_and_load_directory_refuse_a_gzip_bomb(tmp_path):
    rng = np.random.default_rng(0)
    for stem, array in (("t10k-images-idx3-ubyte", rng.integers(0, 256, (4, 28, 28))),
                        ("train-labels-idx1-ubyte", np.arange(1024) % 10),
                        ("t10k-labels-idx1-ubyte", np.arange(4) % 10)):
        D.write_idx(tmp_path / (stem + ".gz"), array.astype(np.uint8))
    bomb = gzip_bomb(tmp_path / "train-images-idx3-ubyte.gz")
    for call in (f"D.load_mnist(data_dir={str(tmp_path)!r})",
                 f"D.load_directory({str(tmp_path)!r})"):
        own_error(in_child(call), "IDXError", str(bomb), "decompression bomb")


def test_a_gzip_file_within_the_bound_still_loads(tmp_path):
    labels = np.zeros(10_000_000, np.uint8)  # one class: 10 MB of zeros in 10 kB
    D.write_idx(tmp_path / "one-class.gz", labels)
    assert (tmp_path / "one-class.gz").stat().st_size < 20_000
    np.testing.assert_array_equal(D.read_idx(tmp_path / "one-class.gz"), labels)


def deflated_zip(names: list, content: bytes) -> bytes:
    """A zip of ``names``, each member deflated from the same ``content`` (compressed
    once, so that a thousand-member bomb is quick to make)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    data = packer.compress(content) + packer.flush()
    crc, out, central = zlib.crc32(content), bytearray(), bytearray()
    for name in names:
        raw, offset = name.encode(), len(out)
        out += struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, 8, 0, 0x21, crc, len(data),
                           len(content), len(raw), 0) + raw + data
        central += struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 20, 20, 0, 8, 0, 0x21, crc,
                               len(data), len(content), len(raw), 0, 0, 0, 0, 0, offset) + raw
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, len(names), len(names), len(central),
                      len(out), 0)
    return bytes(out + central + end)


def npy(array) -> bytes:
    buf = pyio.BytesIO()
    np.save(buf, array)
    return buf.getvalue()


def test_all_npz_members_together_are_bounded(tmp_path):
    # ~1,000 members of 3.5 MB of zeros each, deflated: a 3.6 MB file claiming 3.5 GB
    content = npy(np.zeros(3_500_000, np.uint8))
    path = tmp_path / "bomb.npz"
    path.write_bytes(deflated_zip([f"{i}.weight.npy" for i in range(1000)], content))
    assert path.stat().st_size < 4_000_000
    for call in (f"sc.load({str(path)!r})", f"sc.load_checkpoint({str(path)!r})"):
        own_error(in_child(call), "ModelFileError", str(path), "members claim",
                  "more than the whole file")


def test_a_model_saved_deflated_still_loads(tmp_path):
    model = sc.Sequential([sc.Conv2d(1, 4, 3, rng=0), sc.ReLU(), sc.BatchNorm2d(4),
                           sc.Flatten(), sc.Linear(4 * 4 * 4, 3, rng=1)])
    path = pathlib.Path(sc.save(model, tmp_path / "model.npz"))
    with zipfile.ZipFile(path) as z:
        entries = {i.filename: z.read(i) for i in z.infolist()}
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in entries.items():
            z.writestr(name, data)
    x = np.random.default_rng(0).random((2, 1, 6, 6)).astype(np.float32)
    np.testing.assert_array_equal(sc.load(path).predict_proba(x), model.predict_proba(x))


# --------------------------------------------------------------------- architectures
def tiny_model(input_shape=(1, 6, 6)):
    model = sc.Sequential([sc.Conv2d(1, 2, 3, rng=0), sc.ReLU(), sc.MaxPool2d(2),
                           sc.Flatten(), sc.Linear(8, 3, rng=1)])
    model.meta = {} if input_shape is None else {"input_shape": list(input_shape)}
    return model


def members(data: bytes) -> dict:
    with zipfile.ZipFile(pyio.BytesIO(data)) as z:
        return {i.filename: z.read(i) for i in z.infolist()}


def archive(entries: dict) -> bytes:
    buf = pyio.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in entries.items():
            z.writestr(name, data)
    return buf.getvalue()


def crafted(path, change, model=None) -> pathlib.Path:
    """``model`` (tiny_model()) saved to ``path``, its architecture JSON changed by
    ``change(dict)`` (or replaced by the text it returns)."""
    data = pathlib.Path(sc.save(model or tiny_model(), path)).read_bytes()
    entries = members(data)
    arch = json.loads(np.load(pyio.BytesIO(entries["__architecture__.npy"])).tobytes())
    new = change(arch)
    text = new if isinstance(new, str) else json.dumps(arch)
    entries["__architecture__.npy"] = npy(np.frombuffer(text.encode(), np.uint8))
    pathlib.Path(path).write_bytes(archive(entries))
    return pathlib.Path(path)


def layer(i, **config):
    return lambda arch: arch["layers"][i]["config"].update(config)


def test_a_layer_dtype_that_asks_for_terabytes_is_refused_before_any_allocation(tmp_path):
    path = crafted(tmp_path / "dtype.npz", layer(0, dtype="S1000000000"))
    own_error(in_child(f"sc.load({str(path)!r})"), "ModelFileError", str(path),
              "layer 0 (Conv2d): dtype 'S1000000000' is not one of float16, float32, float64")


@pytest.mark.parametrize("dtype", ["object", "int8", "U5", "complex128", "bool", 7, None])
def test_a_layer_dtype_must_be_a_float_type(dtype, tmp_path):
    path = crafted(tmp_path / "dtype.npz", layer(0, dtype=dtype))
    with pytest.raises(ModelFileError, match=r"dtype\.npz: .*layer 0 \(Conv2d\): dtype "):
        sc.load(path)


@pytest.mark.parametrize("text, words", [
    ('"out_channels": 1e400', "layer 0 (Conv2d): a number in its config is not finite"),
    ('"out_channels": Infinity', "layer 0 (Conv2d): a number in its config is not finite"),
    ('"out_channels": NaN', "layer 0 (Conv2d): a number in its config is not finite"),
    ('"out_channels": ' + "9" * 60, "is too large"),
])
def test_numbers_no_size_can_be_are_refused(text, words, tmp_path):
    def change(arch):
        return json.dumps(arch).replace('"out_channels": 2', text, 1)
    path = crafted(tmp_path / "n.npz", change)
    with pytest.raises(ModelFileError, match="n.npz") as info:
        sc.load(path)
    assert words in str(info.value)


def test_a_non_finite_hyper_parameter_is_refused_and_nan_in_meta_is_not(tmp_path):
    model = sc.Sequential([sc.Conv2d(1, 2, 3, rng=0), sc.BatchNorm2d(2), sc.Flatten(),
                           sc.Linear(32, 3, rng=1)])
    path = crafted(tmp_path / "eps.npz", lambda arch: json.dumps(arch).replace(
        '"eps": 1e-05', '"eps": NaN'), model)
    with pytest.raises(ModelFileError, match=r"eps.npz: .*layer 1 \(BatchNorm2d\): a number "
                                             r"in its config is not finite"):
        sc.load(path)
    model.meta = {"best_loss": float("nan")}  # what a user keeps there is theirs
    assert np.isnan(sc.load(sc.save(model, tmp_path / "meta.npz")).meta["best_loss"])


def test_parameters_beyond_the_cap_are_refused_naming_the_array(tmp_path):
    path = crafted(tmp_path / "p.npz", layer(4, in_features=2**20, out_features=2**20))
    with pytest.raises(ModelFileError, match=r"p.npz: .*4.weight \(1048576, 1048576\) brings "
                                             r"the parameters to .* over the cap"):
        sc.load(path)


@pytest.mark.parametrize("change, words", [
    (layer(0, padding=10**6), "layer 0 (Conv2d) makes"),
    (layer(2, kernel_size=10**6, padding=5 * 10**5, stride=10**6), "layer 2 (MaxPool2d) makes"),
    (layer(0, padding=[0, 10**9]), "layer 0 (Conv2d) makes"),
    (layer(0, stride=[2**40, 1]), "layer 0 (Conv2d) makes"),  # the fast path's phases
])
def test_an_activation_beyond_the_cap_for_the_files_input_shape_is_refused_at_load(
        change, words, tmp_path):
    path = crafted(tmp_path / "a.npz", change)
    with pytest.raises(ModelFileError, match="a.npz") as info:
        sc.load(path)
    assert words in str(info.value) and "over the cap" in str(info.value)


def test_the_cap_reaches_inside_residual_blocks(tmp_path):
    block = sc.Residual([sc.Conv2d(2, 2, 3, padding=1, rng=0), sc.ReLU()])
    model = sc.Sequential([sc.Conv2d(1, 2, 3, rng=0), block, sc.Flatten(),
                           sc.Linear(32, 3, rng=1)])
    model.meta = {"input_shape": [1, 6, 6]}
    path = crafted(tmp_path / "r.npz", lambda a: a["layers"][1]["config"]["body"][0][
        "config"].update(padding=10**5), model)
    with pytest.raises(ModelFileError, match=r"layer 1\.body\.0 \(Conv2d\) makes"):
        sc.load(path)


@pytest.mark.parametrize("shape", [[1, 10**5, 10**5], 5, [1, 28, "28"], [0, 28, 28],
                                   [1, 2, 3, 4], [True, 28, 28], []])
def test_a_files_input_shape_must_be_one_samples_shape_within_the_cap(shape, tmp_path):
    path = crafted(tmp_path / "s.npz", lambda a: a["meta"].update(input_shape=shape))
    with pytest.raises(ModelFileError, match=r"s.npz: .*meta's input_shape"):
        sc.load(path)


def test_without_an_input_shape_predict_refuses_what_would_not_fit_before_allocating(
        tmp_path):
    path = crafted(tmp_path / "pad.npz", layer(0, padding=10**6), tiny_model(None))
    assert sc.load(path).meta == {}  # nothing in the file says what input it takes
    for call in ("predict", "predict_proba"):
        result = in_child(f"sc.load({str(path)!r}).{call}(np.zeros((1, 1, 6, 6), np.float32))")
        own_error(result, "ValueError", "layer 0 (Conv2d) makes", "over the cap")
    path = crafted(tmp_path / "stride.npz", layer(0, stride=[2**40, 1]), tiny_model(None))
    result = in_child(f"sc.load({str(path)!r}).predict(np.zeros((1, 1, 6, 6), np.float32))")
    own_error(result, "ValueError", "layer 0 (Conv2d) makes", "over the cap")  # not 32 TiB


def test_every_zoo_model_fits_the_caps_at_its_input_size():
    from scratchcnn import limits
    from scratchcnn.models import INPUT_SHAPES, MODELS
    for name in ("lenet5", "convnet_bn", "resnet20", "alexnet"):
        model = MODELS[name](input_shape=INPUT_SHAPES[name])
        limits.check_activations(model.layers, INPUT_SHAPES[name])
    assert limits.MAX_ACTIVATIONS == 2**30 and limits.MAX_PARAMETERS == 2**31


# --------------------------------------------------------------------- checkpoints
def checkpoint_bytes(tmp_path) -> bytes:
    model = tiny_model()
    x = np.random.default_rng(1).random((4, 1, 6, 6)).astype(np.float32)
    model.fit(x, np.arange(4) % 3, epochs=1, batch_size=2, verbose=0)
    return pathlib.Path(sc.save_checkpoint(model.trainer, tmp_path / "ck.npz")).read_bytes()


def resume(path):
    back = sc.load_checkpoint(path)
    trainer = Trainer(back.model, sc.Adam(1e-3))
    trainer.load_state_dict(back.trainer_state)
    return trainer


@pytest.mark.parametrize("step", [-2, -1, 2.5])
def test_an_adam_step_that_is_no_count_of_steps_is_refused(step, tmp_path):
    entries = members(checkpoint_bytes(tmp_path))
    entries["optimizer/0.weight/step.npy"] = npy(np.array(step))
    path = tmp_path / "step.npz"
    path.write_bytes(archive(entries))
    with pytest.raises(ValueError, match=r"Adam.load_state_dict: 0.weight/step is "
                                         r".*; a count of steps is a whole number >= 0"):
        resume(path)


@pytest.mark.parametrize("where, value", [
    (("optimizer", "lr"), 10**400), (("trainer", "base_lr"), 10**400),
    (("trainer", "history", "time"), [10**400]), (("optimizer", "hyper", "eps"), -10**400),
])
def test_run_numbers_that_overflow_a_float_are_refused_naming_the_file(where, value,
                                                                       tmp_path):
    def change(run):
        node = run
        for key in where[:-1]:
            node = node[key]
        node[where[-1]] = value
    entries = members(checkpoint_bytes(tmp_path))
    run = json.loads(np.load(pyio.BytesIO(entries["__run__.npy"])).tobytes())
    change(run)
    entries["__run__.npy"] = npy(np.frombuffer(json.dumps(run).encode(), np.uint8))
    path = tmp_path / "big.npz"
    path.write_bytes(archive(entries))
    with pytest.raises(ValueError) as info:
        resume(path)
    assert isinstance(info.value, ModelFileError) or "load_state_dict" in str(info.value), \
        repr(info.value)
    if isinstance(info.value, ModelFileError):
        assert str(path) in str(info.value) and "too large" in str(info.value)


@pytest.mark.parametrize("spec", ["shift:-3", "crop:-1", "shift:100000", "shift:2.5",
                                  "flip:2", "erase:-0.1", "affine:nan", "affine:inf",
                                  "flip:1e400"])
def test_augment_refuses_negative_and_absurd_numbers(spec):
    from scratchcnn.transforms import parse
    with pytest.raises(ValueError, match=rf"--augment: '{spec}': the number after ':' must "
                                         r"be .* from \d+ to \d+"):
        parse(spec)
    assert parse("shift:3,flip:0.25,affine:15") is not None


# --------------------------------------------------------------------- safetensors
safetensors = pytest.importorskip("safetensors.numpy")


def bn_model():
    return sc.Sequential([sc.Conv2d(1, 2, 3, rng=0), sc.ReLU(), sc.BatchNorm2d(2),
                          sc.Flatten(), sc.Linear(32, 3, rng=1)])


def st_file(path, change_tensors=None, change_meta=None) -> pathlib.Path:
    from safetensors import safe_open
    sc.save_safetensors(bn_model(), path)
    with safe_open(str(path), "numpy") as f:
        meta, tensors = f.metadata(), {k: f.get_tensor(k) for k in f.keys()}
    (change_tensors or (lambda t: None))(tensors)
    (change_meta or (lambda m: None))(meta)
    pathlib.Path(path).write_bytes(safetensors.save(tensors, meta))
    return pathlib.Path(path)


@pytest.mark.parametrize("key", ["scratchcnn.architecture", "scratchcnn.key_map"])
def test_deeply_nested_safetensors_metadata_is_the_files_own_error(key, tmp_path):
    path = st_file(tmp_path / "deep.safetensors",
                   change_meta=lambda m: m.update({key: "[" * 100_000 + "]" * 100_000}))
    with pytest.raises(ModelFileError, match=r"deep.safetensors: .*RecursionError"):
        sc.load_safetensors(path)


@pytest.mark.parametrize("name, value, words", [
    ("1e3.num_batches_tracked", np.array(3), "tensor '1e3.num_batches_tracked' counts the "
                                             "batches of a BatchNorm, but the model has no "
                                             "BatchNorm named '1e3'"),
    ("2.num_batches_tracked", np.array([1.5, 2.0], np.float32), "tensor "
     "'2.num_batches_tracked' must be one whole number >= 0"),
    ("2.num_batches_tracked", np.array(-5), "must be one whole number >= 0"),
])
def test_batchnorm_counters_are_checked_naming_the_tensor(name, value, words, tmp_path):
    path = st_file(tmp_path / "c.safetensors", lambda t: t.update({name: value}))
    for model in (None, bn_model()):
        with pytest.raises(ModelFileError, match="c.safetensors") as info:
            sc.load_safetensors(path, model)
        assert words in str(info.value)


def test_a_module_named_with_a_superscript_digit_is_matched_by_key_map_order(tmp_path):
    def rename(tensors):  # '²' is a digit to str.isdigit, but no number to int()
        tensors.update({f"².{leaf}": tensors.pop(f"4.{leaf}") for leaf in ("weight", "bias")})
    path = st_file(tmp_path / "sup.safetensors", rename)
    model = sc.load_safetensors(path, bn_model().astype(np.float64), key_map="order")
    np.testing.assert_array_equal(model.layers[4].params["bias"], bn_model().layers[4].params[
        "bias"])


def test_tensors_of_types_numpy_lacks_or_not_floats_are_refused(tmp_path):
    path = st_file(tmp_path / "bf16.safetensors")  # 0.bias made bfloat16 (2 bytes each)
    data = path.read_bytes()
    size = int.from_bytes(data[:8], "little")
    header = json.loads(data[8:8 + size])
    start = header["0.bias"]["data_offsets"][0]
    header["0.bias"] = {"dtype": "BF16", "shape": [2], "data_offsets": [start, start + 4]}
    text = json.dumps(header).encode()
    path.write_bytes(len(text).to_bytes(8, "little") + text + data[8 + size:])
    with pytest.raises(ModelFileError, match="bf16.safetensors: ") as info:
        sc.load_safetensors(path, bn_model())  # NumPy lacks bfloat16 (unless ml_dtypes is in)
    assert "not a safetensors file" in str(info.value) or "'0.bias' is bfloat16, not a float" \
        in str(info.value), info.value
    path = st_file(tmp_path / "int.safetensors",
                   lambda t: t.update({"0.bias": np.array([1, 2], np.int64)}))
    with pytest.raises(ModelFileError, match=r"int.safetensors: tensor '0.bias' is int64, "
                                             "not a float"):
        sc.load_safetensors(path, bn_model())


# --------------------------------------------------------------------- images
def test_predict_on_a_broken_png_is_its_own_error(tmp_path):
    pil = pytest.importorskip("PIL.Image")
    buf = pyio.BytesIO()
    pil.fromarray(np.random.default_rng(0).integers(0, 255, (300, 300), np.uint8)).save(
        buf, "PNG")
    png = bytearray(buf.getvalue())
    second = png.index(b"IDAT", png.index(b"IDAT") + 4)  # Pillow: "broken PNG file"
    png[second:second + 4] = b"\x00\x01\x02\x03"
    (tmp_path / "broken.png").write_bytes(bytes(png))
    model = sc.save(sc.models.lenet5(seed=0), tmp_path / "m.npz")
    done = subprocess.run([sys.executable, "-m", "scratchcnn", "predict", model,
                           str(tmp_path / "broken.png")], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert f"cannot read image {tmp_path / 'broken.png'}: corrupt" in done.stderr


# --------------------------------------------------------------------- non-regular files
LOADERS = {
    "read_idx": ("D.read_idx", "IDXError"),
    "load": ("sc.load", "ModelFileError"),
    "load_checkpoint": ("sc.load_checkpoint", "ModelFileError"),
    "load_safetensors": ("sc.load_safetensors", "ModelFileError"),
    "read_image": ("D.read_image", "ImageFolderError"),
}


@pytest.mark.parametrize("loader", sorted(LOADERS))
def test_non_regular_files_are_refused_everywhere_without_waiting(loader, tmp_path):
    call, kind = LOADERS[loader]
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    for path in (fifo, tmp_path, pathlib.Path("/dev/zero")):
        try:
            result = in_child(f"{call}({str(path)!r})", timeout=60)
        except subprocess.TimeoutExpired:
            pytest.fail(f"{loader} waited on {path}")
        own_error(result, kind, str(path))
        assert any(w in result["message"] for w in ("FIFO", "directory", "folder", "device")), \
            result


def test_predict_on_a_fifo_does_not_hang(tmp_path):
    os.mkfifo(tmp_path / "digit.png")
    model = sc.save(sc.models.lenet5(seed=0), tmp_path / "m.npz")
    done = subprocess.run([sys.executable, "-m", "scratchcnn", "predict", model,
                           str(tmp_path / "digit.png")], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 1 and "a FIFO, not an image file" in done.stderr, done.stderr


def test_predict_refuses_an_image_over_the_pixel_limit_from_its_header(tmp_path):
    pytest.importorskip("PIL")
    side = 9460  # 89,491,600 pixels: just over MAX_PIXELS (89,478,485)

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(
            kind + body))
    (tmp_path / "bomb.png").write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(bytes(side + 1) * 64)) + chunk(b"IEND", b""))
    model = sc.save(sc.models.lenet5(seed=0), tmp_path / "m.npz")
    done = subprocess.run([sys.executable, "-m", "scratchcnn", "predict", model,
                           str(tmp_path / "bomb.png")], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 1, done.stderr
    assert f"cannot read image {tmp_path / 'bomb.png'}: too many pixels" in done.stderr


@pytest.mark.parametrize("step", [-2, -1])
def test_train_resume_names_the_file_of_a_negative_adam_step(step, tmp_path):
    from scratchcnn.cli import main
    data = D.load_sample()
    model = sc.models.lenet5(seed=0)
    model.meta = {"dataset": data.name, "source": data.source, "classes": list(data.classes),
                  "input_shape": [1, 28, 28], "model": "lenet5"}
    model.fit(data.train[0][:8], data.train[1][:8], epochs=1, batch_size=4, verbose=0)
    options = {"model": "lenet5", "dataset": "mnist-sample", "epochs": 2, "batch_size": 64,
               "optimizer": "adam", "lr": 2e-3, "schedule": "cosine", "validation_split": 0.1,
               "clip_grad_norm": None, "augment": None, "seed": 0}
    path = pathlib.Path(sc.save_checkpoint(model.trainer, tmp_path / "checkpoint.npz",
                                           {"options": options}))
    entries = members(path.read_bytes())
    entries["optimizer/0.weight/step.npy"] = npy(np.array(step))
    path.write_bytes(archive(entries))
    with pytest.raises(SystemExit) as info:
        main(["train", "--resume", str(tmp_path), "--offline"])
    assert str(path.parent) in str(info.value) and f"0.weight/step is {step}" in \
        str(info.value), info.value


def test_a_chunk_length_in_an_image_makes_no_read_larger_than_the_file(tmp_path):
    """A PNG whose IDAT claims 2 GB: Pillow reads that chunk's rest at the end of load()
    with one fp.read(length), which asked Python for 2 GB for a file of 100 bytes (a
    MemoryError under the child's limit; found by the image fuzzing)."""
    pil = pytest.importorskip("PIL.Image")
    buf = pyio.BytesIO()
    pil.fromarray(np.arange(120, dtype=np.uint8).reshape(12, 10)).save(buf, "PNG")
    png = bytearray(buf.getvalue())
    at = png.index(b"IDAT") - 4
    png[at:at + 4] = (2**31 - 16).to_bytes(4, "big")
    path = tmp_path / "long-chunk.png"
    path.write_bytes(bytes(png))
    result = in_child(f"D.read_image({str(path)!r})")
    assert result["peak_mib"] < 400, result
    if result["outcome"] != "loaded":
        own_error(result, "ImageFolderError", str(path))


@pytest.mark.parametrize("shape, words", [
    ([1, 10**6, 10**6], "over the cap"),
    ([1, 28, "a"], "one to three positive ints"),
    ([1, 30000, 30000], "layer 0 (Conv2d) makes"),
])
def test_save_refuses_an_input_shape_that_load_would_refuse(shape, words, tmp_path):
    model = tiny_model(shape)
    with pytest.raises(ValueError, match=r"^save: meta's input_shape|^save: layer 0") as info:
        sc.save(model, tmp_path / "m.npz")
    assert words in str(info.value) and not (tmp_path / "m.npz").exists()

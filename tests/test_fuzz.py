"""Fuzzed files: IDX data, model files and checkpoints, byte-flipped, cut, crafted.

Every outcome is a correct load or the library's own error naming the file (IDXError,
ModelFileError), within a couple of seconds and without allocating more than the file
can justify; and a pickle inside an archive never runs.  ``pytest --fuzz`` runs each
property with 20 times the examples (a few minutes); CI runs the short version.
"""

import collections
import gzip
import io as pyio
import json
import os
import pathlib
import pickle
import tempfile
import time
import tracemalloc
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import scratchcnn as sc
from scratchcnn import datasets as D
from scratchcnn.io import ModelFileError
from scratchcnn.training import Trainer

EXAMPLES = 400 * (20 if os.environ.get("SCRATCHCNN_FUZZ") else 1)
FUZZ = settings(max_examples=EXAMPLES, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
SECONDS = 2.0
WORK = pathlib.Path(tempfile.mkdtemp(prefix="scratchcnn-fuzz-"))
#: (kind of file, outcome) -> count, printed at the end (``pytest -s tests/test_fuzz.py``)
OUTCOMES: collections.Counter = collections.Counter()


@pytest.fixture(scope="module", autouse=True)
def tally():
    yield
    print("\nfuzz outcomes:", json.dumps({f"{k[0]} {k[1]}": v for k, v in
                                           sorted(OUTCOMES.items())}))


def idx_bytes(array, compress):
    path = WORK / ("base.idx.gz" if compress else "base.idx")
    D.write_idx(path, array)
    return path.read_bytes()


RNG = np.random.default_rng(0)
IDX_BASES = [idx_bytes(a, gz) for gz in (False, True) for a in (
    RNG.integers(0, 256, (6, 5, 4)).astype(np.uint8), (np.arange(7) % 3).astype(np.uint8),
    RNG.random((2, 3)).astype(np.float32), np.arange(4, dtype=np.int32))]


@st.composite
def mutated(draw, bases):
    """A base file's bytes, then byte flips, a cut, a spliced-in header or garbage."""
    data = bytearray(draw(st.sampled_from(bases)))
    kind = draw(st.sampled_from(["flip", "cut", "dims", "magic", "garbage", "empty", "many"]))
    if kind in ("flip", "many"):
        for _ in range(draw(st.integers(1, 40 if kind == "many" else 3))):
            if data:
                data[draw(st.integers(0, len(data) - 1))] ^= draw(st.integers(1, 255))
    elif kind == "cut":
        data = data[:draw(st.integers(0, max(0, len(data) - 1)))]
    elif kind == "dims" and len(data) >= 8 and data[:2] != b"\x1f\x8b":
        at = 4 + 4 * draw(st.integers(0, max(0, data[3] - 1)))
        claim = draw(st.sampled_from([2**31, 2**31 - 1, 2**32 - 1, 10**6, 0, 1]))
        data[at:at + 4] = claim.to_bytes(4, "big")
    elif kind == "magic":
        data[:4] = draw(st.binary(min_size=4, max_size=4))
    elif kind == "garbage":
        data = bytearray(b"\x1f\x8b" + draw(st.binary(max_size=200)))
    else:
        data = bytearray()
    if kind == "dims" and data[:2] == b"\x1f\x8b":  # a claim inside the compressed stream
        raw = bytearray(gzip.decompress(bytes(data)))
        raw[4:8] = draw(st.sampled_from([2**31, 2**32 - 1, 10**7])).to_bytes(4, "big")
        data = bytearray(gzip.compress(bytes(raw)))
    return bytes(data)


def measured(load, path, size):
    """``load(path)`` -> (result or the exception, seconds, peak bytes allocated)."""
    tracemalloc.start()
    start = time.perf_counter()
    try:
        result = load(path)
    except Exception as err:  # noqa: BLE001  (the property inspects it)
        result = err
    seconds = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return result, seconds, peak


@FUZZ
@given(data=mutated(IDX_BASES))
def test_fuzzed_idx_files_load_or_fail_cleanly(data):
    path = WORK / ("f.idx.gz" if data[:2] == b"\x1f\x8b" else "f.idx")
    path.write_bytes(data)
    result, seconds, peak = measured(D.read_idx, path, len(data))
    OUTCOMES["idx", type(result).__name__ if isinstance(result, Exception) else "loaded"] += 1
    assert seconds < SECONDS
    # gzip may expand: never more than what deflate can (1032:1), and only what was claimed
    assert peak <= 4 * D.idx.MAX_GZIP_RATIO * len(data) + (1 << 20)
    if isinstance(result, Exception):
        assert isinstance(result, D.IDXError), repr(result)
        assert str(path) in str(result)
    else:
        assert result.nbytes <= D.idx.MAX_GZIP_RATIO * len(data)


def test_idx_claims_the_file_cannot_hold_are_refused_before_reading(tmp_path):
    header = bytes([0, 0, 0x08, 3]) + b"".join(n.to_bytes(4, "big") for n in (2**31 - 1, 28, 28))
    (tmp_path / "claim.idx").write_bytes(header + bytes(100))
    with pytest.raises(D.IDXError, match=r"claim.idx: header says .* more than the file can hold"):
        D.read_idx(tmp_path / "claim.idx")
    # a small .gz of zeros claiming 2 GB: refused from its header, never decompressed
    (tmp_path / "bomb.idx.gz").write_bytes(gzip.compress(header + bytes(3_000_000)))
    result, seconds, peak = measured(D.read_idx, tmp_path / "bomb.idx.gz", 0)
    assert isinstance(result, D.IDXError) and "more than the file can hold" in str(result)
    assert peak < 1 << 20 and seconds < SECONDS
    for path, words in ((tmp_path, "is a directory"), ("/dev/zero", "not a regular file")):
        with pytest.raises(D.IDXError, match=words):
            D.read_idx(path)
    (tmp_path / "empty.idx").write_bytes(b"")
    with pytest.raises(D.IDXError, match="empty.idx: not an IDX file"):
        D.read_idx(tmp_path / "empty.idx")


# --------------------------------------------------------------------------- model files

def small_model():
    return sc.Sequential([sc.Conv2d(1, 2, 3, rng=0), sc.ReLU(), sc.MaxPool2d(2), sc.Flatten(),
                          sc.BatchNorm1d(8), sc.Linear(8, 3, rng=1)])


X = np.random.default_rng(1).random((4, 1, 6, 6)).astype(np.float32)
MODEL_BYTES = pathlib.Path(sc.save(small_model(), WORK / "model.npz")).read_bytes()
_trained = small_model()
_trained.fit(X, np.arange(4) % 3, epochs=1, batch_size=2, verbose=0)
CHECKPOINT_BYTES = pathlib.Path(sc.save_checkpoint(_trained.trainer, WORK / "ck.npz", {
    "note": 1})).read_bytes()


def members(data: bytes) -> dict:
    with zipfile.ZipFile(pyio.BytesIO(data)) as z:
        return {i.filename: z.read(i) for i in z.infolist()}


def archive(entries: dict, compress=zipfile.ZIP_STORED) -> bytes:
    buf = pyio.BytesIO()
    with zipfile.ZipFile(buf, "w", compress) as z:
        for name, data in entries.items():
            z.writestr(name, data)
    return buf.getvalue()


def npy(array) -> bytes:
    buf = pyio.BytesIO()
    np.save(buf, array, allow_pickle=True)
    return buf.getvalue()


def arch_of(data: bytes) -> dict:
    return json.loads(np.load(pyio.BytesIO(members(data)["__architecture__.npy"])).tobytes())


def with_arch(data: bytes, change) -> bytes:
    """The archive with its architecture JSON changed by ``change(dict)`` (or replaced by
    the text it returns)."""
    entries = members(data)
    arch = arch_of(data)
    new = change(arch)
    text = new if isinstance(new, str) else json.dumps(arch)
    entries["__architecture__.npy"] = npy(np.frombuffer(text.encode(), np.uint8))
    return archive(entries)


def with_member(data: bytes, name: str, value) -> bytes:
    entries = members(data)
    if value is None:
        entries.pop(name + ".npy")
    else:
        entries[name + ".npy"] = value if isinstance(value, bytes) else npy(value)
    return archive(entries)


def nested(depth):
    return "[" * depth + "]" * depth


def set_layer(i, **config):
    def change(arch):
        arch["layers"][i]["config"].update(config)
    return change


CRAFTED = {  # what a probe of the old loader found, each as one file
    "unknown layer": (lambda d: with_arch(d, lambda a: a["layers"][1].update(type="Evil")),
                      "layer 1 has unknown type 'Evil'"),
    "layer without config": (lambda d: with_arch(d, lambda a: a["layers"][1].pop("config")),
                             "layer 1 is not"),
    "constructor type error": (lambda d: with_arch(d, set_layer(0, stride="x")),
                               "layer 0 (Conv2d)"),
    "huge Linear": (lambda d: with_arch(d, set_layer(5, in_features=20000, out_features=20000)),
                    "5.weight has shape (3, 8), the architecture needs (20000, 20000)"),
    "wrong weight shape": (lambda d: with_member(d, "0.weight", np.zeros((2, 1, 2, 2),
                                                                          np.float32)),
                           "0.weight has shape (2, 1, 2, 2), the architecture needs"),
    "missing weight": (lambda d: with_member(d, "5.bias", None), "weights missing: ['5.bias']"),
    "extra weight": (lambda d: with_member(d, "9.weight", np.zeros(3, np.float32)),
                     "unexpected: ['9.weight']"),
    "extra key": (lambda d: with_arch(d, lambda a: a.update(evil=1)),
                  "unknown architecture keys ['evil']"),
    "NaN weight": (lambda d: with_member(d, "0.bias", np.array([0.0, np.nan], np.float32)),
                   "0.bias holds NaN or inf"),
    "integer weight": (lambda d: with_member(d, "0.bias", np.array([1, 2])),
                       "0.bias is int64, not a float array"),
    "deep JSON": (lambda d: with_arch(d, lambda a: nested(100_000)), "RecursionError"),
    "not JSON": (lambda d: with_arch(d, lambda a: "{'format': "), "JSONDecodeError"),
    "no layers": (lambda d: with_arch(d, lambda a: a.update(layers=[])), "lists no layers"),
    "bad dtype": (lambda d: with_arch(d, lambda a: a.update(dtype="object")), "not a float"),
    "negative std": (lambda d: with_arch(d, lambda a: a.update(input_mean=0.1,
                                                               input_std=-1.0)),
                     "input_std must be positive"),
    "newer version": (lambda d: with_arch(d, lambda a: a.update(version=99)),
                      "format version 99 is newer"),
    "corrupt npy header": (lambda d: with_member(d, "0.bias", b"\x93NUMPY\x01\x00\x10\x00"
                                                           b"{'descr': '<f4'"), "0.bias"),
    "bomb member": (lambda d: archive({**members(d), "0.bias.npy": npy(np.zeros(50_000_000,
                                                                                np.uint8))},
                                      zipfile.ZIP_DEFLATED), "more than the whole file"),
    "not a zip": (lambda d: b"hello, I am /etc/hostname\n", "not an .npz archive"),
    "empty zip": (lambda d: archive({}), "not an .npz archive"),
    "no architecture": (lambda d: archive({"0.weight.npy": npy(np.zeros(2))}),
                        "no __architecture__ entry"),
    "other member": (lambda d: archive({**members(d), "evil.txt": b"x"}), "not an array"),
}


@pytest.mark.parametrize("case", sorted(CRAFTED))
def test_crafted_model_files_are_refused_saying_why(case, tmp_path):
    make, words = CRAFTED[case]
    path = tmp_path / "crafted.npz"
    path.write_bytes(make(MODEL_BYTES))
    result, seconds, peak = measured(sc.load, path, path.stat().st_size)
    OUTCOMES["crafted model", type(result).__name__] += 1
    assert isinstance(result, ModelFileError), repr(result)
    assert str(path) in str(result) and words in str(result), str(result)
    assert seconds < SECONDS and peak < 4 * path.stat().st_size + (8 << 20)


def test_empty_files_and_directories_are_not_models(tmp_path):
    (tmp_path / "empty.npz").write_bytes(b"")
    for path, words in ((tmp_path / "empty.npz", "not an .npz archive"),
                        (tmp_path, "it is a directory")):
        for loader in (sc.load, sc.load_checkpoint):
            with pytest.raises(ModelFileError, match=words):
                loader(path)


@FUZZ
@given(data=mutated([MODEL_BYTES]))
def test_fuzzed_model_files_load_or_fail_cleanly(data):
    path = WORK / "fuzzed.npz"
    path.write_bytes(data)
    result, seconds, peak = measured(sc.load, path, len(data))
    OUTCOMES["model", type(result).__name__ if isinstance(result, Exception) else "loaded"] += 1
    assert seconds < SECONDS and peak < 4 * len(data) + (8 << 20)
    if isinstance(result, Exception):
        assert isinstance(result, ModelFileError), repr(result)
        assert str(path) in str(result)
    else:  # a flip the format does not notice (a weight's value): a working model
        assert result.predict(X).shape == (4,)


def resume(path):
    """load_checkpoint, then the run state restored into a fresh trainer."""
    back = sc.load_checkpoint(path)
    Trainer(back.model, sc.Adam(1e-3)).load_state_dict(back.trainer_state)
    return back


@FUZZ
@given(data=mutated([CHECKPOINT_BYTES]))
def test_fuzzed_checkpoints_load_or_fail_cleanly(data):
    path = WORK / "fuzzed-ck.npz"
    path.write_bytes(data)
    result, seconds, peak = measured(resume, path, len(data))
    OUTCOMES["checkpoint", type(result).__name__ if isinstance(result, Exception)
             else "loaded"] += 1
    assert seconds < SECONDS and peak < 4 * len(data) + (8 << 20)
    if isinstance(result, Exception):  # the file's own error, or the run state's
        assert isinstance(result, ValueError), repr(result)
        assert str(path) in str(result) or "load_state_dict" in str(result), str(result)


def with_run(data: bytes, change) -> bytes:
    entries = members(data)
    run = json.loads(np.load(pyio.BytesIO(entries["__run__.npy"])).tobytes())
    change(run)
    entries["__run__.npy"] = npy(np.frombuffer(json.dumps(run).encode(), np.uint8))
    return archive(entries)


@pytest.mark.parametrize("change, words", [
    (lambda r: r["trainer"].update(epoch=10**9), "epoch must be an int in [0, 100000]"),
    (lambda r: r["trainer"].update(base_lr=-1), "base_lr must be positive"),
    (lambda r: r["optimizer"].update(lr=float("nan")), "lr must be a positive number"),
    (lambda r: r["optimizer"]["hyper"].update(betas=[0.9, 1.5]), "betas=[0.9, 1.5]"),
    (lambda r: r["optimizer"]["hyper"].update(eps=0), "eps=0 is out of range"),
    (lambda r: r["optimizer"]["hyper"].update(momentum=0.9), "are not Adam's"),
    (lambda r: r["trainer"].update(rng={"bit_generator": "PCG64", "state": 5}),
     "a random generator's state is not valid"),
    (lambda r: r["trainer"].pop("history"), "the state lacks ['history']"),
])
def test_a_checkpoints_run_state_is_validated(change, words, tmp_path):
    path = tmp_path / "ck.npz"
    path.write_bytes(with_run(CHECKPOINT_BYTES, change))
    with pytest.raises(ValueError) as info:
        resume(path)
    assert words in str(info.value)


def test_missing_or_misshapen_moments_are_refused(tmp_path):
    path = tmp_path / "ck.npz"
    path.write_bytes(with_member(CHECKPOINT_BYTES, "optimizer/0.weight/exp_avg",
                                 np.zeros(3, np.float32)))
    with pytest.raises(ValueError, match=r"0.weight/exp_avg is float32 \(3,\), expected "
                                         r"\(2, 1, 3, 3\)"):
        resume(path)


class Marker:
    """Unpickling this creates a file: proof that a loader ran code."""

    path = str(WORK / "pwned")

    def __reduce__(self):
        return (open, (self.path, "w"))


@pytest.mark.parametrize("where", ["__architecture__", "0.weight", "__run__"])
def test_a_pickle_inside_an_archive_never_runs(where, tmp_path):
    evil = npy(np.array([Marker()], dtype=object))
    assert b"pwned" in evil
    for base, loader in ((MODEL_BYTES, sc.load), (CHECKPOINT_BYTES, sc.load_checkpoint)):
        path = tmp_path / "evil.npz"
        path.write_bytes(archive({**members(base), where + ".npy": evil}))
        with pytest.raises(ModelFileError, match="holds Python objects \\(a pickle\\)"):
            loader(path)
        path.write_bytes(pickle.dumps(Marker()))  # a bare pickle, named like a model
        with pytest.raises(ModelFileError, match="not an .npz archive"):
            loader(path)
    assert not os.path.exists(Marker.path)

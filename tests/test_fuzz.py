"""Fuzzed files: IDX data, model files and checkpoints, byte-flipped, cut, crafted; and
(issue 26) gzip bombs, .npz member bombs, crafted architectures and run states, values
beyond float32, safetensors headers and metadata, images and non-regular files.

Every outcome is a correct load or the library's own error naming the file (IDXError,
ModelFileError, ImageFolderError), within a couple of seconds and without allocating more
than the file can justify (each kind states its bound); and a pickle inside an archive
never runs.  ``pytest --fuzz`` runs each property with 8,000 examples (several minutes);
CI runs the short version.  ``pytest -s tests/test_fuzz.py`` prints the table of outcomes.
"""

import collections
import copy
import functools
import gzip
import importlib.util
import io as pyio
import json
import os
import pathlib
import pickle
import re
import socket
import struct
import tempfile
import threading
import time
import tracemalloc
import zipfile
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import scratchcnn as sc
from scratchcnn import datasets as D
from scratchcnn.archive import MAX_EXPANSION
from scratchcnn.io import ModelFileError
from scratchcnn.training import Trainer

ST_AVAILABLE = importlib.util.find_spec("safetensors") is not None
PIL_AVAILABLE = importlib.util.find_spec("PIL") is not None
if ST_AVAILABLE:
    import safetensors.numpy as safetensors_numpy
if PIL_AVAILABLE:
    from scratchcnn.datasets import image_folder

FUZZING = bool(os.environ.get("SCRATCHCNN_FUZZ"))
EXAMPLES = 400  # a kind, in the default run; 8,000 under --fuzz (:func:`fuzz`)


def fuzz(ci: int):
    """Hypothesis settings: ``ci`` examples, or 8,000 under ``pytest --fuzz``."""
    return settings(max_examples=8000 if FUZZING else ci, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.filter_too_much])


FUZZ = fuzz(EXAMPLES)
SECONDS = 2.0  # a load slower than this is counted in the table ("> 2 s") ...
HANG = 60.0  # ... and one slower than this fails: a hang, not a busy machine
WORK = pathlib.Path(tempfile.mkdtemp(prefix="scratchcnn-fuzz-"))
#: (kind of file, outcome) -> count, printed at the end (``pytest -s tests/test_fuzz.py``)
OUTCOMES: collections.Counter = collections.Counter()
#: kind -> Counter of cases, own (the project's clear error), loaded, other, MemoryError,
#: slow; and kind -> (largest peak, its bound in words, largest share of a case's bound)
STATS: dict = collections.defaultdict(collections.Counter)
PEAKS: dict = {}


@pytest.fixture(scope="module", autouse=True)
def tally():
    yield
    print("\nfuzz outcomes:", json.dumps({f"{k[0]} {k[1]}": v for k, v in
                                           sorted(OUTCOMES.items())}))
    head = ("kind", "cases", "own errors", "loads", "other", "MemoryError", f"> {SECONDS:g} s",
            "peak MiB", "of bound", "bound")
    rows = [head] + [(kind, *(f"{c[k]:,}" for k in ("cases", "own", "loaded", "other",
                                                       "memory", "slow")),
                      f"{PEAKS[kind][0] / 2**20:.1f}", f"{PEAKS[kind][2]:.0%}", PEAKS[kind][1])
                     for kind, c in sorted(STATS.items())]
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    print("\n" + "\n".join("  ".join(v.ljust(w) if i in (0, 9) else v.rjust(w)
                                     for i, (v, w) in enumerate(zip(r, widths))) for r in rows))


def record(kind: str, path, result, seconds: float, peak: int, bound: int, words: str,
           own=(ValueError,), check=None) -> None:
    """Count one case of ``kind`` and assert the property: a load (``check(result)``
    passes) or one of the ``own`` errors naming ``path``, within SECONDS, the peak of
    traced allocations under ``bound`` bytes (``words`` states it for the table)."""
    stats = STATS[kind]
    stats["cases"] += 1
    is_error = isinstance(result, BaseException)
    clear = is_error and isinstance(result, own) and str(path) in str(result)
    stats["own" if clear else "loaded" if not is_error else "other"] += 1
    stats["memory"] += isinstance(result, MemoryError)
    stats["slow"] += seconds >= SECONDS
    largest, _, share = PEAKS.get(kind, (-1, words, 0.0))
    PEAKS[kind] = (max(peak, largest), words, max(share, peak / bound))
    OUTCOMES[kind, type(result).__name__ if is_error else "loaded"] += 1
    assert not is_error or clear, repr(result)
    assert seconds < HANG, (kind, seconds)
    assert peak <= bound, (kind, peak, bound)
    if not is_error and check is not None:
        check(result)


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
    room = idx_room(len(data), data[:2] == b"\x1f\x8b")
    record("idx", path, result, seconds, peak, room + (4 << 20), IDX_BOUND, (D.IDXError,),
           lambda array: array.nbytes <= room or pytest.fail(f"{array.nbytes} > {room}"))


#: What an IDX load may allocate: the data a header may claim, one CHUNK more
IDX_BOUND = "max(64 x file, 16 MiB) gz; file raw; + 4 MiB"


def idx_room(size: int, is_gzip: bool) -> int:
    """The most data an IDX file of ``size`` bytes may claim (:mod:`scratchcnn.datasets.idx`)."""
    return max(size * D.idx.MAX_GZIP_RATIO, D.idx.GZIP_ALLOWANCE) if is_gzip else size


def test_idx_claims_the_file_cannot_hold_are_refused_before_reading(tmp_path):
    header = bytes([0, 0, 0x08, 3]) + b"".join(n.to_bytes(4, "big") for n in (2**31 - 1, 28, 28))
    (tmp_path / "claim.idx").write_bytes(header + bytes(100))
    with pytest.raises(D.IDXError, match=r"claim.idx: header says .* more than the file can hold"):
        D.read_idx(tmp_path / "claim.idx")
    # a small .gz of zeros claiming 2 GB: refused from its header, never decompressed
    (tmp_path / "bomb.idx.gz").write_bytes(gzip.compress(header + bytes(3_000_000)))
    result, seconds, peak = measured(D.read_idx, tmp_path / "bomb.idx.gz", 0)
    assert isinstance(result, D.IDXError) and "more than the file can hold" in str(result)
    assert "decompression bomb" in str(result) and peak < 1 << 20 and seconds < HANG
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
                    "weight '5.weight' has shape (3, 8), expected (20000, 20000)"),
    "wrong weight shape": (lambda d: with_member(d, "0.weight", np.zeros((2, 1, 2, 2),
                                                                          np.float32)),
                           "weight '0.weight' has shape (2, 1, 2, 2), expected"),
    "missing weight": (lambda d: with_member(d, "5.bias", None), "weights missing: ['5.bias']"),
    "extra weight": (lambda d: with_member(d, "9.weight", np.zeros(3, np.float32)),
                     "unexpected: ['9.weight']"),
    "extra key": (lambda d: with_arch(d, lambda a: a.update(evil=1)),
                  "unknown architecture keys ['evil']"),
    "NaN weight": (lambda d: with_member(d, "0.bias", np.array([0.0, np.nan], np.float32)),
                   "weight '0.bias' holds NaN or inf"),
    "integer weight": (lambda d: with_member(d, "0.bias", np.array([1, 2])),
                       "weight '0.bias' is int64, not a float array"),
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
    assert seconds < HANG and peak < 4 * path.stat().st_size + (8 << 20)


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
    # a flip the format does not notice (a weight's value): a working model
    record("model", path, result, seconds, peak, 4 * len(data) + (8 << 20), "4 x file + 8 MiB",
           (ModelFileError,), lambda model: model.predict(X).shape == (4,) or pytest.fail())


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
    record("checkpoint", path, run_state_named(result, path), seconds, peak,
           4 * len(data) + (8 << 20), "4 x file + 8 MiB")


def run_state_named(result, path):
    """The file's own error, or the run state's (``Trainer.load_state_dict`` knows no
    file: ``train --resume`` names it), as an error naming the file."""
    if isinstance(result, ValueError) and "load_state_dict" in str(result) and \
            str(path) not in str(result):
        return ModelFileError(f"{path}: {result}")
    return result


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
     "the random generator state rng is not one a PCG64 takes"),
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


# =========================================================================== issue 26
# Generators of our own for each class of hostile input the issue names.  Each kind's
# peak bound is the promise of its loader (stated in the table).

# --------------------------------------------------------------------------- gzip bombs
ZERO_MIB = gzip.compress(bytes(1 << 20), compresslevel=9, mtime=0)  # 1 MiB in ~1 kB
DIMS = st.sampled_from([0, 1, 3, 28, 1024, 4096, 2**16, 2**20, 2**24, 2**31, 2**32 - 1]) | \
    st.integers(0, 2**32 - 1)


@st.composite
def gzip_bombs(draw):
    """A gzip IDX whose header claims any size and whose stream inflates to up to 24 MiB
    more (zero-filled gzip members, concatenated), then cut, flipped or followed by junk."""
    dims = draw(st.lists(DIMS, min_size=1, max_size=4))
    header = bytes([0, 0, draw(st.sampled_from(sorted(D.idx.TYPES))), len(dims)]) + \
        b"".join(d.to_bytes(4, "big") for d in dims)
    data = bytearray(gzip.compress(header + draw(st.binary(max_size=64)), mtime=0) +
                     ZERO_MIB * draw(st.integers(0, 24)))
    end = draw(st.sampled_from(["whole", "cut", "junk", "flip"]))
    if end == "cut":
        data = data[:draw(st.integers(2, len(data)))]
    elif end == "junk":
        data += draw(st.binary(min_size=1, max_size=64))
    elif end == "flip":
        data[draw(st.integers(10, len(data) - 1))] ^= draw(st.integers(1, 255))
    return bytes(data)


@fuzz(60)
@given(data=gzip_bombs())
def test_gzip_bombs_are_refused_from_their_header(data):
    path = WORK / "bomb.idx.gz"
    path.write_bytes(data)
    result, seconds, peak = measured(D.read_idx, path, len(data))
    room = idx_room(len(data), True)
    record("gzip bomb", path, result, seconds, peak, room + (4 << 20), IDX_BOUND,
           (D.IDXError,), lambda array: array.nbytes <= room or pytest.fail())


# --------------------------------------------------------------------------- npz bombs
@functools.lru_cache(maxsize=None)
def zeros_npy(size: int, dtype: str) -> bytes:
    return npy(np.zeros(size // np.dtype(dtype).itemsize, dtype))


@functools.lru_cache(maxsize=64)
def deflate(content: bytes) -> tuple[bytes, int]:
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    return packer.compress(content) + packer.flush(), zlib.crc32(content)


def zip_of(entries: list) -> bytes:
    """A zip archive of (name, content, deflated?) entries, written by hand: the same
    content deflated once for any number of members."""
    out, central = bytearray(), bytearray()
    for name, content, deflated in entries:
        data, crc = deflate(content) if deflated else (content, zlib.crc32(content))
        raw, offset, method = name.encode(), len(out), 8 if deflated else 0
        out += struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, method, 0, 0x21, crc, len(data),
                           len(content), len(raw), 0) + raw + data
        central += struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 20, 20, 0, method, 0, 0x21, crc,
                               len(data), len(content), len(raw), 0, 0, 0, 0, 0, offset) + raw
    return bytes(out + central + struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, len(entries),
                                             len(entries), len(central), len(out), 0))


@st.composite
def npz_bombs(draw):
    """A model or checkpoint (or nothing) with up to 1,200 deflated members of zeros
    (up to 3.5 MB each) beside or instead of its own, which may be deflated too."""
    base = draw(st.sampled_from(["model", "checkpoint", "none"]))
    own = {"model": MODEL_BYTES, "checkpoint": CHECKPOINT_BYTES}.get(base)
    entries = [(k, v, draw(st.booleans())) for k, v in members(own).items()] if own else []
    content = zeros_npy(draw(st.sampled_from([0, 8, 4096, 1 << 20, 3_500_000])),
                        draw(st.sampled_from(["uint8", "float32", "float64"])))
    count = draw(st.sampled_from([0, 1, 2, 30, 300, 1200]) | st.integers(0, 40))
    bombs = [(f"{i}.bomb.npy", content, True) for i in range(count)]
    return zip_of(bombs + entries if draw(st.booleans()) else entries + bombs), base


@fuzz(40)
@given(case=npz_bombs())
def test_npz_member_bombs_are_refused_before_any_member_is_read(case):
    data, base = case
    path = WORK / "bomb.npz"
    path.write_bytes(data)
    result, seconds, peak = measured(resume if base == "checkpoint" else sc.load, path,
                                     len(data))
    record("npz bomb", path, run_state_named(result, path), seconds, peak,
           2 * MAX_EXPANSION * len(data) + (8 << 20), f"2 x {MAX_EXPANSION} x file + 8 MiB")


# --------------------------------------------------------------------------- architectures
def residual_model():
    model = sc.Sequential([sc.Conv2d(1, 2, 3, padding=1, rng=0),
                           sc.Residual([sc.Conv2d(2, 2, 3, padding=1, rng=1), sc.ReLU()]),
                           sc.AdaptiveAvgPool2d(2), sc.Flatten(), sc.Linear(8, 3, rng=2)])
    model.meta = {"input_shape": [1, 6, 6]}
    return model


RESIDUAL_BYTES = pathlib.Path(sc.save(residual_model(), WORK / "residual.npz")).read_bytes()
ABSURD = [-1, 0, 1, 2, 3, 2**31, 2**63, 10**30, 1.5, -0.5, "x", "", None, True, False, [], [1],
          [0, 0], [1, 2, 3], [2**40, 1], [10**6, 10**6], [-1, 2], {"a": 1}, "same", "valid",
          [[1, 2], [3, 4]], "S1000000000"]
DTYPES = ["S1000000000", "object", "int8", "U5", "float128", "float16", "float64", "V8", "<f4",
          "f", "O", "complex64", "M8", 7, None, [], "float32", "bool"]
SHAPES = [[1, 6, 6], [1, 28, 28], [1, 10**5, 10**5], [0, 6, 6], 5, "x", [1, 6], [1, 6, 6, 6],
          [3, 6, 6], [True, 6, 6], [1, 2**40, 1], [8], [1, 100, 100], [1, 1500, 1500], None]
CONFIG_KEYS = ["in_channels", "out_channels", "kernel_size", "stride", "padding", "dilation",
               "bias", "groups", "in_features", "out_features", "num_features", "eps",
               "momentum", "start_dim", "end_dim", "output_size", "p", "negative_slope",
               "layers", "body", "shortcut", "dtype", "rng", "evil"]
TOKENS = ["1e400", "-1e400", "Infinity", "-Infinity", "NaN", "9" * 5000, "1" + "0" * 40,
          "[" * 3000 + "]" * 3000, "-0", "1E+2"]


def nest(depth: int) -> dict:
    spec = {"type": "ReLU", "config": {}}
    for _ in range(depth):
        spec = {"type": "Residual", "config": {"body": [spec], "shortcut": None}}
    return spec


@st.composite
def architectures(draw):
    """A model file's architecture changed 1-4 times: a config value made absurd, a layer
    dtype, the meta input_shape, a layer's type, nested containers or JSON, top-level keys,
    or a number's text replaced by one no size can be (1e400, NaN, 5,000 digits)."""
    base = draw(st.sampled_from([MODEL_BYTES, RESIDUAL_BYTES]))
    arch = arch_of(base)
    for _ in range(draw(st.integers(1, 4))):
        what = draw(st.sampled_from(["config", "config", "dtype", "shape", "type", "nest",
                                     "deep", "top"]))
        if what == "top":  # last: the layers may be gone
            arch[draw(st.sampled_from(["dtype", "input_mean", "input_std", "version",
                                       "layers", "meta"]))] = draw(st.sampled_from(
                                           ABSURD + DTYPES + [[1e300], [0.0], {}]))
            break
        i = draw(st.integers(0, len(arch["layers"]) - 1))
        config = arch["layers"][i]["config"]
        if what == "config":
            config[draw(st.sampled_from(CONFIG_KEYS))] = draw(st.sampled_from(ABSURD))
        elif what == "dtype":
            config["dtype"] = draw(st.sampled_from(DTYPES))
        elif what == "shape":
            shape = draw(st.sampled_from(SHAPES))
            arch["meta"] = {} if shape is None else {"input_shape": shape}
        elif what == "type":
            arch["layers"][i]["type"] = draw(st.sampled_from(sorted(sc.io.LAYER_TYPES)))
        elif what == "nest":
            arch["layers"][i] = nest(draw(st.integers(1, 12)))
        elif what == "deep":
            config[draw(st.sampled_from(CONFIG_KEYS))] = json.loads(nested(
                draw(st.integers(1, 900))))
    text = json.dumps(arch)
    if draw(st.booleans()):  # one number's text replaced
        numbers = [m.span() for m in re.finditer(r"(?<=: )-?\d+(\.\d+)?(e-?\d+)?", text)]
        if numbers:
            a, b = draw(st.sampled_from(numbers))
            text = text[:a] + draw(st.sampled_from(TOKENS)) + text[b:]
    entries = members(base)
    entries["__architecture__.npy"] = npy(np.frombuffer(text.encode(), np.uint8))
    return archive(entries)


def predicts_or_says_why(model) -> None:
    """Where one sample of the model's input shape (its file's, else 1 x 6 x 6) is small:
    predict works, or says in the model's own words why that input does not fit."""
    from scratchcnn import limits
    shape = tuple(model.meta.get("input_shape") or (1, 6, 6))
    if sum(step[2] for step in limits.activations(model.layers, shape)) <= 10**6:
        try:
            model.predict(np.full((1, *shape), 0.5, np.float32))
        except ValueError as err:
            assert type(err) is ValueError and not re.search(
                r"broadcast|out of bounds|invalid literal|could not convert|unpack",
                str(err)), repr(err)


def load_and_predict(path):
    """sc.load, then predict (:func:`predicts_or_says_why`)."""
    model = sc.load(path)
    predicts_or_says_why(model)
    return model


@fuzz(150)
@given(data=architectures())
def test_crafted_architectures_load_or_are_refused_before_any_allocation(data):
    path = WORK / "arch.npz"
    path.write_bytes(data)
    result, seconds, peak = measured(load_and_predict, path, len(data))
    record("architecture", path, result, seconds, peak, 4 * len(data) + (16 << 20),
           "4 x file + 16 MiB", (ModelFileError,))


# --------------------------------------------------------------------------- run states
RUN_PATHS = [("trainer", "epoch"), ("trainer", "base_lr"), ("trainer", "history", "loss"),
             ("trainer", "history"), ("trainer", "rng"), ("trainer", "rng", "state", "state"),
             ("trainer", "layer_rngs"), ("optimizer", "lr"), ("optimizer", "steps"),
             ("optimizer", "hyper", "betas"), ("optimizer", "hyper", "eps"),
             ("optimizer", "hyper", "weight_decay"), ("optimizer", "hyper"), ("settings",)]
RUN_VALUES = [10**400, -10**400, 2**128, 2**128 + 1, -1, 0, 1, 1e300, 1e-300, float("nan"),
              float("inf"), -float("inf"), 0.9999999999999999, 1.0, [0.9, 1.5], [0.9, 0.999],
              [1e-300, 0.5], "x", None, True, [], {}, [[[]]], {"²": 1}, {"1e3": {}}]
STEPS = [-2, -1, 0, 1, 2.5, 1e300, float("nan"), 2**62, 2**63 - 1, -0.0]


@st.composite
def run_states(draw):
    """A checkpoint whose run JSON has 1-3 values made absurd, or whose Adam step counts
    are replaced (-2 made 'math domain error', -1 a ZeroDivisionError, at the first step)."""
    entries = members(CHECKPOINT_BYTES)
    run = json.loads(np.load(pyio.BytesIO(entries["__run__.npy"])).tobytes())
    for _ in range(draw(st.integers(1, 3))):
        where, node = draw(st.sampled_from(RUN_PATHS)), run
        for key in where[:-1]:
            node = node.setdefault(key, {}) if isinstance(node, dict) else {}
        if isinstance(node, dict):  # a copy: a later change must not reach the shared value
            node[where[-1]] = copy.deepcopy(draw(st.sampled_from(RUN_VALUES)))
    for name in [k for k in entries if k.endswith("/step.npy")]:
        if draw(st.booleans()):
            entries[name] = npy(np.array(draw(st.sampled_from(STEPS))))
    entries["__run__.npy"] = npy(np.frombuffer(json.dumps(run).encode(), np.uint8))
    return archive(entries)


def resume_trainer(path) -> Trainer:
    back = sc.load_checkpoint(path)
    trainer = Trainer(back.model, sc.Adam(1e-3))
    trainer.load_state_dict(back.trainer_state)
    return trainer


def resume_and_train(path) -> Trainer:
    """resume, then an epoch of training: where a bad state would surface as arithmetic."""
    trainer = resume_trainer(path)
    trainer.run(X, np.arange(4) % 3, epochs=1, batch_size=2, verbose=0)
    return trainer


@fuzz(100)
@given(data=run_states())
def test_crafted_run_states_resume_or_are_refused(data):
    from scratchcnn.guard import TrainingDiverged
    path = WORK / "run.npz"
    path.write_bytes(data)
    result, seconds, peak = measured(resume_and_train, path, len(data))
    if isinstance(result, TrainingDiverged):  # the guard's own word: a clear end
        result = ModelFileError(f"{path}: {result}")
    record("run state", path, run_state_named(result, path), seconds, peak,
           4 * len(data) + (8 << 20), "4 x file + 8 MiB")


# --------------------------------------------------------------------------- float range
EXTREMES = [3.4028234663852886e38, 3.5e38, 1e39, 1e300, -1e300, -3.5e38, 65504.0, 65520.0,
            7e4, 1e-310, 5e-324, -0.0, 0.1, 1.0, 1e30, 1.7976931348623157e308]


@st.composite
def beyond_float32(draw):
    """A model, checkpoint or safetensors file with one array's float64 values drawn
    near and beyond float32's (and a float16 model's) range: (bytes, kind, array)."""
    kind = draw(st.sampled_from(["model", "float16 model", "checkpoint", "moment",
                                 "safetensors"]))
    values = draw(st.lists(st.sampled_from(EXTREMES) | st.floats(width=64), min_size=1,
                           max_size=4))
    base = CHECKPOINT_BYTES if kind in ("checkpoint", "moment") else MODEL_BYTES
    entries = members(base)
    prefix = {"checkpoint": "model/", "moment": "optimizer/"}.get(kind, "")
    names = sorted(k[:-4] for k in entries if k.startswith(prefix) and
                   not k.startswith("__") and not k.endswith("/step.npy"))
    name = draw(st.sampled_from(names))
    shape = np.load(pyio.BytesIO(entries[name + ".npy"])).shape
    array = np.resize(np.array(values, np.float64), shape)
    if kind == "safetensors":
        if not ST_AVAILABLE:
            return b"", "skip", name, array
        model = sc.load(WORK / "model.npz")
        tensors = {k: v for k, v in model.state_dict().items()}
        tensors[name] = array
        meta = {"scratchcnn.architecture": json.dumps(sc.io.architecture(model))}
        return safetensors_numpy.save(tensors, meta), kind, name, array
    entries[name + ".npy"] = npy(array)
    if kind == "float16 model":
        arch = json.loads(np.load(pyio.BytesIO(entries["__architecture__.npy"])).tobytes())
        arch["dtype"] = "float16"
        entries["__architecture__.npy"] = npy(np.frombuffer(json.dumps(arch).encode(), np.uint8))
    return archive(entries), kind, name, array


def same_values(loaded: np.ndarray, stored: np.ndarray) -> None:
    """A value that loaded is the stored one in the model's dtype: finite, not changed
    beyond that dtype's rounding (an underflow to zero is rounding)."""
    assert np.isfinite(loaded).all()
    tiny = float(np.finfo(loaded.dtype).tiny)
    np.testing.assert_allclose(loaded.astype(np.float64), stored, rtol=2 * float(
        np.finfo(loaded.dtype).eps), atol=tiny)


@fuzz(100)
@given(case=beyond_float32())
def test_values_beyond_float32_are_refused_naming_the_array(case):
    data, kind, name, array = case
    assume(kind != "skip")
    path = WORK / ("range.safetensors" if kind == "safetensors" else "range.npz")
    path.write_bytes(data)
    load = {"safetensors": lambda p: sc.load_safetensors(p), "checkpoint": resume_trainer,
            "moment": resume_trainer}.get(kind, sc.load)
    result, seconds, peak = measured(load, path, len(data))
    result = run_state_named(result, path)
    if isinstance(result, ValueError):
        assert name.split("/", 1)[-1] in str(result), str(result)

    def check(loaded):
        if kind == "moment":
            _, param, slot = name.split("/")
            same_values(loaded.optimizer.state[param][slot], array)
        else:
            model = loaded.model if kind == "checkpoint" else loaded
            same_values(model.state_dict()[name.split("/", 1)[-1]], array)
    record("float range", path, result, seconds, peak, 4 * len(data) + (8 << 20),
           "4 x file + 8 MiB", (ModelFileError,), check)


# --------------------------------------------------------------------------- safetensors
def st_base() -> tuple[bytes, dict, dict]:
    """A saved model's safetensors bytes, its header (tensors) and its metadata."""
    model = sc.Sequential([sc.Conv2d(1, 2, 3, rng=0), sc.ReLU(), sc.BatchNorm2d(2),
                           sc.Flatten(), sc.Linear(32, 3, rng=1)])
    data = pathlib.Path(sc.save_safetensors(model, WORK / "base.safetensors")).read_bytes()
    size = int.from_bytes(data[:8], "little")
    header = json.loads(data[8:8 + size])
    return data, header, header.pop("__metadata__")


ST_BASE = st_base() if ST_AVAILABLE else (b"", {}, {})
ST_DTYPES = ["F32", "F64", "F16", "BF16", "F8_E4M3", "C64", "BOOL", "I64", "U8", "XX", 5, None]
ST_NAMES = ["1e3.num_batches_tracked", "².weight", "4.weight.extra", "", ".", "0..weight",
            "2.num_batches_tracked", "9.running_var", "0.weight", "a" * 300, "٣.bias"]


@st.composite
def safetensors_files(draw):
    """The base file byte-flipped or cut; or its header JSON crafted: a tensor's dtype,
    shape or offsets, the header's length, names (counters at no BatchNorm, '²'),
    metadata nested, not JSON or not text."""
    data, header, metadata = ST_BASE
    how = draw(st.sampled_from(["bytes", "tensor", "length", "name", "metadata"]))
    if how == "bytes":
        return draw(mutated([data]))
    header, metadata = json.loads(json.dumps(header)), dict(metadata)
    body = data[8 + int.from_bytes(data[:8], "little"):]
    name = draw(st.sampled_from(sorted(header)))
    if how == "tensor":
        field = draw(st.sampled_from(["dtype", "shape", "data_offsets"]))
        header[name][field] = draw(st.sampled_from(ST_DTYPES)) if field == "dtype" else \
            draw(st.lists(st.sampled_from([0, 1, 2, 3, 32, 2**31, 2**63, -1]), max_size=4))
    elif how == "name":
        header[draw(st.sampled_from(ST_NAMES))] = header.pop(name)
    elif how == "metadata":
        key = draw(st.sampled_from(["scratchcnn.architecture", "scratchcnn.key_map", "format"]))
        metadata[key] = draw(st.sampled_from([nested(draw(st.integers(1, 100_000))), "{",
                                              "[1, 2]", '{"0.weight": 5}', '"x"', "null",
                                              json.dumps({"format": "scratchcnn-model"}), 5,
                                              None, {"a": 1}, "1e400", "NaN"]))
    text = json.dumps({**header, "__metadata__": metadata}).encode()
    length = len(text) if how != "length" else draw(st.sampled_from(
        [0, 1, len(text) - 1, len(text) + 1, 2**31, 2**64 - 1, 100_000_001]))
    return length.to_bytes(8, "little") + text + body


def load_st(path, how):
    model = sc.Sequential([sc.Conv2d(1, 2, 3, rng=0), sc.ReLU(), sc.BatchNorm2d(2),
                           sc.Flatten(), sc.Linear(32, 3, rng=1)])
    return sc.load_safetensors(path, *{"file": (), "model": (model,),
                                       "order": (model, "order")}[how])


@pytest.mark.skipif(not ST_AVAILABLE, reason="needs safetensors")
@fuzz(100)
@given(data=safetensors_files(), how=st.sampled_from(["file", "model", "order"]))
def test_crafted_safetensors_load_or_are_refused(data, how):
    path = WORK / "fuzzed.safetensors"
    path.write_bytes(data)
    result, seconds, peak = measured(lambda p: load_st(p, how), path, len(data))
    record("safetensors", path, result, seconds, peak, 3 * len(data) + (8 << 20),
           "3 x file + 8 MiB", (ModelFileError,), predicts_or_says_why)


# --------------------------------------------------------------------------- images
def png(width: int, height: int, color: int = 0, depth: int = 8, pixels: bytes = b"") -> bytes:
    """A PNG written by hand, its IHDR claiming any size, its IDAT holding ``pixels``."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(
            kind + body))
    ihdr = struct.pack(">IIBBBBB", width, height, depth, color, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(
        pixels)) + chunk(b"IEND", b"")


@functools.cache
def image_bases() -> list[tuple[str, bytes]]:
    from PIL import Image
    Image.init()  # the writers, loaded on first use
    rng = np.random.default_rng(0)
    bases = []
    for mode, fmt in [("L", "PNG"), ("RGB", "PNG"), ("RGBA", "PNG"), ("P", "PNG"),
                      ("I;16", "PNG"), ("LA", "PNG"), ("L", "JPEG"), ("RGB", "JPEG"),
                      ("RGB", "BMP"), ("P", "GIF"), ("RGB", "WEBP")]:
        if fmt not in Image.SAVE:
            continue
        rgba = Image.fromarray(rng.integers(0, 256, (12, 10, 4), np.uint8), "RGBA")
        img = rgba.convert(mode) if mode != "I;16" else Image.fromarray(
            rng.integers(0, 65536, (12, 10), np.uint16))
        buf = pyio.BytesIO()
        img.save(buf, fmt)
        bases.append((fmt.lower(), buf.getvalue()))
    return bases


#: Sides a crafted PNG claims: any two under the pixel limit make at most 2 million
#: pixels, larger ones (9,460 x 9,460 is just over it) are refused from the header.
SIZES = [0, 1, 7, 28, 9460, 2**14, 2**16, 2**31 - 1]


@st.composite
def images(draw):
    """An image file: a small one of each format byte-flipped or cut, or a PNG whose
    header claims any size (up to 2**31 - 1 a side) over a few bytes of pixels:
    (bytes, extension)."""
    if draw(st.booleans()):
        fmt, data = draw(st.sampled_from(image_bases()))
        return draw(mutated([data])), fmt
    return png(draw(st.sampled_from(SIZES)), draw(st.sampled_from(SIZES)),
               draw(st.sampled_from([0, 2, 3, 4, 6, 1, 7])), draw(st.sampled_from([1, 8, 16, 3])),
               draw(st.binary(max_size=200))), "png"


def image_check(size):
    def check(x):
        assert x.dtype == np.float32 and x.shape[0] in (1, 3) and np.isfinite(x).all()
        assert 0 <= x.min() and x.max() <= 1 and (size is None or x.shape[1:] == size)
    return check


@pytest.mark.skipif(not PIL_AVAILABLE, reason="needs Pillow")
@fuzz(200)
@given(case=images(), size=st.sampled_from([None, (28, 28), (7, 5)]),
       color=st.sampled_from([None, "gray", "rgb"]), stretch=st.booleans())
def test_fuzzed_images_load_or_are_refused(case, size, color, stretch):
    data, fmt = case
    path = WORK / f"fuzzed.{fmt}"
    path.write_bytes(data)
    result, seconds, peak = measured(lambda p: D.read_image(p, size, color, stretch), path,
                                     len(data))
    record("image", path, result, seconds, peak, 16 * D.image_folder.MAX_PIXELS,
           "16 B x MAX_PIXELS (the pixel limit)", (D.ImageFolderError,), image_check(size))


# --------------------------------------------------------------------------- non-regular
def _unix_socket(path) -> None:
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(path))
    SOCKETS.append(sock)


SOCKETS: list = []
SPECIALS = {
    "fifo": lambda p: os.mkfifo(p),
    "directory": lambda p: os.mkdir(p),
    "socket": _unix_socket,
    "link to /dev/zero": lambda p: os.symlink("/dev/zero", p),
    "link to /dev/null": lambda p: os.symlink("/dev/null", p),
    "link to a fifo": lambda p: (os.mkfifo(str(p) + ".target"),
                                 os.symlink(str(p) + ".target", p)),
    "link loop": lambda p: os.symlink(p, p),
}
NON_REGULAR_LOADERS = {
    "read_idx": (D.read_idx, D.IDXError), "load": (sc.load, ModelFileError),
    "load_checkpoint": (sc.load_checkpoint, ModelFileError),
    "load_safetensors": (sc.load_safetensors, ModelFileError),
    "read_image": (D.read_image, D.ImageFolderError),
}


def watchdog(fifo, done: threading.Event) -> None:
    """A loader that opened a FIFO waits for a writer: after SECONDS it gets one, which
    ends it (the case then counts as slow), so that no regression hangs the suite."""
    if not done.wait(SECONDS + 0.5):
        try:
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        except OSError:
            pass


@pytest.mark.skipif(not (ST_AVAILABLE and PIL_AVAILABLE), reason="needs safetensors, Pillow")
@fuzz(60)
@given(loader=st.sampled_from(sorted(NON_REGULAR_LOADERS)), kind=st.sampled_from(
    sorted(SPECIALS)), name=st.text(st.characters(blacklist_characters="/\x00",
                                                    blacklist_categories=("Cs",)),
                                     min_size=1, max_size=40))
def test_non_regular_files_are_refused_without_waiting(loader, kind, name):
    assume(name not in (".", ".."))
    image_folder._pil()  # Pillow imported before: its import is not the loader's memory
    where = pathlib.Path(tempfile.mkdtemp(dir=WORK))
    path = where / name
    try:
        SPECIALS[kind](path)
    except OSError:  # a name too long for the file system
        assume(False)
    load, error = NON_REGULAR_LOADERS[loader]
    done = threading.Event()
    target = str(path) + ".target" if kind == "link to a fifo" else path
    guard = threading.Thread(target=watchdog, args=(target, done), daemon=True)
    guard.start()
    result, seconds, peak = measured(load, path, 0)
    done.set()
    if kind == "link loop" and isinstance(result, error):  # ELOOP: a cannot-read error
        assert "cannot read it" in str(result), str(result)
    record("non-regular", path, result, seconds, peak, 1 << 20, "1 MiB", (error,))

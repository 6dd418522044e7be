"""IDX reading, the data-set search order, and downloads from a real local HTTP server."""

import gzip
import hashlib
import http.server
import os
import threading
import time

import numpy as np
import pytest

from scratchcnn import datasets as D


def small_dataset(directory, n_train=20, n_test=8, seed=0):
    rng = np.random.default_rng(seed)
    os.makedirs(directory, exist_ok=True)
    arrays = {"train-images-idx3-ubyte.gz": rng.integers(0, 256, (n_train, 28, 28), np.uint8),
              "train-labels-idx1-ubyte.gz": rng.integers(0, 10, n_train).astype(np.uint8),
              "t10k-images-idx3-ubyte.gz": rng.integers(0, 256, (n_test, 28, 28), np.uint8),
              "t10k-labels-idx1-ubyte.gz": rng.integers(0, 10, n_test).astype(np.uint8)}
    md5 = {}
    for name, a in arrays.items():
        D.write_idx(os.path.join(directory, name), a)
        md5[name] = hashlib.md5(open(os.path.join(directory, name), "rb").read()).hexdigest()
    return arrays, md5


def test_idx_round_trip_and_errors(tmp_path):
    a = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    for name in ("a.idx", "a.idx.gz"):
        D.write_idx(tmp_path / name, a)
        np.testing.assert_array_equal(D.read_idx(tmp_path / name), a)
    f = np.linspace(-1, 1, 6).astype(np.float32)
    D.write_idx(tmp_path / "f.idx", f)
    np.testing.assert_array_equal(D.read_idx(tmp_path / "f.idx"), f)
    raw = (tmp_path / "a.idx").read_bytes()
    (tmp_path / "short.idx").write_bytes(raw[:-5])
    with pytest.raises(D.IDXError, match=r"short.idx: header says \(2, 3, 4\).*truncated"):
        D.read_idx(tmp_path / "short.idx")
    (tmp_path / "magic.idx").write_bytes(b"\x01\x02" + raw[2:])
    with pytest.raises(D.IDXError, match="magic.idx: not an IDX file"):
        D.read_idx(tmp_path / "magic.idx")
    (tmp_path / "type.idx").write_bytes(raw[:2] + b"\x07" + raw[3:])
    with pytest.raises(D.IDXError, match="type.idx: unknown IDX type code 0x07"):
        D.read_idx(tmp_path / "type.idx")
    gz = (tmp_path / "a.idx.gz").read_bytes()
    (tmp_path / "cut.idx.gz").write_bytes(gz[:len(gz) // 2])
    with pytest.raises(D.IDXError, match="cut.idx.gz: corrupt or truncated gzip"):
        D.read_idx(tmp_path / "cut.idx.gz")


def test_bundled_sample():
    s = D.load_sample()
    (x, y), (xt, yt) = s.train, s.test
    assert x.shape == (4000, 1, 28, 28) and xt.shape == (1000, 1, 28, 28)
    assert x.dtype == np.float32 and y.dtype == np.int64
    assert 0 <= x.min() and x.max() <= 1 and x.max() > 0.99
    assert np.bincount(np.concatenate([y, yt])).tolist() == [500] * 10


class Server:
    """A real HTTP server on 127.0.0.1 in a thread; ``dead`` paths answer 404."""

    def __init__(self, root):
        handler = lambda *a, **k: http.server.SimpleHTTPRequestHandler(  # noqa: E731
            *a, directory=str(root), **k)
        http.server.SimpleHTTPRequestHandler.log_message = lambda *a: None
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server(tmp_path):
    arrays, md5 = small_dataset(tmp_path / "www" / "good")
    os.makedirs(tmp_path / "www" / "bad")
    for name in arrays:  # same names, different bytes: wrong checksums
        (tmp_path / "www" / "bad" / name).write_bytes(gzip.compress(b"tampered"))
    srv = Server(tmp_path / "www")
    yield srv, arrays, md5
    srv.close()


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SCRATCHCNN_DATA", str(tmp_path / "cache"))
    monkeypatch.delenv("SCRATCHCNN_OFFLINE", raising=False)
    return tmp_path / "cache"


def test_download_success_then_cache(server, cache):
    srv, arrays, md5 = server
    spec = D.DatasetSpec("tiny", md5, (srv.url + "/good/",))
    data = D.load_dataset(spec, progress=False)
    assert data.source == str(cache / "tiny")
    np.testing.assert_array_equal(data.train[1], arrays["train-labels-idx1-ubyte.gz"])
    np.testing.assert_allclose(data.test[0][:, 0] * 255, arrays["t10k-images-idx3-ubyte.gz"],
                               atol=1e-4)
    assert sorted(os.listdir(cache / "tiny")) == sorted(md5)  # no partial files left
    umask = os.umask(0o022)
    os.umask(umask)
    assert {os.stat(cache / "tiny" / f).st_mode & 0o777 for f in md5} == {0o666 & ~umask}
    srv.close()  # second time: from the cache, no network
    assert D.load_dataset(spec, progress=False).source == str(cache / "tiny")


def test_bad_checksum_is_rejected_and_leaves_nothing(server, cache):
    srv, _, md5 = server
    spec = D.DatasetSpec("tiny", md5, (srv.url + "/bad/",))
    with pytest.raises(D.DownloadError, match="checksum mismatch"):
        D.load_dataset(spec, progress=False)
    assert os.listdir(cache / "tiny") == []


def test_dead_mirror_then_good_one(server, cache):
    srv, arrays, md5 = server
    spec = D.DatasetSpec("tiny", md5, (srv.url + "/missing/", "http://127.0.0.1:9/",
                                       srv.url + "/good/"))
    data = D.load_dataset(spec, progress=False)
    np.testing.assert_array_equal(data.train[1], arrays["train-labels-idx1-ubyte.gz"])


def test_search_order_data_dir_cache_system(tmp_path, cache, monkeypatch):
    small_dataset(tmp_path / "mine", n_train=5)
    small_dataset(cache / "tiny", n_train=6)
    small_dataset(tmp_path / "system", n_train=7)
    spec = D.DatasetSpec("tiny", {}, (), (str(tmp_path / "system"),))
    assert len(D.load_dataset(spec, str(tmp_path / "mine")).train[0]) == 5
    assert len(D.load_dataset(spec).train[0]) == 6
    for f in os.listdir(cache / "tiny"):
        os.unlink(cache / "tiny" / f)
    assert len(D.load_dataset(spec, offline=True).train[0]) == 7
    with pytest.raises(FileNotFoundError, match="no tiny IDX files"):
        D.load_dataset(spec, str(tmp_path / "nowhere"))


def test_offline_mnist_falls_back_to_the_sample_quickly(cache, monkeypatch, capsys):
    monkeypatch.setenv("SCRATCHCNN_OFFLINE", "1")
    start = time.perf_counter()
    data = D.load_mnist()
    assert time.perf_counter() - start < 5
    assert data.name == "mnist-sample"
    assert "using the bundled sample" in capsys.readouterr().err

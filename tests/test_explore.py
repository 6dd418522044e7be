"""``scratchcnn explore``: the server's JSON API and limits over HTTP, then the page in a
real headless Chromium (skipped, saying why, where Chromium, chromedriver or Selenium is
missing; CI installs them).  ``SCRATCHCNN_SCREENSHOTS=1`` also rewrites the docs'
screenshot, docs/figures/explore.png, with the default model."""

import http.client
import io
import json
import os
import pathlib
import signal
import socket
import subprocess
import sys
import threading
import urllib.request

import numpy as np
import pytest

import scratchcnn as sc
from browser import headless_chromium
from scratchcnn.explore import make_server, quick_model, trace

ROOT = pathlib.Path(__file__).parent.parent
DIGIT = ROOT / "docs" / "figures" / "digit-7.png"
SCREENSHOTS = os.environ.get("SCRATCHCNN_SCREENSHOTS", "") == "1"


@pytest.fixture(scope="module")
def model():
    # the docs' screenshot shows the default model; the tests need only a quick LeNet-5
    return quick_model() if SCREENSHOTS else quick_model(epochs=1, images=2400, augment=None)


@pytest.fixture(scope="module")
def server(model):
    srv = make_server(model, port=0)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


@pytest.fixture(scope="module")
def digits():
    return sc.datasets.load_sample().test


def call(server, path, body=None, headers=None, method=None):
    """(status, headers, body) of one request; JSON bodies come back decoded."""
    if isinstance(body, (dict, list)):
        body = json.dumps(body).encode()
        headers = {"Content-Type": "application/json", **(headers or {})}
    req = urllib.request.Request(server.url.rstrip("/") + path, data=body,
                                 headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            status, head, data = r.status, r.headers, r.read()
    except urllib.error.HTTPError as err:
        status, head, data = err.code, err.headers, err.read()
    if head.get("Content-Type", "").startswith("application/json"):
        data = json.loads(data)
    return status, head, data


def raw(server, method, path, headers=None, body=None):
    """A request sent as written (no URL normalisation): (status, body)."""
    conn = http.client.HTTPConnection("127.0.0.1", server.server_address[1], timeout=30)
    conn.request(method, path, body=body, headers=headers or {})
    r = conn.getresponse()
    status, data = r.status, r.read()
    conn.close()
    return status, data


# ------------------------------------------------------------------ HTTP, no browser

def test_it_listens_on_127_0_0_1_only(server):
    host, port = server.server_address
    assert host == "127.0.0.1" and port > 0 and server.url == f"http://127.0.0.1:{port}/"
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect(("192.0.2.1", 9))  # no packet is sent: it only picks an interface
        own = probe.getsockname()[0]
    except OSError:
        own = None
    finally:
        probe.close()
    if own and not own.startswith("127."):
        with pytest.raises(OSError):
            socket.create_connection((own, port), timeout=2).close()


def test_the_page_is_three_files_of_the_package_and_nothing_from_elsewhere(server):
    status, head, page = call(server, "/")
    assert status == 200 and head["Content-Type"].startswith("text/html")
    assert "default-src 'none'" in head["Content-Security-Policy"]
    assert b'src="app.js"' in page and b'href="style.css"' in page
    for path, kind in (("/app.js", "text/javascript"), ("/style.css", "text/css")):
        status, head, body = call(server, path + "?v=1")
        assert status == 200 and head["Content-Type"].startswith(kind)
        assert b"http://" not in body and b"https://" not in body and b"//cdn" not in body
    assert b"http" not in page


@pytest.mark.parametrize("path", ["/../pyproject.toml", "/page/app.js", "/index.html",
                                  "/%2e%2e/pyproject.toml", "//etc/passwd", "/app.js/..",
                                  "/api", "/api/models", "/explore/page/app.js"])
def test_other_paths_are_404(server, path):
    status, body = raw(server, "GET", path)
    assert status == 404 and json.loads(body)["error"].startswith("nothing at")


def test_wrong_method_and_wrong_host(server):
    assert raw(server, "GET", "/api/run")[0] == 405
    assert raw(server, "POST", "/", body=b"{}")[0] == 405
    assert raw(server, "DELETE", "/")[0] == 501
    port = server.server_address[1]
    for host in ("evil.example", f"evil.example:{port}", "127.0.0.1:1"):
        status, body = raw(server, "GET", "/", headers={"Host": host})
        assert status == 403 and b"answers only at" in body, host
    assert raw(server, "GET", "/", headers={"Host": f"localhost:{port}"})[0] == 200


def test_model_description(server, model):
    status, _, info = call(server, "/api/model")
    assert status == 200 and info["input_shape"] == [1, 28, 28]
    assert info["classes"] == [str(k) for k in range(10)] and info["samples"] == 1000
    assert [layer["name"] for layer in info["layers"]][:3] == ["Conv2d", "MaxPool2d", "ReLU"]
    assert np.allclose(info["filters"]["weights"], model.layers[0].params["weight"], atol=1e-5)
    assert "LeNet-5" in info["description"] and info["max_upload"] == 2 * 1024 * 1024


def test_run_gives_what_the_model_computes(server, model, digits):
    x = digits[0][7]
    status, _, out = call(server, "/api/run", {"pixels": x[0].tolist()})
    assert status == 200
    assert np.allclose(out["probabilities"], model.predict_proba(x[None])[0], atol=1e-6)
    assert out["prediction"] == int(model.predict(x[None])[0])
    outputs = trace.layer_outputs(model, x)
    assert [layer["shape"] for layer in out["layers"]] == [list(o.shape) for o in outputs[1:]]
    for layer, expected in zip(out["layers"], outputs[1:]):
        assert np.allclose(layer["values"], expected, atol=1e-5)
    status, _, same = call(server, "/api/run", {"pixels": [x[0].tolist()]})  # (C, H, W)
    assert same["probabilities"] == out["probabilities"]


def test_sample_images_are_the_held_out_ones(server, digits):
    status, _, s = call(server, "/api/sample?index=3")
    assert status == 200 and s["label"] == int(digits[1][3]) and s["count"] == 1000
    assert np.allclose(s["pixels"], digits[0][3][0], atol=1e-5)
    assert call(server, "/api/sample?index=x")[0] == 400


def test_explain_works_out_each_value_from_the_textbook_window(server, model, digits):
    x = digits[0][1]
    outputs = trace.layer_outputs(model, x)
    request = {"pixels": x[0].tolist()}
    for layer in (0, 1, 2, 3, 4, 5):
        last = outputs[layer + 1].shape[1] - 1
        for channel, y, xx in ((0, 0, 0), (1, 3, 4), (5, last, last - 1)):
            status, _, e = call(server, "/api/explain", {**request, "layer": layer,
                                                         "channel": channel, "y": y, "x": xx})
            assert status == 200, e
            assert e["value"] == pytest.approx(float(outputs[layer + 1][channel, y, xx]))
            assert e["result"] == pytest.approx(e["value"], abs=1e-5), e
            if e["kind"] == "conv":
                products = np.multiply(e["window"], e["weights"])
                assert np.allclose(products, e["products"])
                assert e["sum"] == pytest.approx(products.sum())
                assert e["result"] == pytest.approx(e["sum"] + e["bias"])
            if e["kind"] == "maxpool":
                assert e["result"] == max(v for row in e["window"] for v in row if v is not None)
    corner = call(server, "/api/explain", {**request, "layer": 0, "channel": 0, "y": 0, "x": 0})[2]
    assert corner["rows"] == [-2, -1, 0, 1, 2] and corner["inside"][0] == [False] * 5
    assert corner["window"][0][0] == [0.0] * 5  # zero padding


def test_explain_agrees_with_every_layer_kind_on_every_pixel():
    """Stride, dilation, padding, groups, no bias, batch norm, average pooling, ...: the
    textbook's window gives each layer's value, on an RGB model that is no digit model."""
    from scratchcnn.explore.server import Explorer
    from scratchcnn.layers import (AvgPool2d, BatchNorm2d, Conv2d, Flatten, LeakyReLU, Linear,
                                   MaxPool2d, Sigmoid, Tanh)
    rng = np.random.default_rng(0)
    model = sc.Sequential([
        Conv2d(3, 4, 3, stride=2, padding=2, dilation=2, rng=0), BatchNorm2d(4), LeakyReLU(0.1),
        Conv2d(4, 6, 3, padding=1, groups=2, bias=False, rng=1), AvgPool2d(3, 2, padding=1),
        Tanh(), MaxPool2d(3, stride=2, padding=1), Sigmoid(), Flatten(), Linear(24, 5, rng=2)],
        input_mean=[0.5, 0.4, 0.3], input_std=[0.2, 0.25, 0.3])
    bn = model.layers[1]
    bn.buffers["running_mean"][:] = rng.normal(size=4)
    bn.buffers["running_var"][:] = rng.uniform(0.5, 2, 4)
    bn.params["weight"][:] = rng.normal(size=4)
    model.meta = {"input_shape": [3, 16, 16], "dataset": "pets"}
    x = rng.uniform(0, 1, (3, 16, 16)).astype(np.float32)
    outputs = trace.layer_outputs(model, x)
    assert np.allclose(trace.probabilities(outputs), model.predict_proba(x[None])[0], atol=1e-6)
    kinds = set()
    for layer in range(8):
        for (c, y, xx), value in np.ndenumerate(outputs[layer + 1]):
            e = trace.explain(model, outputs, layer, c, y, xx)
            assert e["result"] == pytest.approx(value, abs=1e-5), (layer, c, y, xx)
            kinds.add(e["kind"])
    assert kinds == {"conv", "batchnorm", "leakyrelu", "avgpool", "tanh", "maxpool", "sigmoid"}
    grouped = trace.explain(model, outputs, 3, 5, 0, 0)
    assert grouped["channels"] == [2, 3] and grouped["bias"] is None
    explorer = Explorer(model)
    assert explorer.describe()["samples"] == 0 and explorer.samples is None
    assert explorer.run({"pixels": x[0].tolist()})["layers"][0]["shape"] == [4, 8, 8]


@pytest.mark.parametrize("request_, message", [
    ({"pixels": [[0.5] * 28] * 27}, "pixels must be 28x28"),
    ({"pixels": [[2.0] * 28] * 28}, "in [0, 1]"),
    ({"pixels": [["a"] * 28] * 28}, "rows of numbers"),
    ({"pixels": None}, "pixels must be"),
    ({"pixels": [[0.0] * 28] * 28, "layer": 6, "channel": 0, "y": 0, "x": 0}, "Flatten"),
    ({"pixels": [[0.0] * 28] * 28, "layer": 0, "channel": 6, "y": 0, "x": 0}, "no pixel"),
    ({"pixels": [[0.0] * 28] * 28, "layer": 99, "channel": 0, "y": 0, "x": 0}, "no layer"),
    ({"pixels": [[0.0] * 28] * 28, "layer": "top"}, "integers"),
])
def test_bad_requests_get_a_400_that_says_why(server, request_, message):
    path = "/api/explain" if "layer" in request_ else "/api/run"
    status, _, body = call(server, path, request_)
    assert status == 400 and message in body["error"], body


def test_bodies_that_are_not_json(server):
    status, _, body = call(server, "/api/run", b"{not json", {"Content-Type": "application/json"})
    assert status == 400 and "not JSON" in body["error"]
    assert call(server, "/api/run", b"[]", {"Content-Type": "application/json"})[0] == 400
    assert call(server, "/api/run", b"{}", {"Content-Type": "text/plain"})[0] == 415


OCTETS = "application/octet-stream"


def upload(server, data: bytes, **headers):
    return call(server, "/api/upload", data, {"Content-Type": OCTETS, **headers})


def test_uploads(server, model):
    from scratchcnn.cli.examine import image_to_input
    pytest.importorskip("PIL")
    status, _, got = upload(server, DIGIT.read_bytes())
    assert status == 200
    assert np.allclose(got["pixels"], image_to_input(str(DIGIT), (1, 28, 28)), atol=1e-5)
    for data, message in ((b"", "empty"), (b"hello, this is text\n" * 10, "not an image"),
                          (DIGIT.read_bytes()[:200], "")):
        status, _, body = upload(server, data)
        assert status == 400 and message in body["error"], body
    from PIL import Image
    huge = io.BytesIO()
    Image.new("1", (5000, 5000)).save(huge, "PNG")  # 25 megapixels in a few kilobytes
    status, _, body = upload(server, huge.getvalue())
    assert status == 400 and "the limit is 16,777,216" in body["error"]
    status, _, body = upload(server, b"\0" * (3 * 1024 * 1024))
    assert status == 413 and "limit is 2,097,152" in body["error"]
    status, body = raw(server, "POST", "/api/upload", headers={
        "Content-Length": "999999999", "Content-Type": OCTETS})
    assert status == 413  # answered before any of it is read


def test_only_the_page_itself_may_post(server):
    """Another web site's page can send a form or a no-cors fetch (text/plain, its own
    Origin) but not make this server decode it: only the page's own origin and types."""
    digit = DIGIT.read_bytes()
    status, _, body = call(server, "/api/upload", digit, {"Content-Type": "text/plain"})
    assert status == 415 and "application/octet-stream" in body["error"]
    status, _, body = upload(server, digit, Origin="https://evil.example")
    assert status == 403 and "only from the page" in body["error"]
    port = server.server_address[1]
    assert upload(server, digit, Origin=f"http://127.0.0.1:{port}")[0] == 200
    status, _, body = call(server, "/api/run", {"pixels": [[0.0] * 28] * 28},
                           {"Origin": "http://localhost:1"})
    assert status == 403
    assert raw(server, "GET", "/api/model", headers={"Host": ""})[0] == 403


def test_json_that_python_reads_but_the_page_never_sends(server):
    for body in (b'{"pixels": Infinity}', b'{"pixels": NaN}', b"[" * 100_000 + b"]" * 100_000):
        status, _, answer = call(server, "/api/run", body, {"Content-Type": "application/json"})
        assert status == 400, answer


def test_the_command_serves_until_ctrl_c(model, tmp_path):
    path = sc.save(model, tmp_path / "lenet5.npz")
    proc = subprocess.Popen([sys.executable, "-m", "scratchcnn", "explore", path, "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            # Ctrl-C reaches it even where a CI shell ignores SIGINT
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        lines = [proc.stdout.readline(), proc.stdout.readline()]
        assert lines[0].strip() == f"model_file={path}", lines
        url = lines[1].strip().removeprefix("url=")
        assert url.startswith("http://127.0.0.1:") and url.endswith("/")
        with urllib.request.urlopen(url, timeout=30) as r:
            assert r.status == 200
        busy = subprocess.run([sys.executable, "-m", "scratchcnn", "explore", path, "--port",
                               url.rsplit(":", 1)[1].strip("/")], capture_output=True, text=True)
        assert busy.returncode == 1 and "in use" in busy.stderr and "--port 0" in busy.stderr
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0 and "stopped" in err, err


def test_the_default_model_is_trained_once_and_cached(model, tmp_path, monkeypatch):
    from scratchcnn.explore import default_model, default_model_path, quick
    monkeypatch.setenv("SCRATCHCNN_DATA", str(tmp_path))
    trained = []
    monkeypatch.setattr(quick, "quick_model", lambda: trained.append(1) or model)
    said = []
    first, path = default_model(said.append)
    assert path == default_model_path() == str(tmp_path / "explore" / "lenet5-mnist-sample-v1.npz")
    again, _ = default_model(said.append)
    assert trained == [1] and os.path.isfile(path) and "training LeNet-5" in said[0]
    assert np.array_equal(again.layers[0].params["weight"], model.layers[0].params["weight"])
    pathlib.Path(path).write_bytes(b"broken")
    default_model(said.append)
    assert trained == [1, 1] and "unreadable" in said[-3]


# ------------------------------------------------------------------ the page, in Chromium

@pytest.fixture(scope="module")
def browser():
    with headless_chromium(lang="en") as driver:
        yield driver


def _wait(driver, condition, seconds=20):
    from selenium.webdriver.support.ui import WebDriverWait
    return WebDriverWait(driver, seconds).until(lambda d: condition(d))


def _click_pixel(driver, layer, channel, y, x):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    tile = driver.find_element(By.CSS_SELECTOR, f'canvas[data-layer="{layer}"]'
                                                f'[data-channel="{channel}"]')
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", tile)
    size, h, w = tile.size, *driver.execute_script(
        f"const t = state.tiles.get('{layer}:{channel}'); return [t.h, t.w]")
    ActionChains(driver).move_to_element_with_offset(
        tile, int((x + 0.5) * size["width"] / w - size["width"] / 2),
        int((y + 0.5) * size["height"] / h - size["height"] / 2)).click().perform()
    _wait(driver, lambda d: d.execute_script(
        "const s = state.selected, e = document.getElementById('explain-result');"
        f"return e && s.layer === {layer} && s.y === {y} && s.x === {x} && "
        f"document.querySelector('#explanation h3').textContent.startsWith('Layer {layer}:')"))


def _values(driver, selector):
    from selenium.webdriver.common.by import By
    return [float(e.get_attribute("data-value"))
            for e in driver.find_elements(By.CSS_SELECTOR, selector)]


def test_the_page_in_a_browser(browser, server, model, tmp_path):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    driver = browser
    driver.get(server.url)
    _wait(driver, lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready"))
    assert len(driver.find_elements(By.CSS_SELECTOR, "#filters canvas")) == 6
    # draw a 7: a bar along the top, then down and to the left
    pad = driver.find_element(By.ID, "pad")
    (ActionChains(driver).move_to_element_with_offset(pad, -60, -80).click_and_hold()
     .move_by_offset(40, 0).move_by_offset(40, 0).move_by_offset(40, 0)
     .move_by_offset(-20, 50).move_by_offset(-20, 50).move_by_offset(-20, 60).release()
     .perform())
    _wait(driver, lambda d: d.find_elements(By.ID, "predicted-class"))
    probabilities = _values(driver, "#probabilities td[data-value]")
    assert len(probabilities) == 10 and sum(probabilities) == pytest.approx(1, abs=1e-6)
    shown = driver.find_element(By.ID, "predicted-class").text
    assert shown == str(int(np.argmax(probabilities)))
    maps = driver.find_elements(By.CSS_SELECTOR, "#layers canvas[data-layer]")
    assert len(maps) >= 6 + 6 + 6 + 16 + 16 + 16  # every channel of the six 2-D layers
    pixels = np.asarray(driver.execute_script("return state.pixels"), np.float32)
    assert pixels.shape == (28, 28) and pixels.max() > 0.5 and pixels[0].max() == 0
    outputs = trace.layer_outputs(model, pixels[None])
    for layer, channel, y, x in ((1, 2, 7, 7), (3, 4, 4, 5), (0, 3, 14, 14)):
        _click_pixel(driver, layer, channel, y, x)
        value = _values(driver, "#explain-value")[0]
        assert value == pytest.approx(float(outputs[layer + 1][channel, y, x]), abs=1e-5)
        result = _values(driver, "#explain-result")[0]
        assert result == pytest.approx(value, abs=1e-5)
        if layer in (0, 3):  # a convolution: the products add up to the value shown
            window = _values(driver, 'td[data-role="window"]')
            weights = _values(driver, 'td[data-role="weight"]')
            products = _values(driver, 'td[data-role="product"]')
            assert len(products) == 25 * (1 if layer == 0 else 6)
            assert np.allclose(np.multiply(window, weights), products, atol=1e-6)
            total, bias = _values(driver, "#explain-sum")[0], _values(driver, "#explain-bias")[0]
            assert sum(products) == pytest.approx(total, abs=1e-5)
            assert total + bias == pytest.approx(result, abs=1e-6)
            assert "products" in driver.find_element(By.ID, "explanation").text
        else:  # the pool: the window's largest value
            window = [v for v in _values(driver, 'td[data-role="window"]')]
            assert len(window) == 4 and max(window) == pytest.approx(result)
    if SCREENSHOTS:
        driver.execute_script("window.scrollTo(0, 0)")
        driver.save_screenshot(str(ROOT / "docs" / "figures" / "explore.png"))
    # a file that is not an image: a clear message on the page
    text = tmp_path / "notes.txt"
    text.write_text("not a picture\n")
    driver.find_element(By.ID, "upload").send_keys(str(text))
    _wait(driver, lambda d: "not an image" in d.find_element(By.ID, "message").text)
    assert driver.find_element(By.ID, "message").text.startswith("notes.txt: this file is not")
    # an image file and a held-out test image
    driver.find_element(By.ID, "upload").send_keys(str(DIGIT))
    _wait(driver, lambda d: "as the model sees it" in d.find_element(By.ID, "message").text)
    driver.find_element(By.ID, "sample").click()
    _wait(driver, lambda d: "held-out test image" in d.find_element(By.ID, "message").text)
    _wait(driver, lambda d: d.execute_script("return state.result && Array.isArray(state.pixels)"
                                             " && state.pixels.length === 28"))

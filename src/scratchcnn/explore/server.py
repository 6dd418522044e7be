"""The explore page's server: the standard library's ``ThreadingHTTPServer``, bound to
127.0.0.1 only, serving three files shipped in the package (``page/``) and a JSON API.

========================  =================================================================
``GET /``                 the page (``/app.js``, ``/style.css``: its script and style)
``GET /api/model``        the model: layers, classes, input shape, the first filters
``GET /api/sample?index`` a held-out image of the bundled MNIST sample (digit models)
``POST /api/run``         ``{"pixels": H x W or C x H x W in [0, 1]}``: probabilities and
                          every layer's output
``POST /api/explain``     ``{"pixels", "layer", "channel", "y", "x"}``: how that output
                          pixel was computed (:func:`.trace.explain`)
``POST /api/upload``      an image file's bytes: ``{"pixels"}``, the model's input
========================  =================================================================

Anything else is a 404.  Errors are JSON ``{"error": "..."}`` the page shows: 400 for
bad input (a file that is not an image, pixels of the wrong shape), 413 for a body over
:data:`MAX_BODY`, 403 for a request that names another host (DNS rebinding).  No file
path ever comes from the browser: the page's three files are looked up in a fixed table.
"""

from __future__ import annotations

import importlib.resources
import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import numpy as np

from . import trace
from .upload import MAX_BYTES, image_input

log = logging.getLogger("scratchcnn")

__all__ = ["Explorer", "ExploreServer", "make_server", "HOST", "DEFAULT_PORT", "MAX_BODY"]

HOST = "127.0.0.1"
DEFAULT_PORT = 8765
#: The largest request body read: an upload or a JSON request (2 MiB).
MAX_BODY = MAX_BYTES
#: Channels of one layer sent to the page (the first ones; ``visualize`` shows as many).
MAX_CHANNELS = 64
#: Values of one layer sent to the page at most (a big model's early layers: none).
MAX_VALUES = 250_000
#: The page's files: URL path -> (file in ``page/``, Content-Type).
PAGE = {"/": ("index.html", "text/html; charset=utf-8"),
        "/app.js": ("app.js", "text/javascript; charset=utf-8"),
        "/style.css": ("style.css", "text/css; charset=utf-8")}
#: Nothing but this server's own files and JSON, no inline script, no framing.
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")


class HTTPError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def _no_constant(name: str):
    raise ValueError(f"{name} is not a number the page sends")


def _rounded(a: np.ndarray) -> list:
    """Values for drawing and hovering, 5 decimals; None where not finite."""
    a = np.round(np.asarray(a, np.float64), 5)
    return a.tolist() if np.isfinite(a).all() else np.where(np.isfinite(a), a, None).tolist()


class Explorer:
    """What the page asks about one model, answered as JSON-able dicts; thread-safe (one
    image at a time goes through the model)."""

    def __init__(self, model, description: str | None = None):
        self.model = model
        self.lock = threading.Lock()
        meta = model.meta or {}
        self.shape = tuple(int(v) for v in meta.get("input_shape", (1, 28, 28)))
        try:
            model.output_shape((1, *self.shape))
        except ValueError as err:
            raise ValueError(f"explore: the model does not take input {self.shape} "
                             f"(its meta['input_shape']): {err}") from None
        self.dataset = str(meta.get("dataset", "mnist"))
        self.classes = [str(c) for c in meta.get("classes") or []]
        self.description = description or meta.get("description") or \
            f"a model trained on {self.dataset}"
        self._samples = None

    @property
    def samples(self):
        """The bundled sample's held-out images, for a model of MNIST digits; else None."""
        if self._samples is None and self.shape == (1, 28, 28) and \
                self.dataset in ("mnist", "mnist-sample"):
            from ..datasets import load_sample
            self._samples = load_sample().test
        return self._samples

    def describe(self) -> dict:
        from ..layers import Conv2d
        layers = [{"index": i, "name": type(layer).__name__, "repr": repr(layer),
                   "explained": isinstance(layer, trace.EXPLAINED)}
                  for i, layer in enumerate(self.model.layers)]
        first = next(((i, layer) for i, layer in enumerate(self.model.layers)
                      if isinstance(layer, Conv2d)), None)
        filters = None if first is None else {
            "layer": first[0], "repr": repr(first[1]),
            "weights": _rounded(first[1].params["weight"][:MAX_CHANNELS])}
        k = self.model.output_shape((1, *self.shape))[-1]
        mean, std = self.model.input_mean, self.model.input_std
        return {"description": self.description, "input_shape": list(self.shape),
                "classes": self.classes or [str(i) for i in range(k)], "layers": layers,
                "filters": filters, "samples": 0 if self.samples is None else
                len(self.samples[0]), "max_upload": MAX_BODY,
                "normalisation": None if mean is None else
                {"mean": _rounded(mean), "std": _rounded(std)}}

    def pixels(self, value) -> np.ndarray:
        """The page's pixels as the model's input (C, H, W); grey (H, W) is repeated
        over the channels.  ValueError unless numbers in [0, 1] of that shape."""
        c, h, w = self.shape
        try:
            x = np.asarray(value, np.float64)
        except (ValueError, TypeError):
            raise ValueError("pixels must be a list of rows of numbers") from None
        if x.shape == (h, w):
            x = np.broadcast_to(x, (c, h, w))
        if x.shape != (c, h, w):
            raise ValueError(f"pixels must be {h}x{w} (or {c}x{h}x{w}) numbers, got shape "
                             f"{'x'.join(map(str, x.shape)) or 'a single number'}")
        if not (np.isfinite(x).all() and x.min() >= 0 and x.max() <= 1):
            raise ValueError("pixels must be numbers in [0, 1]")
        return x.astype(np.float32)

    def _outputs(self, pixels) -> list[np.ndarray]:
        with self.lock:
            return trace.layer_outputs(self.model, self.pixels(pixels))

    def run(self, request: dict) -> dict:
        outputs = self._outputs(request.get("pixels"))
        proba = trace.probabilities(outputs)
        layers = []
        for i, out in enumerate(outputs[1:]):
            shown = out[:MAX_CHANNELS] if out.ndim == 3 else out
            values = _rounded(shown) if shown.size <= MAX_VALUES else None
            layers.append({"index": i, "shape": list(out.shape), "values": values,
                           "range": _rounded([out.min(), out.max()])})
        return {"probabilities": proba.tolist(), "prediction": int(proba.argmax()),
                "input": _rounded(outputs[0]), "layers": layers}

    def explain(self, request: dict) -> dict:
        try:
            where = [int(request[k]) for k in ("layer", "channel", "y", "x")]
        except (KeyError, TypeError, ValueError):
            raise ValueError("explain needs integers layer, channel, y and x") from None
        outputs = self._outputs(request.get("pixels"))
        return trace.explain(self.model, outputs, *where)

    def sample(self, query: dict) -> dict:
        if self.samples is None:
            raise HTTPError(404, "this model was not trained on MNIST digits: no samples")
        images, labels = self.samples
        try:
            index = int(query.get("index", ["0"])[0]) % len(images)
        except ValueError:
            raise ValueError("index must be an integer") from None
        return {"pixels": _rounded(images[index][0]), "label": int(labels[index]),
                "index": index, "count": len(images)}

    def upload(self, data: bytes) -> dict:
        try:
            return {"pixels": _rounded(image_input(data, self.shape, self.dataset))}
        except ImportError as err:  # no Pillow: the page says which pip install brings it
            raise HTTPError(501, str(err)) from None


class Handler(BaseHTTPRequestHandler):
    server_version = "scratchcnn-explore"
    sys_version = ""
    timeout = 20  # seconds a silent client may hold its thread

    def log_message(self, format, *args):  # noqa: A002 (the base class's name)
        message = (format % args).translate(self._control_char_table)  # no terminal escapes
        log.info("explore: %s %s", self.address_string(), message)

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        for name, value in (("Content-Type", content_type), ("Content-Length", len(body)),
                            ("Cache-Control", "no-store"), ("Content-Security-Policy", CSP),
                            ("X-Content-Type-Options", "nosniff"),
                            ("Referrer-Policy", "no-referrer")):
            self.send_header(name, str(value))
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, obj) -> None:
        self._send(status, json.dumps(obj, separators=(",", ":"), allow_nan=False).encode(),
                   "application/json")

    def _check_host(self) -> None:
        host = self.headers.get("Host")
        if host is None or host.lower() not in self.server.hosts:
            raise HTTPError(403, f"this server answers only at {self.server.url}")

    def _check_origin(self) -> None:
        """A POST from another web site (its Origin) is refused: only this page may ask."""
        origin = self.headers.get("Origin")
        if origin is not None and origin.lower() not in self.server.origins:
            raise HTTPError(403, f"requests come only from the page at {self.server.url}")

    def _body(self) -> bytes:
        length = self.headers.get("Content-Length")
        if length is None:
            raise HTTPError(411, "send the body with a Content-Length")
        try:
            n = int(length)
            if n < 0:
                raise ValueError
        except ValueError:
            raise HTTPError(400, f"bad Content-Length {length!r}") from None
        if n > MAX_BODY:
            self.close_connection = True
            if n <= 4 * MAX_BODY:  # read it away, so that the client gets to read the answer
                while n > 0:
                    chunk = self.rfile.read(min(n, 65536))
                    if not chunk:
                        break
                    n -= len(chunk)
            raise HTTPError(413, f"the file is {int(length):,} bytes; the limit is "
                            f"{MAX_BODY:,} (2 MiB)")
        return self.rfile.read(n)

    def _answer(self, route) -> None:
        try:
            self._check_host()
            self._json(200, route())
        except HTTPError as err:
            self._json(err.status, {"error": str(err)})
        except ValueError as err:  # the request's content: bad pixels, not an image, ...
            self._json(400, {"error": str(err)})
        except Exception as err:  # noqa: BLE001 (the page shows it; the log has the rest)
            log.exception("explore: %s failed", self.path)
            self._json(500, {"error": f"internal error: {type(err).__name__}: {err}"})

    def do_GET(self):  # noqa: N802 (http.server's name)
        url = urlsplit(self.path)
        explorer = self.server.explorer
        if url.path in PAGE:
            try:
                self._check_host()
            except HTTPError as err:
                return self._json(err.status, {"error": str(err)})
            name, content_type = PAGE[url.path]
            return self._send(200, self.server.files[name], content_type)
        routes = {"/api/model": explorer.describe,
                  "/api/sample": lambda: explorer.sample(parse_qs(url.query))}
        self._answer(routes.get(url.path, lambda: self._missing(url.path, "GET")))

    def do_POST(self):  # noqa: N802
        path = urlsplit(self.path).path
        explorer = self.server.explorer
        routes = {"/api/run": explorer.run, "/api/explain": explorer.explain}

        def route():
            self._check_origin()
            kind = self.headers.get("Content-Type", "")
            if path == "/api/upload":  # (a type a web form cannot send without asking)
                if not kind.startswith("application/octet-stream"):
                    raise HTTPError(415, "send the file's bytes (Content-Type: "
                                    "application/octet-stream)")
                with self.server.decoding:
                    return explorer.upload(self._body())
            if path not in routes:
                return self._missing(path, "POST")
            if not kind.startswith("application/json"):
                raise HTTPError(415, "send JSON (Content-Type: application/json)")
            body = self._body()
            try:
                request = json.loads(body, parse_constant=_no_constant)
            except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as err:
                raise HTTPError(400, f"the request is not JSON: {type(err).__name__}") from None
            if not isinstance(request, dict):
                raise HTTPError(400, "the request must be a JSON object")
            return routes[path](request)
        self._answer(route)

    def _missing(self, path: str, method: str):
        other = {"GET": ("/api/run", "/api/explain", "/api/upload"),
                 "POST": tuple(PAGE) + ("/api/model", "/api/sample")}[method]
        if path in other:
            raise HTTPError(405, f"{path} does not take {method}")
        raise HTTPError(404, f"nothing at {path}")


class ExploreServer(ThreadingHTTPServer):
    """The page's server for one model; ``url`` is where it answers."""

    daemon_threads = True

    def __init__(self, explorer: Explorer, port: int = DEFAULT_PORT):
        super().__init__((HOST, port), Handler)
        self.explorer = explorer
        page = importlib.resources.files(__package__) / "page"
        self.files = {name: (page / name).read_bytes() for name, _ in PAGE.values()}
        port = self.server_address[1]
        self.hosts = {f"127.0.0.1:{port}", f"localhost:{port}"}
        self.origins = {f"http://{host}" for host in self.hosts}
        self.decoding = threading.Semaphore(1)  # one upload decoded at a time

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.server_address[1]}/"


def make_server(model, port: int = DEFAULT_PORT, description: str | None = None
                ) -> ExploreServer:
    """A server for ``model`` on 127.0.0.1:``port`` (0: any free port), not yet serving:
    call its ``serve_forever()`` (and ``shutdown()`` from another thread)."""
    return ExploreServer(Explorer(model, description), port)

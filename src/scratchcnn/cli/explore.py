"""``scratchcnn explore [MODEL]``: a local page to watch an image flow through a network."""

from __future__ import annotations

import argparse
import errno
import sys

__all__ = ["add_arguments", "cmd_explore"]

DEFAULT_PORT = 8765  # scratchcnn.explore.DEFAULT_PORT, without importing the server here


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be in [0, 65535], got {value}")
    return value


def add_arguments(parser) -> None:
    parser.add_argument("model", nargs="?", help="a model file (default: LeNet-5 trained for "
                        "a few seconds on the bundled MNIST sample at the first start, then "
                        "kept in the user's cache)")
    parser.add_argument("--port", type=_port, default=DEFAULT_PORT,
                        help="the port on 127.0.0.1 (0: any free one)")
    parser.add_argument("--open", action="store_true", default=False,
                        help="open the page in the system's web browser")
    parser.add_argument("--no-browser", dest="open", action="store_false",
                        help="do not open a browser (the default): print the address only")


def cmd_explore(args) -> int:
    from .. import explore
    from . import common
    if args.model:
        model, path = common.load_model(args.model), args.model
    else:
        model, path = explore.default_model()
    try:
        server = explore.make_server(model, args.port)
    except OSError as err:
        if err.errno == errno.EADDRINUSE:
            raise OSError(f"explore: port {args.port} is in use; choose another with --port, "
                          f"or --port 0 for any free one") from None
        raise
    print(f"model_file={path}")
    print(f"url={server.url}", flush=True)
    print("scratchcnn explore: serving on 127.0.0.1 only; Ctrl-C stops", file=sys.stderr)
    if args.open:
        import webbrowser
        webbrowser.open(server.url)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("scratchcnn explore: stopped", file=sys.stderr)
    finally:
        server.server_close()
    return 0

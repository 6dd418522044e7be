"""``scratchcnn explore [MODEL]``: a local page to watch an image flow through a network."""

from __future__ import annotations

__all__ = ["add_arguments", "cmd_explore"]


def add_arguments(parser) -> None:
    parser.add_argument("model", nargs="?", help="a model file (default: train the default "
                        "model's quick version)")


def cmd_explore(args) -> int:
    raise NotImplementedError("scratchcnn explore: not written yet")

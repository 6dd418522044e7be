"""``scratchcnn check FILE.py``: a learner's convolution and pooling against the library."""

from __future__ import annotations

__all__ = ["add_arguments", "cmd_check"]


def add_arguments(parser) -> None:
    parser.add_argument("file", help="a Python file with your Conv2d / MaxPool2D")


def cmd_check(args) -> int:
    raise NotImplementedError("scratchcnn check: not written yet")

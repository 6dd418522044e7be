"""``scratchcnn check FILE.py``: a learner's convolution and pooling against the library.

Exit status 0 when every case passes (a course can run it in CI), 1 when a mistake was
found, 2 when the file cannot be loaded or used.  The report goes to stdout, in English
or Japanese (``--lang``; default from LC_ALL / LANG); a file that cannot be used is one
message on stderr.
"""

from __future__ import annotations

import sys
import traceback

__all__ = ["add_arguments", "cmd_check"]


def add_arguments(parser) -> None:
    parser.description = """\
Import FILE, find its convolution and max pooling, and run them against the library:
the course's 8x8 example first, then stride, padding, several channels, a batch, random
values and, for pooling, ties.  The first failing case of each check (forward, dX, dW,
db, weights left alone by backward) is shown with expected and got, the mistake it
looks like and a hint.

FILE's code runs, as with 'python FILE': check your own files only.

Accepted: the course's classes Conv2d(FN, FH, FW, padding, ir, stride=1) and
MaxPool2D(FH, FW, padding=0, stride=None) on (C, H, W) images; PyTorch-style classes
Conv2d(in_channels, out_channels, kernel_size, stride, padding) on (N, C, H, W)
batches; functions such as conv2d(x, w, b, stride, padding) and max_pool2d(x, k,
stride) with their *_backward.  Weights are set by attribute name (W, w, weight,
params['weight'], ...) before every forward.

Exit status: 0 every case passes, 1 a mistake was found, 2 FILE cannot be used."""
    parser.add_argument("file", metavar="FILE", help="a Python file with your Conv2d / "
                        "MaxPool2D (or conv2d / max_pool2d functions); a module name such "
                        "as scratchcnn.reference works too")
    parser.add_argument("--lang", choices=["en", "ja"], default=None,
                        help="language of the report (default: ja when LC_ALL or LANG "
                        "starts with ja, else en)")


def cmd_check(args) -> int:
    from ..checker import check
    report = check(args.file, lang=args.lang)
    if report.status == 2:
        print(f"scratchcnn check: {report.text().splitlines()[0]}", file=sys.stderr)
        return 2
    print(report.text())
    if getattr(args, "verbose", False):  # -v: the tracebacks of your code's exceptions
        for finding in report.findings:
            if finding.error is not None:
                traceback.print_exception(finding.error[1], file=sys.stderr)
    return report.status

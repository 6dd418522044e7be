"""The ``scratchcnn`` command: train, evaluate, predict, summary, shape, export.

Results are printed as ``key=value`` lines a script can parse; progress goes to stderr.
A user's mistake (a bad option, a file that is not a model, data that do not fit) ends
in one line on stderr and a non-zero exit, with a traceback only under ``-v``.
"""

from __future__ import annotations

import logging
import sys

from .check import cmd_check
from .examine import (cmd_evaluate, cmd_export, cmd_predict, cmd_shape, cmd_summary,
                      cmd_visualize)
from .explore import cmd_explore
from .parser import build_parser
from .train import cmd_train

log = logging.getLogger("scratchcnn")

__all__ = ["main", "build_parser", "COMMANDS"]

COMMANDS = {"train": cmd_train, "evaluate": cmd_evaluate, "predict": cmd_predict,
            "summary": cmd_summary, "shape": cmd_shape, "export": cmd_export,
            "visualize": cmd_visualize, "check": cmd_check, "explore": cmd_explore}


#: Errors a user's input can cause: one line on stderr, no traceback (unless -v).
USER_ERRORS = (ValueError, TypeError, OSError, FloatingPointError)


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    verbose = getattr(args, "verbose", False)
    if verbose:
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s "
                            "%(funcName)s:%(lineno)d %(message)s")
    if args.command is None:  # a bare 'scratchcnn' says what it can do
        build_parser().print_help()
        return 0
    try:
        return COMMANDS[args.command](args)
    except KeyboardInterrupt:
        print("scratchcnn: interrupted", file=sys.stderr)
        return 130
    except USER_ERRORS as err:
        if verbose:
            log.exception("%s failed", args.command)
        print(f"scratchcnn: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

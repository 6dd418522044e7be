"""Loading the learner's file: its own code, run in a fresh module namespace.

Importing a file runs it, as ``python FILE.py`` would, except that ``__name__`` is not
``"__main__"`` (a block under ``if __name__ == "__main__":`` does not run).  Only check a
file you trust: your own.  What the file prints goes to stderr, so the report on stdout
stays clean.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import itertools
import os
import re
import sys
import warnings

import numpy as np

__all__ = ["load", "learner_code", "LoadFailure"]

_COUNTER = itertools.count(1)


class LoadFailure(Exception):
    """The file cannot be imported: ``error`` is what it raised (None: not found)."""

    def __init__(self, reason: str, error: BaseException | None = None):
        super().__init__(reason)
        self.reason, self.error = reason, error


@contextlib.contextmanager
def learner_code():
    """Around every call of the learner's code: prints to stderr, NumPy's overflow and
    invalid-value warnings (garbage memory makes plenty) silenced."""
    with contextlib.redirect_stdout(sys.stderr), warnings.catch_warnings(), \
            np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        yield


def load(target):
    """(module or namespace, name to show) for a path, a module name, or an object."""
    if not isinstance(target, (str, os.PathLike)):
        return target, getattr(target, "__name__", type(target).__name__)
    text = os.fspath(target)
    if not os.path.exists(text):
        if re.fullmatch(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*", text) and not text.endswith(".py"):
            try:
                with learner_code():
                    return importlib.import_module(text), text
            except ImportError as err:
                raise LoadFailure(f"no such file, and no module {text!r} ({err})") from None
        raise LoadFailure("no such file")
    if os.path.isdir(text):
        raise LoadFailure("a directory, not a Python file")
    name = f"scratchcnn_check_{next(_COUNTER)}_" + re.sub(r"\W", "_",
                                                           os.path.basename(text)[:-3])
    spec = importlib.util.spec_from_file_location(name, text)
    if spec is None or spec.loader is None:
        raise LoadFailure("not a Python file (it should end in .py)")
    module = importlib.util.module_from_spec(spec)
    folder = os.path.dirname(os.path.abspath(text))
    sys.modules[name] = module     # dataclasses and pickle look the module up by name
    sys.path.insert(0, folder)     # so that the file can import its neighbours
    try:
        with learner_code():
            spec.loader.exec_module(module)
    except SyntaxError as err:
        raise LoadFailure(f"syntax error at line {err.lineno}: {err.msg}", err) from None
    except BaseException as err:  # whatever the file raised while it ran
        if isinstance(err, KeyboardInterrupt):
            raise
        raise LoadFailure(f"importing it raised {type(err).__name__}: "
                          f"{str(err).splitlines()[0] if str(err) else ''}", err) from None
    finally:
        sys.modules.pop(name, None)
        with contextlib.suppress(ValueError):
            sys.path.remove(folder)
    return module, os.path.basename(text)

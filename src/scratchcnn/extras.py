"""Optional dependencies: imported only when a bridge needs one, with a one-line hint."""

from __future__ import annotations

import importlib

__all__ = ["require", "pyplot"]

#: The extra (``pip install 'scratchcnn[EXTRA]'``) that brings each optional module.
EXTRAS = {"safetensors": "safetensors", "onnx": "onnx", "onnxruntime": "onnx",
          "sklearn": "sklearn", "matplotlib": "plot", "PIL": "images"}


def require(module: str, what: str):
    """``import module``, or an ImportError that says which ``pip install`` brings it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        top = module.split(".")[0]
        raise ImportError(f"{what} needs {top}: pip install 'scratchcnn[{EXTRAS.get(top, top)}]'"
                          ) from None


def pyplot(what: str):
    """matplotlib.pyplot on the file-only Agg backend, or :func:`require`'s ImportError
    naming ``what`` and the ``[plot]`` extra: the one policy for a missing matplotlib
    (a caller that can go on without a picture catches it)."""
    require("matplotlib", what).use("Agg")
    return require("matplotlib.pyplot", what)

"""tabforge: a tabular file to a verified ONNX model, stored, versioned and ready to serve."""

from __future__ import annotations

from importlib.metadata import version as _version

from tabforge.errors import TabforgeError

__version__ = _version("tabforge")

__all__ = ["TabforgeError", "__version__"]

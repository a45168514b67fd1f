"""tabforge: a tabular file to a verified ONNX model, stored, versioned and ready to serve."""

from __future__ import annotations

from importlib.metadata import version as _version
from typing import TYPE_CHECKING

from tabforge.errors import TabforgeError

if TYPE_CHECKING:  # the real names for type checkers; at run time they load lazily below
    from tabforge.api import Model, ModelSchema, load
    from tabforge.client import Client

__version__ = _version("tabforge")

__all__ = ["Client", "Model", "ModelSchema", "TabforgeError", "__version__", "load"]


def __getattr__(name: str) -> object:
    # Lazy, so `import tabforge` stays cheap for the CLI and never pulls onnxruntime early.
    if name in ("load", "Model", "ModelSchema"):
        from tabforge import api

        return getattr(api, name)
    if name == "Client":
        from tabforge.client import Client

        return Client
    raise AttributeError(f"module 'tabforge' has no attribute {name!r}")

"""The inference server: an ASGI app speaking Open Inference Protocol V2 and KServe V1."""

from tabforge.serve.app import App, create_app
from tabforge.serve.settings import ServeSettings

__all__ = ["App", "ServeSettings", "create_app"]

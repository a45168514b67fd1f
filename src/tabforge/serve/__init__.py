"""The inference server: an ASGI app speaking Open Inference Protocol V2 and KServe V1."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tabforge.serve.app import App, create_app
    from tabforge.serve.settings import ServeSettings

__all__ = ["App", "ServeSettings", "create_app"]


def __getattr__(name: str) -> Any:
    # Loaded on first use: every command imports the settings (the serve command's options
    # come from them), and `tabforge train` must not load the server (routes, metrics) too.
    if name in ("App", "create_app"):
        from tabforge.serve import app

        return getattr(app, name)
    if name == "ServeSettings":
        from tabforge.serve.settings import ServeSettings

        return ServeSettings
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

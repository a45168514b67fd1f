"""Settings shared by every command, in one place (environment prefix TABFORGE_)."""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_REGISTRY = "models"


def registry_root(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The registry directory: the explicit option, then TABFORGE_REGISTRY, then ./models."""
    if explicit:
        return Path(explicit)
    return Path(os.environ.get("TABFORGE_REGISTRY") or DEFAULT_REGISTRY)

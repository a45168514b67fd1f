"""Filesystem registry: ``<root>/<name>/<version>/{model.onnx, manifest.json}``, and
``evaluation.json`` for versions stored since evaluations exist.

A version is written into a temporary directory beside its final place, flushed to disk,
then renamed: readers see a whole version or none, and a crash leaves only a temp
directory that no reader looks at (``registry.atomic`` is the one place that does this).
Versions never change once written. Aliases live in ``<root>/<name>/aliases.json``, replaced
atomically under the model's file lock. Routes and shadows are serving policy:
``registry.policy``. The rules themselves are the same for every backend: ``registry.base``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from tabforge.contract import sha256_bytes
from tabforge.errors import NotFoundError, StorageError
from tabforge.registry.atomic import changing
from tabforge.registry.base import ALIASES_FILE, FileChange, Registry
from tabforge.registry.layout import (
    ELSEWHERE,
    MANIFEST_FILE,
    MODEL_FILE,
    model_names,
    version_numbers,
)
from tabforge.registry.refs import slugify, validate_name

__all__ = [
    "ALIASES_FILE",
    "MANIFEST_FILE",
    "MODEL_FILE",
    "FilesystemRegistry",
    "sha256_bytes",
    "slugify",
]


class FilesystemRegistry(Registry):
    """The registry on a local (or mounted) file system; every method is process-safe."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        # Absolute, so every message says exactly which directory was looked at.
        self.root = Path(root).absolute()
        self.location = str(self.root)

    def _require_root(self) -> None:
        if self.root.is_dir():
            return
        state = "is not a directory" if self.root.exists() else "does not exist"
        raise NotFoundError(f"registry directory {self.root} {state} ({ELSEWHERE})")

    def model_dir(self, name: str) -> Path:
        return self.root / validate_name(name)

    def where(self, name: str, *parts: str) -> str:
        return str(self.model_dir(name).joinpath(*parts))

    def names(self) -> list[str]:
        """Models with at least one complete version; foreign entries are ignored."""
        self._require_root()
        return model_names(self.root)

    def versions(self, name: str) -> list[int]:
        """Complete versions of ``name``, ascending; [] for an unknown model."""
        return version_numbers(self.model_dir(name))

    def read_model_file(self, name: str, filename: str) -> bytes | None:
        try:
            return (self.model_dir(name) / filename).read_bytes()
        except FileNotFoundError:
            return None

    def _read_version_file(self, name: str, version: int, filename: str) -> bytes | None:
        try:
            return (self.model_dir(name) / str(version) / filename).read_bytes()
        except FileNotFoundError:
            return None

    # -- writing -----------------------------------------------------------------------

    def writable_model_dir(self, name: str) -> Path:
        """The folder of model ``name``, created if need be; StorageError if it cannot be."""
        model_dir = self.model_dir(name)
        try:
            model_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(
                f"cannot create registry directory {model_dir}: {exc.strerror}"
            ) from exc
        if not os.access(model_dir, os.W_OK):
            raise StorageError(f"registry directory {self.root} is not writable")
        return model_dir

    def _add_version(self, name: str, files_for: Callable[[int], dict[str, bytes]]) -> int:
        model_dir = self.writable_model_dir(name)
        with changing(model_dir, f"write {name} to registry {self.root}") as change:
            version = max(self.versions(name), default=0) + 1
            change.add_dir(str(version), files_for(version))
        return version

    def update_model_file(self, name: str, filename: str, change: FileChange, action: str) -> None:
        """Read, change and atomically replace the file, all under the model's lock."""
        model_dir = self.writable_model_dir(name)
        with changing(model_dir, action) as changed:
            data = change(self.read_model_file(name, filename))
            if data is None:
                changed.remove_file(filename)
            else:
                changed.replace_file(filename, data)

    def _remove_version(self, name: str, version: int, action: str) -> None:
        with changing(self.model_dir(name), action) as change:
            change.remove_dir(str(version))  # disappears atomically

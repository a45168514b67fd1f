"""Filesystem registry: ``<root>/<name>/<version>/{model.onnx, manifest.json}``.

A version is written into a temporary directory beside its final place, flushed to disk,
then renamed: readers see a whole version or none, and a crash leaves only a temp
directory that no reader looks at. Versions never change once written.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path

from tabforge.errors import RegistryError
from tabforge.registry.lock import locked

NAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
MODEL_FILE = "model.onnx"
MANIFEST_FILE = "manifest.json"
LOCK_FILE = ".lock"
TMP_PREFIX = ".tmp-"


def validate_name(name: str) -> str:
    if not NAME_PATTERN.fullmatch(name):
        raise RegistryError(
            f"invalid model name {name!r}: use 1-64 characters of a-z, 0-9, '_' and '-', "
            "starting with a letter or digit"
        )
    return name


def slugify(text: str) -> str:
    """A valid model name from a file stem ('Churn Data 2024' -> 'churn-data-2024')."""
    slug = re.sub(r"[^a-z0-9_-]+", "-", text.lower()).strip("-_")[:64]
    return slug or "model"


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _write(path: Path, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class FilesystemRegistry:
    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def model_dir(self, name: str) -> Path:
        return self.root / validate_name(name)

    def versions(self, name: str) -> list[int]:
        d = self.model_dir(name)
        if not d.is_dir():
            return []
        return sorted(int(p.name) for p in d.iterdir() if p.name.isdigit() and p.is_dir())

    def put(self, name: str, model: bytes, manifest_for: Callable[[int], bytes]) -> int:
        """Store a new version; ``manifest_for(version)`` renders its manifest. Returns it."""
        model_dir = self.model_dir(name)
        try:
            model_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise RegistryError(
                f"cannot create registry directory {self.root}: {exc.strerror}"
            ) from exc
        if not os.access(model_dir, os.W_OK):
            raise RegistryError(f"registry directory {self.root} is not writable")
        tmp = model_dir / f"{TMP_PREFIX}{uuid.uuid4().hex}"
        try:
            with locked(model_dir / LOCK_FILE):
                version = max(self.versions(name), default=0) + 1
                tmp.mkdir()
                _write(tmp / MODEL_FILE, model)
                _write(tmp / MANIFEST_FILE, manifest_for(version))
                _fsync_dir(tmp)
                os.rename(tmp, model_dir / str(version))
                _fsync_dir(model_dir)
        except OSError as exc:
            raise RegistryError(
                f"cannot write {name} to registry {self.root}: {exc.strerror or exc}"
            ) from exc
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
        return version

"""One way to open a registry, whatever holds it: a directory, or ``s3://bucket/prefix``.

Every command, the server and the Python API take a registry as text (``--registry``,
``TABFORGE_REGISTRY``, ``registry=``) and open it here, so a new backend is one branch.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from tabforge.config import registry_spec
from tabforge.registry.base import Registry
from tabforge.registry.store import FilesystemRegistry

SCHEME = "s3://"


def is_remote(spec: str | os.PathLike[str]) -> bool:
    return os.fspath(spec).startswith(SCHEME)


def normalized(spec: str | os.PathLike[str]) -> str:
    """The same registry as every process will name it: a directory made absolute (so
    workers and messages mean the same one), an s3:// address as given."""
    return os.fspath(spec) if is_remote(spec) else str(Path(spec).absolute())


def open_registry(
    spec: str | os.PathLike[str] | None = None, *, env: Mapping[str, str] | None = None
) -> Registry:
    """The registry ``spec`` names; None: TABFORGE_REGISTRY, then ./models."""
    text = registry_spec(spec, env=env)
    if is_remote(text):
        from tabforge.registry.s3 import S3Registry  # boto3 loads only for S3 registries

        return S3Registry(text)
    return FilesystemRegistry(text)

"""Model bytes fetched from a remote registry, kept on local disk by their sha256.

A version's bytes never change, and the manifest names their sha256, so the digest is the
whole key: a restarted server, or a second registry holding the same model, reads the
bytes from here instead of the network. Entries are written to a temporary name and
renamed, and checked against their digest when read (a damaged entry is dropped and
fetched again). A cache that cannot be written is no error: the bytes are served anyway.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from pathlib import Path

from tabforge.contract import sha256_bytes
from tabforge.registry.atomic import TMP_PREFIX, write_file


class ModelCache:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def path(self, sha256: str) -> Path:
        return self.directory / f"{sha256}.onnx"

    def get(self, sha256: str) -> bytes | None:
        """The cached bytes with this digest; None if absent or damaged."""
        path = self.path(sha256)
        try:
            data = path.read_bytes()
        except OSError:
            return None
        if sha256_bytes(data) == sha256:
            return data
        path.unlink(missing_ok=True)
        return None

    def put(self, sha256: str, data: bytes) -> None:
        tmp = self.directory / f"{TMP_PREFIX}{uuid.uuid4().hex}"
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            write_file(tmp, data)
            os.replace(tmp, self.path(sha256))
        except OSError:
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)

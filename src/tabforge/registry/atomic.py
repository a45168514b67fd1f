"""The registry's one way to change a directory: under its lock, staged, flushed, renamed.

Every change is made in a temporary entry beside its final place, flushed to disk, then
renamed over it, and the directory itself is flushed last: a reader sees the old state or
the new one, and a crash leaves only a ``.tmp-*`` entry that no reader looks at. The
directory's file lock serialises writers across processes. Any ``OSError`` on the way
(a full disk, a read-only mount, a file where a directory should be) becomes one
``StorageError`` saying what could not be done, and the staged entries are removed.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tabforge.errors import StorageError
from tabforge.registry.lock import locked

LOCK_FILE = ".lock"
TMP_PREFIX = ".tmp-"


def write_file(path: Path, data: bytes) -> None:
    """Write and flush a new file's bytes to disk."""
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def fsync_dir(path: Path) -> None:
    """Flush a directory's entries (a rename is durable only once its directory is)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def storage_error(action: str, exc: OSError) -> StorageError:
    return StorageError(f"cannot {action}: {exc.strerror or exc}")


class Change:
    """The operations allowed inside :func:`changing`; each one is atomic on its own."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.staged: list[Path] = []

    def _temp(self, suffix: str = "") -> Path:
        path = self.directory / f"{TMP_PREFIX}{suffix}{uuid.uuid4().hex}"
        self.staged.append(path)
        return path

    def replace_file(self, name: str, data: bytes) -> None:
        """Put ``name`` in place with ``data``, replacing any previous file."""
        tmp = self._temp()
        write_file(tmp, data)
        os.rename(tmp, self.directory / name)

    def remove_file(self, name: str) -> None:
        (self.directory / name).unlink(missing_ok=True)

    def add_dir(self, name: str, files: dict[str, bytes]) -> None:
        """Put a new directory ``name`` holding ``files`` in place, whole or not at all."""
        tmp = self._temp()
        tmp.mkdir()
        for filename, data in files.items():
            write_file(tmp / filename, data)
        fsync_dir(tmp)
        os.rename(tmp, self.directory / name)

    def remove_dir(self, name: str) -> None:
        """Take ``name`` away at once; its contents are deleted after the lock is released."""
        os.rename(self.directory / name, self._temp(f"deleted-{name}-"))


@contextmanager
def changing(directory: Path, action: str) -> Iterator[Change]:
    """Hold ``directory``'s lock while the body changes it through the yielded ``Change``.

    ``action`` completes "cannot ..." in the StorageError an OSError becomes.
    """
    change = Change(directory)
    try:
        with locked(directory / LOCK_FILE):
            yield change
            fsync_dir(directory)
    except OSError as exc:
        raise storage_error(action, exc) from exc
    finally:
        for path in change.staged:  # renamed away already, or left over by a failure
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)

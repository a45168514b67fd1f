"""What several test modules share: the data, the CLI runner's types and registry probes.

Tests import helpers from here (or, for a real server, from tests/e2e/server.py and
tests/e2e/wire.py), never from conftest.py or from another test module.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import pytest

from benchmarks.common import mixed_frame

__all__ = ["Cli", "Run", "mixed_frame", "read_only", "snapshot", "stored"]


@dataclass
class Run:
    """One in-process CLI run (the ``cli`` fixture's answer)."""

    exit_code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


class Cli(Protocol):
    """The ``cli`` fixture: run the CLI in-process, train into a private registry by default."""

    def __call__(self, *args: str, registry: Path | None = None) -> Run: ...


def stored(registry: Path, ref: str) -> Path:
    """The directory of a stored version, ``ref`` as "name:version"."""
    name, version = ref.split(":")
    return registry / name / version


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file under root with its bytes (lock files aside), to prove nothing changed."""
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != ".lock"
    }


def read_only(path: Path, argv: list[str]) -> subprocess.CompletedProcess[str]:
    """Run argv in a private mount namespace where ``path`` is mounted read-only."""
    if shutil.which("unshare") is None:
        pytest.skip("unshare is not available")
    script = 'mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" && shift && exec "$@"'
    return subprocess.run(
        ["unshare", "-m", "sh", "-c", script, "sh", str(path), *argv],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip

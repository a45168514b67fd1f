"""The Rust half as tests reach it: cargo, the workspace, the built server."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORKSPACE = ROOT / "rust"
SERVER = WORKSPACE / "target" / "release" / "tabforge-server"


def cargo() -> str:
    """cargo on PATH, else rustup's default place; the Rust build is part of make install."""
    found = shutil.which("cargo") or str(Path.home() / ".cargo" / "bin" / "cargo")
    if not Path(found).is_file():
        raise RuntimeError("cargo is not installed: the Rust half cannot be built or tested")
    return found


def cargo_run(*args: str, env: dict[str, str] | None = None, timeout: float = 1800) -> str:
    """Run cargo in the workspace; its output, or AssertionError with all of it."""
    command = [cargo(), *args]
    done = subprocess.run(
        command, cwd=WORKSPACE, env={**os.environ, **(env or {})},
        capture_output=True, text=True, timeout=timeout, check=False,
    )  # fmt: skip
    output = f"{' '.join(command)}\n{done.stdout}\n{done.stderr}"
    assert done.returncode == 0, output
    return output

"""Virtual environments for the peers that are not tabforge, installed on first use."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from .config import INSTALL_TIMEOUT
from .processes import Processes, last_line


def venv_versions(python: Path, dists: list[str]) -> dict[str, str] | None:
    code = (
        "import json, importlib.metadata as m\n"
        f"print(json.dumps({{d: m.version(d) for d in {dists!r}}}))"
    )
    try:
        proc = subprocess.run(
            [str(python), "-c", code],
            capture_output=True,
            text=True,
            timeout=120,
            stdin=subprocess.DEVNULL,
        )
        return (
            dict(json.loads(proc.stdout.strip().splitlines()[-1])) if proc.returncode == 0 else None
        )
    except (OSError, subprocess.TimeoutExpired, ValueError, IndexError):
        return None


def ensure_venv(
    procs: Processes, venv: Path, specs: list[list[str]], dists: list[str], log_dir: Path
) -> tuple[dict[str, str] | None, str]:
    """Create ``venv`` and pip-install the first of ``specs`` that works: (versions, note).

    Every name in ``dists`` must then be importable as a distribution; a venv whose stamp says
    it was installed before (and still answers) is reused.
    """
    python = venv / "bin" / "python"
    stamp = venv / ".serve_bench_installed"
    if stamp.is_file() and python.exists():
        versions = venv_versions(python, dists)
        if versions is not None:
            print(f"venv: reusing {venv} ({fmt_versions(versions)})")
            return versions, stamp.read_text().strip()
    if not python.exists():
        base = shutil.which("python3") or sys.executable
        print(f"venv: {base} -m venv {venv}", flush=True)
        code, out = procs.run([base, "-m", "venv", str(venv)], log_dir / "venv.log", 300)
        if code != 0 or not python.exists():
            return None, f"python3 -m venv failed: {last_line(out)}"
    errors: list[str] = []
    for spec in specs:
        cmd = [str(python), "-m", "pip", "install", "--disable-pip-version-check", *spec]
        print(f"venv: {shlex.join(cmd)} (at most {INSTALL_TIMEOUT:g} s) ...", flush=True)
        start = time.perf_counter()
        code, out = procs.run(cmd, log_dir / "pip.log", INSTALL_TIMEOUT)
        if code is None:
            errors.append(f"pip install {' '.join(spec)}: timed out after {INSTALL_TIMEOUT:g} s")
            continue
        if code != 0:
            lines = [ln for ln in out.splitlines() if ln.startswith("ERROR")] or [last_line(out)]
            errors.append(f"pip install {' '.join(spec)}: exit {code}: {lines[0][:200]}")
            continue
        versions = venv_versions(python, dists)
        if versions is None:
            errors.append(f"pip install {' '.join(spec)}: {', '.join(dists)} not all installed")
            continue
        note = "pip install " + " ".join(spec) + (f" (after {'; '.join(errors)})" if errors else "")
        stamp.write_text(note + "\n")
        print(f"venv: installed in {time.perf_counter() - start:.0f} s ({fmt_versions(versions)})")
        return versions, note
    return None, "; ".join(errors)


def fmt_versions(versions: dict[str, str]) -> str:
    return ", ".join(f"{k} {v}" for k, v in versions.items())


def dist_version(dist: str) -> str:
    """The version of ``dist`` in this (the benchmark's) environment."""
    try:
        return version(dist)
    except PackageNotFoundError:
        return "not installed"


def wrk_version() -> str:
    try:
        proc = subprocess.run(["wrk", "-v"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"unavailable ({exc})"
    m = re.search(r"wrk (\S+)", proc.stdout + proc.stderr)
    return m.group(1) if m else "?"

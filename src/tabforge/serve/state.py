"""The directory a server's workers share, so every worker answers for the whole server.

``tabforge serve`` creates it (a temporary directory, removed when the server exits) and
hands it to its workers in their settings; an app without one (``create_app()`` under
another ASGI server, a test) makes a private one and counts as the only worker. Inside:

- ``metrics/``: Prometheus values, one file per worker (metrics.py), summed on each scrape;
- ``monitor/<model>/<version>/<pid>.slots``: each worker's drift and quality counts (slots.py);
- ``feedback/<model>/...``: each worker's recent predictions, for joining labels (feedback.py);
- ``ready/<pid>.json``: written by a worker once its models are loaded, with what it serves.

Workers never message each other: each writes only its own files and reads everyone's.
A file of a worker that died stays (its counts happened); its ready marker stops counting.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import tempfile
import weakref
from pathlib import Path

log = logging.getLogger("tabforge.serve")

PREFIX = "tabforge-serve-"


def alive(pid: int) -> bool:
    """Whether a process with this id runs (a worker of this server, when it wrote here).

    A worker that died is a zombie until the supervisor reaps it: not alive either.
    """
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no /proc here: the signal said it exists
    return stat.rsplit(")", 1)[-1].split()[:1] != ["Z"]


def pid_of(path: Path) -> int | None:
    """The worker a state file belongs to (``<pid>.<suffix>``)."""
    head = path.name.split(".", 1)[0].rsplit("_", 1)[-1]
    return int(head) if head.isdigit() else None


def write_atomic(path: Path, data: bytes) -> None:
    """Readers see the old file or the new one, never half of it."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


class SharedState:
    """One worker's view of the server's shared directory."""

    def __init__(self, shared: Path | None, workers: int) -> None:
        self.private = shared is None
        if shared is None:
            shared = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-"))
            # Removed with the app (or at exit) when nobody calls close().
            self._finalizer = weakref.finalize(self, shutil.rmtree, shared, ignore_errors=True)
        self.root = shared
        self.workers = 1 if self.private else workers
        self.pid = os.getpid()
        for sub in ("metrics", "monitor", "feedback", "ready"):
            (shared / sub).mkdir(parents=True, exist_ok=True)
        self._marker = shared / "ready" / f"{self.pid}.json"
        self._served: dict[str, list[int]] | None = None

    @property
    def metrics(self) -> Path:
        return self.root / "metrics"

    @property
    def monitor(self) -> Path:
        return self.root / "monitor"

    @property
    def feedback(self) -> Path:
        return self.root / "feedback"

    # -- readiness ---------------------------------------------------------------------

    def mark_ready(self, served: dict[str, list[int]]) -> None:
        """This worker has loaded its models (and serves ``served``): say so to the others."""
        if served == self._served:
            return
        try:
            write_atomic(self._marker, json.dumps({"models": served}).encode())
        except OSError as exc:
            log.error("cannot write the ready marker %s: %s", self._marker, exc)
            return
        self._served = served

    def ready_workers(self) -> list[dict[str, list[int]]]:
        """What each live ready worker serves (markers of dead workers don't count)."""
        found = []
        for path in (self.root / "ready").glob("*.json"):
            pid = pid_of(path)
            if pid is None or not alive(pid):
                continue
            try:
                models = json.loads(path.read_bytes())["models"]
            except (OSError, ValueError, KeyError, TypeError):
                continue  # removed or replaced while read: that worker is stopping
            found.append(models)
        return found

    def waiting_for(self) -> str | None:
        """None when every worker is ready; else what the server still waits for."""
        ready = len(self.ready_workers())
        if ready >= self.workers:
            return None
        return f"models are still loading ({ready} of {self.workers} workers ready)"

    def model_waiting_for(self, name: str, version: int) -> str | None:
        """None when every worker serves ``name`` version ``version``; else why not."""
        workers = self.ready_workers()
        serving = sum(1 for models in workers if version in models.get(name, ()))
        if len(workers) >= self.workers and serving == len(workers):
            return None
        return (
            f"model {name!r} version {version} is not loaded in every worker yet "
            f"({serving} of {self.workers})"
        )

    # -- life cycle --------------------------------------------------------------------

    def close(self) -> None:
        """This worker stops: it is no longer ready; a private directory goes."""
        with contextlib.suppress(OSError):
            self._marker.unlink()
        self._served = None
        if self.private:
            self._finalizer()

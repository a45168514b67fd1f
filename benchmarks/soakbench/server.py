"""The server under load, in its own session, and its memory read from /proc every second."""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import subprocess
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import common  # benchmarks/common.py, beside the entry script

from .models import SetupError

START_TIMEOUT = 120.0
STOP_TIMEOUT = 30.0


class Server:
    """``tabforge serve`` in its own session; ``stop`` sends SIGTERM, then kills what is left."""

    def __init__(self, argv: list[str], log: Path, port: int) -> None:
        self.port = port
        self.log = log
        with open(log, "wb") as out:
            self.proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.exit_code: int | None = None

    def wait_ready(self, timeout: float = START_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise SetupError(f"the server exited early:\n{tail(self.log)}")
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
            try:
                conn.request("GET", "/v2/health/ready")
                if conn.getresponse().status == 200:
                    return
            except (OSError, http.client.HTTPException):
                pass
            finally:
                conn.close()
            if time.monotonic() > deadline:
                raise SetupError(
                    f"the server was not ready within {timeout:.0f} s:\n{tail(self.log)}"
                )
            time.sleep(0.2)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> int | None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGTERM)
        try:
            self.exit_code = self.proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.exit_code = None
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)  # stragglers of the group, if any
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)
        return self.exit_code


def tail(path: Path, lines: int = 30) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.strip().splitlines()[-lines:])


class RssSampler(threading.Thread):
    """(seconds since start, MiB) every ``interval`` seconds until stopped."""

    def __init__(self, pid: int, interval: float = 1.0) -> None:
        super().__init__(name="soak-rss", daemon=True)
        self.pid = pid
        self.interval = interval
        self.samples: list[tuple[float, float]] = []
        self.halt = threading.Event()
        self.started_at = time.monotonic()

    def run(self) -> None:
        while True:
            self.sample()
            if self.halt.wait(self.interval):
                return

    def sample(self) -> None:
        rss = common.tree_rss_mib(self.pid)
        if rss is not None:
            self.samples.append((time.monotonic() - self.started_at, rss))


def rss_summary(samples: Sequence[tuple[float, float]], warmup_s: float) -> dict[str, Any]:
    """RSS at the end of warm-up, its max after, the final value and the growth in %.

    ``samples`` are (seconds since the load started, MiB); None where nothing was measured.
    """
    after = [m for t, m in samples if t >= warmup_s]
    base = after[0] if after else None
    peak = max(after) if after else None
    growth = None if base is None or peak is None else (peak - base) / base * 100
    return {
        "start": round(samples[0][1], 1) if samples else None,
        "warmup_seconds": round(warmup_s, 1),
        "warmup": None if base is None else round(base, 1),
        "max_after_warmup": None if peak is None else round(peak, 1),
        "final": round(after[-1], 1) if after else None,
        "growth_pct": None if growth is None else round(growth, 2),
        "samples": len(samples),
        "series": [[round(t, 1), round(m, 1)] for t, m in samples],
    }

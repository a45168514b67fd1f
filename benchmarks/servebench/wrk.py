"""One bounded wrk run and its numbers, with the CPU other processes used meanwhile."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .bodies import Body
from .config import LUA_SCRIPT
from .processes import busy_cpu_s, children_cpu_s, last_line, tree_cpu_s


@dataclass
class Result:
    peer: str
    scenario: str
    rows: int = 1  # per request
    req_s: float | None = None
    p50_ms: float | None = None
    p99_ms: float | None = None
    errors: int | None = None
    error_detail: str = ""
    rss_mib: float | None = None
    others_cpu: float | None = None  # % of one core used by other processes during the run
    failed: str | None = None

    @property
    def rows_s(self) -> float | None:
        return None if self.req_s is None else self.req_s * self.rows


_UNITS_MS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}


def _ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text.strip())
    if not m:
        raise ValueError(f"unreadable latency {text!r}")
    return float(m.group(1)) * _UNITS_MS[m.group(2)]


def parse_wrk(text: str) -> dict[str, Any]:
    """Requests/s, p50/p99 (ms), completed requests and errors from ``wrk --latency`` output."""
    found: dict[str, Any] = {"errors": 0, "detail": []}
    for pct, key in (("50", "p50_ms"), ("99", "p99_ms")):
        m = re.search(rf"^\s*{pct}(?:\.0+)?%\s+(\S+)\s*$", text, flags=re.MULTILINE)
        if m:
            found[key] = _ms(m.group(1))
    m = re.search(r"^\s*(\d+) requests in", text, flags=re.MULTILINE)
    found["requests"] = int(m.group(1)) if m else 0
    m = re.search(r"^Requests/sec:\s+([\d.]+)", text, flags=re.MULTILINE)
    if m:
        found["req_s"] = float(m.group(1))
    m = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    if m and int(m.group(1)):
        found["errors"] += int(m.group(1))
        found["detail"].append(f"non-2xx {m.group(1)}")
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    if m:
        for kind, count in zip(("connect", "read", "write", "timeout"), m.groups(), strict=True):
            if int(count):
                found["errors"] += int(count)
                found["detail"].append(f"{kind} {count}")
    return found


def wrk_command(
    url: str, body: Body, connections: int, duration: float, threads: int
) -> tuple[list[str], dict[str, str]]:
    """The wrk command line posting ``body`` to ``url``, and its environment (post.lua's)."""
    cmd = [
        "wrk", f"-t{min(threads, connections)}", f"-c{connections}", f"-d{duration:g}s",
        "--latency", f"--timeout={max(5.0, 2 * duration):g}s", "-s", str(LUA_SCRIPT), url,
    ]  # fmt: skip
    env = dict(os.environ)
    env["SERVE_BENCH_BODY"] = str(body.path)
    env["SERVE_BENCH_CONTENT_TYPE"] = body.content_type
    env["SERVE_BENCH_HEADER_LEN"] = "" if body.header_len is None else str(body.header_len)
    return cmd, env


def run_wrk(
    url: str, body: Body, connections: int, duration: float, threads: int, log: Path, server: int
) -> dict[str, Any]:
    """One bounded wrk run: its parsed numbers and others' CPU, or {"failed": reason}."""
    cmd, env = wrk_command(url, body, connections, duration, threads)
    log.parent.mkdir(parents=True, exist_ok=True)
    cpu0 = (busy_cpu_s(), tree_cpu_s(server), children_cpu_s(), time.perf_counter())
    try:
        proc = subprocess.run(
            cmd,
            capture_output=True,
            text=True,
            env=env,
            timeout=duration + 60,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        return {"failed": f"wrk did not finish within {duration + 60:g} s"}
    busy, served, wrk_cpu, wall = (
        b - a
        for a, b in zip(
            cpu0,
            (busy_cpu_s(), tree_cpu_s(server), children_cpu_s(), time.perf_counter()),
            strict=True,
        )
    )
    log.write_text(f"$ {shlex.join(cmd)}\n{proc.stdout}\n{proc.stderr}")
    if proc.returncode != 0:
        return {"failed": f"wrk exit {proc.returncode}: {last_line(proc.stderr + proc.stdout)}"}
    found = parse_wrk(proc.stdout)
    if not found["requests"] or "req_s" not in found:
        detail = ", ".join(found["detail"]) or f"see {log}"
        return {"failed": f"no request completed ({detail})"}
    found["others_cpu"] = max(0.0, 100 * (busy - served - wrk_cpu) / wall)
    return found

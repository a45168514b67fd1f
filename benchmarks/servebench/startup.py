"""Start-to-ready and idle memory of a server: spawn it, ask until it is ready, read its RSS."""

from __future__ import annotations

import os
import re
import resource
import shlex
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import common  # benchmarks/common.py, beside the entry script

from .checks import http
from .config import START_TIMEOUT
from .processes import Processes, busy_cpu_s, last_line, read_log, tree_cpu_s

POLL_S = 0.005  # between two readiness requests
SETTLE_S = 1.0  # idle after ready before the RSS is read


@dataclass
class Starts:
    """``len(seconds)`` starts of one command: each one's start-to-ready and idle RSS."""

    label: str
    command: str  # as shown in the report
    seconds: list[float] = field(default_factory=list)
    rss_mib: list[float] = field(default_factory=list)
    exe: str = ""  # /proc/PID/exe of the ready server (tabforge serve --engine rust execs)
    others_cpu: list[float] = field(default_factory=list)  # % of one core, during each start
    failed: str | None = None

    def median_s(self) -> float | None:
        return statistics.median(self.seconds) if self.seconds else None

    def max_rss_mib(self) -> float | None:
        return max(self.rss_mib) if self.rss_mib else None


def start_once(
    procs: Processes, cmd: list[str], url: str, log: Path, env: dict[str, str]
) -> tuple[float, float | None, str, float]:
    """(seconds from spawning to the first 200 of ``url``, VmRSS MiB after ``SETTLE_S`` idle,
    the executable then, others' CPU %); the server is stopped before returning."""
    busy0, own0 = busy_cpu_s(), _own_cpu_s()
    t0 = time.perf_counter()
    proc = procs.start(cmd, log, env=env)
    try:
        while http(url, timeout=2.0)[0] != 200:
            if proc.poll() is not None:
                raise RuntimeError(f"exited {proc.returncode}: {last_line(read_log(log))}")
            if time.perf_counter() - t0 > START_TIMEOUT:
                raise RuntimeError(f"not ready after {START_TIMEOUT:g} s ({url})")
            time.sleep(POLL_S)
        seconds = time.perf_counter() - t0
        # What the machine was busy with meanwhile, less the server's start and this poller.
        others = busy_cpu_s() - busy0 - tree_cpu_s(proc.pid) - (_own_cpu_s() - own0)
        time.sleep(SETTLE_S)
        rss = common.tree_rss_mib(proc.pid)  # the server has no children: its own VmRSS
        exe = os.readlink(f"/proc/{proc.pid}/exe")
    finally:
        procs.stop(proc)
    return seconds, rss, exe, max(0.0, 100 * others / seconds)


def _own_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def measure_starts(
    procs: Processes,
    label: str,
    cmd: Callable[[int], list[str]],
    env: dict[str, str],
    n: int,
    logs: Path,
) -> Starts:
    """``n`` starts, one after the other, of ``cmd(port)`` (the port its last argument) on a
    free port each; their logs are ``logs/start-*.log``."""
    shown = shlex.join(cmd(0)[:-1]).replace(f"{common.ROOT}/", "") + " P"
    found = Starts(label, shown)
    slug = re.sub(r"[^a-z0-9]+", "-", label.lower()).strip("-")
    for k in range(n):
        port = common.free_port()
        url = f"http://127.0.0.1:{port}/v2/health/ready"
        log = logs / f"start-{slug}-{k + 1}.log"
        try:
            seconds, rss, exe, others = start_once(procs, cmd(port), url, log, env)
        except (RuntimeError, OSError) as exc:
            found.failed = f"start {k + 1}: {exc}"[:300]
            break
        found.seconds.append(seconds)
        found.others_cpu.append(others)
        if rss is not None:
            found.rss_mib.append(rss)
        found.exe = exe
        print(f"  {label} start {k + 1}: ready in {seconds:.3f} s, idle RSS {rss or 0:.1f} MiB")
    return found

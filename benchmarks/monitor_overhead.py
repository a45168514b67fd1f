"""What drift monitoring costs the server: CPU per request, monitoring on vs --no-monitor.

Throughput from wrk swings by 10-30% from run to run on a shared 2-core machine, more than
the few percent to be measured. The server's own CPU time per request (utime + stime of its
process from /proc, over a wrk run) is steadier. Two servers run side by side on the same
models, one with monitoring (the default) and one with ``--no-monitor``; wrk loads each in
turn, the order alternating, ``--pairs`` times per body. Uses the models and bodies that
``benchmarks/serve_bench.py`` (``make bench``) leaves in its workdir.

    .venv/bin/python benchmarks/monitor_overhead.py [--workdir /tmp/servebench] [--pairs 6]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
from pathlib import Path
from typing import Any

import common  # benchmarks/common.py, beside this script
from servebench.bodies import write_bodies
from servebench.checks import wait_ready
from servebench.config import LUA_SCRIPT, START_TIMEOUT
from servebench.data import features
from servebench.processes import Processes

BODIES = ("tabforge-1", "tabforge-binary")  # the two rows the overhead target names
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


def load(port: int, env: dict[str, str], seconds: float) -> int:
    """Requests wrk completed in ``seconds`` at c=16 (all must be 2xx)."""
    out = subprocess.run(
        ["wrk", "-t1", "-c16", f"-d{seconds:g}s", "-s", str(LUA_SCRIPT),
         f"http://127.0.0.1:{port}/v2/models/lgbm/infer"],
        capture_output=True, text=True, check=True, env={**os.environ, **env},
    ).stdout  # fmt: skip
    if "Non-2xx" in out:
        raise SystemExit(f"monitor_overhead: errors under load:\n{out}")
    return int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/servebench"))
    ap.add_argument("--pairs", type=int, default=6)
    ap.add_argument("--seconds", type=float, default=4.0)
    ap.add_argument("--tabforge", default=common.default_tabforge())
    args = ap.parse_args()
    if not (args.workdir / "models" / "lgbm").is_dir():
        raise SystemExit(f"monitor_overhead: no models in {args.workdir}; run `make bench` first")
    bodies = write_bodies(args.workdir, features(args.workdir))
    procs = Processes()
    try:
        servers = {}
        for mode, flags in (("on", []), ("off", ["--no-monitor"])):
            port = common.free_port()
            cmd = [args.tabforge, "serve", "--registry", str(args.workdir / "models"),
                   "--port", str(port), *flags]  # fmt: skip
            log = args.workdir / "logs" / f"monitor-overhead-{mode}.log"
            proc = procs.start(cmd, log)
            url = f"http://127.0.0.1:{port}/v2/models/lgbm/ready"
            if why := wait_ready(proc, url, log, START_TIMEOUT, 1):
                raise SystemExit(f"monitor_overhead: monitoring {mode}: {why}")
            servers[mode] = (proc.pid, port)
        table(servers, bodies, args)
    finally:
        procs.kill_all()


def table(servers: dict[str, tuple[int, int]], bodies: dict[str, Any], args: Any) -> None:
    """Each body against both servers, ``--pairs`` times in alternating order: a table."""
    print("| request | monitoring | server CPU us per request, pair by pair | median |")
    print("|---|---|---|---:|")
    for key in BODIES:
        body = bodies[key]
        env = {"SERVE_BENCH_BODY": str(body.path),
               "SERVE_BENCH_CONTENT_TYPE": body.content_type or "application/json",
               "SERVE_BENCH_HEADER_LEN": str(body.header_len or "")}  # fmt: skip
        cost: dict[str, list[float]] = {"on": [], "off": []}
        for i in range(args.pairs):
            for mode in ("on", "off") if i % 2 else ("off", "on"):
                pid, port = servers[mode]
                before = cpu_seconds(pid)
                n = load(port, env, args.seconds)
                cost[mode].append((cpu_seconds(pid) - before) / n * 1e6)
        for mode in ("on", "off"):
            runs = " / ".join(f"{c:,.0f}" for c in cost[mode])
            print(f"| {key} | {mode} | {runs} | {statistics.median(cost[mode]):,.0f} |")
        ratios = [a / b for a, b in zip(cost["on"], cost["off"], strict=True)]
        print(f"| {key} | on / off | {' / '.join(f'{r:.2f}' for r in ratios)} | "
              f"{statistics.median(ratios):.2f} |")  # fmt: skip


if __name__ == "__main__":
    main()

"""What drift monitoring costs the server: monitoring on vs --no-monitor, loaded side by side.

Two ``tabforge serve`` processes on the same registry, one worker each: one with
monitoring (the default flags), one with ``--no-monitor``, both pinned to one CPU. Both are
loaded at the same time by two ``wrk -t1 -c16`` (pinned to the other CPU) with the same
body, ``--rounds`` times per body, alternating which wrk starts first (servebench/abtest.py
says why: on this shared machine, runs one after the other vary more than the few percent
to be measured). The figure is the median over the rounds of on req/s / off req/s; each
server's CPU per request over the same windows is shown beside. ``--aa`` starts both
servers with the same flags (an A/A test: how far the ratio strays when nothing differs);
``--no-pin`` leaves the CPUs to the scheduler. ``--pairs N`` adds the older sequential
measure: each server loaded alone in turn, N pairs, CPU per request.

Uses the models and bodies that ``benchmarks/serve_bench.py`` (``make bench``) leaves in
its workdir:

    .venv/bin/python benchmarks/monitor_overhead.py [--workdir /tmp/servebench] [--rounds 8]
        [--seconds 6] [--aa] [--no-pin] [--pairs 0]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
from pathlib import Path

import common  # benchmarks/common.py, beside this script
from servebench.abtest import ABResult, Side, cpu_split, run_ab, start_side, table
from servebench.bodies import Body, write_bodies
from servebench.data import features
from servebench.processes import Processes, tree_cpu_s
from servebench.wrk import parse_wrk, wrk_command

BODIES = {"tabforge-1": "single row JSON", "tabforge-binary": "1,000 rows binary"}


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/servebench"))
    ap.add_argument("--rounds", type=int, default=8, help="side-by-side rounds per body")
    ap.add_argument("--seconds", type=float, default=6.0, help="seconds per round")
    ap.add_argument("--aa", action="store_true", help="both servers with monitoring on")
    ap.add_argument("--pairs", type=int, default=0, help="sequential pairs per body too")
    ap.add_argument("--no-pin", action="store_true", help="leave CPUs to the scheduler")
    ap.add_argument("--tabforge", default=common.default_tabforge())
    args = ap.parse_args()
    if args.rounds < 1 or args.seconds <= 0 or args.pairs < 0:
        ap.error("--rounds and --seconds must be positive, --pairs at least 0")
    if not (args.workdir / "models" / "lgbm").is_dir():
        ap.error(f"no models in {args.workdir}; run `make bench` first")
    return args


def main() -> None:
    args = parse_args()
    bodies = write_bodies(args.workdir, features(args.workdir))
    modes: dict[str, list[str]] = (
        {"A": [], "B": []} if args.aa else {"on": [], "off": ["--no-monitor"]}
    )
    split = None if args.no_pin else cpu_split()
    server_cpus, wrk_cpus = split if split is not None else (None, None)
    procs = Processes()
    try:
        sides = []
        for label, flags in modes.items():
            port = common.free_port()
            cmd = [args.tabforge, "serve", "--registry", str(args.workdir / "models"),
                   "--workers", "1", "--port", str(port), *flags]  # fmt: skip
            log = args.workdir / "logs" / f"monitor-overhead-{label}.log"
            side = start_side(procs, label, cmd, port, log, server_cpus)
            if isinstance(side, str):
                raise SystemExit(f"monitor_overhead: server {label}: {side}")
            sides.append(side)
        pair = (sides[0], sides[1])
        logs = args.workdir / "logs"
        results: list[ABResult] = [
            run_ab(
                pair,
                bodies[key],
                name,
                seconds=args.seconds,
                rounds=args.rounds,
                logs=logs,
                wrk_cpus=wrk_cpus,
            )
            for key, name in BODIES.items()
        ]
        print("\n".join(["", *table(results), ""]))
        if args.pairs:
            sequential(pair, bodies, args.pairs, args.seconds)
    finally:
        procs.kill_all()


def alone(side: Side, body: Body, seconds: float) -> float:
    """Server CPU us per request of one wrk run against ``side`` alone."""
    cmd, env = wrk_command(side.url, body, 16, seconds, 1)
    before = tree_cpu_s(side.pid)
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, env=env).stdout
    found = parse_wrk(out)
    if found["errors"] or not found["requests"]:
        raise SystemExit(f"monitor_overhead: errors under load:\n{out}")
    requests: int = found["requests"]
    return (tree_cpu_s(side.pid) - before) / requests * 1e6


def sequential(
    sides: tuple[Side, Side], bodies: dict[str, Body], pairs: int, seconds: float
) -> None:
    """Each server loaded alone in turn, the order alternating: CPU per request."""
    print("| request | server | server CPU us per request, pair by pair | median |")
    print("|---|---|---|---:|")
    for key, name in BODIES.items():
        cost: dict[str, list[float]] = {s.label: [] for s in sides}
        for i in range(pairs):
            for side in sides if i % 2 == 0 else sides[::-1]:
                cost[side.label].append(alone(side, bodies[key], seconds))
        for label, values in cost.items():
            runs = " / ".join(f"{c:,.0f}" for c in values)
            print(f"| {name} | {label} | {runs} | {statistics.median(values):,.0f} |")
        a, b = (s.label for s in sides)
        ratios = [x / y for x, y in zip(cost[a], cost[b], strict=True)]
        print(f"| {name} | {a} / {b} | {' / '.join(f'{r:.2f}' for r in ratios)} | "
              f"{statistics.median(ratios):.2f} |")  # fmt: skip


if __name__ == "__main__":
    main()

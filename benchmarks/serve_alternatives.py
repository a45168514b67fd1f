"""Serving design alternatives side by side: the fast lane, inline runs, and the floor.

Issue 16 asks for at least two measured design alternatives for the single-row path. Each
alternative is a `tabforge serve` flag, so one build runs them all, one worker each,
monitoring on, on `make bench`'s models and bodies:

- ``ASGI + thread``: `--no-fast-lane --inline-rows 0`: every request an ASGI task under
  uvicorn, every onnxruntime call on an inference thread (the design before round 2);
- ``ASGI + inline``: `--no-fast-lane`: small batches run on the event loop (alternative 1);
- ``lane + thread``: `--inline-rows 0`: the fast lane without inline runs (alternative 2);
- ``lane + inline``: default flags (both);
- ``before`` (with ``--before-src DIR``): another checkout's `src`, default flags;
- ``floor``: a bare httptools server on uvloop answering a fixed 221-byte response, no
  model: what the kernel, the loop and wrk cost a request on this machine, the most any
  Python server could reach here.

All servers are up at once; each round loads every variant in turn (the order rotating
from round to round) with wrk for ``--seconds``, so drift on the machine spreads over all.
Per variant and scenario: median req/s over the rounds, p50/p99 of the median round, and
the server's CPU per request (utime + stime over the run). Markdown on stdout; with
``--out`` it also becomes the "## Serving, round 2: design alternatives" section.

    .venv/bin/python benchmarks/serve_alternatives.py [--workdir /tmp/servebench]
        [--rounds 3] [--seconds 5] [--before-src /tmp/base/src] [--out benchmarks/RESULTS.md]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import common  # benchmarks/common.py, beside this script
from servebench.bodies import Body, write_bodies
from servebench.checks import wait_ready
from servebench.config import START_TIMEOUT
from servebench.data import features
from servebench.processes import Processes, tree_cpu_s
from servebench.wrk import run_wrk

HEADING = "## Serving, round 2: design alternatives"
INFER = "/v2/models/lgbm/infer"
SCENARIOS = (  # label, body, connections
    ("1 row JSON, c=1", "tabforge-1", 1),
    ("1 row JSON, c=16", "tabforge-1", 16),
    ("1 row JSON, c=64", "tabforge-1", 64),
    ("1,000 rows binary, c=16", "tabforge-binary", 16),
)
FLOOR = """
import asyncio, sys, httptools, uvloop
BODY = b"x" * 221
RESPONSE = (b"HTTP/1.1 200 OK\\r\\ncontent-type: application/json\\r\\n"
            b"content-length: 221\\r\\n\\r\\n" + BODY)
class Floor(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport, self.parser = transport, httptools.HttpRequestParser(self)
    def data_received(self, data):
        self.parser.feed_data(data)
    def on_message_complete(self):
        self.transport.write(RESPONSE)
async def main():
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Floor, "127.0.0.1", int(sys.argv[1]), backlog=2048)
    await server.serve_forever()
uvloop.run(main())
"""


@dataclass
class Variant:
    name: str
    flags: list[str]
    src: str | None = None  # PYTHONPATH: another checkout's src
    floor: bool = False
    pid: int = 0
    port: int = 0
    runs: dict[str, list[dict[str, float]]] = field(default_factory=dict)


def variants(before: str | None) -> list[Variant]:
    found = [
        Variant("ASGI + thread", ["--no-fast-lane", "--inline-rows", "0"]),
        Variant("ASGI + inline (alternative 1)", ["--no-fast-lane"]),
        Variant("lane + thread (alternative 2)", ["--inline-rows", "0"]),
        Variant("lane + inline (default)", []),
        Variant("floor (bare httptools, no model)", [], floor=True),
    ]
    if before:
        found.insert(0, Variant(f"before ({Path(before).parent.name})", [], src=before))
    return found


def start(v: Variant, procs: Processes, args: argparse.Namespace) -> None:
    v.port = common.free_port()
    log = args.workdir / "logs" / f"alternatives-{v.port}.log"
    env = dict(os.environ)
    if v.floor:
        script = args.workdir / "floor_server.py"
        script.write_text(FLOOR)
        cmd = [sys.executable, str(script), str(v.port)]
        ready = f"http://127.0.0.1:{v.port}/"
    else:
        cmd = [args.tabforge, "serve", "--registry", str(args.workdir / "models"),
               "--port", str(v.port), *v.flags]  # fmt: skip
        ready = f"http://127.0.0.1:{v.port}/v2/models/lgbm/ready"
        if v.src:
            env["PYTHONPATH"] = v.src
    proc = procs.start(cmd, log, env=env)
    if v.floor:
        time.sleep(2.0)  # it answers anything; give it time to bind
    elif why := wait_ready(proc, ready, log, START_TIMEOUT, 1):
        raise SystemExit(f"serve_alternatives: {v.name}: {why}")
    v.pid = proc.pid


def measure(vs: list[Variant], bodies: dict[str, Body], args: argparse.Namespace) -> None:
    logs = args.workdir / "logs"
    for k in range(args.rounds):
        order = vs[k % len(vs) :] + vs[: k % len(vs)]
        for label, key, connections in SCENARIOS:
            for v in order:
                if v.floor and key != "tabforge-1":
                    continue
                url = f"http://127.0.0.1:{v.port}{INFER}"
                before = tree_cpu_s(v.pid)
                log = logs / f"alternatives-wrk-{v.port}.log"
                found = run_wrk(url, bodies[key], connections, args.seconds, 1, log, v.pid)
                if "failed" in found or found["errors"]:
                    raise SystemExit(f"serve_alternatives: {v.name}, {label}: {found}")
                cpu = tree_cpu_s(v.pid) - before
                found["cpu_us"] = cpu / max(found["requests"], 1) * 1e6
                v.runs.setdefault(label, []).append(found)
                print(f"round {k + 1} {v.name} {label}: {found['req_s']:,.0f} req/s", flush=True)


def table(vs: list[Variant], args: argparse.Namespace, load: tuple[float, float]) -> str:
    lines = [
        HEADING,
        "",
        f"- date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; machine: "
        f"{os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}; "
        f"wrk on the same cores, 1 thread",
        f"- one worker per server, monitoring on; {args.rounds} rounds of {args.seconds:g} s "
        f"per variant and scenario; load average at start / end: {load[0]:.2f} / {load[1]:.2f}",
        "",
        "| variant | scenario | req/s (median of rounds) | rounds | p50 ms | p99 ms "
        "| server CPU us / request |",
        "|---|---|---:|---|---:|---:|---:|",
    ]
    for v in vs:
        for label, _, _ in SCENARIOS:
            runs = v.runs.get(label)
            if not runs:
                continue
            ordered = sorted(runs, key=lambda r: r["req_s"])
            mid = ordered[len(ordered) // 2]
            each = " / ".join(f"{r['req_s']:,.0f}" for r in runs)
            cpu = statistics.median(r["cpu_us"] for r in runs)
            lines.append(
                f"| {v.name} | {label} | {statistics.median(r['req_s'] for r in runs):,.0f} "
                f"| {each} | {mid.get('p50_ms', float('nan')):.3f} "
                f"| {mid.get('p99_ms', float('nan')):.2f} | {cpu:,.0f} |"
            )
    lines += [
        "",
        "Rerun: `make bench` (for the models and bodies), then `.venv/bin/python "
        "benchmarks/serve_alternatives.py --rounds 3 [--before-src OTHER_CHECKOUT/src]`.",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/servebench"))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--before-src", help="another checkout's src directory, run as 'before'")
    ap.add_argument("--tabforge", default=common.default_tabforge())
    ap.add_argument("--out", type=Path, help="write the table as a section of this file")
    args = ap.parse_args()
    if not (args.workdir / "models" / "lgbm").is_dir():
        raise SystemExit(f"serve_alternatives: no models in {args.workdir}; run `make bench`")
    bodies = write_bodies(args.workdir, features(args.workdir))
    procs = Processes()
    vs = variants(args.before_src)
    try:
        for v in vs:
            start(v, procs, args)
        load0 = os.getloadavg()[0]
        measure(vs, bodies, args)
        section = table(vs, args, (load0, os.getloadavg()[0]))
    finally:
        procs.kill_all()
    print(section)
    if args.out:
        common.write_section(args.out, HEADING, section)


if __name__ == "__main__":
    main()

"""Side by side: two servers loaded at the same time, so that noise on the machine hits both.

On this shared 2-core machine one server under one load gives 10-30% more or less from
one run to the next (even its CPU per request moves ~30% between 4 s runs), so runs taken
one after the other cannot show a 5% difference. Here two servers (A and B: the same
registry, one worker each, one flag apart) are loaded at once by two wrk processes
(``-t1 -c16``, the same body and duration). Both servers are pinned to the same CPU and
both wrk to the other(s) (``cpu_split``): on one CPU's run queue the kernel shares time
between the two servers fairly within milliseconds, and whatever else runs there slows
both alike; wrk, with a CPU of its own, keeps requests waiting in both. So the ratio of
their throughputs in one window is the inverse ratio of their CPU cost per request.
Unpinned, the load balancer gave one server 0.64-1.07x the other's CPU time from round to
round in an A/A test (both servers the same), and req/s ratios ranged 0.62-1.33; pinned,
0.97-1.02. Each round reports the CPU time ratio too (should be ~1.0: the assumption), and
each server's CPU per request (utime + stime of its process tree, from /proc) as a second
view of the same cost. Rounds alternate which wrk starts first; the median of the rounds'
ratios is the figure. Throughput while sharing one CPU is a fraction of a solo run's
(about half of one core each): only the ratios mean something.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from .bodies import Body
from .checks import wait_ready
from .config import START_TIMEOUT
from .processes import Processes, last_line, tree_cpu_s
from .wrk import parse_wrk, wrk_command

CONNECTIONS = 16
INFER = "/v2/models/lgbm/infer"
WARMUP_SECONDS = 1.0


@dataclass
class Side:
    label: str  # "on", "off", "A"...
    proc: subprocess.Popen[bytes]  # the server's process
    url: str  # where wrk posts

    @property
    def pid(self) -> int:
        return self.proc.pid


@dataclass
class Round:
    first: str  # the side whose wrk started first
    req_s: dict[str, float]
    requests: dict[str, int]
    cpu_s: dict[str, float]  # each server's CPU seconds over the window
    wall_s: float  # the window

    def busy(self) -> float:
        """Both servers' CPU time over the window: ~1.0 when they keep their CPU busy."""
        return sum(self.cpu_s.values()) / self.wall_s

    def cpu_us(self, label: str) -> float:
        return self.cpu_s[label] / self.requests[label] * 1e6


@dataclass
class ABResult:
    body: str  # what was sent, as the table names it
    a: str
    b: str
    rounds: list[Round] = field(default_factory=list)
    failed: str | None = None

    def ratios(self) -> list[float]:
        """A's req/s over B's, round by round."""
        return [r.req_s[self.a] / r.req_s[self.b] for r in self.rounds]

    def median(self) -> float | None:
        return statistics.median(self.ratios()) if self.rounds else None


def run_round(
    sides: tuple[Side, Side], body: Body, seconds: float, log: Path, wrk_cpus: str | None = None
) -> Round | str:
    """Both wrk processes at once (``sides[0]``'s started first): a round, or why it failed."""
    before = {s.label: tree_cpu_s(s.pid) for s in sides}
    started = time.perf_counter()
    running = []
    for side in sides:
        cmd, env = wrk_command(side.url, body, CONNECTIONS, seconds, 1)
        if wrk_cpus is not None:
            cmd = on_cpus(cmd, wrk_cpus)
        running.append(subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL, text=True, env=env))  # fmt: skip
    outputs = []
    for proc in running:
        try:
            outputs.append(proc.communicate(timeout=seconds + 60)[0])
        except subprocess.TimeoutExpired:
            proc.kill()
            outputs.append(proc.communicate()[0] + "\n(wrk did not finish in time)")
    cpu = {s.label: tree_cpu_s(s.pid) - before[s.label] for s in sides}
    wall = time.perf_counter() - started
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text("\n".join(f"== {s.label}\n{out}" for s, out in zip(sides, outputs, strict=True)))
    found = {s.label: parse_wrk(out) for s, out in zip(sides, outputs, strict=True)}
    for side, proc, out in zip(sides, running, outputs, strict=True):
        f = found[side.label]
        if proc.returncode != 0 or not f["requests"] or "req_s" not in f:
            return f"{side.label}: wrk exit {proc.returncode}: {last_line(out)}"
        if f["errors"]:
            return f"{side.label}: {', '.join(f['detail'])} (see {log})"
    return Round(
        first=sides[0].label,
        req_s={k: f["req_s"] for k, f in found.items()},
        requests={k: f["requests"] for k, f in found.items()},
        cpu_s=cpu,
        wall_s=wall,
    )


def run_ab(
    sides: tuple[Side, Side],
    body: Body,
    name: str,
    *,
    seconds: float,
    rounds: int,
    logs: Path,
    wrk_cpus: str | None = None,
) -> ABResult:
    """A short unmeasured round, then ``rounds`` rounds alternating which wrk starts first."""
    a, b = sides
    result = ABResult(name, a.label, b.label)
    slug = name.replace(" ", "-").replace(",", "")
    warm = run_round(sides, body, WARMUP_SECONDS, logs / f"ab-{slug}-warmup.txt", wrk_cpus)
    if isinstance(warm, str):
        result.failed = f"warm-up: {warm}"
        return result
    for k in range(rounds):
        order = (a, b) if k % 2 == 0 else (b, a)
        found = run_round(order, body, seconds, logs / f"ab-{slug}-{k + 1}.txt", wrk_cpus)
        if isinstance(found, str):
            result.failed = f"round {k + 1}: {found}"
            return result
        result.rounds.append(found)
        print(f"  {name}, round {k + 1} ({order[0].label} first): {a.label}/{b.label} = "
              f"{result.ratios()[-1]:.3f}", flush=True)  # fmt: skip
    return result


def _row(name: str, figure: str, values: list[float], fmt: str) -> str:
    cells = " / ".join(format(v, fmt) for v in values)
    return f"| {name} | {figure} | {cells} | {format(statistics.median(values), fmt)} |"


def table(results: list[ABResult]) -> list[str]:
    """Round by round, with the medians: req/s, CPU per request, and their A/B ratios."""
    lines = ["| request | figure | round by round | median |", "|---|---|---|---:|"]
    for r in results:
        if r.failed is not None:
            lines.append(f"| {r.body} | failed: {r.failed.replace('|', '/')} | | |")
            continue
        a, b, rounds = r.a, r.b, r.rounds
        figures: list[tuple[str, list[float], str]] = [
            (f"{a} req/s", [x.req_s[a] for x in rounds], ",.0f"),
            (f"{b} req/s", [x.req_s[b] for x in rounds], ",.0f"),
            (f"**{a} / {b} req/s**", r.ratios(), ".3f"),
            (f"{a} CPU us per request", [x.cpu_us(a) for x in rounds], ",.0f"),
            (f"{b} CPU us per request", [x.cpu_us(b) for x in rounds], ",.0f"),
            (f"{a} / {b} CPU per request", [x.cpu_us(a) / x.cpu_us(b) for x in rounds], ".3f"),
            (f"{a} / {b} CPU seconds", [x.cpu_s[a] / x.cpu_s[b] for x in rounds], ".3f"),
            ("both servers' CPU, cores busy", [x.busy() for x in rounds], ".2f"),
        ]
        lines += [_row(r.body, figure, values, fmt) for figure, values, fmt in figures]
    return lines


def cpu_split() -> tuple[str, str] | None:
    """(the servers' CPU, wrk's CPUs) for ``taskset -c``: the last CPU this process may use
    for both servers, the others for wrk; None with a single CPU (nothing pinned)."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return None
    return str(cpus[-1]), ",".join(str(c) for c in cpus[:-1])


def on_cpus(cmd: list[str], cpus: str | None) -> list[str]:
    return cmd if cpus is None else ["taskset", "-c", cpus, *cmd]


def start_side(
    procs: Processes, label: str, cmd: list[str], port: int, log: Path, cpus: str | None
) -> Side | str:
    """Start one server (``cmd`` listens on ``port``; on ``cpus`` if given) and wait until
    lgbm is ready: its side, or why not."""
    proc = procs.start(on_cpus(cmd, cpus), log)
    base = f"http://127.0.0.1:{port}"
    why = wait_ready(proc, f"{base}/v2/models/lgbm/ready", log, START_TIMEOUT, 1)
    return why if why is not None else Side(label, proc, f"{base}{INFER}")

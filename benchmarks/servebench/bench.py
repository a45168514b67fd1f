"""A peer's server process: start it, check it, warm it up, load each scenario, stop it."""

from __future__ import annotations

import argparse
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

import common  # benchmarks/common.py, beside the entry script

from .abtest import ABResult
from .bodies import Body
from .checks import Check, check, wait_ready
from .config import START_TIMEOUT
from .processes import Processes, read_log, tail
from .report import summary_line
from .wrk import Result, run_wrk


@dataclass
class Scenario:
    label: str  # in the table
    path: str  # URL path
    body: str  # key in the bodies dict
    connections: int


@dataclass
class Server:
    """One server process: how to start it, what to check and what to load it with."""

    peer: str
    cmd: list[str]
    port: int
    ready_path: str
    scenarios: list[Scenario]
    checks: list[Check]
    warmup: Scenario | None = None  # a short unmeasured run first
    cwd: Path | None = None
    env: dict[str, str] | None = None


@dataclass
class Bench:
    args: argparse.Namespace
    procs: Processes
    bodies: dict[str, Body]
    results: list[Result] = field(default_factory=list)
    ab: list[ABResult] = field(default_factory=list)  # side-by-side A/Bs (monitoring on/off)
    notes: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def fail(self, peer: str, scenarios: list[Scenario], reason: str) -> None:
        for s in scenarios:
            self.results.append(Result(peer, s.label, self.bodies[s.body].rows, failed=reason))

    def wrk(self, base: str, s: Scenario, duration: float, log: Path, server: int) -> Result:
        # One wrk thread keeps up with one worker; --wrk-threads (rust_bench.py) says otherwise.
        threads = getattr(self.args, "wrk_threads", 0) or (1 if self.args.workers == 1 else 2)
        body = self.bodies[s.body]
        found = run_wrk(base + s.path, body, s.connections, duration, threads, log, server)
        r = Result("", s.label, body.rows)
        if "failed" in found:
            r.failed = found["failed"]
            return r
        r.req_s, r.errors = found["req_s"], found["errors"]
        r.p50_ms, r.p99_ms = found.get("p50_ms"), found.get("p99_ms")
        r.error_detail = ", ".join(found["detail"])
        r.others_cpu = found["others_cpu"]
        return r

    def run_server(self, srv: Server, tag: str) -> list[Result]:
        """Start, check, warm up, load each scenario, read RSS, stop; the results are kept."""
        logs = self.args.workdir / "logs"
        log = logs / f"{tag}.log"
        print(f"{srv.peer}: {shlex.join(srv.cmd)}", flush=True)
        try:
            proc = self.procs.start(srv.cmd, log, cwd=srv.cwd, env=srv.env)
        except OSError as exc:
            self.fail(srv.peer, srv.scenarios, f"start: {exc}")
            return []
        base = f"http://127.0.0.1:{srv.port}"
        try:
            why = wait_ready(proc, base + srv.ready_path, log, START_TIMEOUT, self.args.workers)
            if why is not None:
                self.failures.append(
                    f"{srv.peer} did not start:\n\n```text\n{tail(read_log(log))}\n```"
                )
                self.fail(srv.peer, srv.scenarios, f"start: {why}")
                return []
            bad: dict[str, str] = {}  # body -> why its check failed: its runs are skipped
            for c in srv.checks:
                failure, note = check(base + c.path, self.bodies[c.body], c)
                if failure is not None:
                    bad[c.body] = failure
                    note = f"FAILED: {failure}"
                line = f"{srv.peer}, `POST {c.path}` ({c.body}): {note}"
                print(f"  check {line}")
                self.notes.append(line)
            if srv.warmup is not None and srv.warmup.body not in bad:
                self.wrk(base, srv.warmup, 1.0, logs / f"{tag}-warmup.txt", proc.pid)
            done = []
            for s in srv.scenarios:
                if s.body in bad:
                    r = Result(srv.peer, s.label, self.bodies[s.body].rows)
                    r.failed = f"check: {bad[s.body]}"
                    done.append(r)
                    continue
                print(f"  {s.label} ...", end=" ", flush=True)
                slug = re.sub(r"[^a-z0-9]+", "-", s.label.lower()).strip("-")
                r = self.wrk(base, s, self.args.duration, logs / f"{tag}-{slug}.txt", proc.pid)
                r.peer = srv.peer
                if proc.poll() is not None:
                    r.failed = f"server exited {proc.returncode} during the run"
                print(summary_line(r))
                done.append(r)
            rss = common.tree_rss_mib(proc.pid)
            for r in done:
                r.rss_mib = rss
            self.results += done
            return done
        finally:
            self.procs.stop(proc)

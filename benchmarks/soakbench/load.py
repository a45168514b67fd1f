"""The load: client threads on keep-alive connections, each response checked and counted."""

from __future__ import annotations

import contextlib
import http.client
import random
import threading
import time
from array import array
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .answers import SoakRequest, check
from .server import Server

EXAMPLES = 5  # mismatches kept for the report
REQUEST_TIMEOUT = 60.0


@dataclass
class Stats:
    requests: int = 0
    rows: int = 0
    by_kind: Counter[str] = field(default_factory=Counter)
    by_rows: Counter[str] = field(default_factory=Counter)
    by_model: Counter[str] = field(default_factory=Counter)
    status: Counter[str] = field(default_factory=Counter)
    transport_errors: int = 0
    wrong: int = 0
    examples: list[dict[str, Any]] = field(default_factory=list)
    latencies: array[float] = field(default_factory=lambda: array("d"))

    def merge(self, other: Stats) -> None:
        self.requests += other.requests
        self.rows += other.rows
        for mine, theirs in (
            (self.by_kind, other.by_kind),
            (self.by_rows, other.by_rows),
            (self.by_model, other.by_model),
            (self.status, other.status),
        ):
            mine.update(theirs)
        self.transport_errors += other.transport_errors
        self.wrong += other.wrong
        self.examples += other.examples
        self.latencies.extend(other.latencies)


class Budget:
    """The shared request count limit (None: time only)."""

    def __init__(self, limit: int | None) -> None:
        self.left = limit
        self.lock = threading.Lock()

    def take(self) -> bool:
        if self.left is None:
            return True
        with self.lock:
            if self.left <= 0:
                return False
            self.left -= 1
            return True


def client(
    server: Server,
    by_kind: Mapping[str, list[SoakRequest]],
    deadline: float,
    halt: threading.Event,
    budget: Budget,
    seed: int,
    stats: Stats,
    keep: Path,
) -> None:
    """One keep-alive connection sending random pool requests until the deadline."""
    rng = random.Random(seed)
    kinds = sorted(by_kind)
    port = server.port
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT)
    try:
        while not halt.is_set() and time.monotonic() < deadline and budget.take():
            req = rng.choice(by_kind[rng.choice(kinds)])
            started = time.perf_counter()
            try:
                conn.request("POST", req.path, body=req.body, headers=req.headers)
                response = conn.getresponse()
                body = response.read()
            except (OSError, http.client.HTTPException) as exc:
                stats.requests += 1
                stats.transport_errors += 1
                _example(stats, keep, req, f"transport error: {type(exc).__name__}: {exc}", b"")
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT)
                if not server.alive():
                    halt.set()
                time.sleep(0.05)
                continue
            stats.latencies.append(time.perf_counter() - started)
            stats.requests += 1
            stats.rows += req.rows
            stats.by_kind[req.kind] += 1
            stats.by_rows[str(req.rows)] += 1
            stats.by_model[req.ref] += 1
            stats.status[str(response.status)] += 1
            if response.status != 200:
                _example(stats, keep, req, f"status {response.status}", body)
                continue
            headers = {k.lower(): v for k, v in response.getheaders()}
            problem = check(req, response.status, headers, body)
            if problem is not None:
                stats.wrong += 1
                _example(stats, keep, req, problem, body)
    finally:
        conn.close()


def _example(stats: Stats, keep: Path, req: SoakRequest, problem: str, body: bytes) -> None:
    if len(stats.examples) >= EXAMPLES:
        return
    stem = f"mismatch-{threading.get_ident()}-{len(stats.examples)}"
    with contextlib.suppress(OSError):
        (keep / f"{stem}.request").write_bytes(req.body)
        (keep / f"{stem}.response").write_bytes(body)
    stats.examples.append(
        {
            "kind": req.kind,
            "ref": req.ref,
            "rows": req.rows,
            "path": req.path,
            "problem": problem,
            "request_file": str(keep / f"{stem}.request"),
            "response": body[:300].decode("utf-8", "replace"),
        }
    )


def run_load(
    server: Server,
    pool: Sequence[SoakRequest],
    seconds: float,
    concurrency: int,
    seed: int,
    max_requests: int | None,
    keep: Path,
) -> tuple[Stats, float]:
    by_kind: dict[str, list[SoakRequest]] = {}
    for req in pool:
        by_kind.setdefault(req.kind, []).append(req)
    halt = threading.Event()
    budget = Budget(max_requests)
    per_thread = [Stats() for _ in range(concurrency)]
    started = time.monotonic()
    deadline = started + seconds
    threads = []
    for i in range(concurrency):
        args = (server, by_kind, deadline, halt, budget, seed * 1000 + i, per_thread[i], keep)
        threads.append(threading.Thread(target=client, args=args, name=f"soak-client-{i}"))
    for t in threads:
        t.start()
    try:
        for t in threads:
            while t.is_alive():
                t.join(timeout=0.5)
    finally:
        halt.set()
        for t in threads:
            t.join(timeout=REQUEST_TIMEOUT + 5)
    elapsed = time.monotonic() - started
    total = Stats()
    for s in per_thread:
        total.merge(s)
    total.examples = total.examples[:EXAMPLES]
    return total, elapsed

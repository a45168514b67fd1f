"""The ceiling: onnxruntime's ``session.run`` in a child process (``serve_bench.py --child
ceiling``), no HTTP in the way."""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from pathlib import Path
from typing import Any

import common  # benchmarks/common.py, beside the entry script

from .bench import Bench
from .config import BATCH, SCRIPT
from .data import features
from .processes import busy_cpu_s, last_line
from .report import summary_line
from .wrk import Result


def child_ceiling(model_dir: Path, workdir: Path, duration: float) -> dict[str, Any]:
    import numpy as np
    import onnxruntime as ort

    x = features(workdir)
    session = ort.InferenceSession(
        str(model_dir / "model.onnx"), providers=["CPUExecutionProvider"]
    )
    one, many = {"numeric": x[:1]}, {"numeric": x[:BATCH]}
    for _ in range(200):
        session.run(None, one)
    session.run(None, many)

    def own_cpu() -> float:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime

    start = (busy_cpu_s(), own_cpu(), time.perf_counter())
    times = []
    end = start[2] + duration
    while (now := time.perf_counter()) < end:
        session.run(None, one)
        times.append(time.perf_counter() - now)
    calls_s = len(times) / (time.perf_counter() - start[2])
    batches, t0 = 0, time.perf_counter()
    while time.perf_counter() < t0 + duration:
        session.run(None, many)
        batches += 1
    batches_s = batches / (time.perf_counter() - t0)
    busy, own, wall = (
        b - a for a, b in zip(start, (busy_cpu_s(), own_cpu(), time.perf_counter()), strict=True)
    )
    p50, p99 = np.percentile(np.asarray(times) * 1e3, [50, 99])
    return {
        "calls_s": calls_s,
        "p50_ms": float(p50),
        "p99_ms": float(p99),
        "batches_s": batches_s,
        "rss_mib": common.tree_rss_mib(os.getpid()),
        "others_cpu": max(0.0, 100 * (busy - own) / wall),
    }


def run_ceiling(bench: Bench, model_dir: Path) -> None:
    args = bench.args
    cmd = [
        sys.executable, str(SCRIPT), "--child", "ceiling",
        "--model-dir", str(model_dir), "--workdir", str(args.workdir),
        "--duration", f"{args.duration:g}",
    ]  # fmt: skip
    peer = "ceiling (onnxruntime in-process)"
    print(f"{peer}: {args.duration:g} s of single-row calls, {args.duration:g} s of batches")
    code, out = bench.procs.run(cmd, args.workdir / "logs" / "ceiling.log", 2 * args.duration + 300)
    one = Result(peer, "1 row, session.run", 1)
    many = Result(peer, f"{BATCH:,} rows, session.run", BATCH)
    try:
        if code != 0:
            raise ValueError("timed out" if code is None else f"exit {code}: {last_line(out)}")
        found = json.loads(out.strip().splitlines()[-1])
        one.req_s, one.p50_ms, one.p99_ms = found["calls_s"], found["p50_ms"], found["p99_ms"]
        many.req_s = found["batches_s"]
        for r in (one, many):
            r.rss_mib, r.others_cpu, r.errors = found["rss_mib"], found["others_cpu"], 0
    except (ValueError, KeyError, IndexError) as exc:
        one.failed = many.failed = str(exc)[:200]
    for r in (one, many):
        print(f"  {r.scenario}: {summary_line(r)}")
    bench.results += [one, many]

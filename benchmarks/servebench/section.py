"""The ``## Serving`` section of benchmarks/RESULTS.md."""

from __future__ import annotations

import os
import platform
from typing import Any

from . import abtest
from .bench import Bench
from .config import AGREE, N_ESTIMATORS, NOISY, ROWS, SECTION_HEADING
from .report import cell, table, targets


def render(bench: Bench, meta: dict[str, Any]) -> str:
    args = bench.args
    lines = [
        SECTION_HEADING,
        "",
        f"Online inference over HTTP on 127.0.0.1: a binary LightGBM classifier "
        f"({N_ESTIMATORS} trees) and a logistic regression on 30 float32 features, trained on "
        f"{ROWS:,} rows (numpy seed 0). Load from wrk, one fixed request body per run, "
        f"{args.duration:g} s per run. Every server was first checked for status 200 and "
        f"probabilities within {AGREE:g} of in-process onnxruntime's (tabforge) or native "
        "LightGBM's (MLServer, FastAPI) for the same rows.",
        "",
        f"- date: {meta['started'].strftime('%Y-%m-%d %H:%M %Z')}",
        f"- machine: {os.cpu_count()} cores (`os.cpu_count()`), {platform.system()} "
        f"{platform.machine()}, Python {platform.python_version()}; wrk runs on the same cores",
        f"- load average (1 min) at start / end: {meta['load_start']:.2f} / "
        f"{os.getloadavg()[0]:.2f}",
        f"- versions: {meta['versions']}",
        f"- server workers (processes) per peer: {args.workers}{meta['workers_note']}",
        f"- environment: OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')} (native "
        "LightGBM's threads in MLServer and FastAPI; onnxruntime does not read it)",
        f"- per run: {args.duration:g} s{' (--quick: fewer points)' if args.quick else ''}; "
        f"wrk threads: {1 if args.workers == 1 else 2} (1 for c=1); batching off/on rounds: "
        f"{args.rounds}, best req/s kept; monitoring on/off: {args.ab_rounds} side-by-side "
        "rounds (below)",
        f"- tabforge: {meta['tabforge_note']}",
        f"- MLServer: {meta['mlserver_note']}",
        f"- FastAPI: {meta['fastapi_note']}",
        "",
        *table(bench.results),
        "",
        "req/s as wrk reports it (a 1,000-row request counts once); rows/s = req/s x rows per "
        "request. p50/p99: wrk's latency distribution, client side. errors: non-2xx responses "
        "plus socket errors; any error marks the run suspect. RSS: VmRSS summed over the "
        "server's process tree after its runs (shared pages count once per process); the "
        "ceiling's is its own process. others' CPU: CPU time that processes other than the "
        "server and wrk used during the run, in % of one core (from /proc/stat); above "
        f"{NOISY:g}% the run is marked disturbed and its numbers are low. Single-row JSON "
        "sends one fixed row: tabforge input `numeric` [1, 30] FP32, MLServer input `predict` "
        '[1, 30] FP32, FastAPI `{"rows": [[...]]}`. The binary rows use the V2 binary tensor '
        "extension (`Inference-Header-Content-Length`) for the request and the response.",
        "",
    ]
    lines += disturbed_note(bench)
    lines += _monitoring(bench)
    lines += ["Targets:", "", *targets(bench.results, meta["batching"], bench.ab), ""]
    lines += closing(bench, f"`{meta['rerun']}`")
    return "\n".join(lines)


def disturbed_note(bench: Bench) -> list[str]:
    """A paragraph naming how many runs shared the machine with other work, if any did."""
    disturbed = [r for r in bench.results if r.others_cpu is not None and r.others_cpu > NOISY]
    if not disturbed:
        return []
    return [
        f"**{len(disturbed)} run(s) shared the machine with other work** (others' CPU above "
        f"{NOISY:g}%): rerun on a quiet machine before trusting them.",
        "",
    ]


def closing(bench: Bench, rerun: str) -> list[str]:
    """The checks' notes, the failed starts' logs and the command that reruns it all."""
    lines = ["Checks:", "", *(f"- {cell(n, 300)}" for n in bench.notes), ""]
    for failure in bench.failures:
        lines += [failure, ""]
    return [*lines, f"Rerun from the project root: {rerun}", ""]


def _monitoring(bench: Bench) -> list[str]:
    """The side-by-side A/B of drift monitoring: how it was run, its table."""
    if not bench.ab:
        return []
    split = abtest.cpu_split()
    where = (
        f"both servers pinned to CPU {split[0]}, both wrk to CPU(s) {split[1]}"
        if split is not None
        else "one CPU: nothing pinned"
    )
    return [
        "Drift monitoring on (default flags) vs `--no-monitor`, side by side "
        "(`benchmarks/servebench/abtest.py`): two `tabforge serve` processes, one worker each, "
        f"loaded at the same time by two `wrk -t1 -c16` with the same body, {where}, "
        f"{bench.args.ab_rounds} rounds of {bench.args.duration:g} s per body, alternating which "
        "wrk starts first. Sharing one CPU, the kernel gives each server about the same CPU "
        "time (the 'CPU seconds' row: ~1.0 when it did; 'cores busy' ~1.0 when both kept "
        "their CPU busy) and whatever else runs slows both alike, so on / off req/s in one "
        "round is off's CPU cost per request over on's; runs one after the other vary 10-30% "
        "here. While sharing, each server does a fraction of a solo run's req/s: only the "
        "ratios mean something. Target 4 is judged on the median on / off req/s.",
        "",
        *abtest.table(bench.ab),
        "",
    ]

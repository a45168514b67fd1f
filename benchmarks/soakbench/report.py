"""The soak's summary: printed for people and written as docs/RELIABILITY.md's section."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
from array import array
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import common  # benchmarks/common.py, beside the entry script
import numpy as np

from .answers import KINDS, SIZES
from .criteria import ATOL, RSS_LIMIT_PCT, RTOL, WARMUP_MIN_S, WARMUP_SHARE, verdict
from .load import Stats
from .server import rss_summary

SECTION_HEADING = "## Soak"


@dataclass
class Outcome:
    """What one run under load produced, before it is summarised."""

    stats: Stats
    elapsed: float  # seconds of load
    pool: int  # requests in the pool
    samples: Sequence[tuple[float, float]]  # (seconds since the load started, RSS MiB)
    exit_code: int | None  # the server's, after SIGTERM
    died: bool  # the server exited during the load
    log_errors: int  # error lines in the server's log


def summarize(
    args: argparse.Namespace, run: Outcome, *, command: str, models: list[str], notes: list[str]
) -> dict[str, Any]:
    """The run as the JSON summary (``--json``), with its failures and pass/fail."""
    stats, elapsed = run.stats, run.elapsed
    warmup_s = max(WARMUP_SHARE * elapsed, WARMUP_MIN_S)
    n5xx = sum(v for k, v in stats.status.items() if k.startswith("5"))
    n4xx = sum(v for k, v in stats.status.items() if k.startswith("4"))
    other = sum(v for k, v in stats.status.items() if k != "200") - n5xx
    lat = stats.latencies
    summary: dict[str, Any] = {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": command,
        "cores": os.cpu_count(),
        "platform": f"{sys.platform}, Python {sys.version.split()[0]}",
        "minutes": args.minutes,
        "seconds": round(elapsed, 1),
        "concurrency": args.concurrency,
        "workers": args.workers,
        "seed": args.seed,
        "models": models,
        "pool": run.pool,
        "requests": stats.requests,
        "rows": stats.rows,
        "requests_per_s": round(stats.requests / elapsed, 1) if elapsed else 0.0,
        "rows_per_s": round(stats.rows / elapsed, 1) if elapsed else 0.0,
        "by_kind": {k: stats.by_kind[k] for k in KINDS if stats.by_kind[k]},
        "by_rows": {str(s): stats.by_rows[str(s)] for s in SIZES if stats.by_rows[str(s)]},
        "by_model": dict(sorted(stats.by_model.items())),
        "status": dict(sorted(stats.status.items())),
        "http_4xx": n4xx,
        "http_5xx": n5xx,
        "http_other_non_200": other,
        "transport_errors": stats.transport_errors,
        "wrong_answers": stats.wrong,
        "examples": stats.examples,
        "latency_ms": {
            "p50": percentile_ms(lat, 50),
            "p99": percentile_ms(lat, 99),
            "max": percentile_ms(lat, 100),
        },
        "rss_mib": rss_summary(run.samples, warmup_s),
        "server_exit_code": run.exit_code,
        "server_died": run.died,
        "server_log_errors": run.log_errors,
        "notes": notes,
    }
    summary["failures"] = verdict(summary)
    summary["passed"] = not summary["failures"]
    return summary


def percentile_ms(values: array[float], q: float) -> float | None:
    if not values:
        return None
    return round(float(np.percentile(np.frombuffer(values, dtype=np.float64), q)) * 1000, 2)


def _counts(counter: Mapping[str, int], total: int) -> str:
    return " | ".join(f"{k} {v:,} ({v / total:.0%})" for k, v in counter.items()) if total else "-"


def _mib(v: float | None) -> str:
    return "-" if v is None else f"{v:,.1f} MiB"


def human(summary: dict[str, Any]) -> str:
    rss = summary["rss_mib"]
    total = summary["requests"]
    growth = "-" if rss["growth_pct"] is None else f"{rss['growth_pct']:+.2f}%"
    lat = summary["latency_ms"]
    lines = [
        f"soak: {summary['minutes']:g} min, concurrency {summary['concurrency']}, "
        f"{summary['workers']} worker(s), {summary['cores']} cores",
        f"models     {', '.join(summary['models'])}",
        f"requests   {total:,} in {summary['seconds']:.1f} s: {summary['requests_per_s']:,.1f} "
        f"req/s, {summary['rows_per_s']:,.0f} rows/s (pool of {summary['pool']} requests)",
        f"  by kind  {_counts(summary['by_kind'], total)}",
        f"  by rows  {_counts(summary['by_rows'], total)}",
        f"  by model {_counts(summary['by_model'], total)}",
        f"latency    p50 {lat['p50']} ms, p99 {lat['p99']} ms, max {lat['max']} ms",
        f"errors     5xx {summary['http_5xx']}, other non-200 {summary['http_other_non_200']}, "
        f"transport {summary['transport_errors']}",
        f"wrong      {summary['wrong_answers']}",
        f"RSS        start {_mib(rss['start'])}; end of warm-up ({rss['warmup_seconds']:g} s) "
        f"{_mib(rss['warmup'])}; max after {_mib(rss['max_after_warmup'])}; "
        f"final {_mib(rss['final'])}; growth {growth} (limit {RSS_LIMIT_PCT:g}%)",
        f"server     exit code {summary['server_exit_code']} after SIGTERM; "
        f"{summary['server_log_errors']} error lines in its log",
    ]
    lines += [f"note       {n}" for n in summary["notes"]]
    for ex in summary["examples"]:
        lines.append(f"example    {ex['kind']} {ex['ref']} {ex['rows']} rows: {ex['problem']}")
    lines.append(f"command    {summary['command']}")
    lines.append("PASS" if summary["passed"] else "FAIL: " + "; ".join(summary["failures"]))
    return "\n".join(lines)


def doc_section(summary: dict[str, Any]) -> str:
    rss = summary["rss_mib"]
    total = summary["requests"]
    growth = "-" if rss["growth_pct"] is None else f"{rss['growth_pct']:+.2f}%"
    kinds = ", ".join(f"{k}: {v:,}" for k, v in summary["by_kind"].items())
    sizes = ", ".join(f"{k} rows: {v:,}" for k, v in summary["by_rows"].items())
    rows = [
        ("date", summary["date"]),
        ("machine", f"{summary['cores']} cores, {summary['platform']}"),
        (
            "load",
            f"{summary['minutes']:g} min, concurrency {summary['concurrency']}, "
            f"{summary['workers']} server worker(s)",
        ),
        ("models", ", ".join(summary["models"])),
        (
            "requests",
            f"{total:,} ({summary['requests_per_s']:,.0f}/s, {summary['rows_per_s']:,.0f} rows/s)",
        ),
        ("by kind", kinds),
        ("by size", sizes),
        (
            "latency p50 / p99 / max",
            f"{summary['latency_ms']['p50']} / "
            f"{summary['latency_ms']['p99']} / "
            f"{summary['latency_ms']['max']} ms",
        ),
        ("5xx", f"{summary['http_5xx']}"),
        (
            "other non-200 / transport errors",
            f"{summary['http_other_non_200']} / {summary['transport_errors']}",
        ),
        ("wrong answers", f"{summary['wrong_answers']}"),
        ("RSS end of warm-up", f"{_mib(rss['warmup'])} (warm-up {rss['warmup_seconds']:g} s)"),
        (
            "RSS max after warm-up / final",
            f"{_mib(rss['max_after_warmup'])} / {_mib(rss['final'])}",
        ),
        ("RSS growth", f"{growth} (limit {RSS_LIMIT_PCT:g}%)"),
        ("result", "pass" if summary["passed"] else "FAIL: " + "; ".join(summary["failures"])),
    ]
    table = "\n".join(f"| {k} | {v} |" for k, v in rows)
    return (
        f"{SECTION_HEADING}\n\n"
        "Mixed load on `tabforge serve` (single rows and batches of 10 and 200; V2 JSON tensors, "
        "V2 JSON per column, V2 binary tensors, V1 JSON; explicit versions and plain names), "
        "every response checked against in-process predictions of the same rows (labels "
        f"exact, floats within rtol {RTOL:g} + atol {ATOL:g}). Pass: no 5xx, no other "
        "error, no wrong answer, RSS growth under "
        f"{RSS_LIMIT_PCT:g}% after warm-up (the first {WARMUP_SHARE:.0%} of the run, at least "
        f"{WARMUP_MIN_S:g} s).\n\n"
        "| | |\n|---|---|\n"
        f"{table}\n\n"
        "Reproduce:\n\n"
        f"```sh\n{summary['command']}\n```\n"
    )


def write_doc(path: Path, summary: dict[str, Any]) -> None:
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("# Reliability\n")
    common.write_section(path, SECTION_HEADING, doc_section(summary))

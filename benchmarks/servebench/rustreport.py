"""The ``## Rust engine (issue 23)`` section of benchmarks/RESULTS.md (benchmarks/rust_bench.py)."""

from __future__ import annotations

import os
import platform
from typing import Any

from .bench import Bench
from .config import (
    AGREE,
    BATCH,
    N_ESTIMATORS,
    NOISY,
    ROWS,
    RUST_CEILING_SHARE,
    RUST_IDLE_RSS_MB,
    RUST_OVER_MLSERVER,
    RUST_OVER_PYTHON,
    RUST_P99_MS,
    RUST_SECTION_HEADING,
    RUST_START_S,
    RUST_V1_OVER_PYTHON,
)
from .report import cell, find_result, ms_cell, table, usable, verdict, why_not
from .section import closing, disturbed_note
from .startup import SETTLE_S, Starts
from .wrk import Result

RUST = "rust (`tabforge serve --engine rust`)"
PYTHON2 = "python (`tabforge serve --workers 2`)"
PYTHON1 = "python (`tabforge serve --workers 1`)"
CEILING = "ceiling (onnxruntime in-process)"  # servebench/ceiling.py's peer
V2_ROW = "1 row V2 JSON, c=64"
V1_ROW = "1 row V1 records, c=64"
BINARY = f"{BATCH:,} rows V2 binary, c=16"

Row = tuple[str, str, str, str]  # figure, measured, target, verdict
MB_PER_MIB = 1.048576


def _compare(
    results: list[Result], figure: str, num: tuple[str, str], den: tuple[str, str], goal: float
) -> Row:
    """``num``'s rows/s over ``den``'s (each a peer and a scenario) against ``goal``: a
    factor, or a share of 100% and less."""
    share = goal <= 1.0
    target = f">= {100 * goal:.0f}%" if share else f">= {goal:g}x"
    a_r, b_r = find_result(results, *num), find_result(results, *den)
    a, b = usable(a_r), usable(b_r)
    if a is None or a.rows_s is None:
        return figure, why_not(a_r, num[0].split()[0]), target, verdict(False)
    if b is None or not b.rows_s:
        return figure, why_not(b_r, den[0].split()[0]), target, "**not measured**"
    ratio = a.rows_s / b.rows_s
    if share:
        measured = f"{a.rows_s:,.0f} vs {b.rows_s:,.0f} rows/s = {100 * ratio:.0f}%"
    else:
        places = 2 if ratio < 10 else 1
        measured = f"{a.req_s or 0:,.0f} vs {b.req_s or 0:,.0f} req/s = {ratio:.{places}f}x"
    return figure, measured, target, verdict(ratio >= goal)


def _p99(results: list[Result]) -> Row:
    figure, target = f"rust p99, {V2_ROW}", f"<= {RUST_P99_MS:g} ms"
    r_found = find_result(results, RUST, V2_ROW)
    r = usable(r_found)
    if r is None or r.p99_ms is None:
        return figure, why_not(r_found, "rust"), target, verdict(False)
    return figure, f"{ms_cell(r.p99_ms)} ms", target, verdict(r.p99_ms <= RUST_P99_MS)


def _rss(rust: Starts | None) -> Row:
    figure = f"rust idle RSS, one model loaded ({SETTLE_S:g} s after ready)"
    target = f"< {RUST_IDLE_RSS_MB:g} MB"
    rss = rust.max_rss_mib() if rust is not None else None
    if rust is None:
        return figure, "not run", target, "**not measured**"
    if rss is None:
        return figure, rust.failed or "not read", target, verdict(False)
    mb = rss * MB_PER_MIB
    measured = f"{mb:.1f} MB ({rss:.1f} MiB), the largest of {len(rust.rss_mib)} starts"
    return figure, measured, target, verdict(mb < RUST_IDLE_RSS_MB)


def _start(s: Starts | None, figure: str, goal: float | None) -> Row:
    target = f"< {goal:g} s" if goal is not None else "(context)"
    bad = verdict(False) if goal is not None else "**failed**"
    if s is None:
        return figure, "not run", target, "**not measured**"
    if not s.seconds:
        return figure, s.failed or "no start", target, bad
    slowest = max(s.seconds)
    measured = (
        f"slowest {slowest:.3f} s, median {s.median_s() or 0:.3f} s over {len(s.seconds)} starts"
    )
    if s.failed:
        return figure, f"{measured}; {s.failed}", target, bad
    return figure, measured, target, verdict(slowest < goal) if goal is not None else "—"


def target_rows(results: list[Result], starts: dict[str, Starts]) -> list[Row]:
    cli, bare = starts.get("cli"), starts.get("bare")
    return [
        _compare(
            results,
            f"rust vs python `--workers 2`, {V2_ROW}",
            (RUST, V2_ROW),
            (PYTHON2, V2_ROW),
            RUST_OVER_PYTHON,
        ),
        _compare(
            results,
            f"rust vs MLServer, {V2_ROW}",
            (RUST, V2_ROW),
            ("MLServer", V2_ROW),
            RUST_OVER_MLSERVER,
        ),
        _p99(results),
        _compare(
            results,
            f"rust vs python `--workers 2`, {V1_ROW}",
            (RUST, V1_ROW),
            (PYTHON2, V1_ROW),
            RUST_V1_OVER_PYTHON,
        ),
        _compare(
            results,
            f"rust {BINARY} rows/s vs the ceiling's {BATCH:,}-row session.run",
            (RUST, BINARY),
            (CEILING, f"{BATCH:,} rows, session.run"),
            RUST_CEILING_SHARE,
        ),
        _rss(cli),
        _start(cli, "start-to-ready, `tabforge serve --engine rust`", RUST_START_S),
        _start(bare, "start-to-ready, bare `tabforge-server`", None),
    ]


def _starts_table(starts: dict[str, Starts]) -> list[str]:
    lines = [
        "| start | command | start-to-ready, each start (s) | idle RSS MiB | others' CPU | exe |",
        "|---|---|---|---:|---:|---|",
    ]
    for s in starts.values():
        each = ", ".join(f"{v:.3f}" for v in s.seconds) + (f"; {s.failed}" if s.failed else "")
        rss = "—" if not s.rss_mib else f"{min(s.rss_mib):.1f}-{max(s.rss_mib):.1f}"
        others = "—" if not s.others_cpu else f"{max(s.others_cpu):.0f}% (max)"
        lines.append(
            f"| {s.label} | `{s.command}` | {cell(each, 300)} | {rss} | {others} | "
            f"`{os.path.basename(s.exe) or '?'}` |"
        )
    return lines


def how_measured(bench: Bench, meta: dict[str, Any]) -> str:
    args = bench.args
    return (
        f"How measured: every server ran alone on 127.0.0.1 with the same registry (`lgbm` only: "
        f"LightGBM, {N_ESTIMATORS} trees, 30 float32 features, trained by `tabforge train` on "
        f"{ROWS:,} rows, numpy seed 0). Each was first checked: status 200 and P(yes) within "
        f"{AGREE:g} of in-process onnxruntime's for the same rows (MLServer: of native "
        "LightGBM's, as `serve_bench.py` checks it), then warmed up by 1 s of load, then loaded "
        f"by `wrk -t{getattr(args, 'wrk_threads', 0) or 2}` for {args.duration:g} s per scenario "
        "(`benchmarks/serve_bench/post.lua`, "
        "one fixed body file: V2 `numeric` [1, 30] FP32 JSON; V1 "
        '`{"instances": [{"f00": ..., ...}]}`; V2 binary tensor extension with '
        "`Inference-Header-Content-Length`, FP32 [1000, 30], request parameter "
        "`binary_data_output` true: every output comes back binary). The peers ran one "
        f"after the other, {args.rounds} round(s), "
        "interleaved; each row is the round with the most req/s. The ceiling is "
        "`session.run` on the same model.onnx in a child process (onnxruntime's default "
        f"threads), {args.duration:g} s of 1-row calls then {args.duration:g} s of "
        f"{BATCH:,}-row calls. Start-to-ready: from just before spawning the command to the "
        "first 200 of `GET /v2/health/ready` (asked every 5 ms, a new connection each), "
        f"{args.starts} starts each on a fresh port; then {SETTLE_S:g} s idle and VmRSS from "
        "/proc/PID/status (`tabforge serve --engine rust` execs the Rust server, so PID is "
        "the same; the exe column is /proc/PID/exe then). The bare binary ran with "
        f"ORT_DYLIB_PATH={meta['ort_dylib']}. others' CPU: CPU time of processes other than "
        "the server, wrk and this script during a run, in % of one core (/proc/stat); above "
        f"{NOISY:g}% a run is marked disturbed. The Rust server: {meta['rust_note']}."
    )


def render(bench: Bench, starts: dict[str, Starts], meta: dict[str, Any]) -> str:
    lines = [
        RUST_SECTION_HEADING,
        "",
        "The Rust engine (`tabforge serve --engine rust`, which execs "
        "`rust/target/release/tabforge-server` on the socket Python bound) side by side with "
        "the Python engine, MLServer 1.7 and in-process onnxruntime, in one run.",
        "",
        f"- date: {meta['started'].strftime('%Y-%m-%d %H:%M %Z')}",
        f"- machine: `nproc` {meta['nproc']}, {platform.system()} {platform.machine()}, "
        f"Python {platform.python_version()}; wrk runs on the same cores",
        f"- load average (1 min) at start / end: {meta['load_start']:.2f} / "
        f"{os.getloadavg()[0]:.2f}",
        f"- versions: {meta['versions']}",
        f"- MLServer: {meta['mlserver_note']}",
        "",
        "| figure | measured | target | verdict |",
        "|---|---|---|---|",
        *(f"| {' | '.join(row)} |" for row in target_rows(bench.results, starts)),
        "",
        *table(bench.results),
        "",
        *_starts_table(starts),
        "",
    ]
    lines += disturbed_note(bench)
    lines += [how_measured(bench, meta), ""]
    lines += closing(bench, f"`{meta['rerun']}` (or `make bench-rust`)")
    return "\n".join(lines)

"""Results as text: table cells, the table, one-line summaries and the targets' verdicts."""

from __future__ import annotations

from .abtest import ABResult
from .config import (
    BATCH,
    CEILING_SHARE_TARGET,
    GAIN,
    MONITOR_COST,
    NOISE,
    NOISY,
    P99_TARGET_MS,
    SPEEDUP_TARGET,
)
from .wrk import Result


def _num(value: float | None) -> str:
    return "—" if value is None else f"{value:,.0f}"


def ms_cell(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:.3f}" if value < 1 else f"{value:.2f}" if value < 100 else f"{value:,.0f}"


def cell(text: str, limit: int = 120) -> str:
    text = " ".join(text.split())
    return (text[: limit - 1] + "…" if len(text) > limit else text).replace("|", "\\|")


def table(results: list[Result]) -> list[str]:
    lines = [
        "| peer | scenario | req/s | rows/s | p50 ms | p99 ms | errors | RSS MiB | others' CPU |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        if r.failed is not None:
            lines.append(f"| {r.peer} | {r.scenario} | failed: {cell(r.failed)} | | | | | | |")
            continue
        flag = " (suspect)" if r.errors else ""
        errors = f"{r.errors:,} ({r.error_detail})" if r.errors else "0"
        others = "—" if r.others_cpu is None else f"{r.others_cpu:.0f}%"
        if r.others_cpu is not None and r.others_cpu > NOISY:
            others += " (disturbed)"
        lines.append(
            f"| {r.peer} | {r.scenario} | {_num(r.req_s)}{flag} | {_num(r.rows_s)}{flag} | "
            f"{ms_cell(r.p50_ms)} | {ms_cell(r.p99_ms)} | {errors} | {_num(r.rss_mib)} | "
            f"{others} |"
        )
    return lines


def summary_line(r: Result) -> str:
    if r.failed is not None:
        return f"FAILED: {r.failed}"
    return (
        f"{r.req_s:,.0f} req/s, p50 {ms_cell(r.p50_ms)} ms, p99 {ms_cell(r.p99_ms)} ms, "
        f"errors {r.errors}, others' CPU {r.others_cpu:.0f}%"
    )


def find_result(results: list[Result], peer: str, scenario: str) -> Result | None:
    return next((r for r in results if r.peer.startswith(peer) and r.scenario == scenario), None)


def usable(r: Result | None) -> Result | None:
    """``r`` if it ran without failures or errors, else None."""
    if r is None or r.failed is not None or not r.req_s or r.errors:
        return None
    return r


def why_not(r: Result | None, what: str) -> str:
    if r is None:
        return f"{what} not run"
    if r.failed is not None:
        return f"{what} failed: {r.failed}"
    return f"{what} had {r.errors} errors"


def verdict(ok: bool) -> str:
    return "**met**" if ok else "**not met**"


def targets(results: list[Result], batching: bool, ab: list[ABResult]) -> list[str]:
    """One line per target: met, not met (and why) or not measured."""
    return [
        _speedup(results),
        _ceiling_share(results),
        _batching(results, batching),
        _monitoring(ab),
    ]


def _speedup(results: list[Result]) -> str:
    tab_r = find_result(results, "tabforge (default", "1 row JSON, c=16")
    mls_r = find_result(results, "MLServer", "1 row JSON, c=16")
    tab, mls = usable(tab_r), usable(mls_r)
    head = (
        f"1. tabforge single-row JSON c=16 >= {SPEEDUP_TARGET:g}x MLServer req/s and p99 <= "
        f"{P99_TARGET_MS:g} ms:"
    )
    if tab is not None and mls is not None and tab.req_s and mls.req_s:
        ratio = tab.req_s / mls.req_s
        p99 = tab.p99_ms if tab.p99_ms is not None else float("inf")
        return (
            f"{head} {verdict(ratio >= SPEEDUP_TARGET and p99 <= P99_TARGET_MS)} "
            f"({tab.req_s:,.0f} vs {mls.req_s:,.0f} req/s = {ratio:.1f}x; "
            f"p99 {ms_cell(tab.p99_ms)} ms)"
        )
    if tab is None and tab_r is not None:
        return f"{head} **not met** ({why_not(tab_r, 'tabforge')})"
    if tab is None:
        return f"{head} **not measured** (tabforge not run)"
    return f"{head} **not measured** ({why_not(mls_r, 'MLServer')})"


def _ceiling_share(results: list[Result]) -> str:
    bin_r = find_result(results, "tabforge (default", f"{BATCH:,} rows binary, c=16")
    ceil_r = find_result(results, "ceiling", f"{BATCH:,} rows, session.run")
    binary, ceiling = usable(bin_r), usable(ceil_r)
    head = (
        f"2. tabforge {BATCH:,}-row binary rows/s >= {100 * CEILING_SHARE_TARGET:.0f}% of the "
        "ceiling's:"
    )
    if binary is not None and ceiling is not None and binary.rows_s and ceiling.rows_s:
        share = binary.rows_s / ceiling.rows_s
        return (
            f"{head} {verdict(share >= CEILING_SHARE_TARGET)} ({binary.rows_s:,.0f} vs "
            f"{ceiling.rows_s:,.0f} rows/s = {100 * share:.0f}%)"
        )
    if binary is None and bin_r is not None:
        return f"{head} **not met** ({why_not(bin_r, 'the binary run')})"
    if binary is None:
        return f"{head} **not measured** (tabforge not run)"
    return f"{head} **not measured** ({why_not(ceil_r, 'the ceiling')})"


def _on_off(results: list[Result], peer: str, scenario: str) -> tuple[float, str] | str:
    """on/off req/s of ``peer`` (e.g. "tabforge (batching") in ``scenario`` and the text
    comparing them; or why there is no ratio."""
    on_r = find_result(results, f"{peer} on", scenario)
    off_r = find_result(results, f"{peer} off", scenario)
    on, off = usable(on_r), usable(off_r)
    if on is None or off is None or not on.req_s or not off.req_s:
        return why_not(on_r, "on") if on is None else why_not(off_r, "off")
    ratio = on.req_s / off.req_s
    return ratio, (
        f"on {on.req_s:,.0f} vs off {off.req_s:,.0f} req/s = {ratio:.2f}x, p99 "
        f"{ms_cell(on.p99_ms)} vs {ms_cell(off.p99_ms)} ms"
    )


def _batching(results: list[Result], batching: bool) -> str:
    head = (
        f"3. batching on >= off at c=64 for both models (on may fall up to {100 * NOISE:.0f}% "
        f"below off: run-to-run noise), and on >= {1 + GAIN:.2f}x off on logreg:"
    )
    if not batching:
        return f"{head} **not measured** (this `tabforge serve` has no `--max-batch-rows`)"
    parts, met = [], True
    for model in ("lgbm", "logreg"):
        found = _on_off(results, "tabforge (batching", f"{model}, 1 row JSON, c=64")
        if isinstance(found, str):
            met = False
            parts.append(f"{model}: {found}")
            continue
        ratio, text = found
        met = met and ratio >= 1 - NOISE and (model != "logreg" or ratio >= 1 + GAIN)
        parts.append(f"{model}: {text}")
    return f"{head} {verdict(met)} ({'; '.join(parts)})"


def _monitoring(ab: list[ABResult]) -> str:
    head = (
        f"4. drift monitoring on within {100 * MONITOR_COST:.0f}% of off, single-row JSON c=16 "
        f"and {BATCH:,}-row binary c=16 (the median over the side-by-side rounds of on / off "
        "req/s, both servers loaded at once):"
    )
    if not ab:
        return f"{head} **not measured** (tabforge not run, or its `serve` has no `--no-monitor`)"
    parts, met = [], True
    for r in ab:
        median = r.median()
        if r.failed is not None or median is None:
            met = False
            parts.append(f"{r.body}: failed: {r.failed}")
            continue
        met = met and median >= 1 - MONITOR_COST
        ratios = r.ratios()
        parts.append(
            f"{r.body}: {median:.3f} over {len(ratios)} rounds "
            f"(from {min(ratios):.3f} to {max(ratios):.3f})"
        )
    return f"{head} {verdict(met)} ({'; '.join(parts)})"

"""The results: raw JSON, and the Markdown table and summary between docs/REAL_DATA.md's
markers (the hand-written text around them is kept)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from real_data.steps import Result, Step

START, END = "<!-- results:start -->", "<!-- results:end -->"


@dataclass(frozen=True)
class RunInfo:
    date: str  # ISO, local time
    cores: int | None
    commit: str  # e.g. "9a35408 (+ uncommitted changes under src/)"
    command: str  # the exact rerun command
    model: str
    cluster_model: str
    time_budget: float
    timeout_s: float
    memory_gib: float


def write_json(out: Path, info: RunInfo, results: list[Result]) -> None:
    doc = {"run": info.__dict__, "results": [r.as_dict() for r in results]}
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(json.dumps(doc, indent=1, default=str) + "\n")
    os.replace(tmp, out)


# --------------------------------------------------------------------------------------------
# cells


def _cell(text: str, limit: int = 90) -> str:
    text = " ".join(text.split()).replace("|", "\\|")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _code(name: str) -> str:
    """A column name, visibly: empty or invisible characters escaped."""
    shown = name if name.strip() and name.isprintable() else ascii(name)
    return f"`{shown}`"


def _exit(step: Step) -> str:
    if step.exit is None:
        return "-"
    if step.timed_out:
        return "timeout"
    text = "ok" if step.exit == 0 else str(step.exit)
    return f"{text} TB" if step.traceback else text


def _metric(r: Result) -> str:
    if r.metric_value is None:
        return ""
    return f"{r.metric} {r.metric_value:.3g}"


def _parity(r: Result) -> str:
    if r.parity_passed is None:
        return ""
    diff = f" {r.parity_max_diff:.1e}" if r.parity_max_diff is not None else ""
    return ("pass" if r.parity_passed else "FAIL") + diff


def _api(r: Result) -> str:
    text = _exit(r.api)
    cmp = r.api_compare
    if r.api.exit == 0 and cmp and not cmp.get("agrees", False):
        text += (
            f" ≠CLI ({cmp.get('label_mismatches', 0)} labels, diff {cmp.get('max_diff', 0):.1e})"
        )
    return text


def _findings(r: Result) -> str:
    """Errors first, then leaks, then what tabforge ignored or noted."""
    parts = []
    if r.write_error:
        parts.append(f"sweep could not write the file: {r.write_error}")
    for label, step in r.steps().items():
        if step.error:
            parts.append(f"{label}: {step.error}")
    if r.output_check:
        parts.append(f"output rows: {r.output_check}")
    for key in ("mismatch", "layout"):
        if key in r.api_compare:
            parts.append(f"API vs CLI: {r.api_compare[key]}")
    if r.leaks:
        parts.append("LEAK: " + ", ".join(_code(c) for c in r.leaks))
    if r.near_unique:
        parts.append("near-unique categorical: " + ", ".join(_code(c) for c in r.near_unique))
    if r.ignored:
        parts.append("ignored " + ", ".join(_code(c) for c in r.ignored))
    parts += [f"note: {n}" for n in r.notes if not any(c in n for c in r.ignored)]
    return _cell("; ".join(parts), 400)


def _peak(r: Result) -> float:
    return max((s.peak_mib for s in r.steps().values()), default=0.0)


def table(results: list[Result]) -> list[str]:
    lines = [
        "| dataset | file | rows x cols | target → task | model | hold-out | parity (max diff) "
        "| train | predict csv / parquet | API | peak MiB | train s | findings |",
        "|---|---|---:|---|---|---|---|---|---|---|---:|---:|---|",
    ]
    for r in results:
        target = _code(r.target) if r.target is not None else "(none)"
        used = f" ({r.rows_used:,} used)" if r.rows_used not in (None, r.rows) else ""
        predict = f"{_exit(r.predict_csv)} / {_exit(r.predict_parquet)}"
        lines.append(
            f"| {r.name} | {_cell(r.file, 30)} | {r.rows:,} x {r.cols}{used} "
            f"| {target} → {r.task or '?'} "
            f"| {r.model} | {_metric(r)} | {_parity(r)} | {_exit(r.train)} | {predict} "
            f"| {_api(r)} | {_peak(r):,.0f} | {r.train.wall_s:.1f} | {_findings(r)} |"
        )
    return lines


# --------------------------------------------------------------------------------------------
# summary and doc


def summary(results: list[Result]) -> dict[str, Any]:
    def count(pred: Any) -> int:
        return sum(1 for r in results if pred(r))

    peak = max(results, key=_peak, default=None)
    return {
        "datasets": len(results),
        "trained": count(lambda r: r.train.ok),
        "refused (exit 2)": count(lambda r: r.train.exit == 2 and not r.train.traceback),
        "parity passed": count(lambda r: r.parity_passed is True),
        "predict ok (csv and parquet, one row per row)": count(
            lambda r: r.predict_csv.ok and r.predict_parquet.ok and not r.output_check
        ),
        "API ok and equal to the CLI": count(
            lambda r: r.api.ok and r.api_compare.get("agrees", False)
        ),
        "with a traceback": count(lambda r: any(s.traceback for s in r.steps().values())),
        "timed out": count(lambda r: any(s.timed_out for s in r.steps().values())),
        "row-number leaks": count(lambda r: bool(r.leaks)),
        "near-unique text used as a category": count(lambda r: bool(r.near_unique)),
        "max peak RSS": f"{_peak(peak):,.0f} MiB ({peak.name})" if peak else "",
    }


def section(info: RunInfo, results: list[Result]) -> str:
    counts = summary(results)
    lines = [
        f"Run {info.date} on {info.cores} cores, tabforge at {info.commit}; "
        f"`--model {info.model}` (`{info.cluster_model}` without a target), "
        f"`--time-budget {info.time_budget:g}`, "
        f"{info.timeout_s:g} s and {info.memory_gib:g} GiB per step.",
        "",
        "```sh",
        info.command,
        "```",
        "",
        *(f"- {name}: **{value}**" for name, value in counts.items()),
        "",
        "Steps: `ok`, or the exit code (`TB`: a traceback on stderr). `≠CLI`: the API's output "
        "on pandas' reading of the file differs from `tabforge predict`'s. Peak RSS is the "
        "largest of the four steps.",
        "",
        *table(results),
    ]
    return "\n".join(lines)


def write_doc(doc: Path, text: str) -> None:
    """Replace what is between the markers (append them if missing); keep the rest."""
    old = doc.read_text() if doc.is_file() else "# Real data\n"
    block = f"{START}\n{text.rstrip()}\n{END}"
    if START in old and END in old:
        head, rest = old.split(START, 1)
        new = head + block + rest.split(END, 1)[1]
    else:
        new = old.rstrip("\n") + "\n\n" + block + "\n"
    tmp = doc.with_name(doc.name + ".tmp")
    tmp.write_text(new)
    os.replace(tmp, doc)

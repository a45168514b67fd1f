"""Batch-scoring benchmark: `tabforge predict` against a bare onnxruntime loop and naive pandas.

Run from the project root (every option has a default; `--help` lists them):

    .venv/bin/python benchmarks/batch_bench.py [--rows 5000000] [--workdir /tmp/batchbench]
        [--batch-rows 65536] [--repeat 1] [--out benchmarks/RESULTS.md]

Steps:

1. Data: ``<workdir>/big.parquet`` with ``--rows`` rows of 30 float32 features f00..f29 and a
   "no"/"yes" target ``y``, generated from numpy seed 0 in chunks (bounded memory) unless a file
   with that row count is already there, and ``<workdir>/train.parquet``, its first 100,000
   rows. Rows are drawn row by row from one stream, so a smaller file is a prefix of a larger
   one and the training sample is the same for every ``--rows`` >= 100,000.
2. Model: ``tabforge train`` (LightGBM, 200 trees) into ``<workdir>/models`` as ``bench``; the
   newest stored version is reused, unless the training sample was just rewritten.
3. Three paths, each in its own process, each started through a small stdlib-only wrapper that
   times it and reads its peak RSS from ``os.wait4``. (On Linux a child's ``ru_maxrss`` starts
   at the peak RSS of the process that spawned it, so spawning straight from this script, which
   has just generated the data, would report this script's peak instead of the child's.)

   - tabforge: the whole ``tabforge predict`` command (start-up, read, score, write).
   - ceiling: only ``session.run`` over in-memory float32 batches; loading is not timed.
   - naive: ``pandas.read_parquet`` + native LightGBM ``predict_proba``; training not timed.

4. A markdown table, printed and written as the ``## Batch scoring`` section of ``--out``
   (other sections are kept).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import common  # benchmarks/common.py, beside this script

ROOT = Path(__file__).resolve().parent.parent
FEATURES, TARGET, CLASSES, POSITIVE = (
    common.FEATURES,
    common.TARGET,
    common.CLASSES,
    common.POSITIVE,
)
TRAIN_ROWS = 100_000
GEN_CHUNK_ROWS = 500_000
MODEL_NAME = "bench"
N_ESTIMATORS = 200
PATHS = ("tabforge", "ceiling", "naive")
SECTION_HEADING = "## Batch scoring"
SPEED_TARGET = 0.80  # tabforge rows/s as a fraction of the ceiling's
RSS_TARGET_MIB = 1024.0
DEFAULT_TIMEOUT = 3600.0  # seconds per run
VERSIONED = ("onnxruntime", "lightgbm", "polars", "pyarrow", "pandas", "numpy", "tabforge")

# Spawns argv[1]'s command, times it and reports its own child's peak RSS as one JSON line.
# Kept to the standard library so that its RSS, which its child inherits as a floor, is small.
WRAPPER = r"""
import json, os, signal, subprocess, sys, threading, time
spec = json.loads(sys.argv[1])
timed_out = []
with open(spec["stdout"], "wb") as out, open(spec["stderr"], "wb") as err:
    start = time.perf_counter()
    proc = subprocess.Popen(
        spec["cmd"], stdin=subprocess.DEVNULL, stdout=out, stderr=err, start_new_session=True
    )
    def kill():
        timed_out.append(True)
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    timer = threading.Timer(spec["timeout"], kill)
    timer.start()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    timer.cancel()
print(json.dumps({
    "wall": wall,
    "exit": os.waitstatus_to_exitcode(status),
    "maxrss_kib": usage.ru_maxrss,
    "timed_out": bool(timed_out),
}))
"""


# --------------------------------------------------------------------------------------------
# data


def _parquet_rows(path: Path, columns: list[str]) -> int | None:
    """Row count of a readable Parquet file with exactly ``columns``; None otherwise."""
    import pyarrow.parquet as pq

    if not path.is_file():
        return None
    try:
        meta = pq.ParquetFile(path).metadata
        names = [meta.schema.column(i).name for i in range(meta.num_columns)]
    except Exception:  # truncated or foreign file: regenerate it
        return None
    return meta.num_rows if names == columns else None


def _chunk(rng: Any, n: int) -> Any:
    return common.chunk(rng, n)


def ensure_data(workdir: Path, rows: int) -> bool:
    """Create big.parquet and train.parquet if needed; True if train.parquet was (re)written."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    columns = [*FEATURES, TARGET]
    big, train = workdir / "big.parquet", workdir / "train.parquet"
    if _parquet_rows(big, columns) == rows:
        print(f"data: reusing {big} ({rows:,} rows)")
    else:
        print(f"data: generating {big} ({rows:,} rows) ...", flush=True)
        start = time.perf_counter()
        rng = np.random.default_rng(0)
        tmp = big.with_name(big.name + ".tmp")
        schema = pa.schema([*(pa.field(c, pa.float32()) for c in FEATURES), (TARGET, pa.string())])
        with pq.ParquetWriter(tmp, schema) as writer:
            for start_row in range(0, rows, GEN_CHUNK_ROWS):
                n = min(GEN_CHUNK_ROWS, rows - start_row)
                writer.write_table(_chunk(rng, n), row_group_size=GEN_CHUNK_ROWS)
        os.replace(tmp, big)
        print(f"data: wrote {big.stat().st_size / 2**20:,.0f} MiB in "
              f"{time.perf_counter() - start:.1f} s")  # fmt: skip

    want = min(rows, TRAIN_ROWS)
    if _parquet_rows(train, columns) == want:
        return False
    batches, have = [], 0
    for batch in pq.ParquetFile(big).iter_batches(batch_size=65_536, columns=columns):
        batches.append(batch.slice(0, want - have))
        have += batches[-1].num_rows
        if have == want:
            break
    tmp = train.with_name(train.name + ".tmp")
    pq.write_table(pa.Table.from_batches(batches), tmp)
    os.replace(tmp, train)
    print(f"data: wrote {train} ({want:,} rows)")
    return True


# --------------------------------------------------------------------------------------------
# model


def _versions(model_root: Path) -> list[int]:
    if not model_root.is_dir():
        return []
    return sorted(
        int(p.name)
        for p in model_root.iterdir()
        if p.name.isdigit() and (p / "model.onnx").is_file() and (p / "manifest.json").is_file()
    )


def ensure_model(workdir: Path, tabforge: str, retrain: bool) -> int:
    registry = workdir / "models"
    versions = _versions(registry / MODEL_NAME)
    if versions and not retrain:
        print(f"model: reusing {MODEL_NAME}:{versions[-1]}")
        return versions[-1]
    cmd = [
        tabforge, "train", str(workdir / "train.parquet"), "--target", TARGET,
        "--model", "lightgbm", "--param", f"n_estimators={N_ESTIMATORS}",
        "--name", MODEL_NAME, "--registry", str(registry), "--quiet",
    ]  # fmt: skip
    print(f"model: {shlex.join(cmd)}", flush=True)
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    found = re.findall(rf"^{MODEL_NAME}:(\d+)\s*$", proc.stdout, flags=re.MULTILINE)
    if proc.returncode != 0 or not found:
        sys.exit(
            f"tabforge train failed (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}".strip()
        )
    print(f"model: trained {MODEL_NAME}:{found[-1]} in {time.perf_counter() - start:.1f} s")
    return int(found[-1])


# --------------------------------------------------------------------------------------------
# measurement


@dataclass
class Sample:
    seconds: float | None = None  # timed part; None when the run failed
    rss_mib: float | None = None
    error: str | None = None
    detail: str = ""  # fuller error text
    extra: dict[str, Any] = field(default_factory=dict)


def _tail(text: str, lines: int = 12, chars: int = 2000) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])[-chars:]


def _run_wrapped(cmd: list[str], scratch: Path, timeout: float) -> tuple[dict[str, Any], str, str]:
    scratch.mkdir(parents=True, exist_ok=True)
    out, err = scratch / "stdout.txt", scratch / "stderr.txt"
    spec = {"cmd": cmd, "stdout": str(out), "stderr": str(err), "timeout": timeout}
    proc = subprocess.run(
        [sys.executable, "-I", "-S", "-c", WRAPPER, json.dumps(spec)],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        check=True,
    )
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    stdout = out.read_text(errors="replace")
    stderr = err.read_text(errors="replace")
    return report, stdout, stderr


def _failure(report: dict[str, Any], stdout: str, stderr: str, timeout: float) -> Sample:
    if report["timed_out"]:
        first = f"timed out after {timeout:g} s"
    else:
        lines = [ln.strip() for ln in (stderr or stdout).splitlines() if ln.strip()]
        first = f"exit {report['exit']}: {lines[-1] if lines else '(no output)'}"
    detail = _tail(stderr) or _tail(stdout)
    return Sample(rss_mib=report["maxrss_kib"] / 1024, error=first, detail=detail)


def measure(
    path: str, args: argparse.Namespace, version_: int, tabforge: str, scratch: Path
) -> Sample:
    workdir: Path = args.workdir
    model_dir = workdir / "models" / MODEL_NAME / str(version_)
    if path == "tabforge":
        out = workdir / "out.parquet"
        out.unlink(missing_ok=True)
        cmd = [
            tabforge, "predict", f"{MODEL_NAME}:{version_}", str(workdir / "big.parquet"),
            "-o", str(out), "--batch-rows", str(args.batch_rows),
            "--registry", str(workdir / "models"), "--quiet",
        ]  # fmt: skip
    else:
        cmd = [
            sys.executable, str(Path(__file__).resolve()), "--child", path,
            "--workdir", str(workdir), "--batch-rows", str(args.batch_rows),
            "--model-dir", str(model_dir),
        ]  # fmt: skip
    report, stdout, stderr = _run_wrapped(cmd, scratch, args.timeout)
    if report["exit"] != 0 or report["timed_out"]:
        return _failure(report, stdout, stderr, args.timeout)
    rss = report["maxrss_kib"] / 1024
    if path == "tabforge":
        return Sample(report["wall"], rss, extra=_check_output(workdir / "out.parquet", args.rows))
    try:
        result = json.loads(stdout.strip().splitlines()[-1])
        return Sample(float(result["seconds"]), rss, extra=result)
    except (IndexError, KeyError, ValueError):
        return Sample(error="no result line on stdout", detail=_tail(stdout + "\n" + stderr))


def _check_output(out: Path, rows: int) -> dict[str, Any]:
    """Rows in tabforge's output and, if it has a proba_<positive> column, its mean."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    if not out.is_file():
        return {"check": f"no output file at {out}"}
    try:
        pf = pq.ParquetFile(out)
    except Exception as exc:  # the command said it succeeded; say what is wrong with its output
        return {"check": f"unreadable output {out}: {str(exc).splitlines()[0][:200]}"}
    found: dict[str, Any] = {"out_rows": pf.metadata.num_rows}
    if pf.metadata.num_rows != rows:
        found["check"] = f"output has {pf.metadata.num_rows:,} rows, expected {rows:,}"
    column = f"proba_{POSITIVE}"
    if column in pf.schema_arrow.names:
        found["mean_p"] = pc.mean(pq.read_table(out, columns=[column]).column(0)).as_py()
    return found


def _merge(samples: list[Sample]) -> Sample:
    """Best (fastest) successful sample; RSS is the maximum over every run."""
    ok = [s for s in samples if s.seconds is not None]
    best = min(ok, key=lambda s: s.seconds or 0.0) if ok else samples[-1]
    rss = [s.rss_mib for s in samples if s.rss_mib is not None]
    return Sample(best.seconds, max(rss) if rss else None, best.error, best.detail, best.extra)


# --------------------------------------------------------------------------------------------
# children (run as `batch_bench.py --child ceiling|naive`)


def child_ceiling(workdir: Path, model_dir: Path, batch_rows: int) -> dict[str, Any]:
    import numpy as np
    import onnxruntime as ort
    import pyarrow.parquet as pq

    manifest = json.loads((model_dir / "manifest.json").read_text())
    numeric: list[str] = manifest["inputs"]["numeric"]
    if manifest["inputs"]["categorical"]:
        raise SystemExit("ceiling: the model has categorical inputs; only numeric is supported")
    pf = pq.ParquetFile(workdir / "big.parquet")
    rows = pf.metadata.num_rows
    x = np.empty((rows, len(numeric)), dtype=np.float32)  # C order: every batch is contiguous
    at = 0
    for batch in pf.iter_batches(batch_size=1 << 20, columns=numeric):
        for j, name in enumerate(numeric):
            x[at : at + batch.num_rows, j] = batch.column(name).to_numpy(zero_copy_only=False)
        at += batch.num_rows
    del pf
    session = ort.InferenceSession(
        str(model_dir / "model.onnx"), providers=["CPUExecutionProvider"]
    )
    outputs = [o.name for o in session.get_outputs()]
    proba_at = outputs.index("probabilities")
    positive = list(manifest["outputs"]["classes"]).index(POSITIVE)
    p = np.empty(rows, dtype=np.float32)  # kept for the output check; the copy is negligible

    start = time.perf_counter()
    for i in range(0, rows, batch_rows):
        result = session.run(None, {"numeric": x[i : i + batch_rows]})
        p[i : i + batch_rows] = result[proba_at][:, positive]
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "rows": rows, "mean_p": float(p.mean(dtype=np.float64))}


def child_naive(workdir: Path) -> dict[str, Any]:
    import lightgbm
    import pandas as pd

    train = pd.read_parquet(workdir / "train.parquet")
    model = lightgbm.LGBMClassifier(n_estimators=N_ESTIMATORS, random_state=0, verbose=-1)
    model.fit(train[FEATURES], train[TARGET])
    del train

    start = time.perf_counter()
    df = pd.read_parquet(workdir / "big.parquet")
    proba: Any = model.predict_proba(df[FEATURES])
    seconds = time.perf_counter() - start
    positive = list(model.classes_).index(POSITIVE)
    return {"seconds": seconds, "rows": len(df), "mean_p": float(proba[:, positive].mean())}


# --------------------------------------------------------------------------------------------
# report


def _versions_line() -> str:
    parts = []
    for dist in VERSIONED:
        try:
            parts.append(f"{dist} {version(dist)}")
        except PackageNotFoundError:
            parts.append(f"{dist} (not installed)")
    return ", ".join(parts)


def _memory_gib() -> str:
    try:
        with open("/proc/meminfo") as f:
            kib = int(next(ln for ln in f if ln.startswith("MemTotal:")).split()[1])
    except (OSError, StopIteration, ValueError):
        return "?"
    return f"{kib / 2**20:.1f}"


def _cell(text: str, limit: int = 110) -> str:
    text = " ".join(text.split())
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return text.replace("|", "\\|")


def _rerun_command(args: argparse.Namespace) -> str:
    def show(p: Path) -> str:
        p = p.resolve()
        return str(p.relative_to(ROOT)) if p.is_relative_to(ROOT) else str(p)

    cmd = [
        ".venv/bin/python", "benchmarks/batch_bench.py", "--rows", str(args.rows),
        "--batch-rows", str(args.batch_rows), "--workdir", str(args.workdir),
        "--repeat", str(args.repeat), "--out", show(args.out),
    ]  # fmt: skip
    if args.paths != list(PATHS):
        cmd += ["--paths", ",".join(args.paths)]
    if args.timeout != DEFAULT_TIMEOUT:
        cmd += ["--timeout", f"{args.timeout:g}"]
    if args.tabforge != common.default_tabforge():
        cmd += ["--tabforge", args.tabforge]
    return shlex.join(cmd)


def render(
    args: argparse.Namespace, version_: int, results: dict[str, Sample], started: dt.datetime
) -> str:
    ceiling = results.get("ceiling")
    ceiling_rate = args.rows / ceiling.seconds if ceiling is not None and ceiling.seconds else None
    what = {
        "tabforge": "whole `tabforge predict` command: start-up, read, score, write",
        "ceiling": "`session.run` only, over in-memory float32 batches",
        "naive": "`pandas.read_parquet` + LightGBM `predict_proba`",
    }
    lines = [
        SECTION_HEADING,
        "",
        f"Scoring {args.rows:,} rows, {len(FEATURES)} float32 features from Parquet with a "
        f"binary LightGBM model ({N_ESTIMATORS} trees, trained on the first "
        f"{min(args.rows, TRAIN_ROWS):,} rows), batches of {args.batch_rows:,} rows.",
        "",
        f"- date: {started.strftime('%Y-%m-%d %H:%M %Z')}",
        f"- machine: {os.cpu_count()} cores (`os.cpu_count()`), {_memory_gib()} GiB RAM, "
        f"{platform.system()} {platform.machine()}, Python {platform.python_version()}",
        f"- load average (1 min) at start / end: {args.load_start:.2f} / {os.getloadavg()[0]:.2f}"
        " (other work on the machine skews the numbers; use `--repeat`)",
        f"- versions: {_versions_line()}",
        f"- model: `{MODEL_NAME}:{version_}`; runs per path: {args.repeat} (best rows/s shown, "
        "peak RSS is the maximum over runs)",
        "",
        "| path | rows/s | wall s | peak RSS MiB | % of ceiling |",
        "|---|---:|---:|---:|---:|",
    ]
    notes: list[str] = []
    for path, s in results.items():
        rss = f"{s.rss_mib:,.0f}" if s.rss_mib is not None else "—"
        if s.seconds is None:
            lines.append(f"| {path} | failed: {_cell(s.error or '?')} | — | — | — |")
            notes.append(f"{path} failed:\n\n```text\n{s.detail or s.error}\n```")
            continue
        rate = args.rows / s.seconds
        share = f"{100 * rate / ceiling_rate:.0f}%" if ceiling_rate else "—"
        lines.append(f"| {path} | {rate:,.0f} | {s.seconds:.2f} | {rss} | {share} |")
    lines += ["", "What each path times:", ""]
    lines += [f"- {path}: {what[path]}" for path in results]
    lines += [
        "",
        "Peak RSS is `ru_maxrss` of each path's own process, read through a small wrapper "
        "process; the ceiling's includes its whole input array, the naive path's includes "
        "training its native model (not timed).",
        "",
    ]

    tab = results.get("tabforge")
    lines += _targets(args.rows, tab, ceiling_rate)
    if tab is not None and tab.seconds is not None:
        lines += [f"Output check: {_output_check(tab, ceiling, args.rows)}", ""]
    for note in notes:
        lines += [note, ""]
    lines += [f"Rerun from the project root: `{_rerun_command(args)}`", ""]
    return "\n".join(lines)


def _targets(rows: int, tab: Sample | None, ceiling_rate: float | None) -> list[str]:
    if tab is None:
        speed = rss_ok = "not measured (path skipped)"
    elif tab.seconds is None:
        speed = "not met (tabforge predict failed)"
        rss_ok = "not met (tabforge predict failed)"
    else:
        ratio = (rows / tab.seconds) / ceiling_rate if ceiling_rate else None
        speed = (
            "not measured (no ceiling)"
            if ratio is None
            else f"{'met' if ratio >= SPEED_TARGET else 'not met'} ({100 * ratio:.0f}%)"
        )
        ok = tab.rss_mib is not None and tab.rss_mib < RSS_TARGET_MIB
        rss_ok = f"{'met' if ok else 'not met'} ({tab.rss_mib or 0:,.0f} MiB)"
    return [
        "Targets:",
        "",
        f"- tabforge >= {100 * SPEED_TARGET:.0f}% of ceiling rows/s: {speed}",
        f"- tabforge peak RSS < 1 GiB: {rss_ok}",
        "",
    ]


def _output_check(tab: Sample, ceiling: Sample | None, rows: int) -> str:
    extra = tab.extra
    if "check" in extra:
        return str(extra["check"])
    text = f"{extra.get('out_rows', 0):,} rows written"
    mine = extra.get("mean_p")
    theirs = ceiling.extra.get("mean_p") if ceiling is not None else None
    if mine is None:
        return f"{text}; no `proba_{POSITIVE}` column to compare"
    if theirs is None:
        return f"{text}; mean P({POSITIVE}) {mine:.6f}"
    agree = abs(mine - theirs) <= 1e-5
    return (
        f"{text}; mean P({POSITIVE}) {mine:.6f} vs ceiling {theirs:.6f} "
        f"({'agree' if agree else 'DIFFER'})"
    )


# --------------------------------------------------------------------------------------------
# main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=5_000_000, help="rows in big.parquet")
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/batchbench"))
    ap.add_argument("--batch-rows", type=int, default=65_536)
    ap.add_argument("--repeat", type=int, default=1, help="runs per path; the best is kept")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "RESULTS.md")
    ap.add_argument("--paths", default=",".join(PATHS), help="comma-separated subset to run")
    ap.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, help="seconds per run")
    ap.add_argument("--tabforge", default=common.default_tabforge(), help="tabforge executable")
    ap.add_argument("--child", choices=("ceiling", "naive"), help=argparse.SUPPRESS)
    ap.add_argument("--model-dir", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.rows < 1 or args.batch_rows < 1 or args.repeat < 1:
        ap.error("--rows, --batch-rows and --repeat must be positive")
    args.paths = [p.strip() for p in args.paths.split(",") if p.strip()]
    if unknown := sorted(set(args.paths) - set(PATHS)):
        ap.error(f"unknown --paths {unknown}; choose from {', '.join(PATHS)}")
    args.workdir = args.workdir.resolve()
    return args


def _warm_page_cache(path: Path) -> None:
    """Read the file once so that no path pays for cold disk reads; RSS stays flat."""
    with open(path, "rb", buffering=0) as f:
        while f.read(16 << 20):
            pass


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child == "ceiling":
        print(json.dumps(child_ceiling(args.workdir, args.model_dir, args.batch_rows)))
        return 0
    if args.child == "naive":
        print(json.dumps(child_naive(args.workdir)))
        return 0

    started = dt.datetime.now().astimezone()
    args.load_start = os.getloadavg()[0]
    args.workdir.mkdir(parents=True, exist_ok=True)
    retrain = ensure_data(args.workdir, args.rows)
    version_ = ensure_model(args.workdir, args.tabforge, retrain)
    _warm_page_cache(args.workdir / "big.parquet")

    samples: dict[str, list[Sample]] = {p: [] for p in PATHS if p in args.paths}
    for k in range(args.repeat):  # interleaved, so drift hits every path alike
        for path in samples:
            print(f"run {k + 1}/{args.repeat}: {path} ...", end=" ", flush=True)
            scratch = args.workdir / "logs" / f"{path}-{k + 1}"
            s = measure(path, args, version_, args.tabforge, scratch)
            samples[path].append(s)
            print(f"{s.seconds:.2f} s" if s.seconds is not None else f"FAILED: {s.error}")
    results = {path: _merge(runs) for path, runs in samples.items()}

    section = render(args, version_, results, started)
    print()
    print(section)
    common.write_section(args.out, SECTION_HEADING, section)
    print(f"wrote the {SECTION_HEADING!r} section of {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Dask scoring benchmark: `tabforge predict` locally vs `predict --dask local:N` on one file.

Run from the project root (every option has a default; `--help` lists them):

    .venv/bin/python benchmarks/dask_bench.py [--rows 1000000] [--workers 2]
        [--workdir /tmp/daskbench] [--out benchmarks/RESULTS.md]

Steps:

1. Data: ``<workdir>/big.parquet``, ``--rows`` rows of the batch benchmark's 30 float32
   features (``common.chunk``, numpy seed 0) in row groups of ``--row-group-rows``, unless a
   file with that row count and row-group size is already there.
2. Model: ``tabforge train`` (LightGBM, 200 trees) on the first 100,000 rows, as ``bench``
   in ``<workdir>/models``; reused when present.
3. Three commands, each timed whole (start-up, read, score, write), one after another:
   local ``predict`` into one Parquet file; ``predict --dask local:N`` into a fresh directory
   (the LocalCluster's start and stop included); the same again into the now complete
   directory (every part skipped: the cost of a resumed run with nothing left to do).
4. The parts, concatenated in order, are compared with the local output (equal or not), and a
   markdown table is printed and written as the ``## Dask scoring`` section of ``--out``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import common  # benchmarks/common.py, beside this script

SECTION_HEADING = "## Dask scoring"
TRAIN_ROWS = 100_000
N_ESTIMATORS = 200


@dataclass
class Timed:
    label: str
    command: str
    seconds: float


def ensure_data(path: Path, rows: int, group_rows: int) -> None:
    import numpy as np
    import pyarrow.parquet as pq

    if path.is_file():
        meta = pq.ParquetFile(path).metadata
        if meta.num_rows == rows and meta.row_group(0).num_rows == min(rows, group_rows):
            print(f"data: reusing {path}")
            return
    print(f"data: writing {path} ({rows:,} rows, row groups of {group_rows:,}) ...", flush=True)
    rng = np.random.default_rng(0)
    tmp = path.with_name(path.name + ".tmp")
    first = common.chunk(rng, min(rows, group_rows))
    with pq.ParquetWriter(tmp, first.schema) as writer:
        writer.write_table(first, row_group_size=group_rows)
        for start in range(group_rows, rows, group_rows):
            writer.write_table(common.chunk(rng, min(group_rows, rows - start)),
                               row_group_size=group_rows)  # fmt: skip
    os.replace(tmp, path)


def ensure_model(workdir: Path, tabforge: str, data: Path) -> None:
    import polars as pl

    if (workdir / "models" / "bench").is_dir():
        print("model: reusing bench")
        return
    train = workdir / "train.parquet"
    pl.scan_parquet(data).head(TRAIN_ROWS).collect().write_parquet(train)
    print("model: training bench (LightGBM) ...", flush=True)
    subprocess.run(
        [tabforge, "train", str(train), "--target", common.TARGET, "--model", "lightgbm",
         "-p", f"n_estimators={N_ESTIMATORS}", "--name", "bench",
         "--registry", str(workdir / "models"), "-q"],
        check=True,
    )  # fmt: skip


def timed(label: str, argv: list[str], work: Path) -> Timed:
    print(f"run: {label} ...", flush=True)
    start = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"{label} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    shown = " ".join(["tabforge", *argv[1:]]).replace(f"{work}/", "")
    return Timed(label, shown, seconds)


def identical(local: Path, parts: Path) -> bool:
    import polars as pl

    scored = sorted(parts.glob("part-*.parquet"))
    return pl.concat([pl.read_parquet(p) for p in scored]).equals(pl.read_parquet(local))


def section(args: argparse.Namespace, runs: list[Timed], same: bool, loads: list[str]) -> str:
    from importlib.metadata import version

    base = runs[0].seconds
    # The rerun scores nothing: its time is the fixed cost (start-up, cluster, footer checks).
    rows = [
        f"| {r.label} | `{r.command}` | {r.seconds:.2f} | {args.rows / r.seconds:,.0f} | "
        f"{base / r.seconds:.2f}x |"
        for r in runs[:2]
    ] + [f"| {r.label} | `{r.command}` | {r.seconds:.2f} | - | - |" for r in runs[2:]]
    slower = runs[1].seconds > base
    reading = (
        "On one machine local predict already keeps every core busy (onnxruntime's threads and "
        "a reader thread); workers on the same cores add their start-up, a session per worker "
        "and a task and a file per partition, so here the run checks correctness and overhead, not "
        "speed: the gain comes from workers on more machines."
        if slower
        else "The cluster's workers scored faster than one local process."
    )
    versions = ", ".join(f"{p} {version(p)}" for p in ("dask", "distributed", "onnxruntime"))
    return "\n".join([
        SECTION_HEADING,
        "",
        f"Scoring one Parquet file of {args.rows:,} rows (30 float32 features, row groups of "
        f"{args.row_group_rows:,}) with a binary LightGBM model ({N_ESTIMATORS} trees), locally "
        f"and on a LocalCluster of {args.workers} worker processes (partitions of "
        f"{args.partition_rows:,} rows). Each figure is one whole command, start-up included.",
        "",
        f"- date: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC",
        f"- machine: {os.cpu_count()} cores (`os.cpu_count()`), {platform.system()} "
        f"{platform.machine()}, Python {platform.python_version()}",
        f"- load average (1 min) at start / end: {loads[0]} / {loads[1]}",
        f"- versions: {versions}",
        "",
        "| run | command | wall s | rows/s | vs local |",
        "|---|---|---:|---:|---:|",
        *rows,
        "",
        f"Output check: the parts concatenated in order {'equal' if same else 'DIFFER FROM'} the "
        "local output, row for row.",
        "",
        reading,
        "",
        "Rerun from the project root: `.venv/bin/python benchmarks/dask_bench.py "
        f"--rows {args.rows} --workers {args.workers} --partition-rows {args.partition_rows}`",
    ])  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--row-group-rows", type=int, default=250_000)
    parser.add_argument("--partition-rows", type=int, default=250_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/daskbench"))
    parser.add_argument("--tabforge", default=common.default_tabforge())
    parser.add_argument("--out", type=Path, default=common.ROOT / "benchmarks" / "RESULTS.md")
    args = parser.parse_args()
    work = args.workdir
    work.mkdir(parents=True, exist_ok=True)
    data = work / "big.parquet"
    ensure_data(data, args.rows, args.row_group_rows)
    ensure_model(work, args.tabforge, data)
    local, parts = work / "local.parquet", work / "parts"
    shutil.rmtree(parts, ignore_errors=True)
    predict = [args.tabforge, "predict", "bench", str(data), "--registry", str(work / "models")]
    dask = ["--dask", f"local:{args.workers}", "--partition-rows", str(args.partition_rows)]
    loads = [f"{os.getloadavg()[0]:.2f}"]
    runs = [
        timed("local", [*predict, "-o", str(local), "-q"], work),
        timed("dask", [*predict, "-o", str(parts), "-q", *dask], work),
        timed("dask, rerun (all parts complete)", [*predict, "-o", str(parts), "-q", *dask], work),
    ]
    loads.append(f"{os.getloadavg()[0]:.2f}")
    text = section(args, runs, identical(local, parts), loads)
    print("\n" + text)
    common.write_section(args.out, SECTION_HEADING, text)
    print(f"\nwrote the {SECTION_HEADING!r} section of {args.out}")


if __name__ == "__main__":
    main()

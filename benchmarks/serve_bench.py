"""Serving benchmark: `tabforge serve` against MLServer, hand-written FastAPI and in-process ORT.

Run from the project root (every option has a default; `--help` lists them):

    .venv/bin/python benchmarks/serve_bench.py [--workdir /tmp/servebench] [--duration 10]
        [--workers 1] [--out benchmarks/RESULTS.md] [--quick]

Steps:

1. Data: ``<workdir>/train.parquet``, 20,000 rows of 30 float32 features f00..f29 and a
   "no"/"yes" target ``y`` from numpy seed 0 (the same generator as batch_bench.py).
2. Models: ``tabforge train`` stores ``lgbm`` (LightGBM, 200 trees) and ``logreg`` (logistic)
   in ``<workdir>/models`` (the newest stored versions are reused); a native
   ``LGBMClassifier(n_estimators=200)`` fitted on the same rows is saved as a LightGBM text
   model at ``<workdir>/native/model.txt`` for the two native peers.
3. Peers, each its own server process on a free 127.0.0.1 port with the same worker count:
   tabforge (default flags; then batching off and on, if ``tabforge serve`` has
   ``--max-batch-rows``; then drift monitoring on and off side by side, two servers loaded
   at once, ``--ab-rounds`` rounds: servebench/abtest.py), MLServer 1.7 with its LightGBM
   runtime (own venv ``<workdir>/mlserver-venv``) and FastAPI + native LightGBM
   (``benchmarks/serve_bench/fastapi_app.py``, own venv ``<workdir>/fastapi-venv``). Both venvs
   are created and installed here on first use. The ceiling is onnxruntime in a child process
   calling ``session.run`` on ``lgbm``'s model.onnx.
4. Load from wrk (``benchmarks/serve_bench/post.lua`` sends one prepared body file), each run
   bounded by ``--duration``. Every server is checked first: status 200 and probabilities equal
   (within 1e-5) to in-process onnxruntime's or native LightGBM's for the same rows.
5. A markdown table with the targets, printed and written as the ``## Serving`` section of
   ``--out`` (other sections are kept).

Every server is started in its own session and its process group is killed at the end, also on
errors, Ctrl-C and SIGTERM. A peer that fails to install or start is reported as failed and the
others still run. The machine is shared: each run also records how much CPU other processes
used meanwhile ("others' CPU"), so a disturbed run can be told from a slow server.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import common  # benchmarks/common.py, beside this script
from servebench.bench import Bench
from servebench.bodies import write_bodies
from servebench.ceiling import child_ceiling, run_ceiling
from servebench.config import (
    FASTAPI_SPEC,
    LGBM_TRAIN,
    MLSERVER_SPECS,
    PEERS,
    ROOT,
    SECTION_HEADING,
)
from servebench.data import ensure_data, ensure_native_model, ensure_tabforge_model, features
from servebench.installs import dist_version, ensure_venv, wrk_version
from servebench.peers import Setup, references, run_fastapi, run_mlserver, run_tabforge
from servebench.processes import Processes, guarded
from servebench.section import render


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/servebench"))
    ap.add_argument("--duration", type=float, help="seconds per wrk run (default 10; --quick 3)")
    ap.add_argument("--workers", type=int, default=1, help="server processes for every peer")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "RESULTS.md")
    ap.add_argument("--quick", action="store_true", help="3 s runs, no c=1 point, one round")
    ap.add_argument("--rounds", type=int, help="batching off/on rounds (default 2; --quick 1)")
    ap.add_argument(
        "--ab-rounds", type=int, help="monitoring on/off side-by-side rounds (default 8; --quick 2)"
    )
    ap.add_argument("--peers", default=",".join(PEERS), help="comma-separated subset to run")
    ap.add_argument("--tabforge", default=common.default_tabforge(), help="tabforge executable")
    ap.add_argument("--batch-rows-on", type=int, help="--max-batch-rows for 'batching on'")
    ap.add_argument("--child", choices=("ceiling",), help=argparse.SUPPRESS)
    ap.add_argument("--model-dir", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.duration is None:
        args.duration = 3.0 if args.quick else 10.0
    if args.rounds is None:
        args.rounds = 1 if args.quick else 2
    if args.ab_rounds is None:
        args.ab_rounds = 2 if args.quick else 8
    if args.duration <= 0 or args.workers < 1 or args.rounds < 1 or args.ab_rounds < 1:
        ap.error("--duration, --workers, --rounds and --ab-rounds must be positive")
    if args.batch_rows_on is not None and args.batch_rows_on < 1:
        ap.error("--batch-rows-on must be positive")
    args.peers = [p.strip() for p in args.peers.split(",") if p.strip()]
    if unknown := sorted(set(args.peers) - set(PEERS)):
        ap.error(f"unknown --peers {unknown}; choose from {', '.join(PEERS)}")
    args.workdir = args.workdir.resolve()
    args.workers_asked = args.workers
    return args


def _rerun_command(args: argparse.Namespace) -> str:
    def show(p: Path) -> str:
        p = p.resolve()
        return str(p.relative_to(ROOT)) if p.is_relative_to(ROOT) else str(p)

    cmd = [".venv/bin/python", "benchmarks/serve_bench.py", "--workdir", str(args.workdir)]
    if args.duration != (3.0 if args.quick else 10.0):
        cmd += ["--duration", f"{args.duration:g}"]
    cmd += ["--workers", str(args.workers_asked), "--out", show(args.out)]
    if args.quick:
        cmd.append("--quick")
    if args.rounds != (1 if args.quick else 2):
        cmd += ["--rounds", str(args.rounds)]
    if args.ab_rounds != (2 if args.quick else 8):
        cmd += ["--ab-rounds", str(args.ab_rounds)]
    if args.peers != list(PEERS):
        cmd += ["--peers", ",".join(args.peers)]
    if args.batch_rows_on is not None:
        cmd += ["--batch-rows-on", str(args.batch_rows_on)]
    if args.tabforge != common.default_tabforge():
        cmd += ["--tabforge", args.tabforge]
    return shlex.join(cmd)


def _tabforge_help(tabforge: str) -> str:
    try:
        proc = subprocess.run(
            [tabforge, "serve", "--help"],
            capture_output=True,
            text=True,
            timeout=120,
            stdin=subprocess.DEVNULL,
            env={**os.environ, "COLUMNS": "200"},
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"(tabforge serve --help failed: {exc})"
    return proc.stdout + proc.stderr


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child == "ceiling":
        print(json.dumps(child_ceiling(args.model_dir, args.workdir, args.duration)))
        return 0
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed (apt-get install wrk)")
    meta: dict[str, Any] = {
        "started": dt.datetime.now().astimezone(),
        "load_start": os.getloadavg()[0],
    }
    args.workdir.mkdir(parents=True, exist_ok=True)
    return guarded(lambda procs: run(args, procs, meta))


def run(args: argparse.Namespace, procs: Processes, meta: dict[str, Any]) -> int:
    workdir = args.workdir
    ensure_data(workdir)
    x = features(workdir)
    versions = {
        "lgbm": ensure_tabforge_model(workdir, args.tabforge, "lgbm", LGBM_TRAIN),
        "logreg": ensure_tabforge_model(workdir, args.tabforge, "logreg", ["--model", "logistic"]),
    }
    native = ensure_native_model(workdir)
    bench = Bench(args, procs, write_bodies(workdir, x))
    setup = references(workdir, x, versions, native)
    meta["workers_note"] = _workers_note(args)
    _install_peers(args, procs, setup)

    single = [16, 64] if args.quick else [1, 16, 64]  # concurrency points for single rows
    help_text = _tabforge_help(args.tabforge)
    batching = "--max-batch-rows" in help_text
    notes = {k: "not run (--peers)" for k in ("tabforge", "mlserver", "fastapi")}
    if "ceiling" in args.peers:
        run_ceiling(bench, workdir / "models" / "lgbm" / str(setup.lgbm))
    if "tabforge" in args.peers:
        notes["tabforge"] = run_tabforge(bench, setup, args.tabforge, help_text, single)
    if "mlserver" in args.peers:
        notes["mlserver"] = run_mlserver(bench, setup, single)
    if "fastapi" in args.peers:
        notes["fastapi"] = run_fastapi(bench, setup, single)

    mls, fa = setup.venvs.get("mlserver") or {}, setup.venvs.get("fastapi") or {}
    meta["versions"] = ", ".join(
        [f"{d} {dist_version(d)}" for d in ("tabforge", "onnxruntime", "lightgbm")]
        + [f"{d} {mls.get(d, 'n/a')}" for d in ("mlserver", "mlserver-lightgbm")]
        + [f"{d} {fa.get(d, 'n/a')}" for d in ("fastapi", "uvicorn")]
        + [f"wrk {wrk_version()}"]
    )
    meta.update(
        tabforge_note=notes["tabforge"],
        mlserver_note=notes["mlserver"],
        fastapi_note=notes["fastapi"],
        batching=batching and "tabforge" in args.peers,
        rerun=_rerun_command(args),
    )
    section = render(bench, meta)
    print()
    print(section)
    common.write_section(args.out, SECTION_HEADING, section)
    print(f"wrote the {SECTION_HEADING!r} section of {args.out}")
    return 0


def _workers_note(args: argparse.Namespace) -> str:
    """MLServer serves HTTP from one process: equal worker counts mean 1 for everyone."""
    if "mlserver" not in args.peers:
        return ""
    note = (
        " (MLServer 1.7 answers HTTP from one process; its `parallel_workers` inference pool "
        "crashes with current uvloop and is off"
    )
    if args.workers > 1:
        note += f"; asked for {args.workers}, so every peer ran with 1"
        args.workers = 1
    return note + ")"


def _install_peers(args: argparse.Namespace, procs: Processes, setup: Setup) -> None:
    """Installs before any timed run, so that pip never shares the machine with a measurement."""
    setup.notes = {"mlserver": "not run (--peers)", "fastapi": "not run (--peers)"}
    logs = args.workdir / "logs"
    if "mlserver" in args.peers:
        dists = ["mlserver", "mlserver-lightgbm", "lightgbm"]
        setup.venvs["mlserver"], setup.notes["mlserver"] = ensure_venv(
            procs, args.workdir / "mlserver-venv", MLSERVER_SPECS, dists, logs / "install-mlserver"
        )
    if "fastapi" in args.peers:
        pinned = [*FASTAPI_SPEC, f"lightgbm=={dist_version('lightgbm')}"]  # same as the native
        dists = ["fastapi", "uvicorn", "pydantic", "lightgbm", "uvloop", "httptools"]
        setup.venvs["fastapi"], setup.notes["fastapi"] = ensure_venv(
            procs,
            args.workdir / "fastapi-venv",
            [pinned, [*FASTAPI_SPEC, "lightgbm"]],
            dists,
            logs / "install-fastapi",
        )


if __name__ == "__main__":
    sys.exit(main())

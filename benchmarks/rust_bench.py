"""Rust engine benchmark (issue 23): vs the Python engine, MLServer 1.7 and onnxruntime.

`tabforge serve --engine rust` against `tabforge serve --workers 2` (and 1), MLServer 1.7 and
in-process onnxruntime, side by side in one run.

Run from the project root (every option has a default; `--help` lists them), or `make
bench-rust`:

    .venv/bin/python benchmarks/rust_bench.py [--workdir /tmp/rustbench] [--duration 10]
        [--rounds 3] [--starts 5] [--out benchmarks/RESULTS.md]

Steps (servebench/ does the work, as for benchmarks/serve_bench.py):

1. Data and models: ``<workdir>/train.parquet`` (20,000 rows, 30 float32 features, numpy seed
   0); ``tabforge train`` stores ``lgbm`` (LightGBM, 200 trees) alone in ``<workdir>/models``
   (the newest stored version is reused); a native LightGBM text model of the same rows for
   MLServer. MLServer 1.7 is installed into ``<workdir>/mlserver-venv`` on first use.
2. Start-to-ready and idle RSS: ``--starts`` starts each of ``tabforge serve --engine rust
   --registry DIR --port P`` and of the bare ``rust/target/release/tabforge-server --registry
   DIR --port P`` (with ``ORT_DYLIB_PATH`` set to the onnxruntime wheel's library), timed from
   spawning to the first 200 of ``/v2/health/ready``; VmRSS 1 s later.
3. The ceiling: onnxruntime ``session.run`` in a child process (servebench/ceiling.py).
4. ``--rounds`` rounds, each running one server after the other: rust, ``tabforge serve
   --workers 2``, ``tabforge serve --workers 1`` (every tabforge with default flags) and
   MLServer. In the first round each is checked (status 200, probabilities within 1e-5 of
   in-process onnxruntime's, MLServer's of native LightGBM's); then each scenario is a
   ``wrk -t2`` run of ``--duration`` s: 1-row V2 JSON c=64, 1-row KServe V1 records c=64 and
   1,000-row V2 binary tensors c=16 (MLServer: the V2 JSON row only). The best round is kept.
5. The table, with its targets, printed and written as the ``## Rust engine (issue 23)``
   section of ``--out`` (other sections are kept).

Everything listens on 127.0.0.1; every server runs in its own session and its process group
is killed at the end, also on errors, Ctrl-C and SIGTERM. ``TABFORGE_*`` variables of the
calling shell are not passed on: every server runs on its defaults (``--sessions`` sets
``TABFORGE_SERVE_SESSIONS`` for the Rust engine, ``--rust-flags`` adds its flags).
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import common  # benchmarks/common.py, beside this script
from servebench.bench import Bench, Scenario, Server
from servebench.bodies import write_bodies
from servebench.ceiling import run_ceiling
from servebench.checks import Check, v1_parse, v2_parser
from servebench.config import LGBM_TRAIN, MLSERVER_SPECS, ROOT, RUST_SECTION_HEADING, RUST_SERVER
from servebench.data import ensure_data, ensure_native_model, ensure_tabforge_model, features
from servebench.installs import dist_version, ensure_venv, fmt_versions, wrk_version
from servebench.peers import Setup, keep_best_rounds, mlserver_note, mlserver_server, references
from servebench.processes import Processes, guarded
from servebench.rustreport import BINARY, PYTHON1, PYTHON2, RUST, V1_ROW, V2_ROW, render
from servebench.startup import Starts, measure_starts

PEERS = ("rust", "python2", "python1", "mlserver", "ceiling")
INFER = "/v2/models/lgbm/infer"
SCENARIOS = {
    "v2": Scenario(V2_ROW, INFER, "tabforge-1", 64),
    "v1": Scenario(V1_ROW, "/v1/models/lgbm:predict", "tabforge-v1", 64),
    "binary": Scenario(BINARY, INFER, "tabforge-binary-all", 16),  # binary_data_output true
}
WARMUP = Scenario("warm-up", INFER, "tabforge-1", 64)
DEFAULTS = {"duration": 10.0, "rounds": 3, "starts": 5}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/rustbench"))
    ap.add_argument(
        "--wrk-threads",
        type=int,
        default=0,
        help="wrk threads for every load run (default 2: the load of --workers 2)",
    )
    ap.add_argument("--duration", type=float, default=DEFAULTS["duration"], help="s per wrk run")
    ap.add_argument("--rounds", type=int, default=DEFAULTS["rounds"], help="best round is kept")
    ap.add_argument("--starts", type=int, default=DEFAULTS["starts"], help="timed starts each")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "RESULTS.md")
    ap.add_argument("--peers", default=",".join(PEERS), help="comma-separated subset to run")
    ap.add_argument("--tabforge", default=common.default_tabforge(), help="tabforge executable")
    ap.add_argument("--sessions", type=int, help="TABFORGE_SERVE_SESSIONS for the Rust engine")
    ap.add_argument("--rust-flags", default="", help="more `serve` flags for the Rust engine")
    args = ap.parse_args(argv)
    if args.duration <= 0 or args.rounds < 1 or args.starts < 1:
        ap.error("--duration, --rounds and --starts must be positive")
    args.peers = [p.strip() for p in args.peers.split(",") if p.strip()]
    if unknown := sorted(set(args.peers) - set(PEERS)):
        ap.error(f"unknown --peers {unknown}; choose from {', '.join(PEERS)}")
    args.workdir = args.workdir.resolve()
    args.workers = 2  # read by Bench: wrk -t2, and 16 ready answers in a row, for every server
    return args


def rerun_command(args: argparse.Namespace) -> str:
    cmd = [".venv/bin/python", "benchmarks/rust_bench.py", "--workdir", str(args.workdir)]
    for name, default in DEFAULTS.items():
        if getattr(args, name) != default:
            cmd += [f"--{name}", f"{getattr(args, name):g}"]
    out = args.out.resolve()
    if out != ROOT / "benchmarks" / "RESULTS.md":
        cmd += ["--out", str(out)]
    if args.peers != list(PEERS):
        cmd += ["--peers", ",".join(args.peers)]
    if args.sessions is not None:
        cmd += ["--sessions", str(args.sessions)]
    if args.rust_flags:
        cmd += ["--rust-flags", args.rust_flags]
    if args.tabforge != common.default_tabforge():
        cmd += ["--tabforge", args.tabforge]
    return shlex.join(cmd)


def ort_dylib() -> str:
    """The libonnxruntime.so.* of this environment's onnxruntime wheel (as `tabforge serve`
    hands it to the Rust server)."""
    import onnxruntime

    found = sorted((Path(onnxruntime.__file__).parent / "capi").glob("libonnxruntime.so.*"))
    if not found:
        sys.exit(f"no libonnxruntime.so.* beside {onnxruntime.__file__}")
    return str(found[-1])


def binary_id() -> str:
    """`tabforge-server --version`, its sha256 prefix and modification time."""
    try:
        data = RUST_SERVER.read_bytes()
        shown = subprocess.run(
            [str(RUST_SERVER), "--version"], capture_output=True, text=True, timeout=30
        ).stdout.strip()
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"unreadable ({exc})"
    built = dt.datetime.fromtimestamp(RUST_SERVER.stat().st_mtime).astimezone()
    digest = hashlib.sha256(data).hexdigest()[:12]
    return f"{shown or '?'}, sha256 {digest}, built {built:%Y-%m-%d %H:%M %Z}"


def server_env(args: argparse.Namespace, rust: bool) -> dict[str, str]:
    """The caller's environment without its TABFORGE_* settings (every server on defaults)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TABFORGE_")}
    if rust and args.sessions is not None:
        env["TABFORGE_SERVE_SESSIONS"] = str(args.sessions)
    return env


def serve_cmd(args: argparse.Namespace, flags: list[str], port: int) -> list[str]:
    """``tabforge serve FLAGS --registry DIR --port P``, as a user starts it."""
    registry = str(args.workdir / "models")
    return [args.tabforge, "serve", *flags, "--registry", registry, "--port", str(port)]


def rust_flags(args: argparse.Namespace) -> list[str]:
    return ["--engine", "rust", *shlex.split(args.rust_flags)]


def tabforge_server(
    bench: Bench, setup: Setup, peer: str, flags: list[str], scenarios: list[Scenario]
) -> Server:
    """``tabforge serve`` with ``flags`` on a free port, each scenario's body checked."""
    port = common.free_port()
    v2, ref = v2_parser(setup.classes["lgbm"]), setup.refs["lgbm"]
    checks = [
        Check(
            s.path,
            s.body,
            v1_parse if s.path.startswith("/v1/") else v2,
            ref[: bench.bodies[s.body].rows],
            "onnxruntime",
        )
        for s in scenarios
    ]
    cmd, env = serve_cmd(bench.args, flags, port), server_env(bench.args, rust="rust" in flags)
    return Server(peer, cmd, port, "/v2/models/lgbm/ready", scenarios, checks, WARMUP, env=env)


TABFORGE_PEERS = {  # --peers name: (peer, flags, scenarios)
    "rust": (RUST, [], ("v2", "v1", "binary")),  # + rust_flags(args)
    "python2": (PYTHON2, ["--workers", "2"], ("v2", "v1", "binary")),
    "python1": (PYTHON1, ["--workers", "1"], ("v2", "v1")),
}


def servers(bench: Bench, setup: Setup) -> list[Server]:
    """One round: every peer asked for, each on a fresh port."""
    args = bench.args
    found = []
    for name, (peer, flags, scenarios) in TABFORGE_PEERS.items():
        if name in args.peers:
            flags = rust_flags(args) if name == "rust" else flags
            wanted = [SCENARIOS[k] for k in scenarios]
            found.append(tabforge_server(bench, setup, peer, flags, wanted))
    if "mlserver" in args.peers and setup.venvs.get("mlserver") is not None:
        found.append(mlserver_server(setup, [Scenario(V2_ROW, INFER, "mlserver-1", 64)]))
    return found


def measure_all_starts(bench: Bench, dylib: str) -> dict[str, Starts]:
    """Start-to-ready and idle RSS: as a user starts the Rust engine, and the bare binary."""
    args, logs = bench.args, bench.args.workdir / "logs"
    env = server_env(args, rust=True)
    registry = str(args.workdir / "models")
    extra = shlex.split(args.rust_flags)

    def bare(port: int) -> list[str]:
        return [str(RUST_SERVER), *extra, "--registry", registry, "--port", str(port)]

    print("start-to-ready:", flush=True)
    return {
        "cli": measure_starts(
            bench.procs,
            "tabforge serve --engine rust",
            lambda port: serve_cmd(args, rust_flags(args), port),
            env,
            args.starts,
            logs,
        ),
        "bare": measure_starts(
            bench.procs,
            "bare tabforge-server",
            bare,
            env | {"ORT_DYLIB_PATH": dylib},
            args.starts,
            logs,
        ),
    }


def install_mlserver(args: argparse.Namespace, procs: Processes, setup: Setup) -> None:
    setup.notes["mlserver"] = "not run (--peers)"
    if "mlserver" in args.peers:
        setup.venvs["mlserver"], setup.notes["mlserver"] = ensure_venv(
            procs,
            args.workdir / "mlserver-venv",
            MLSERVER_SPECS,
            ["mlserver", "mlserver-lightgbm", "lightgbm"],
            args.workdir / "logs" / "install-mlserver",
        )


def run(args: argparse.Namespace, procs: Processes, meta: dict[str, Any]) -> int:
    workdir = args.workdir
    ensure_data(workdir)
    x = features(workdir)
    versions = {"lgbm": ensure_tabforge_model(workdir, args.tabforge, "lgbm", LGBM_TRAIN)}
    setup = references(workdir, x, versions, ensure_native_model(workdir))
    install_mlserver(args, procs, setup)  # before any timed run: pip never shares the machine
    bench = Bench(args, procs, write_bodies(workdir, x))
    meta["ort_dylib"] = ort_dylib()
    starts = measure_all_starts(bench, meta["ort_dylib"]) if "rust" in args.peers else {}
    if "ceiling" in args.peers:
        run_ceiling(bench, workdir / "models" / "lgbm" / str(setup.lgbm))
    for k in range(args.rounds):
        print(f"round {k + 1} of {args.rounds}", flush=True)
        for srv in servers(bench, setup):
            if k > 0:
                srv.checks = []  # answers are checked in the first round
            slug = re.sub(r"[^a-z0-9]+", "-", srv.peer.lower()).strip("-")
            bench.run_server(srv, f"{slug}-{k + 1}")
    if "mlserver" in args.peers and setup.venvs.get("mlserver") is None:
        bench.fail(
            "MLServer",
            [Scenario(V2_ROW, INFER, "mlserver-1", 64)],
            f"install: {setup.notes['mlserver']}",
        )
    keep_best_rounds(bench, tags=("",))  # every peer ran in rounds
    finish_meta(args, meta, setup)
    section = render(bench, starts, meta)
    print()
    print(section)
    common.write_section(args.out, RUST_SECTION_HEADING, section)
    print(f"wrote the {RUST_SECTION_HEADING!r} section of {args.out}")
    return 0


def finish_meta(args: argparse.Namespace, meta: dict[str, Any], setup: Setup) -> None:
    mls = setup.venvs.get("mlserver") or {}
    now = binary_id()
    rebuilt = "" if now == meta["binary"] else f" (REBUILT during the run: now {now})"
    meta["versions"] = ", ".join(
        [f"{d} {dist_version(d)}" for d in ("tabforge", "onnxruntime")]
        + [f"{meta['binary']}{rebuilt}", f"wrk {wrk_version()}"]
        + ([fmt_versions(mls)] if mls else [])
    )
    sessions = args.sessions if args.sessions is not None else "unset (one per core)"
    flags = f"`{args.rust_flags}`" if args.rust_flags else "none (its defaults)"
    meta["rust_note"] = f"TABFORGE_SERVE_SESSIONS {sessions}; more flags: {flags}"
    meta["mlserver_note"] = (
        mlserver_note(setup) if mls else setup.notes.get("mlserver", "not run (--peers)")
    )
    meta["rerun"] = rerun_command(args)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed (apt-get install wrk)")
    if "rust" in args.peers and not RUST_SERVER.is_file():
        sys.exit(f"no {RUST_SERVER}: run `make install` (it builds rust/)")
    meta: dict[str, Any] = {
        "started": dt.datetime.now().astimezone(),
        "load_start": os.getloadavg()[0],
        "nproc": subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip(),
        "binary": binary_id(),
    }
    args.workdir.mkdir(parents=True, exist_ok=True)
    return guarded(lambda procs: run(args, procs, meta))


if __name__ == "__main__":
    sys.exit(main())

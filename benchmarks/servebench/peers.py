"""The peers: tabforge (default flags, then batching off and on), MLServer and FastAPI, each
with its scenarios and the references its answers are checked against."""

from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import common  # benchmarks/common.py, beside the entry script
from common import POSITIVE

from .abtest import ABResult, Side, cpu_split, run_ab, start_side
from .bench import Bench, Scenario, Server
from .checks import Check, Parse, check, fastapi_parse, mlserver_parse, v2_parser
from .config import BATCH, HELPERS, MONITOR_ROWS
from .installs import fmt_versions, venv_versions
from .wrk import Result


@dataclass
class Setup:
    """What every peer needs: models, references for the checks, installed venvs."""

    workdir: Path
    lgbm: int  # stored versions
    logreg: int | None  # None: not trained (benchmarks/rust_bench.py serves lgbm alone)
    native: Path
    refs: dict[str, list[float]]  # P(yes) for the first row / first BATCH rows
    classes: dict[str, list[str]]
    venvs: dict[str, dict[str, str] | None] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)


def references(workdir: Path, x: Any, versions: dict[str, int], native: Path) -> Setup:
    """P(yes) from in-process onnxruntime (stored models) and native LightGBM (text model)."""
    import lightgbm
    import onnxruntime as ort

    refs: dict[str, list[float]] = {}
    classes: dict[str, list[str]] = {}
    for name, number in versions.items():
        model_dir = workdir / "models" / name / str(number)
        manifest = json.loads((model_dir / "manifest.json").read_text())
        classes[name] = [str(c) for c in manifest["outputs"]["classes"]]
        session = ort.InferenceSession(str(model_dir / "model.onnx"))
        at = [o.name for o in session.get_outputs()].index("probabilities")
        proba = session.run(None, {"numeric": x[:BATCH]})[at][:, classes[name].index(POSITIVE)]
        refs[name] = [float(p) for p in proba]
    refs["native"] = [float(p) for p in lightgbm.Booster(model_file=str(native)).predict(x[:BATCH])]
    return Setup(workdir, versions["lgbm"], versions.get("logreg"), native, refs, classes)


def _check(path: str, body: str, parse: Parse, ref: list[float], what: str) -> Check:
    return Check(path, body, parse, ref[: 1 if body.endswith("-1") else BATCH], what)


def _option_default(help_text: str, option: str) -> int | None:
    """The ``[default: N]`` click prints for ``option`` (its text may wrap onto more lines)."""
    m = re.search(rf"{re.escape(option)}\b[^\n]*(?:\n(?!\s*-)[^\n]*)*", help_text)
    d = re.search(r"\[default:\s*(-?\d+)\]", m.group(0)) if m else None
    return int(d.group(1)) if d else None


_INFER = {m: f"/v2/models/{m}/infer" for m in ("lgbm", "logreg")}  # tabforge's paths


def run_tabforge(
    bench: Bench, setup: Setup, tabforge: str, help_text: str, single: list[int]
) -> str:
    """Default flags, then batching off and on; returns the note for the report."""
    args = bench.args
    base = [tabforge, "serve", "--registry", str(setup.workdir / "models")]
    base += ["--workers", str(args.workers)]
    lgbm_parse, lgbm_ref = v2_parser(setup.classes["lgbm"]), setup.refs["lgbm"]
    warmup = Scenario("warm-up", _INFER["lgbm"], "tabforge-1", 16)

    port = common.free_port()
    srv = Server(
        "tabforge (default flags)",
        [*base, "--port", str(port)],
        port,
        "/v2/models/lgbm/ready",
        [
            *(Scenario(f"1 row JSON, c={c}", _INFER["lgbm"], "tabforge-1", c) for c in single),
            Scenario(f"{BATCH:,} rows JSON, c=16", _INFER["lgbm"], "tabforge-batch", 16),
            Scenario(f"{BATCH:,} rows binary, c=16", _INFER["lgbm"], "tabforge-binary", 16),
        ],
        [
            _check(_INFER["lgbm"], body, lgbm_parse, lgbm_ref, "ceiling")
            for body in ("tabforge-1", "tabforge-batch", "tabforge-binary")
        ],
        warmup,
    )
    bench.run_server(srv, "tabforge-default")

    if "--max-batch-rows" not in help_text:
        note = (
            "this `tabforge serve` has no `--max-batch-rows`: only the unbatched configuration "
            "(default flags) was run"
        )
        print(f"tabforge: {note}")
        return note
    default_rows = _option_default(help_text, "--max-batch-rows")
    default_delay = _option_default(help_text, "--max-delay-us")
    on_rows = args.batch_rows_on or default_rows or 256
    modes = {"off": ["--max-batch-rows", "0"], "on": ["--max-batch-rows", str(on_rows)]}
    _batching_rounds(bench, setup, base, modes, warmup)
    if "--no-monitor" in help_text:
        _monitoring_ab(bench, setup, tabforge)
    keep_best_rounds(bench)
    return (
        f"default flags for the main rows; `serve --help` has `--max-batch-rows` (default "
        f"{default_rows}) and `--max-delay-us` (default {default_delay}); batching off = "
        f"`--max-batch-rows 0`, on = `--max-batch-rows {on_rows}` with the default delay"
    )


def _rounds(
    bench: Bench,
    base: list[str],
    warmup: Scenario,
    what: str,
    modes: dict[str, list[str]],
    ready: str,
    scenarios: list[Scenario],
    checks: list[Check],
) -> None:
    """``tabforge ({what} MODE)`` for each mode, ``--rounds`` times, interleaved so that
    drift on the machine hits every mode alike; answers are checked in the first round."""
    for k in range(bench.args.rounds):
        for mode, flags in modes.items():
            port = common.free_port()
            srv = Server(
                f"tabforge ({what} {mode})",
                [*base, "--port", str(port), *flags],
                port,
                ready,
                scenarios,
                checks if k == 0 else [],
                warmup,
            )
            bench.run_server(srv, f"tabforge-{what}-{mode}-{k + 1}")


def _batching_rounds(
    bench: Bench, setup: Setup, base: list[str], modes: dict[str, list[str]], warmup: Scenario
) -> None:
    """Both models at c=64 with batching off and on."""
    lgbm_parse, logreg_parse = v2_parser(setup.classes["lgbm"]), v2_parser(setup.classes["logreg"])
    lgbm_ref, logreg_ref = setup.refs["lgbm"], setup.refs["logreg"]
    scenarios = [
        Scenario(f"{m}, 1 row JSON, c=64", _INFER[m], "tabforge-1", 64) for m in ("lgbm", "logreg")
    ]
    checks = [
        _check(_INFER["lgbm"], "tabforge-1", lgbm_parse, lgbm_ref, "ceiling"),
        _check(_INFER["logreg"], "tabforge-1", logreg_parse, logreg_ref, "onnxruntime"),
    ]
    ready = "/v2/models/logreg/ready"
    _rounds(bench, base, warmup, "batching", modes, ready, scenarios, checks)


def _monitoring_ab(bench: Bench, setup: Setup, tabforge: str) -> None:
    """Drift monitoring on (the default) and off, side by side (abtest.py), one worker each,
    in the two rows its overhead target names."""
    args = bench.args
    split = cpu_split()
    server_cpus, wrk_cpus = split if split is not None else (None, None)
    base = [tabforge, "serve", "--registry", str(setup.workdir / "models"), "--workers", "1"]
    check_binary = _check(_INFER["lgbm"], "tabforge-binary", v2_parser(setup.classes["lgbm"]),
                          setup.refs["lgbm"], "ceiling")  # fmt: skip
    sides: list[Side] = []
    try:
        for label, flags in (("on", []), ("off", ["--no-monitor"])):
            port = common.free_port()
            log = args.workdir / "logs" / f"tabforge-monitoring-{label}.log"
            print(f"tabforge (monitoring {label}, side by side): port {port}", flush=True)
            side = start_side(bench.procs, label, [*base, "--port", str(port), *flags], port,
                              log, server_cpus)  # fmt: skip
            why: str | None = None
            if isinstance(side, str):
                why = f"monitoring {label} did not start: {side}"
            else:
                sides.append(side)
                why, note = check(side.url, bench.bodies["tabforge-binary"], check_binary)
                bench.notes.append(f"tabforge (monitoring {label}), `POST {_INFER['lgbm']}` "
                                   f"(tabforge-binary): {note or f'FAILED: {why}'}")  # fmt: skip
            if why is not None:
                bench.ab = [
                    ABResult(name, "on", "off", failed=why) for name in MONITOR_ROWS.values()
                ]
                return
        for key, name in MONITOR_ROWS.items():
            bench.ab.append(run_ab((sides[0], sides[1]), bench.bodies[key], name,
                                   seconds=args.duration, rounds=args.ab_rounds,
                                   logs=args.workdir / "logs", wrk_cpus=wrk_cpus))  # fmt: skip
    finally:
        for started in sides:
            bench.procs.stop(started.proc)


ROUNDED = ("(batching",)  # peers run in rounds: the best round is kept


def keep_best_rounds(bench: Bench, tags: tuple[str, ...] = ROUNDED) -> None:
    """One row per (peer, scenario) of the peers whose name holds one of ``tags``: the round
    with the most req/s (a failed row if all failed). The other rows are kept as they are."""
    best: dict[tuple[str, str], Result] = {}
    for r in bench.results:
        if any(tag in r.peer for tag in tags):
            old = best.get((r.peer, r.scenario))
            if old is None or (r.req_s or -1) > (old.req_s or -1):
                best[(r.peer, r.scenario)] = r
    rest = [r for r in bench.results if not any(tag in r.peer for tag in tags)]
    bench.results = rest + list(best.values())


def run_mlserver(bench: Bench, setup: Setup, single: list[int]) -> str:
    path = "/v2/models/lgbm/infer"
    scenarios = [
        *(Scenario(f"1 row JSON, c={c}", path, "mlserver-1", c) for c in single),
        Scenario(f"{BATCH:,} rows JSON, c=16", path, "mlserver-batch", 16),
    ]
    if setup.venvs.get("mlserver") is None:
        bench.fail("MLServer", scenarios, f"install: {setup.notes['mlserver']}")
        return f"install failed: {setup.notes['mlserver']}"
    bench.run_server(mlserver_server(setup, scenarios), "mlserver")
    return mlserver_note(setup)


def mlserver_server(setup: Setup, scenarios: list[Scenario]) -> Server:
    """MLServer (installed: ``setup.venvs["mlserver"]``) on the native model, on a free port:
    its model repository and settings are written anew."""
    versions = setup.venvs.get("mlserver") or {}
    path = "/v2/models/lgbm/infer"
    venv = setup.workdir / "mlserver-venv"
    repo = setup.workdir / "mlserver-repo"
    (repo / "lgbm").mkdir(parents=True, exist_ok=True)
    shutil.copyfile(setup.native, repo / "lgbm" / "model.txt")
    port = common.free_port()
    settings = {
        "host": "127.0.0.1",
        "http_port": port,
        "grpc_port": common.free_port(),
        "metrics_port": common.free_port(),
        "parallel_workers": 0,  # its inference pool crashes with current uvloop
        "debug": False,  # no access log (tabforge and FastAPI run without one too)
    }
    (repo / "settings.json").write_text(json.dumps(settings, indent=2) + "\n")
    model_settings = {
        "name": "lgbm",
        "implementation": "mlserver_lightgbm.LightGBMModel",
        "parameters": {"uri": "./model.txt"},
    }
    (repo / "lgbm" / "model-settings.json").write_text(json.dumps(model_settings, indent=2) + "\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLSERVER")}
    env["PATH"] = f"{venv / 'bin'}:{env.get('PATH', '')}"
    ref = setup.refs["native"]
    return Server(
        f"MLServer {versions.get('mlserver', '?')}",
        [str(venv / "bin" / "mlserver"), "start", str(repo)],
        port,
        "/v2/models/lgbm/ready",
        scenarios,
        [
            _check(path, body, mlserver_parse, ref, "native LightGBM")
            for body in ("mlserver-1", "mlserver-batch")
        ],
        Scenario("warm-up", path, "mlserver-1", 16),
        cwd=repo,
        env=env,
    )


def mlserver_note(setup: Setup) -> str:
    """How MLServer was installed and configured, for the report."""
    venv = setup.workdir / "mlserver-venv"
    parser = (
        "httptools"
        if venv_versions(venv / "bin" / "python", ["httptools"])
        else "h11 (httptools is not among its dependencies)"
    )
    return (
        f"{fmt_versions(setup.venvs.get('mlserver') or {})} in `{venv}` "
        f"({setup.notes['mlserver']}); settings.json: "
        "`parallel_workers` 0, `debug` false (no access log), metrics on their own port; "
        f"adaptive batching off (its default); uvicorn's HTTP parser: {parser}; the native "
        "LightGBM text model, V2 input `predict` FP32 [N, 30]"
    )


def run_fastapi(bench: Bench, setup: Setup, single: list[int]) -> str:
    scenarios = [
        *(Scenario(f"1 row JSON, c={c}", "/predict", "fastapi-1", c) for c in single),
        Scenario(f"{BATCH:,} rows JSON, c=16", "/predict", "fastapi-batch", 16),
    ]
    versions = setup.venvs.get("fastapi")
    if versions is None:
        bench.fail("FastAPI + LightGBM", scenarios, f"install: {setup.notes['fastapi']}")
        return f"install failed: {setup.notes['fastapi']}"
    venv = setup.workdir / "fastapi-venv"
    port = common.free_port()
    env = dict(os.environ)
    env["SERVE_BENCH_MODEL"] = str(setup.native)
    cmd = [
        str(venv / "bin" / "uvicorn"), "fastapi_app:app", "--app-dir", str(HELPERS),
        "--host", "127.0.0.1", "--port", str(port), "--workers", str(bench.args.workers),
        "--loop", "uvloop", "--http", "httptools", "--no-access-log", "--log-level", "warning",
    ]  # fmt: skip
    ref = setup.refs["native"]
    srv = Server(
        "FastAPI + LightGBM",
        cmd,
        port,
        "/health",
        scenarios,
        [
            _check("/predict", body, fastapi_parse, ref, "native LightGBM")
            for body in ("fastapi-1", "fastapi-batch")
        ],
        Scenario("warm-up", "/predict", "fastapi-1", 16),
        env=env,
    )
    bench.run_server(srv, "fastapi")
    return (
        f"{fmt_versions(versions)} in `{venv}`; `benchmarks/serve_bench/fastapi_app.py` "
        "(pydantic request model, sync handler, `Booster.predict` on the native text model) "
        "under uvicorn with uvloop + httptools, no access log"
    )

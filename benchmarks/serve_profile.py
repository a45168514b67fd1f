"""Where a single-row V2 request's time goes inside tabforge (no HTTP, no load generator).

Calls each stage of the request path in a loop on the benchmark's LightGBM model, then the
whole ASGI app in-process (one request at a time, and 16 at once as under load), then the
same with inference run inline instead of in a worker thread, and with metrics disabled,
to show what the thread handoff and the Prometheus bookkeeping cost, and a bare round trip
to a worker thread both ways the server could make it. Last, the fast lane as the server
runs it (serve/fastlane.py): 16 connections' raw HTTP requests fed to the protocol at once,
per loop turn, writes to a transport that drops them: process CPU per request as shipped,
without metrics, without monitoring, and with runs on a thread. Run after
`benchmarks/serve_bench.py` (it uses that script's registry):

    .venv/bin/python benchmarks/serve_profile.py [--registry /tmp/servebench/models]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import uvloop

from tabforge.contract import v2
from tabforge.serve import batching
from tabforge.serve import metrics as metrics_module
from tabforge.serve.app import create_app
from tabforge.serve.settings import ServeSettings


def per_call(fn: Callable[[], Any], n: int = 20_000) -> float:
    for _ in range(200):
        fn()
    started = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - started) / n * 1e6


def whole_app(registry: Path, body: bytes) -> tuple[float, float]:
    app = create_app(ServeSettings(registry=str(registry), models=("lgbm",)))
    app.service.repo.load()
    scope = {
        "type": "http", "method": "POST", "path": "/v2/models/lgbm/infer",
        "headers": [(b"content-type", b"application/json")],
    }  # fmt: skip

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: Any) -> None:
        return None

    async def run() -> tuple[float, float]:
        for _ in range(300):
            await app(scope, receive, send)
        started = time.perf_counter()
        for _ in range(3000):
            await app(scope, receive, send)
        one = (time.perf_counter() - started) / 3000 * 1e6
        started = time.perf_counter()
        for _ in range(400):
            await asyncio.gather(*(app(scope, receive, send) for _ in range(16)))
        sixteen = (time.perf_counter() - started) / 6400 * 1e6
        app.service.pool.shutdown()
        return one, sixteen

    return uvloop.run(run())


def thread_round_trips() -> tuple[float, float]:
    """One no-op round trip to a worker thread and back: run_in_executor vs InferenceThreads."""
    from concurrent.futures import ThreadPoolExecutor

    async def run() -> tuple[float, float]:
        loop = asyncio.get_running_loop()
        n = 5000
        with ThreadPoolExecutor(2) as pool:
            for _ in range(200):
                await loop.run_in_executor(pool, int)
            started = time.perf_counter()
            for _ in range(n):
                await loop.run_in_executor(pool, int)
            executor = (time.perf_counter() - started) / n * 1e6
        threads = batching.InferenceThreads(2)
        try:
            started = time.perf_counter()
            for _ in range(n):
                future = loop.create_future()
                threads.submit(loop, int, 0, future.set_result)
                await future
            dedicated = (time.perf_counter() - started) / n * 1e6
        finally:
            threads.shutdown()
        return executor, dedicated

    return uvloop.run(run())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--registry", type=Path, default=Path("/tmp/servebench/models"))
    parser.add_argument("--lane", help=argparse.SUPPRESS)  # one lane variant, in a child
    args = parser.parse_args()
    if not (args.registry / "lgbm").is_dir():
        raise SystemExit(
            f"serve_profile: no model 'lgbm' in {args.registry}; `make bench` trains it there"
        )
    rng = np.random.default_rng(0)
    row = [round(float(v), 4) for v in rng.normal(size=30)]
    body = json.dumps(
        {"inputs": [{"name": "numeric", "shape": [1, 30], "datatype": "FP32", "data": row}]}
    ).encode()
    if args.lane:
        print(lane_in_process(args.registry, body, LANE_VARIANTS[args.lane]))
        return
    print("| stage | us per call |\n|---|---:|")
    for name, us in stage_timings(args.registry, body).items():
        print(f"| {name} | {us:.1f} |")
    rows = whole_app_variants(args.registry, body)
    executor, dedicated = thread_round_trips()
    print("\n| no-op round trip to a worker thread | us |\n|---|---:|")
    print(f"| loop.run_in_executor | {executor:.0f} |")
    print(f"| InferenceThreads (used by the server) | {dedicated:.0f} |")
    print(
        "\n| whole ASGI app in-process | us per request, 1 at a time | us per request, 16 at once |"
    )
    print("|---|---:|---:|")
    for name, (one, sixteen) in rows:
        print(f"| {name} | {one:.0f} | {sixteen:.0f} |")
    lane_table(args.registry)


def lane_table(registry: Path, repeat: int = 3) -> None:
    """Each lane variant in a fresh process (the CPU clock counts every thread), in turn,
    ``repeat`` times: the runs and their median."""
    runs: dict[str, list[float]] = {name: [] for name in LANE_VARIANTS}
    for _ in range(repeat):
        for name in LANE_VARIANTS:
            out = subprocess.run(
                [sys.executable, __file__, "--registry", str(registry), "--lane", name],
                capture_output=True, text=True, check=True,
            ).stdout  # fmt: skip
            runs[name].append(float(out.split()[-1]))
    print("\n| fast lane in-process, 16 connections at once | process CPU us per request, "
          "runs | median |\n|---|---|---:|")  # fmt: skip
    for name, found in runs.items():
        each = " / ".join(f"{v:.0f}" for v in found)
        print(f"| {name} | {each} | {statistics.median(found):.0f} |")


def stage_timings(registry: Path, body: bytes) -> dict[str, float]:
    """Microseconds per call of each stage a single-row V2 request goes through."""
    app = create_app(ServeSettings(registry=str(registry), models=("lgbm",)))
    app.service.repo.load()
    version, predictor = app.service.repo.get("lgbm", None)
    manifest = predictor.manifest
    request = v2.decode_request(body)
    feed = v2.assemble(request, manifest.inputs, max_rows=100_000)
    outputs = predictor.run(feed)
    metrics = app.service.metrics
    stages = {
        "decode JSON (msgspec)": lambda: v2.decode_request(body),
        "validate + build tensors": lambda: v2.assemble(request, manifest.inputs, max_rows=100_000),
        "onnxruntime run (1 row)": lambda: predictor.run(feed),
        "encode response": lambda: v2.response(request, "lgbm", version, outputs, manifest),
        "metrics for one request": lambda: metrics.request_done("lgbm", "1", "v2", 200, 1e-3),
    }
    app.service.pool.shutdown()
    return {name: per_call(fn) for name, fn in stages.items()}


def whole_app_variants(registry: Path, body: bytes) -> list[tuple[str, tuple[float, float]]]:
    """The whole app as shipped, with inference inline, and with metrics disabled."""
    rows = [("as shipped", whole_app(registry, body))]
    dispatch = batching.Batcher._dispatch

    def inline(self: batching.Batcher, batch: list[Any]) -> None:
        self._busy += 1
        self._finish(batch, self._execute(batch))

    batching.Batcher._dispatch = inline  # type: ignore[method-assign]
    rows.append(("inference inline (no thread handoff)", whole_app(registry, body)))
    batching.Batcher._dispatch = dispatch  # type: ignore[method-assign]

    real = metrics_module.ServerMetrics.__init__

    def no_metrics(self: metrics_module.ServerMetrics, shared: Path | None = None) -> None:
        real(self, shared)
        _null_metrics(self)

    metrics_module.ServerMetrics.__init__ = no_metrics  # type: ignore[method-assign]
    rows.append(("metrics disabled", whole_app(registry, body)))
    metrics_module.ServerMetrics.__init__ = real  # type: ignore[method-assign]
    return rows


LANE_VARIANTS: dict[str, dict[str, Any]] = {
    "as shipped": {},
    "metrics disabled": {"metrics": False},
    "monitoring off": {"monitor": False},
    "runs on a thread (--inline-rows 0)": {"inline_rows": 0},
}


def lane_in_process(registry: Path, body: bytes, flags: dict[str, Any]) -> float:
    """Process CPU per request of the fast lane: 16 connections' requests per loop turn."""
    import uvicorn
    from uvicorn.server import ServerState

    from tabforge.serve.fastlane import FastProtocol

    raw = (
        b"POST /v2/models/lgbm/infer HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
        b"\r\nContent-Length: %d\r\n\r\n" % len(body) + body
    )

    class Dropped(asyncio.Transport):
        written = 0  # responses, over every connection

        def write(self, data: Any) -> None:
            Dropped.written += 1

        def is_closing(self) -> bool:
            return False

        def pause_reading(self) -> None:
            return None

        def resume_reading(self) -> None:
            return None

        def get_extra_info(self, name: str, default: Any = None) -> Any:
            return ("127.0.0.1", 1) if name in ("peername", "sockname") else default

    async def run() -> float:
        settings = ServeSettings(
            registry=str(registry), models=("lgbm",), monitor=flags.get("monitor", True),
            inline_rows=flags.get("inline_rows", 64),
        )  # fmt: skip
        app = create_app(settings)
        app.service.repo.load()
        app.service.start()
        if flags.get("metrics") is False:
            _null_metrics(app.service.metrics)
        config = uvicorn.Config(app, lifespan="off")
        config.load()
        state = ServerState()
        conns = []
        for _ in range(16):
            conn = FastProtocol(config, state, {}, header_timeout=10, body_timeout=10)
            conn.connection_made(Dropped())
            conns.append(conn)

        async def rounds(n: int) -> None:
            for _ in range(n):
                expected = Dropped.written + len(conns)
                for conn in conns:
                    conn.data_received(raw)
                while Dropped.written < expected:  # the next turn, or a thread, answers
                    await asyncio.sleep(0)

        await asyncio.sleep(2.0)  # start() loads the registry again in the background
        await rounds(300)
        started = time.process_time()
        await rounds(2000)
        spent = time.process_time() - started
        app.service.stop()
        app.service.pool.shutdown()
        return spent / (2000 * len(conns)) * 1e6

    return uvloop.run(run())


def _null_metrics(m: metrics_module.ServerMetrics) -> None:
    class Null:
        def __getattr__(self, name: str) -> Any:
            return lambda *a, **k: self

    for key in list(vars(m)):
        if key not in ("registry", "_children"):
            setattr(m, key, Null())
    m.request_done = lambda *a, **k: None  # type: ignore[method-assign]


if __name__ == "__main__":
    main()

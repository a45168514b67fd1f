"""What the serving benchmark runs, where its files are, and the targets it reports against."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "serve_bench.py"  # the entry script (the ceiling reruns it)
HELPERS = ROOT / "benchmarks" / "serve_bench"  # the FastAPI peer's app and wrk's Lua script
LUA_SCRIPT = HELPERS / "post.lua"

ROWS = 20_000
N_ESTIMATORS = 200
LGBM_TRAIN = ["--model", "lightgbm", "--param", f"n_estimators={N_ESTIMATORS}"]  # model "lgbm"
BATCH = 1_000  # rows per request in the batch scenarios
SECTION_HEADING = "## Serving"
PEERS = ("tabforge", "mlserver", "fastapi", "ceiling")


MLSERVER_SPECS = [
    ["mlserver==1.7.*", "mlserver-lightgbm==1.7.*"],
    ["mlserver", "mlserver-lightgbm"],
]


FASTAPI_SPEC = ["fastapi", "uvicorn", "uvloop", "httptools", "numpy"]  # + lightgbm, see below
INSTALL_TIMEOUT = 1200.0  # seconds per pip install
START_TIMEOUT = 180.0  # seconds for a server to answer ready
AGREE = 1e-5  # |P(server) - P(reference)| allowed for the same row
NOISY = 10.0  # others' CPU (% of one core) above which a run is flagged as disturbed
SPEEDUP_TARGET = 8.0  # tabforge single-row c=16 req/s over MLServer's
P99_TARGET_MS = 5.0
CEILING_SHARE_TARGET = 0.60  # tabforge 1,000-row binary rows/s over the ceiling's
NOISE = 0.03  # batching on may be this much below off and still count as "not slower"
MONITOR_COST = 0.05  # monitoring on may cost at most this share of the req/s with it off
MONITOR_ROWS = {"tabforge-1": "1 row JSON, c=16", "tabforge-binary": f"{BATCH:,} rows binary, c=16"}
GAIN = 0.05  # batching on must beat off by this much on logreg to count as a gain

# benchmarks/rust_bench.py (issue 23): the Rust engine against the Python one and MLServer.
RUST_SECTION_HEADING = "## Rust engine (issue 23)"
RUST_SERVER = ROOT / "rust" / "target" / "release" / "tabforge-server"  # built by make install
RUST_OVER_PYTHON = 1.6  # rust 1-row V2 JSON c=64 req/s over `tabforge serve --workers 2`'s
RUST_OVER_MLSERVER = 25.0  # ... over MLServer's
RUST_P99_MS = 2.0  # rust p99 in that run
RUST_V1_OVER_PYTHON = 10.0  # rust 1-row KServe V1 c=64 req/s over `--workers 2`'s
RUST_CEILING_SHARE = 1.0  # rust 1,000-row binary rows/s over the ceiling's
RUST_IDLE_RSS_MB = 60.0  # VmRSS after ready, one model loaded, in MB (10^6 bytes)
RUST_START_S = 1.0  # spawning `tabforge serve --engine rust` to /v2/health/ready 200

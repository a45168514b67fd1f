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
   tabforge (default flags, then batching off and on if ``tabforge serve`` has
   ``--max-batch-rows``), MLServer 1.7 with its LightGBM runtime (own venv,
   ``<workdir>/mlserver-venv``) and FastAPI + native LightGBM
   (``benchmarks/serve_bench/fastapi_app.py``, own venv, ``<workdir>/fastapi-venv``). The venvs
   are created and installed by this script on first use. The ceiling is onnxruntime in a child
   process calling ``session.run`` on ``lgbm``'s model.onnx.
4. Load from wrk (``benchmarks/serve_bench/post.lua`` sends one prepared body file per run),
   each run bounded by ``--duration``. Every peer is validated first (status 200, sane output,
   probabilities equal to the ceiling's or the native model's for the same row).
5. A markdown table with the targets, printed and written as the ``## Serving`` section of
   ``--out`` (other sections are kept).

Every server is started in its own session and its whole process group is killed at the end,
also on errors and Ctrl-C. A peer that fails to install or start is reported as failed and the
others still run.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
HELPERS = Path(__file__).resolve().parent / "serve_bench"
LUA_SCRIPT = HELPERS / "post.lua"
FASTAPI_APP = HELPERS / "fastapi_app.py"

FEATURES = [f"f{i:02d}" for i in range(30)]
TARGET = "y"
CLASSES = ("no", "yes")
POSITIVE = "yes"
ROWS = 20_000
N_ESTIMATORS = 200
BATCH = 1_000  # rows per request in the batch scenarios
SECTION_HEADING = "## Serving"
PEERS = ("tabforge", "mlserver", "fastapi", "ceiling")

MLSERVER_SPEC = ["mlserver==1.7.*", "mlserver-lightgbm==1.7.*"]
MLSERVER_FALLBACK = ["mlserver", "mlserver-lightgbm"]
FASTAPI_SPEC = ["fastapi", "uvicorn", "uvloop", "httptools", "numpy"]  # + lightgbm, pinned below

INSTALL_TIMEOUT = 1200.0  # seconds per pip install
START_TIMEOUT = 180.0  # seconds for a server to answer ready
AGREE = 1e-5  # |P(server) - P(reference)| allowed for the same row

# Targets (see the brief in README/RESULTS): single-row speed vs MLServer, binary batches vs the
# ceiling, and micro-batching never slower (within the noise band) and a gain on logreg.
SPEEDUP_TARGET = 8.0
P99_TARGET_MS = 5.0
CEILING_SHARE_TARGET = 0.60
NOISE = 0.03  # batching on may be this much below off and still count as "not slower"
GAIN = 0.05  # batching on must beat off by this much on logreg to count as a gain


# --------------------------------------------------------------------------------------------
# processes: everything started here is tracked and its process group killed at the end


class Processes:
    """Servers and installers started in their own sessions; ``kill_all`` ends their groups."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(
        self, cmd: list[str], log: Path, cwd: Path | None = None, env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=cwd,
                env=env,
                start_new_session=True,
            )
        self.procs.append(proc)
        return proc

    def stop(self, proc: subprocess.Popen[bytes], grace: float = 15.0) -> None:
        """SIGTERM the group, wait up to ``grace`` s, then SIGKILL whatever is left of it."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=grace)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=5)
        if proc in self.procs:
            self.procs.remove(proc)

    def run(
        self,
        cmd: list[str],
        log: Path,
        timeout: float,
        cwd: Path | None = None,
        env: dict[str, str] | None = None,
    ) -> tuple[int | None, str]:
        """Run to completion within ``timeout``; (exit code or None on time-out, output)."""
        proc = self.start(cmd, log, cwd=cwd, env=env)
        try:
            code: int | None = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            code = None
        self.stop(proc, grace=5.0)
        return code, log.read_text(errors="replace")

    def kill_all(self) -> None:
        for proc in list(self.procs):
            self.stop(proc, grace=5.0)


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def tree_rss_mib(pid: int) -> float | None:
    """VmRSS summed over ``pid`` and its descendants (shared pages count once per process)."""
    pids, seen, total_kib = [pid], set(), 0
    while pids:
        p = pids.pop()
        if p in seen:
            continue
        seen.add(p)
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total_kib += int(line.split()[1])
                        break
            for children in Path(f"/proc/{p}/task").glob("*/children"):
                pids += [int(c) for c in children.read_text().split()]
        except (OSError, ValueError):
            continue
    return total_kib / 1024 if seen and total_kib else None


def _tail(text: str, lines: int = 15, chars: int = 2500) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])[-chars:]


def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return lines[-1] if lines else "(no output)"


# --------------------------------------------------------------------------------------------
# data and models


def _chunk(rng: Any, n: int) -> Any:
    """``n`` rows as a pyarrow table; the same generator (and stream) as batch_bench.py."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    z = rng.standard_normal((n, 31), dtype=np.float32)
    x = np.empty((n, 30), dtype=np.float32)
    x[:, :10] = z[:, :10]  # standard normal
    scale = np.arange(1, 11, dtype=np.float32)
    x[:, 10:20] = z[:, 10:20] * 10 * scale + 100 * scale  # other scales and offsets
    x[:, 20:30] = np.exp(z[:, 20:30] / 2)  # skewed, positive
    logit = (
        1.2 * x[:, 0]
        - 0.8 * x[:, 1]
        + 0.6 * x[:, 2] * x[:, 3]
        + np.sin(2 * x[:, 4])
        + 0.4 * (x[:, 5] ** 2 - 1)
        + 0.5 * (x[:, 11] - 200) / 20
        - 0.7 * np.log(x[:, 20])
        + 0.8 * z[:, 30]  # noise
    )
    label = pc.take(pa.array(CLASSES), pa.array((logit > 0).astype(np.int8)))
    arrays = [pa.array(x[:, j]) for j in range(30)]
    return pa.Table.from_arrays([*arrays, label], names=[*FEATURES, TARGET])


def ensure_data(workdir: Path) -> Path:
    import numpy as np
    import pyarrow.parquet as pq

    path = workdir / "train.parquet"
    with contextlib.suppress(Exception):
        meta = pq.ParquetFile(path).metadata
        names = [meta.schema.column(i).name for i in range(meta.num_columns)]
        if meta.num_rows == ROWS and names == [*FEATURES, TARGET]:
            print(f"data: reusing {path}")
            return path
    tmp = path.with_name(path.name + ".tmp")
    pq.write_table(_chunk(np.random.default_rng(0), ROWS), tmp)
    os.replace(tmp, path)
    print(f"data: wrote {path} ({ROWS:,} rows)")
    return path


def features(workdir: Path) -> Any:
    """The training rows as a C-ordered float32 [N, 30] array."""
    import numpy as np
    import pyarrow.parquet as pq

    table = pq.read_table(workdir / "train.parquet", columns=FEATURES)
    return np.ascontiguousarray(
        np.column_stack([table.column(c).to_numpy() for c in FEATURES]), dtype=np.float32
    )


def _stored_versions(model_root: Path) -> list[int]:
    if not model_root.is_dir():
        return []
    return sorted(
        int(p.name)
        for p in model_root.iterdir()
        if p.name.isdigit() and (p / "model.onnx").is_file() and (p / "manifest.json").is_file()
    )


def ensure_tabforge_model(workdir: Path, tabforge: str, name: str, model: list[str]) -> int:
    registry = workdir / "models"
    if versions := _stored_versions(registry / name):
        print(f"model: reusing {name}:{versions[-1]}")
        return versions[-1]
    cmd = [
        tabforge, "train", str(workdir / "train.parquet"), "--target", TARGET, *model,
        "--name", name, "--registry", str(registry), "-q",
    ]  # fmt: skip
    print(f"model: {shlex.join(cmd)}", flush=True)
    proc = subprocess.run(
        cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=1800
    )
    found = re.findall(rf"^{name}:(\d+)\s*$", proc.stdout, flags=re.MULTILINE)
    if proc.returncode != 0 or not found:
        sys.exit(f"tabforge train failed (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return int(found[-1])


def ensure_native_model(workdir: Path) -> Path:
    path = workdir / "native" / "model.txt"
    if path.is_file():
        print(f"model: reusing {path}")
        return path
    import lightgbm
    import pandas as pd

    train = pd.read_parquet(workdir / "train.parquet")
    model = lightgbm.LGBMClassifier(n_estimators=N_ESTIMATORS, random_state=0, verbose=-1)
    model.fit(train[FEATURES], train[TARGET])
    if list(model.classes_) != list(CLASSES):  # the booster's output is P(classes_[1])
        sys.exit(f"native model classes {list(model.classes_)}, expected {list(CLASSES)}")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name("model.tmp.txt")
    model.booster_.save_model(str(tmp))
    os.replace(tmp, path)
    print(f"model: wrote native LightGBM text model {path}")
    return path


# --------------------------------------------------------------------------------------------
# request bodies


def _floats(values: Any) -> list[float]:
    """float32 values as the shortest decimals that read back to the same float32."""
    return [float(str(v)) for v in values]


@dataclass
class Body:
    path: Path
    rows: int
    content_type: str = "application/json"
    header_len: int | None = None  # Inference-Header-Content-Length for V2 binary


def v2_json(x: Any, name: str) -> bytes:
    n = int(x.shape[0])
    tensor = {"name": name, "shape": [n, 30], "datatype": "FP32", "data": _floats(x.ravel())}
    return json.dumps({"inputs": [tensor]}, separators=(",", ":")).encode()


def v2_binary(x: Any) -> tuple[bytes, int]:
    import numpy as np

    raw = np.ascontiguousarray(x, dtype="<f4").tobytes()
    header = {
        "inputs": [
            {
                "name": "numeric",
                "shape": [int(x.shape[0]), 30],
                "datatype": "FP32",
                "parameters": {"binary_data_size": len(raw)},
            }
        ],
        "outputs": [{"name": "probabilities", "parameters": {"binary_data": True}}],
    }
    head = json.dumps(header, separators=(",", ":")).encode()
    return head + raw, len(head)


def write_bodies(workdir: Path, x: Any) -> dict[str, Body]:
    out = workdir / "bodies"
    out.mkdir(parents=True, exist_ok=True)
    one, many = x[:1], x[:BATCH]
    payloads: dict[str, tuple[bytes, int, str, int | None]] = {
        "tabforge-1": (v2_json(one, "numeric"), 1, "application/json", None),
        "tabforge-batch": (v2_json(many, "numeric"), BATCH, "application/json", None),
        "mlserver-1": (v2_json(one, "predict"), 1, "application/json", None),
        "mlserver-batch": (v2_json(many, "predict"), BATCH, "application/json", None),
        "fastapi-1": (_rows_json(one), 1, "application/json", None),
        "fastapi-batch": (_rows_json(many), BATCH, "application/json", None),
    }
    binary, head_len = v2_binary(many)
    payloads["tabforge-binary"] = (binary, BATCH, "application/octet-stream", head_len)
    bodies = {}
    for key, (data, rows, content_type, header_len) in payloads.items():
        path = out / f"{key}.body"
        path.write_bytes(data)
        bodies[key] = Body(path, rows, content_type, header_len)
    return bodies


def _rows_json(x: Any) -> bytes:
    rows = [_floats(r) for r in x]
    return json.dumps({"rows": rows}, separators=(",", ":")).encode()


# --------------------------------------------------------------------------------------------
# HTTP checks


def http(
    url: str, body: Body | None = None, timeout: float = 30.0
) -> tuple[int, dict[str, str], bytes]:
    """(status, headers, body) of one request; status 0 and the reason when nothing answered."""
    data = body.path.read_bytes() if body is not None else None
    headers = {}
    if body is not None:
        headers["Content-Type"] = body.content_type
        if body.header_len is not None:
            headers["Inference-Header-Content-Length"] = str(body.header_len)
    request = urllib.request.Request(url, data=data, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:
            return resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, {k.lower(): v for k, v in exc.headers.items()}, exc.read()
    except (OSError, urllib.error.URLError) as exc:
        return 0, {}, str(exc).encode()


def wait_ready(proc: subprocess.Popen[bytes], url: str, log: Path, timeout: float) -> str | None:
    """None once ``url`` answers 200; else why not (the process died or time ran out)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return f"exited {proc.returncode}: {_last_line(log.read_text(errors='replace'))}"
        status, _, _ = http(url, timeout=2.0)
        if status == 200:
            return None
        time.sleep(0.2)
    return f"not ready after {timeout:g} s ({url})"


def _error_text(status: int, data: bytes) -> str:
    text = data.decode(errors="replace").strip()
    with contextlib.suppress(ValueError, AttributeError):
        text = str(json.loads(text).get("error", text))
    return f"HTTP {status}: {text[:200]}" if status else f"no answer: {text[:200]}"


def v2_probability(headers: dict[str, str], data: bytes, classes: list[str]) -> list[float]:
    """P(yes) per row from a V2 response (JSON, or binary tensor extension)."""
    import numpy as np

    head_len = headers.get("inference-header-content-length")
    head = json.loads(data[: int(head_len)] if head_len else data)
    at = int(head_len) if head_len else 0
    for out in head["outputs"]:
        params = out.get("parameters") or {}
        size = params.get("binary_data_size")
        if size is not None:
            values = np.frombuffer(data[at : at + int(size)], dtype="<f4")
            at += int(size)
        else:
            values = np.asarray(out["data"], dtype=np.float64)
        if out["name"] == "probabilities":
            shape = out["shape"]
            return [float(v) for v in values.reshape(shape)[:, classes.index(POSITIVE)]]
    raise ValueError(f"no probabilities output in {[o['name'] for o in head['outputs']]}")


def check(
    url: str, body: Body, parse: Any, expected: list[float], what: str
) -> tuple[str | None, str]:
    """(failure or None, note): one request must answer 200 with the expected probabilities."""
    status, headers, data = http(url, body)
    if status != 200:
        return _error_text(status, data), ""
    try:
        got = parse(headers, data)
    except (ValueError, KeyError, TypeError, IndexError) as exc:
        return f"unreadable response ({type(exc).__name__}: {exc})"[:200], ""
    if len(got) != body.rows:
        return f"{len(got)} probabilities for {body.rows} rows", ""
    worst = max(abs(g - e) for g, e in zip(got, expected, strict=True))
    if worst > AGREE or not all(0.0 <= g <= 1.0 for g in got):
        return f"P({POSITIVE}) differs from {what} by {worst:.2e} (> {AGREE:g})", ""
    return None, f"{body.rows} row(s): max |diff| vs {what} {worst:.1e}"


# --------------------------------------------------------------------------------------------
# wrk


@dataclass
class Result:
    peer: str
    scenario: str
    rows: int = 1
    req_s: float | None = None
    p50_ms: float | None = None
    p99_ms: float | None = None
    errors: int | None = None
    error_detail: str = ""
    rss_mib: float | None = None
    failed: str | None = None

    @property
    def rows_s(self) -> float | None:
        return None if self.req_s is None else self.req_s * self.rows


_UNITS_MS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}


def _ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text.strip())
    if not m:
        raise ValueError(f"unreadable latency {text!r}")
    return float(m.group(1)) * _UNITS_MS[m.group(2)]


def parse_wrk(text: str) -> dict[str, Any]:
    found: dict[str, Any] = {"errors": 0, "detail": []}
    for pct, key in (("50", "p50_ms"), ("99", "p99_ms")):
        m = re.search(rf"^\s*{pct}(?:\.0+)?%\s+(\S+)\s*$", text, flags=re.MULTILINE)
        if m:
            found[key] = _ms(m.group(1))
    m = re.search(r"^\s*(\d+) requests in", text, flags=re.MULTILINE)
    found["requests"] = int(m.group(1)) if m else 0
    m = re.search(r"^Requests/sec:\s+([\d.]+)", text, flags=re.MULTILINE)
    if m:
        found["req_s"] = float(m.group(1))
    m = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    if m and int(m.group(1)):
        found["errors"] += int(m.group(1))
        found["detail"].append(f"non-2xx {m.group(1)}")
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    if m:
        for kind, count in zip(("connect", "read", "write", "timeout"), m.groups(), strict=True):
            if int(count):
                found["errors"] += int(count)
                found["detail"].append(f"{kind} {count}")
    return found


def run_wrk(
    url: str, body: Body, connections: int, duration: float, workers: int, log: Path
) -> dict[str, Any]:
    """One bounded wrk run; its parsed numbers, or {"failed": reason}."""
    threads = 1 if connections == 1 or workers == 1 else 2
    cmd = [
        "wrk", f"-t{threads}", f"-c{connections}", f"-d{duration:g}s", "--latency",
        f"--timeout={max(5.0, 2 * duration):g}s", "-s", str(LUA_SCRIPT), url,
    ]  # fmt: skip
    env = dict(os.environ)
    env["SERVE_BENCH_BODY"] = str(body.path)
    env["SERVE_BENCH_CONTENT_TYPE"] = body.content_type
    env["SERVE_BENCH_HEADER_LEN"] = "" if body.header_len is None else str(body.header_len)
    log.parent.mkdir(parents=True, exist_ok=True)
    try:
        proc = subprocess.run(
            cmd,
            capture_output=True,
            text=True,
            env=env,
            timeout=duration + 60,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        return {"failed": f"wrk did not finish within {duration + 60:g} s"}
    log.write_text(f"$ {shlex.join(cmd)}\n{proc.stdout}\n{proc.stderr}")
    if proc.returncode != 0:
        return {"failed": f"wrk exit {proc.returncode}: {_last_line(proc.stderr + proc.stdout)}"}
    found = parse_wrk(proc.stdout)
    if not found["requests"] or "req_s" not in found:
        return {
            "failed": f"no request completed ({', '.join(found['detail']) or 'see ' + str(log)})"
        }
    return found


# --------------------------------------------------------------------------------------------
# peers


@dataclass
class Scenario:
    scenario: str  # label in the table
    path: str  # URL path
    body: str  # key in the bodies dict
    connections: int


@dataclass
class PeerRun:
    """One server process: how to start it, what to check, what to load it with."""

    peer: str
    cmd: list[str]
    ready_path: str
    scenarios: list[Scenario]
    checks: list[tuple[str, str, Any, list[float], str]]  # path, body, parse, expected, what
    cwd: Path | None = None
    env: dict[str, str] | None = None
    warmup: tuple[str, str] | None = None  # (path, body) for a short unmeasured run


@dataclass
class Bench:
    args: argparse.Namespace
    procs: Processes
    bodies: dict[str, Body]
    results: list[Result] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def fail(self, peer: str, scenarios: list[Scenario], reason: str) -> None:
        for s in scenarios:
            self.results.append(Result(peer, s.scenario, self.bodies[s.body].rows, failed=reason))

    def run_peer(self, run: PeerRun, port: int, tag: str) -> list[Result]:
        args = self.args
        log = args.workdir / "logs" / f"{tag}.log"
        print(f"{run.peer}: starting ({shlex.join(run.cmd)})", flush=True)
        proc = self.procs.start(run.cmd, log, cwd=run.cwd, env=run.env)
        base = f"http://127.0.0.1:{port}"
        try:
            why = wait_ready(proc, base + run.ready_path, log, START_TIMEOUT)
            if why is not None:
                self.failures.append(
                    f"{run.peer} did not start:\n\n```text\n{_tail(_read(log))}\n```"
                )
                self.fail(run.peer, run.scenarios, f"start: {why}")
                return []
            bad: dict[str, str] = {}  # body -> why its check failed; its runs are skipped
            for path, body, parse, expected, what in run.checks:
                failure, note = check(base + path, self.bodies[body], parse, expected, what)
                label = f"{run.peer}: `{path}` ({body})"
                if failure is not None:
                    bad[body] = failure
                    note = f"FAILED {failure}"
                print(f"  check {label}: {note}")
                self.notes.append(f"{label}: {note}")
            if run.warmup is not None:
                path, body = run.warmup
                if body not in bad:
                    run_wrk(
                        base + path,
                        self.bodies[body],
                        16,
                        1.0,
                        args.workers,
                        args.workdir / "logs" / f"{tag}-warmup.txt",
                    )
            done = []
            for s in run.scenarios:
                b = self.bodies[s.body]
                r = Result(run.peer, s.scenario, b.rows)
                if s.body in bad:
                    r.failed = f"check: {bad[s.body]}"
                else:
                    print(f"  {s.scenario} ...", end=" ", flush=True)
                    slug = re.sub(r"[^a-z0-9]+", "-", s.scenario.lower()).strip("-")
                    found = run_wrk(
                        base + s.path,
                        b,
                        s.connections,
                        args.duration,
                        args.workers,
                        args.workdir / "logs" / f"{tag}-{slug}.txt",
                    )
                    if "failed" in found:
                        r.failed = found["failed"]
                        print(f"FAILED {r.failed}")
                    else:
                        r.req_s, r.errors = found["req_s"], found["errors"]
                        r.p50_ms, r.p99_ms = found.get("p50_ms"), found.get("p99_ms")
                        r.error_detail = ", ".join(found["detail"])
                        print(
                            f"{r.req_s:,.0f} req/s, p50 {r.p50_ms} ms, p99 {r.p99_ms} ms, "
                            f"errors {r.errors}"
                        )
                    if proc.poll() is not None:
                        r.failed = f"server exited {proc.returncode} during the run"
                done.append(r)
            rss = tree_rss_mib(proc.pid)
            for r in done:
                r.rss_mib = rss
            self.results += done
            return done
        finally:
            self.procs.stop(proc)


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


# --------------------------------------------------------------------------------------------
# installs


def _venv_versions(python: Path, dists: list[str]) -> dict[str, str] | None:
    code = (
        "import json, importlib.metadata as m\n"
        f"print(json.dumps({{d: m.version(d) for d in {dists!r}}}))"
    )
    try:
        proc = subprocess.run(
            [str(python), "-c", code],
            capture_output=True,
            text=True,
            timeout=60,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if proc.returncode != 0:
        return None
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def ensure_venv(
    procs: Processes,
    venv: Path,
    specs: list[list[str]],
    dists: list[str],
    imports: str,
    log_dir: Path,
) -> tuple[dict[str, str] | None, str]:
    """Create ``venv`` and pip-install the first of ``specs`` that works; (versions, note).

    A venv whose stamp names a spec that installed before and still imports is reused.
    """
    python = venv / "bin" / "python"
    stamp = venv / ".serve_bench_installed"
    if stamp.is_file() and python.exists():
        ok, _ = procs.run([str(python), "-c", f"import {imports}"], log_dir / "import.log", 120)
        versions = _venv_versions(python, dists)
        if ok == 0 and versions is not None:
            print(f"venv: reusing {venv} ({_fmt_versions(versions)})")
            return versions, stamp.read_text().strip()
    base = shutil.which("python3") or sys.executable
    if not python.exists():
        print(f"venv: creating {venv} with {base}", flush=True)
        code, out = procs.run([base, "-m", "venv", str(venv)], log_dir / "venv.log", 300)
        if code != 0 or not python.exists():
            return None, f"python3 -m venv failed: {_last_line(out)}"
    errors = []
    for spec in specs:
        cmd = [str(python), "-m", "pip", "install", "--disable-pip-version-check", *spec]
        print(f"venv: {shlex.join(cmd)} (up to {INSTALL_TIMEOUT:g} s) ...", flush=True)
        start = time.perf_counter()
        code, out = procs.run(cmd, log_dir / "pip.log", INSTALL_TIMEOUT)
        if code is None:
            errors.append(f"pip timed out after {INSTALL_TIMEOUT:g} s ({' '.join(spec)})")
            continue
        if code != 0:
            lines = [ln for ln in out.splitlines() if ln.startswith("ERROR")] or [_last_line(out)]
            errors.append(f"pip exit {code} ({' '.join(spec)}): {lines[0][:200]}")
            continue
        ok, out = procs.run([str(python), "-c", f"import {imports}"], log_dir / "import.log", 120)
        versions = _venv_versions(python, dists)
        if ok != 0 or versions is None:
            errors.append(f"import {imports} failed: {_last_line(out)}")
            continue
        note = " ".join(spec) + (f" (after: {'; '.join(errors)})" if errors else "")
        stamp.write_text(note + "\n")
        print(f"venv: installed in {time.perf_counter() - start:.0f} s ({_fmt_versions(versions)})")
        return versions, note
    return None, "; ".join(errors)


def _fmt_versions(versions: dict[str, str]) -> str:
    return ", ".join(f"{k} {v}" for k, v in versions.items())


# --------------------------------------------------------------------------------------------
# ceiling (run as `serve_bench.py --child ceiling`)


def child_ceiling(model_dir: Path, workdir: Path, duration: float) -> dict[str, Any]:
    import numpy as np
    import onnxruntime as ort

    x = features(workdir)
    session = ort.InferenceSession(
        str(model_dir / "model.onnx"), providers=["CPUExecutionProvider"]
    )
    one, many = x[:1], x[:BATCH]
    for _ in range(200):
        session.run(None, {"numeric": one})
    times = []
    end = time.perf_counter() + duration
    while (now := time.perf_counter()) < end:
        session.run(None, {"numeric": one})
        times.append(time.perf_counter() - now)
    calls_s = len(times) / sum(times)
    batches, start = 0, time.perf_counter()
    end = start + duration
    while time.perf_counter() < end:
        session.run(None, {"numeric": many})
        batches += 1
    batch_s = batches / (time.perf_counter() - start)
    lat = np.percentile(np.asarray(times) * 1e3, [50, 99])
    return {
        "calls_s": calls_s,
        "p50_ms": float(lat[0]),
        "p99_ms": float(lat[1]),
        "batches_s": batch_s,
        "rss_mib": tree_rss_mib(os.getpid()),
    }


def run_ceiling(bench: Bench, model_dir: Path) -> None:
    args = bench.args
    cmd = [
        sys.executable, str(Path(__file__).resolve()), "--child", "ceiling",
        "--model-dir", str(model_dir), "--workdir", str(args.workdir),
        "--duration", f"{args.duration:g}",
    ]  # fmt: skip
    peer = "ceiling (onnxruntime in-process)"
    print(f"{peer}: {args.duration:g} s single-row calls, {args.duration:g} s 1,000-row batches")
    log = args.workdir / "logs" / "ceiling.log"
    code, out = bench.procs.run(cmd, log, timeout=2 * args.duration + 300)
    one = Result(peer, "1 row, session.run", 1)
    many = Result(peer, f"{BATCH:,} rows, session.run", BATCH)
    try:
        if code != 0:
            raise ValueError("timed out" if code is None else f"exit {code}: {_last_line(out)}")
        found = json.loads(out.strip().splitlines()[-1])
        one.req_s, one.p50_ms, one.p99_ms = found["calls_s"], found["p50_ms"], found["p99_ms"]
        many.req_s = found["batches_s"]
        one.rss_mib = many.rss_mib = found["rss_mib"]
        one.errors = many.errors = 0
    except (ValueError, KeyError, IndexError) as exc:
        one.failed = many.failed = str(exc)[:200]
    bench.results += [one, many]


# --------------------------------------------------------------------------------------------
# report


def _num(value: float | None, digits: int = 0) -> str:
    return "—" if value is None else f"{value:,.{digits}f}"


def _ms_cell(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:.3f}" if value < 1 else f"{value:.2f}" if value < 100 else f"{value:,.0f}"


def _cell(text: str, limit: int = 120) -> str:
    text = " ".join(text.split())
    return (text[: limit - 1] + "…" if len(text) > limit else text).replace("|", "\\|")


def table(results: list[Result]) -> list[str]:
    lines = [
        "| peer | scenario | req/s | rows/s | p50 ms | p99 ms | errors | RSS MiB |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        if r.failed is not None:
            lines.append(f"| {r.peer} | {r.scenario} | failed: {_cell(r.failed)} | | | | | |")
            continue
        flag = " (suspect)" if r.errors else ""
        errors = f"{r.errors:,} ({r.error_detail})" if r.errors else "0"
        lines.append(
            f"| {r.peer} | {r.scenario} | {_num(r.req_s)}{flag} | {_num(r.rows_s)}{flag} | "
            f"{_ms_cell(r.p50_ms)} | {_ms_cell(r.p99_ms)} | {errors} | {_num(r.rss_mib)} |"
        )
    return lines


def _find(results: list[Result], peer: str, scenario: str) -> Result | None:
    for r in results:
        if r.peer.startswith(peer) and r.scenario == scenario:
            return r
    return None


def _ok(r: Result | None) -> Result | None:
    """``r`` if it ran without failures or errors, else None."""
    if r is None or r.failed is not None or r.req_s is None or r.errors:
        return None
    return r


def _why_not(r: Result | None, what: str) -> str:
    if r is None:
        return f"{what} not run"
    if r.failed is not None:
        return f"{what} failed: {r.failed}"
    return f"{what} had {r.errors} errors"


def _verdict(ok: bool) -> str:
    return "**met**" if ok else "**not met**"


def targets(results: list[Result], batching: bool) -> list[str]:
    out = []
    tab_r = _find(results, "tabforge (default", "1 row JSON, c=16")
    mls_r = _find(results, "MLServer", "1 row JSON, c=16")
    tab, mls = _ok(tab_r), _ok(mls_r)
    head = (
        f"1. tabforge single-row JSON c=16 >= {SPEEDUP_TARGET:g}x MLServer req/s and p99 <= "
        f"{P99_TARGET_MS:g} ms:"
    )
    if tab is not None and mls is not None and tab.req_s and mls.req_s:
        ratio = tab.req_s / mls.req_s
        p99 = tab.p99_ms if tab.p99_ms is not None else float("inf")
        out.append(
            f"{head} {_verdict(ratio >= SPEEDUP_TARGET and p99 <= P99_TARGET_MS)} "
            f"({tab.req_s:,.0f} vs {mls.req_s:,.0f} req/s = {ratio:.1f}x; "
            f"p99 {_ms_cell(tab.p99_ms)} ms)"
        )
    elif tab is None:
        out.append(f"{head} **not met** ({_why_not(tab_r, 'tabforge')})")
    else:
        out.append(f"{head} **not measured** ({_why_not(mls_r, 'MLServer')})")

    bin_r = _find(results, "tabforge (default", f"{BATCH:,} rows binary, c=16")
    ceil_r = _find(results, "ceiling", f"{BATCH:,} rows, session.run")
    binary, ceiling = _ok(bin_r), _ok(ceil_r)
    head = (
        f"2. tabforge {BATCH:,}-row binary rows/s >= {100 * CEILING_SHARE_TARGET:.0f}% of the "
        "ceiling's:"
    )
    if binary is not None and ceiling is not None and binary.rows_s and ceiling.rows_s:
        share = binary.rows_s / ceiling.rows_s
        out.append(
            f"{head} {_verdict(share >= CEILING_SHARE_TARGET)} ({binary.rows_s:,.0f} vs "
            f"{ceiling.rows_s:,.0f} rows/s = {100 * share:.0f}%)"
        )
    elif binary is None:
        out.append(f"{head} **not met** ({_why_not(bin_r, 'the binary run')})")
    else:
        out.append(f"{head} **not measured** ({_why_not(ceil_r, 'the ceiling')})")

    head = (
        f"3. batching on >= off at c=64 for both models (on may be up to {100 * NOISE:.0f}% "
        f"below off: run-to-run noise), and on >= {1 + GAIN:.2f}x off on logreg:"
    )
    if not batching:
        out.append(f"{head} **not measured** (this `tabforge serve` has no `--max-batch-rows`)")
        return out
    parts, met = [], True
    for model in ("lgbm", "logreg"):
        on_r = _find(results, "tabforge (batching on", f"{model}, 1 row JSON, c=64")
        off_r = _find(results, "tabforge (batching off", f"{model}, 1 row JSON, c=64")
        on, off = _ok(on_r), _ok(off_r)
        if on is None or off is None or not on.req_s or not off.req_s:
            met = False
            why = _why_not(on_r, "on") if on is None else _why_not(off_r, "off")
            parts.append(f"{model}: {why}")
            continue
        ratio = on.req_s / off.req_s
        met = met and ratio >= 1 - NOISE and (model != "logreg" or ratio >= 1 + GAIN)
        parts.append(
            f"{model}: on {on.req_s:,.0f} vs off {off.req_s:,.0f} req/s = {ratio:.2f}x, p99 "
            f"{_ms_cell(on.p99_ms)} vs {_ms_cell(off.p99_ms)} ms"
        )
    out.append(f"{head} {_verdict(met)} ({'; '.join(parts)})")
    return out


def render(bench: Bench, meta: dict[str, Any]) -> str:
    args = bench.args
    lines = [
        SECTION_HEADING,
        "",
        f"Online inference over HTTP on 127.0.0.1: binary LightGBM ({N_ESTIMATORS} trees) and "
        f"logistic regression on 30 float32 features, trained on {ROWS:,} rows (numpy seed 0). "
        f"Load from wrk with a fixed body per run, {args.duration:g} s per run; every server was "
        "checked for status 200 and matching probabilities before it was timed.",
        "",
        f"- date: {meta['started'].strftime('%Y-%m-%d %H:%M %Z')}",
        f"- machine: {os.cpu_count()} cores (`os.cpu_count()`), {platform.system()} "
        f"{platform.machine()}, Python {platform.python_version()}; wrk runs on the same cores",
        f"- load average (1 min) at start / end: {meta['load_start']:.2f} / "
        f"{os.getloadavg()[0]:.2f}",
        f"- versions: {meta['versions']}",
        f"- server workers: {args.workers}{meta['workers_note']}",
        f"- duration per run: {args.duration:g} s{' (--quick)' if args.quick else ''}; "
        f"rounds of the batching comparison: {args.rounds} (best req/s kept)",
        f"- tabforge: {meta['tabforge_note']}",
        f"- MLServer: {meta['mlserver_note']}",
        f"- FastAPI: {meta['fastapi_note']}",
        "",
        *table(bench.results),
        "",
        "req/s is wrk's (a 1,000-row request counts once); rows/s = req/s x rows per request. "
        "Latencies are wrk's distribution (client side, including wrk's queueing). "
        "errors = non-2xx responses + socket errors (any error marks the numbers suspect). "
        "RSS is VmRSS summed over the server's process tree after its runs (shared pages count "
        "once per process); the ceiling's is its own process. Single-row JSON rows send one "
        "fixed row (tabforge: input `numeric` [1, 30] FP32; MLServer: input `predict` [1, 30] "
        'FP32; FastAPI: `{"rows": [[...]]}`). The binary rows use the V2 binary tensor '
        "extension (`Inference-Header-Content-Length`), request and response.",
        "",
        "Targets:",
        "",
        *targets(bench.results, meta["batching"]),
        "",
        "Checks before timing:",
        "",
        *[f"- {_cell(n, 300)}" for n in bench.notes],
        "",
    ]
    for failure in bench.failures:
        lines += [failure, ""]
    lines += [f"Rerun from the project root: `{meta['rerun']}`", ""]
    return "\n".join(lines)


def write_section(out: Path, section: str) -> None:
    """Replace the ``## Serving`` section of ``out`` (or append it), keep the rest."""
    text = out.read_text() if out.is_file() else "# Benchmarks\n"
    lines = text.splitlines()
    start = end = None
    fenced = False
    for i, line in enumerate(lines):
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        if fenced:
            continue
        if start is None and line.rstrip() == SECTION_HEADING:
            start = i
        elif start is not None and line.startswith("## "):
            end = i
            break
    body = section.rstrip("\n").splitlines()
    if start is None:
        while lines and not lines[-1].strip():
            lines.pop()
        new = [*lines, "", *body] if lines else body
    else:
        after = lines[end:] if end is not None else []
        new = [*lines[:start], *body, *([""] if after else []), *after]
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text("\n".join(new).rstrip("\n") + "\n")
    os.replace(tmp, out)


# --------------------------------------------------------------------------------------------
# main


def _default_tabforge() -> str:
    sibling = Path(sys.executable).with_name("tabforge")
    return str(sibling) if sibling.exists() else str(ROOT / ".venv" / "bin" / "tabforge")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/servebench"))
    ap.add_argument("--duration", type=float, help="seconds per wrk run (default 10; --quick 3)")
    ap.add_argument("--workers", type=int, default=1, help="server processes for every peer")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "RESULTS.md")
    ap.add_argument("--quick", action="store_true", help="3 s runs, fewer concurrency points")
    ap.add_argument("--rounds", type=int, help="batching on/off rounds (default 2; --quick 1)")
    ap.add_argument("--peers", default=",".join(PEERS), help="comma-separated subset to run")
    ap.add_argument("--tabforge", default=_default_tabforge(), help="tabforge executable")
    ap.add_argument("--batch-rows-on", type=int, help="--max-batch-rows for 'batching on'")
    ap.add_argument("--child", choices=("ceiling",), help=argparse.SUPPRESS)
    ap.add_argument("--model-dir", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.duration is None:
        args.duration = 3.0 if args.quick else 10.0
    if args.rounds is None:
        args.rounds = 1 if args.quick else 2
    if args.duration <= 0 or args.workers < 1 or args.rounds < 1:
        ap.error("--duration, --workers and --rounds must be positive")
    args.peers = [p.strip() for p in args.peers.split(",") if p.strip()]
    if unknown := sorted(set(args.peers) - set(PEERS)):
        ap.error(f"unknown --peers {unknown}; choose from {', '.join(PEERS)}")
    args.workdir = args.workdir.resolve()
    return args


def _rerun_command(args: argparse.Namespace) -> str:
    def show(p: Path) -> str:
        p = p.resolve()
        return str(p.relative_to(ROOT)) if p.is_relative_to(ROOT) else str(p)

    cmd = [".venv/bin/python", "benchmarks/serve_bench.py", "--workdir", str(args.workdir)]
    if not args.quick or args.duration != 3.0:
        cmd += ["--duration", f"{args.duration:g}"]
    cmd += ["--workers", str(args.workers), "--out", show(args.out)]
    if args.quick:
        cmd.append("--quick")
    if args.rounds != (1 if args.quick else 2):
        cmd += ["--rounds", str(args.rounds)]
    if args.peers != list(PEERS):
        cmd += ["--peers", ",".join(args.peers)]
    if args.batch_rows_on is not None:
        cmd += ["--batch-rows-on", str(args.batch_rows_on)]
    return shlex.join(cmd)


def _tabforge_help(tabforge: str) -> str:
    proc = subprocess.run(
        [tabforge, "serve", "--help"],
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    return proc.stdout + proc.stderr


def _option_default(help_text: str, option: str) -> int | None:
    m = re.search(rf"{re.escape(option)}\b[^\n]*(?:\n(?!\s*-)[^\n]*)*", help_text)
    if not m:
        return None
    d = re.search(r"\[default:\s*(-?\d+)\]", m.group(0))
    return int(d.group(1)) if d else None


def _dist_version(dist: str) -> str:
    try:
        return version(dist)
    except PackageNotFoundError:
        return "not installed"


def _wrk_version() -> str:
    try:
        proc = subprocess.run(["wrk", "-v"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"unavailable ({exc})"
    m = re.search(r"wrk (\S+)", proc.stdout + proc.stderr)
    return m.group(1) if m else "?"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child == "ceiling":
        print(json.dumps(child_ceiling(args.model_dir, args.workdir, args.duration)))
        return 0
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed (apt-get install wrk)")

    started = dt.datetime.now().astimezone()
    load_start = os.getloadavg()[0]
    args.workdir.mkdir(parents=True, exist_ok=True)
    procs = Processes()
    signal.signal(signal.SIGTERM, _raise_interrupt)
    signal.signal(signal.SIGHUP, _raise_interrupt)
    try:
        return _main(args, procs, started, load_start)
    except KeyboardInterrupt:
        print("\ninterrupted: stopping every server started here", file=sys.stderr)
        return 130
    finally:
        procs.kill_all()


def _main(
    args: argparse.Namespace, procs: Processes, started: dt.datetime, load_start: float
) -> int:
    import numpy as np

    workdir, tabforge = args.workdir, args.tabforge
    ensure_data(workdir)
    x = features(workdir)
    lgbm_v = ensure_tabforge_model(
        workdir,
        tabforge,
        "lgbm",
        ["--model", "lightgbm", "--param", f"n_estimators={N_ESTIMATORS}"],
    )
    logreg_v = ensure_tabforge_model(workdir, tabforge, "logreg", ["--model", "logistic"])
    native = ensure_native_model(workdir)
    bodies = write_bodies(workdir, x)
    bench = Bench(args, procs, bodies)

    # References for the checks: in-process onnxruntime on the stored models, native LightGBM.
    import lightgbm
    import onnxruntime as ort

    def onnx_p(name: str, number: int, rows: Any) -> tuple[list[float], list[str]]:
        model_dir = workdir / "models" / name / str(number)
        classes = [
            str(c)
            for c in json.loads((model_dir / "manifest.json").read_text())["outputs"]["classes"]
        ]
        session = ort.InferenceSession(str(model_dir / "model.onnx"))
        names = [o.name for o in session.get_outputs()]
        proba = session.run(None, {"numeric": rows})[names.index("probabilities")]
        return [float(p) for p in proba[:, classes.index(POSITIVE)]], classes

    lgbm_1, lgbm_classes = onnx_p("lgbm", lgbm_v, x[:1])
    lgbm_batch, _ = onnx_p("lgbm", lgbm_v, x[:BATCH])
    logreg_1, logreg_classes = onnx_p("logreg", logreg_v, x[:1])
    native_p = lightgbm.Booster(model_file=str(native)).predict(x[:BATCH])
    native_1, native_batch = [float(native_p[0])], [float(p) for p in native_p]

    def tab_parse(classes: list[str]) -> Any:
        return lambda headers, data: v2_probability(headers, data, classes)

    def mls_parse(headers: dict[str, str], data: bytes) -> list[float]:
        outputs = json.loads(data)["outputs"]
        return [float(v) for v in np.asarray(outputs[0]["data"], dtype=np.float64).ravel()]

    def fastapi_parse(headers: dict[str, str], data: bytes) -> list[float]:
        return [float(v) for v in json.loads(data)["proba"]]

    # Worker count: MLServer serves HTTP from one process only.
    workers_note = ""
    if args.workers > 1 and "mlserver" in args.peers:
        workers_note = (
            f" (asked for {args.workers}; MLServer 1.7 serves HTTP from one process only, its "
            "`parallel_workers` pool crashes with current uvloop, so every peer runs 1)"
        )
        args.workers = 1
    elif "mlserver" in args.peers:
        workers_note = (
            " (MLServer 1.7 serves HTTP from one process only and its `parallel_workers` pool "
            "is off, so 1 is the only equal count)"
        )

    # Installs first, so that no timed run shares the machine with pip.
    mls_versions = fa_versions = None
    mls_note = fa_note = "not run (--peers)"
    if "mlserver" in args.peers:
        mls_versions, mls_note = ensure_venv(
            procs,
            workdir / "mlserver-venv",
            [MLSERVER_SPEC, MLSERVER_FALLBACK],
            ["mlserver", "mlserver-lightgbm", "lightgbm"],
            "mlserver, mlserver_lightgbm",
            workdir / "logs" / "install-mlserver",
        )
    if "fastapi" in args.peers:
        lgb_pin = f"lightgbm=={_dist_version('lightgbm')}"
        fa_versions, fa_note = ensure_venv(
            procs,
            workdir / "fastapi-venv",
            [[*FASTAPI_SPEC, lgb_pin], [*FASTAPI_SPEC, "lightgbm"]],
            ["fastapi", "uvicorn", "pydantic", "lightgbm", "uvloop", "httptools"],
            "fastapi, uvicorn, uvloop, httptools, lightgbm",
            workdir / "logs" / "install-fastapi",
        )

    single = [16, 64] if args.quick else [1, 16, 64]  # concurrency points for single rows

    # 1. ceiling
    if "ceiling" in args.peers:
        run_ceiling(bench, workdir / "models" / "lgbm" / str(lgbm_v))

    # 2. tabforge: default flags, then batching off / on
    help_text = _tabforge_help(tabforge)
    batching = "--max-batch-rows" in help_text
    tabforge_note = "default `tabforge serve` flags for the main rows"
    if "tabforge" in args.peers:
        base_cmd = [
            tabforge,
            "serve",
            "--registry",
            str(workdir / "models"),
            "--workers",
            str(args.workers),
        ]
        infer = {m: f"/v2/models/{m}/infer" for m in ("lgbm", "logreg")}
        checks_lgbm = [
            (infer["lgbm"], "tabforge-1", tab_parse(lgbm_classes), lgbm_1, "ceiling"),
            (infer["lgbm"], "tabforge-batch", tab_parse(lgbm_classes), lgbm_batch, "ceiling"),
            (infer["lgbm"], "tabforge-binary", tab_parse(lgbm_classes), lgbm_batch, "ceiling"),
        ]
        scenarios = [
            *(Scenario(f"1 row JSON, c={c}", infer["lgbm"], "tabforge-1", c) for c in single),
            Scenario(f"{BATCH:,} rows JSON, c=16", infer["lgbm"], "tabforge-batch", 16),
            Scenario(f"{BATCH:,} rows binary, c=16", infer["lgbm"], "tabforge-binary", 16),
        ]
        port = free_port()
        default_label = "tabforge (default flags)"
        bench.run_peer(
            PeerRun(
                default_label,
                [*base_cmd, "--port", str(port)],
                "/v2/models/lgbm/ready",
                scenarios,
                checks_lgbm,
                warmup=(infer["lgbm"], "tabforge-1"),
            ),
            port,
            "tabforge-default",
        )
        if batching:
            default_rows = _option_default(help_text, "--max-batch-rows")
            default_delay = _option_default(help_text, "--max-delay-us")
            on_rows = args.batch_rows_on or (default_rows if default_rows else 256)
            tabforge_note = (
                f"`serve --help` has `--max-batch-rows` (default {default_rows}) and "
                f"`--max-delay-us` (default {default_delay}); batching off = "
                f"`--max-batch-rows 0`, on = `--max-batch-rows {on_rows}` with the default delay"
            )
            configs = {"off": ["--max-batch-rows", "0"], "on": ["--max-batch-rows", str(on_rows)]}
            checks_both = [
                (infer["lgbm"], "tabforge-1", tab_parse(lgbm_classes), lgbm_1, "ceiling"),
                (
                    infer["logreg"],
                    "tabforge-1",
                    tab_parse(logreg_classes),
                    logreg_1,
                    "onnxruntime in-process",
                ),
            ]
            best: dict[tuple[str, str], Result] = {}
            for k in range(args.rounds):
                for mode, flags in configs.items():
                    port = free_port()
                    label = f"tabforge (batching {mode})"
                    before = len(bench.results)
                    bench.run_peer(
                        PeerRun(
                            label,
                            [*base_cmd, "--port", str(port), *flags],
                            "/v2/models/logreg/ready",
                            [
                                Scenario(f"{m}, 1 row JSON, c=64", infer[m], "tabforge-1", 64)
                                for m in ("lgbm", "logreg")
                            ],
                            checks_both if k == 0 else [],
                            warmup=(infer["lgbm"], "tabforge-1"),
                        ),
                        port,
                        f"tabforge-batching-{mode}-{k + 1}",
                    )
                    for r in bench.results[before:]:
                        old = best.get((mode, r.scenario))
                        if old is None or (r.req_s or -1) > (old.req_s or -1):
                            best[(mode, r.scenario)] = r
                    del bench.results[before:]
            bench.results += list(best.values())
        else:
            tabforge_note = (
                "this `tabforge serve` has no `--max-batch-rows`: only the unbatched "
                "configuration (default flags) was run"
            )
            print(f"tabforge: {tabforge_note}")

    # 3. MLServer
    mls_scen = [
        *(Scenario(f"1 row JSON, c={c}", "/v2/models/lgbm/infer", "mlserver-1", c) for c in single),
        Scenario(f"{BATCH:,} rows JSON, c=16", "/v2/models/lgbm/infer", "mlserver-batch", 16),
    ]
    mls_label = "MLServer"
    if "mlserver" in args.peers:
        if mls_versions is None:
            bench.fail(mls_label, mls_scen, f"install: {mls_note}")
        else:
            mls_label = f"MLServer {mls_versions['mlserver']}"
            port, grpc, metrics = free_port(), free_port(), free_port()
            repo = workdir / "mlserver-repo"
            (repo / "lgbm").mkdir(parents=True, exist_ok=True)
            shutil.copyfile(native, repo / "lgbm" / "model.txt")
            settings = {
                "host": "127.0.0.1", "http_port": port, "grpc_port": grpc,
                "metrics_port": metrics, "parallel_workers": 0, "debug": False,
            }  # fmt: skip
            (repo / "settings.json").write_text(json.dumps(settings, indent=2) + "\n")
            model_settings = {
                "name": "lgbm",
                "implementation": "mlserver_lightgbm.LightGBMModel",
                "parameters": {"uri": "./model.txt"},
            }
            (repo / "lgbm" / "model-settings.json").write_text(json.dumps(model_settings) + "\n")
            mls_bin = workdir / "mlserver-venv" / "bin"
            env = {k: v for k, v in os.environ.items() if not k.startswith("MLSERVER")}
            env["PATH"] = f"{mls_bin}:{env.get('PATH', '')}"
            checks = [
                ("/v2/models/lgbm/infer", "mlserver-1", mls_parse, native_1, "native LightGBM"),
                (
                    "/v2/models/lgbm/infer",
                    "mlserver-batch",
                    mls_parse,
                    native_batch,
                    "native LightGBM",
                ),
            ]
            bench.run_peer(
                PeerRun(
                    mls_label,
                    [str(mls_bin / "mlserver"), "start", str(repo)],
                    "/v2/models/lgbm/ready",
                    mls_scen,
                    checks,
                    cwd=repo,
                    env=env,
                    warmup=("/v2/models/lgbm/infer", "mlserver-1"),
                ),
                port,
                "mlserver",
            )
            mls_note = (
                f"{_fmt_versions(mls_versions)} in {workdir / 'mlserver-venv'} ({mls_note}); "
                "settings: parallel_workers 0, debug false (no access log), metrics on their own "
                "port, adaptive batching off (default); native LightGBM text model"
            )

    # 4. FastAPI + native LightGBM
    fa_scen = [
        *(Scenario(f"1 row JSON, c={c}", "/predict", "fastapi-1", c) for c in single),
        Scenario(f"{BATCH:,} rows JSON, c=16", "/predict", "fastapi-batch", 16),
    ]
    fa_label = "FastAPI + LightGBM"
    if "fastapi" in args.peers:
        if fa_versions is None:
            bench.fail(fa_label, fa_scen, f"install: {fa_note}")
        else:
            port = free_port()
            fa_bin = workdir / "fastapi-venv" / "bin"
            env = dict(os.environ)
            env["SERVE_BENCH_MODEL"] = str(native)
            cmd = [
                str(fa_bin / "uvicorn"), "fastapi_app:app", "--app-dir", str(HELPERS),
                "--host", "127.0.0.1", "--port", str(port), "--workers", str(args.workers),
                "--loop", "uvloop", "--http", "httptools", "--no-access-log",
                "--log-level", "warning",
            ]  # fmt: skip
            checks = [
                ("/predict", "fastapi-1", fastapi_parse, native_1, "native LightGBM"),
                ("/predict", "fastapi-batch", fastapi_parse, native_batch, "native LightGBM"),
            ]
            bench.run_peer(
                PeerRun(
                    fa_label,
                    cmd,
                    "/health",
                    fa_scen,
                    checks,
                    env=env,
                    warmup=("/predict", "fastapi-1"),
                ),
                port,
                "fastapi",
            )
            fa_note = (
                f"{_fmt_versions(fa_versions)} in {workdir / 'fastapi-venv'}; "
                "`benchmarks/serve_bench/fastapi_app.py` (pydantic request model, sync handler, "
                "`Booster.predict`) under uvicorn with uvloop + httptools, no access log"
            )

    versions = ", ".join(
        [f"{d} {_dist_version(d)}" for d in ("tabforge", "onnxruntime", "lightgbm")]
        + [f"{d} {(mls_versions or {}).get(d, 'n/a')}" for d in ("mlserver", "mlserver-lightgbm")]
        + [f"{d} {(fa_versions or {}).get(d, 'n/a')}" for d in ("fastapi", "uvicorn")]
        + [f"wrk {_wrk_version()}"]
    )
    meta = {
        "started": started,
        "load_start": load_start,
        "versions": versions,
        "workers_note": workers_note,
        "tabforge_note": tabforge_note,
        "mlserver_note": mls_note,
        "fastapi_note": fa_note,
        "batching": batching,
        "rerun": _rerun_command(args),
    }
    section = render(bench, meta)
    print()
    print(section)
    write_section(args.out, section)
    print(f"wrote the {SECTION_HEADING!r} section of {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

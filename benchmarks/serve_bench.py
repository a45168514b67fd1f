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
   ``--max-batch-rows``), MLServer 1.7 with its LightGBM runtime (own venv
   ``<workdir>/mlserver-venv``) and FastAPI + native LightGBM
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
import contextlib
import datetime as dt
import json
import os
import platform
import re
import resource
import shlex
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import common  # benchmarks/common.py, beside this script

ROOT = Path(__file__).resolve().parent.parent
HELPERS = Path(__file__).resolve().parent / "serve_bench"
LUA_SCRIPT = HELPERS / "post.lua"

FEATURES, TARGET, CLASSES, POSITIVE = (
    common.FEATURES,
    common.TARGET,
    common.CLASSES,
    common.POSITIVE,
)
ROWS = 20_000
N_ESTIMATORS = 200
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
GAIN = 0.05  # batching on must beat off by this much on logreg to count as a gain


# --------------------------------------------------------------------------------------------
# processes: everything started here is tracked and its process group killed at the end


class Processes:
    """Servers and installers, each in its own session; ``kill_all`` ends their groups."""

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
        """Run to completion within ``timeout``: (exit code, or None on time-out; output)."""
        proc = self.start(cmd, log, cwd=cwd, env=env)
        try:
            code: int | None = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            code = None
        self.stop(proc, grace=5.0)
        return code, _read(log)

    def kill_all(self) -> None:
        for proc in list(self.procs):
            self.stop(proc, grace=5.0)


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def _tree_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) used so far by ``pid`` and its descendants."""
    ticks = 0
    for p in common.process_tree(pid):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def _busy_cpu_s() -> float:
    """CPU seconds the whole machine has spent busy since boot (all cores)."""
    with open("/proc/stat") as f:
        user, nice, system, _idle, _iowait, irq, softirq, steal = map(
            int, f.readline().split()[1:9]
        )
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


def _tail(text: str, lines: int = 15, chars: int = 2500) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])[-chars:]


def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return lines[-1] if lines else "(no output)"


# --------------------------------------------------------------------------------------------
# data and models


def _chunk(rng: Any, n: int) -> Any:
    return common.chunk(rng, n)


def ensure_data(workdir: Path) -> None:
    import numpy as np
    import pyarrow.parquet as pq

    path = workdir / "train.parquet"
    with contextlib.suppress(Exception):  # missing, truncated or foreign: write it anew
        meta = pq.ParquetFile(path).metadata
        names = [meta.schema.column(i).name for i in range(meta.num_columns)]
        if meta.num_rows == ROWS and names == [*FEATURES, TARGET]:
            print(f"data: reusing {path}")
            return
    tmp = path.with_name(path.name + ".tmp")
    pq.write_table(_chunk(np.random.default_rng(0), ROWS), tmp)
    os.replace(tmp, path)
    print(f"data: wrote {path} ({ROWS:,} rows)")


def features(workdir: Path) -> Any:
    """The training rows as a C-ordered float32 [N, 30] array."""
    import numpy as np
    import pyarrow.parquet as pq

    table = pq.read_table(workdir / "train.parquet", columns=FEATURES)
    return np.ascontiguousarray(
        np.column_stack([table.column(c).to_numpy() for c in FEATURES]), dtype=np.float32
    )


def ensure_tabforge_model(workdir: Path, tabforge: str, name: str, model: list[str]) -> int:
    root = workdir / "models" / name
    versions = sorted(
        int(p.name)
        for p in (root.iterdir() if root.is_dir() else [])
        if p.name.isdigit() and (p / "model.onnx").is_file() and (p / "manifest.json").is_file()
    )
    if versions:
        print(f"model: reusing {name}:{versions[-1]}")
        return versions[-1]
    cmd = [
        tabforge, "train", str(workdir / "train.parquet"), "--target", TARGET, *model,
        "--name", name, "--registry", str(workdir / "models"), "-q",
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


@dataclass
class Body:
    path: Path
    rows: int
    content_type: str = "application/json"
    header_len: int | None = None  # Inference-Header-Content-Length (V2 binary extension)


def _floats(values: Any) -> list[float]:
    """float32 values as the shortest decimals that read back as the same float32."""
    return [float(str(v)) for v in values]


def _json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def v2_json(x: Any, name: str) -> bytes:
    tensor = {"name": name, "shape": [len(x), 30], "datatype": "FP32", "data": _floats(x.ravel())}
    return _json({"inputs": [tensor]})


def v2_binary(x: Any) -> tuple[bytes, int]:
    """A V2 binary-extension body (JSON header, then raw little-endian float32) and header size."""
    import numpy as np

    raw = np.ascontiguousarray(x, dtype="<f4").tobytes()
    tensor = {
        "name": "numeric",
        "shape": [len(x), 30],
        "datatype": "FP32",
        "parameters": {"binary_data_size": len(raw)},
    }
    outputs = [{"name": "probabilities", "parameters": {"binary_data": True}}]
    head = _json({"inputs": [tensor], "outputs": outputs})
    return head + raw, len(head)


def write_bodies(workdir: Path, x: Any) -> dict[str, Body]:
    out = workdir / "bodies"
    out.mkdir(parents=True, exist_ok=True)
    one, many = x[:1], x[:BATCH]
    binary, head_len = v2_binary(many)
    payloads: dict[str, tuple[bytes, int, str, int | None]] = {
        "tabforge-1": (v2_json(one, "numeric"), 1, "application/json", None),
        "tabforge-batch": (v2_json(many, "numeric"), BATCH, "application/json", None),
        "tabforge-binary": (binary, BATCH, "application/octet-stream", head_len),
        "mlserver-1": (v2_json(one, "predict"), 1, "application/json", None),
        "mlserver-batch": (v2_json(many, "predict"), BATCH, "application/json", None),
        "fastapi-1": (_json({"rows": [_floats(r) for r in one]}), 1, "application/json", None),
        "fastapi-batch": (
            _json({"rows": [_floats(r) for r in many]}),
            BATCH,
            "application/json",
            None,
        ),
    }
    bodies = {}
    for key, (data, rows, content_type, header_len) in payloads.items():
        path = out / f"{key}.body"
        path.write_bytes(data)
        bodies[key] = Body(path, rows, content_type, header_len)
    return bodies


# --------------------------------------------------------------------------------------------
# HTTP checks

Parse = Callable[[dict[str, str], bytes], list[float]]


def http(
    url: str, body: Body | None = None, timeout: float = 30.0
) -> tuple[int, dict[str, str], bytes]:
    """(status, headers, body) of one request; status 0 and the reason when nothing answered."""
    headers = {}
    if body is not None:
        headers["Content-Type"] = body.content_type
        if body.header_len is not None:
            headers["Inference-Header-Content-Length"] = str(body.header_len)
    data = body.path.read_bytes() if body is not None else None
    request = urllib.request.Request(url, data=data, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:
            return resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, {k.lower(): v for k, v in exc.headers.items()}, exc.read()
    except OSError as exc:  # URLError, refused, reset, timed out
        return 0, {}, str(exc).encode()


def wait_ready(
    proc: subprocess.Popen[bytes], url: str, log: Path, timeout: float, workers: int
) -> str | None:
    """None once ``url`` answers 200; else why not (the process died or time ran out).

    Each request is a new connection, which any worker may accept: with several workers, ask
    until many answers in a row are 200, so that a worker still loading is unlikely to remain.
    """
    deadline = time.monotonic() + timeout
    need = 1 if workers == 1 else 8 * workers
    streak = 0
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return f"exited {proc.returncode}: {_last_line(_read(log))}"
        if http(url, timeout=2.0)[0] == 200:
            streak += 1
            if streak >= need:
                return None
            continue
        streak = 0
        time.sleep(0.2)
    return f"not ready after {timeout:g} s ({url})"


def _error_text(status: int, data: bytes) -> str:
    text = data.decode(errors="replace").strip()
    with contextlib.suppress(ValueError, AttributeError):
        text = str(json.loads(text).get("error", text))
    return f"HTTP {status}: {text[:200]}" if status else f"no answer: {text[:200]}"


def v2_parser(classes: list[str]) -> Parse:
    """P(yes) per row from a tabforge V2 response, JSON or binary tensor extension."""

    def parse(headers: dict[str, str], data: bytes) -> list[float]:
        import numpy as np

        head_len = headers.get("inference-header-content-length")
        head = json.loads(data[: int(head_len)] if head_len else data)
        at = int(head_len) if head_len else 0
        for out in head["outputs"]:
            size = (out.get("parameters") or {}).get("binary_data_size")
            raw = data[at : at + int(size)] if size is not None else None
            at += int(size or 0)
            if out["name"] != "probabilities":
                continue
            if raw is not None:
                values = np.frombuffer(raw, dtype="<f4")
            else:
                values = np.asarray(out["data"], dtype=np.float64)
            column = values.reshape(out["shape"])[:, classes.index(POSITIVE)]
            return [float(v) for v in column]
        raise ValueError(f"no probabilities output in {[o['name'] for o in head['outputs']]}")

    return parse


def mlserver_parse(headers: dict[str, str], data: bytes) -> list[float]:
    """MLServer's LightGBM runtime answers one output, ``predict``: P(classes_[1]) per row."""
    out = json.loads(data)["outputs"][0]
    flat: list[Any] = out["data"]
    while flat and isinstance(flat[0], list):
        flat = [v for row in flat for v in row]
    return [float(v) for v in flat]


def fastapi_parse(headers: dict[str, str], data: bytes) -> list[float]:
    return [float(v) for v in json.loads(data)["proba"]]


@dataclass
class Check:
    path: str
    body: str  # key in the bodies dict
    parse: Parse
    expected: list[float]
    reference: str  # what ``expected`` came from


def check(url: str, body: Body, c: Check) -> tuple[str | None, str]:
    """(failure or None, note): one request must answer 200 with the expected probabilities.

    A 503 (a worker still loading) is asked again for up to a minute.
    """
    deadline = time.monotonic() + 60
    status, headers, data = http(url, body)
    while status == 503 and time.monotonic() < deadline:
        time.sleep(0.5)
        status, headers, data = http(url, body)
    if status != 200:
        return _error_text(status, data), ""
    try:
        got = c.parse(headers, data)
    except (ValueError, KeyError, TypeError, IndexError) as exc:
        return f"unreadable response ({type(exc).__name__}: {exc})"[:200], ""
    if len(got) != body.rows:
        return f"{len(got)} probabilities for {body.rows} rows", ""
    if not all(0.0 <= g <= 1.0 for g in got):
        return f"probabilities outside [0, 1]: {[g for g in got if not 0 <= g <= 1][:3]}", ""
    worst = max(abs(g - e) for g, e in zip(got, c.expected, strict=True))
    if worst > AGREE:
        return f"P({POSITIVE}) differs from {c.reference} by {worst:.2e} (> {AGREE:g})", ""
    return None, f"200, {body.rows:,} row(s), max |P - {c.reference}| = {worst:.1e}"


# --------------------------------------------------------------------------------------------
# wrk


@dataclass
class Result:
    peer: str
    scenario: str
    rows: int = 1  # per request
    req_s: float | None = None
    p50_ms: float | None = None
    p99_ms: float | None = None
    errors: int | None = None
    error_detail: str = ""
    rss_mib: float | None = None
    others_cpu: float | None = None  # % of one core used by other processes during the run
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
    """Requests/s, p50/p99 (ms), completed requests and errors from ``wrk --latency`` output."""
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
    url: str, body: Body, connections: int, duration: float, threads: int, log: Path, server: int
) -> dict[str, Any]:
    """One bounded wrk run: its parsed numbers and others' CPU, or {"failed": reason}."""
    cmd = [
        "wrk", f"-t{min(threads, connections)}", f"-c{connections}", f"-d{duration:g}s",
        "--latency", f"--timeout={max(5.0, 2 * duration):g}s", "-s", str(LUA_SCRIPT), url,
    ]  # fmt: skip
    env = dict(os.environ)
    env["SERVE_BENCH_BODY"] = str(body.path)
    env["SERVE_BENCH_CONTENT_TYPE"] = body.content_type
    env["SERVE_BENCH_HEADER_LEN"] = "" if body.header_len is None else str(body.header_len)
    log.parent.mkdir(parents=True, exist_ok=True)
    cpu0 = (_busy_cpu_s(), _tree_cpu_s(server), _children_cpu_s(), time.perf_counter())
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
    busy, served, wrk_cpu, wall = (
        b - a
        for a, b in zip(
            cpu0,
            (_busy_cpu_s(), _tree_cpu_s(server), _children_cpu_s(), time.perf_counter()),
            strict=True,
        )
    )
    log.write_text(f"$ {shlex.join(cmd)}\n{proc.stdout}\n{proc.stderr}")
    if proc.returncode != 0:
        return {"failed": f"wrk exit {proc.returncode}: {_last_line(proc.stderr + proc.stdout)}"}
    found = parse_wrk(proc.stdout)
    if not found["requests"] or "req_s" not in found:
        detail = ", ".join(found["detail"]) or f"see {log}"
        return {"failed": f"no request completed ({detail})"}
    found["others_cpu"] = max(0.0, 100 * (busy - served - wrk_cpu) / wall)
    return found


# --------------------------------------------------------------------------------------------
# peers


@dataclass
class Scenario:
    label: str  # in the table
    path: str  # URL path
    body: str  # key in the bodies dict
    connections: int


@dataclass
class Server:
    """One server process: how to start it, what to check and what to load it with."""

    peer: str
    cmd: list[str]
    port: int
    ready_path: str
    scenarios: list[Scenario]
    checks: list[Check]
    warmup: Scenario | None = None  # a short unmeasured run first
    cwd: Path | None = None
    env: dict[str, str] | None = None


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
            self.results.append(Result(peer, s.label, self.bodies[s.body].rows, failed=reason))

    def wrk(self, base: str, s: Scenario, duration: float, log: Path, server: int) -> Result:
        threads = 1 if self.args.workers == 1 else 2  # one wrk thread keeps up with one worker
        body = self.bodies[s.body]
        found = run_wrk(base + s.path, body, s.connections, duration, threads, log, server)
        r = Result("", s.label, body.rows)
        if "failed" in found:
            r.failed = found["failed"]
            return r
        r.req_s, r.errors = found["req_s"], found["errors"]
        r.p50_ms, r.p99_ms = found.get("p50_ms"), found.get("p99_ms")
        r.error_detail = ", ".join(found["detail"])
        r.others_cpu = found["others_cpu"]
        return r

    def run_server(self, srv: Server, tag: str) -> list[Result]:
        """Start, check, warm up, load each scenario, read RSS, stop; the results are kept."""
        logs = self.args.workdir / "logs"
        log = logs / f"{tag}.log"
        print(f"{srv.peer}: {shlex.join(srv.cmd)}", flush=True)
        try:
            proc = self.procs.start(srv.cmd, log, cwd=srv.cwd, env=srv.env)
        except OSError as exc:
            self.fail(srv.peer, srv.scenarios, f"start: {exc}")
            return []
        base = f"http://127.0.0.1:{srv.port}"
        try:
            why = wait_ready(proc, base + srv.ready_path, log, START_TIMEOUT, self.args.workers)
            if why is not None:
                self.failures.append(
                    f"{srv.peer} did not start:\n\n```text\n{_tail(_read(log))}\n```"
                )
                self.fail(srv.peer, srv.scenarios, f"start: {why}")
                return []
            bad: dict[str, str] = {}  # body -> why its check failed: its runs are skipped
            for c in srv.checks:
                failure, note = check(base + c.path, self.bodies[c.body], c)
                if failure is not None:
                    bad[c.body] = failure
                    note = f"FAILED: {failure}"
                line = f"{srv.peer}, `POST {c.path}` ({c.body}): {note}"
                print(f"  check {line}")
                self.notes.append(line)
            if srv.warmup is not None and srv.warmup.body not in bad:
                self.wrk(base, srv.warmup, 1.0, logs / f"{tag}-warmup.txt", proc.pid)
            done = []
            for s in srv.scenarios:
                if s.body in bad:
                    r = Result(srv.peer, s.label, self.bodies[s.body].rows)
                    r.failed = f"check: {bad[s.body]}"
                    done.append(r)
                    continue
                print(f"  {s.label} ...", end=" ", flush=True)
                slug = re.sub(r"[^a-z0-9]+", "-", s.label.lower()).strip("-")
                r = self.wrk(base, s, self.args.duration, logs / f"{tag}-{slug}.txt", proc.pid)
                r.peer = srv.peer
                if proc.poll() is not None:
                    r.failed = f"server exited {proc.returncode} during the run"
                print(_summary(r))
                done.append(r)
            rss = common.tree_rss_mib(proc.pid)
            for r in done:
                r.rss_mib = rss
            self.results += done
            return done
        finally:
            self.procs.stop(proc)


def _summary(r: Result) -> str:
    if r.failed is not None:
        return f"FAILED: {r.failed}"
    return (
        f"{r.req_s:,.0f} req/s, p50 {_ms_cell(r.p50_ms)} ms, p99 {_ms_cell(r.p99_ms)} ms, "
        f"errors {r.errors}, others' CPU {r.others_cpu:.0f}%"
    )


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
            timeout=120,
            stdin=subprocess.DEVNULL,
        )
        return (
            dict(json.loads(proc.stdout.strip().splitlines()[-1])) if proc.returncode == 0 else None
        )
    except (OSError, subprocess.TimeoutExpired, ValueError, IndexError):
        return None


def ensure_venv(
    procs: Processes, venv: Path, specs: list[list[str]], dists: list[str], log_dir: Path
) -> tuple[dict[str, str] | None, str]:
    """Create ``venv`` and pip-install the first of ``specs`` that works: (versions, note).

    Every name in ``dists`` must then be importable as a distribution; a venv whose stamp says
    it was installed before (and still answers) is reused.
    """
    python = venv / "bin" / "python"
    stamp = venv / ".serve_bench_installed"
    if stamp.is_file() and python.exists():
        versions = _venv_versions(python, dists)
        if versions is not None:
            print(f"venv: reusing {venv} ({_fmt_versions(versions)})")
            return versions, stamp.read_text().strip()
    if not python.exists():
        base = shutil.which("python3") or sys.executable
        print(f"venv: {base} -m venv {venv}", flush=True)
        code, out = procs.run([base, "-m", "venv", str(venv)], log_dir / "venv.log", 300)
        if code != 0 or not python.exists():
            return None, f"python3 -m venv failed: {_last_line(out)}"
    errors: list[str] = []
    for spec in specs:
        cmd = [str(python), "-m", "pip", "install", "--disable-pip-version-check", *spec]
        print(f"venv: {shlex.join(cmd)} (at most {INSTALL_TIMEOUT:g} s) ...", flush=True)
        start = time.perf_counter()
        code, out = procs.run(cmd, log_dir / "pip.log", INSTALL_TIMEOUT)
        if code is None:
            errors.append(f"pip install {' '.join(spec)}: timed out after {INSTALL_TIMEOUT:g} s")
            continue
        if code != 0:
            lines = [ln for ln in out.splitlines() if ln.startswith("ERROR")] or [_last_line(out)]
            errors.append(f"pip install {' '.join(spec)}: exit {code}: {lines[0][:200]}")
            continue
        versions = _venv_versions(python, dists)
        if versions is None:
            errors.append(f"pip install {' '.join(spec)}: {', '.join(dists)} not all installed")
            continue
        note = "pip install " + " ".join(spec) + (f" (after {'; '.join(errors)})" if errors else "")
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
    one, many = {"numeric": x[:1]}, {"numeric": x[:BATCH]}
    for _ in range(200):
        session.run(None, one)
    session.run(None, many)

    def own_cpu() -> float:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime

    start = (_busy_cpu_s(), own_cpu(), time.perf_counter())
    times = []
    end = start[2] + duration
    while (now := time.perf_counter()) < end:
        session.run(None, one)
        times.append(time.perf_counter() - now)
    calls_s = len(times) / (time.perf_counter() - start[2])
    batches, t0 = 0, time.perf_counter()
    while time.perf_counter() < t0 + duration:
        session.run(None, many)
        batches += 1
    batches_s = batches / (time.perf_counter() - t0)
    busy, own, wall = (
        b - a for a, b in zip(start, (_busy_cpu_s(), own_cpu(), time.perf_counter()), strict=True)
    )
    p50, p99 = np.percentile(np.asarray(times) * 1e3, [50, 99])
    return {
        "calls_s": calls_s,
        "p50_ms": float(p50),
        "p99_ms": float(p99),
        "batches_s": batches_s,
        "rss_mib": common.tree_rss_mib(os.getpid()),
        "others_cpu": max(0.0, 100 * (busy - own) / wall),
    }


def run_ceiling(bench: Bench, model_dir: Path) -> None:
    args = bench.args
    cmd = [
        sys.executable, str(Path(__file__).resolve()), "--child", "ceiling",
        "--model-dir", str(model_dir), "--workdir", str(args.workdir),
        "--duration", f"{args.duration:g}",
    ]  # fmt: skip
    peer = "ceiling (onnxruntime in-process)"
    print(f"{peer}: {args.duration:g} s of single-row calls, {args.duration:g} s of batches")
    code, out = bench.procs.run(cmd, args.workdir / "logs" / "ceiling.log", 2 * args.duration + 300)
    one = Result(peer, "1 row, session.run", 1)
    many = Result(peer, f"{BATCH:,} rows, session.run", BATCH)
    try:
        if code != 0:
            raise ValueError("timed out" if code is None else f"exit {code}: {_last_line(out)}")
        found = json.loads(out.strip().splitlines()[-1])
        one.req_s, one.p50_ms, one.p99_ms = found["calls_s"], found["p50_ms"], found["p99_ms"]
        many.req_s = found["batches_s"]
        for r in (one, many):
            r.rss_mib, r.others_cpu, r.errors = found["rss_mib"], found["others_cpu"], 0
    except (ValueError, KeyError, IndexError) as exc:
        one.failed = many.failed = str(exc)[:200]
    for r in (one, many):
        print(f"  {r.scenario}: {_summary(r)}")
    bench.results += [one, many]


# --------------------------------------------------------------------------------------------
# the peers


@dataclass
class Setup:
    """What every peer needs: models, references for the checks, installed venvs."""

    workdir: Path
    lgbm: int  # stored versions
    logreg: int
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
    return Setup(workdir, versions["lgbm"], versions["logreg"], native, refs, classes)


def _check(path: str, body: str, parse: Parse, ref: list[float], what: str) -> Check:
    return Check(path, body, parse, ref[: 1 if body.endswith("-1") else BATCH], what)


def run_tabforge(
    bench: Bench, setup: Setup, tabforge: str, help_text: str, single: list[int]
) -> str:
    """Default flags, then batching off and on; returns the note for the report."""
    args = bench.args
    base = [tabforge, "serve", "--registry", str(setup.workdir / "models")]
    base += ["--workers", str(args.workers)]
    infer = {m: f"/v2/models/{m}/infer" for m in ("lgbm", "logreg")}
    lgbm_parse, logreg_parse = v2_parser(setup.classes["lgbm"]), v2_parser(setup.classes["logreg"])
    lgbm_ref, logreg_ref = setup.refs["lgbm"], setup.refs["logreg"]
    warmup = Scenario("warm-up", infer["lgbm"], "tabforge-1", 16)

    port = common.free_port()
    srv = Server(
        "tabforge (default flags)",
        [*base, "--port", str(port)],
        port,
        "/v2/models/lgbm/ready",
        [
            *(Scenario(f"1 row JSON, c={c}", infer["lgbm"], "tabforge-1", c) for c in single),
            Scenario(f"{BATCH:,} rows JSON, c=16", infer["lgbm"], "tabforge-batch", 16),
            Scenario(f"{BATCH:,} rows binary, c=16", infer["lgbm"], "tabforge-binary", 16),
        ],
        [
            _check(infer["lgbm"], body, lgbm_parse, lgbm_ref, "ceiling")
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
    for k in range(args.rounds):  # interleaved, so drift hits both modes alike
        for mode, flags in modes.items():
            port = common.free_port()
            srv = Server(
                f"tabforge (batching {mode})",
                [*base, "--port", str(port), *flags],
                port,
                "/v2/models/logreg/ready",
                [
                    Scenario(f"{m}, 1 row JSON, c=64", infer[m], "tabforge-1", 64)
                    for m in ("lgbm", "logreg")
                ],
                [
                    _check(infer["lgbm"], "tabforge-1", lgbm_parse, lgbm_ref, "ceiling"),
                    _check(infer["logreg"], "tabforge-1", logreg_parse, logreg_ref, "onnxruntime"),
                ]
                if k == 0
                else [],
                warmup,
            )
            bench.run_server(srv, f"tabforge-batching-{mode}-{k + 1}")
    # One row per (mode, scenario): the round with the most req/s (a failed row if all failed).
    best: dict[tuple[str, str], Result] = {}
    for r in bench.results:
        if "(batching" in r.peer:
            old = best.get((r.peer, r.scenario))
            if old is None or (r.req_s or -1) > (old.req_s or -1):
                best[(r.peer, r.scenario)] = r
    bench.results = [r for r in bench.results if "(batching" not in r.peer] + list(best.values())
    return (
        f"default flags for the main rows; `serve --help` has `--max-batch-rows` (default "
        f"{default_rows}) and `--max-delay-us` (default {default_delay}); batching off = "
        f"`--max-batch-rows 0`, on = `--max-batch-rows {on_rows}` with the default delay"
    )


def run_mlserver(bench: Bench, setup: Setup, single: list[int]) -> str:
    path = "/v2/models/lgbm/infer"
    scenarios = [
        *(Scenario(f"1 row JSON, c={c}", path, "mlserver-1", c) for c in single),
        Scenario(f"{BATCH:,} rows JSON, c=16", path, "mlserver-batch", 16),
    ]
    versions = setup.venvs.get("mlserver")
    if versions is None:
        bench.fail("MLServer", scenarios, f"install: {setup.notes['mlserver']}")
        return f"install failed: {setup.notes['mlserver']}"
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
    srv = Server(
        f"MLServer {versions['mlserver']}",
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
    bench.run_server(srv, "mlserver")
    parser = (
        "httptools"
        if _venv_versions(venv / "bin" / "python", ["httptools"])
        else "h11 (httptools is not among its dependencies)"
    )
    return (
        f"{_fmt_versions(versions)} in `{venv}` ({setup.notes['mlserver']}); settings.json: "
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
        f"{_fmt_versions(versions)} in `{venv}`; `benchmarks/serve_bench/fastapi_app.py` "
        "(pydantic request model, sync handler, `Booster.predict` on the native text model) "
        "under uvicorn with uvloop + httptools, no access log"
    )


# --------------------------------------------------------------------------------------------
# report


def _num(value: float | None) -> str:
    return "—" if value is None else f"{value:,.0f}"


def _ms_cell(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:.3f}" if value < 1 else f"{value:.2f}" if value < 100 else f"{value:,.0f}"


def _cell(text: str, limit: int = 120) -> str:
    text = " ".join(text.split())
    return (text[: limit - 1] + "…" if len(text) > limit else text).replace("|", "\\|")


def table(results: list[Result]) -> list[str]:
    lines = [
        "| peer | scenario | req/s | rows/s | p50 ms | p99 ms | errors | RSS MiB | others' CPU |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        if r.failed is not None:
            lines.append(f"| {r.peer} | {r.scenario} | failed: {_cell(r.failed)} | | | | | | |")
            continue
        flag = " (suspect)" if r.errors else ""
        errors = f"{r.errors:,} ({r.error_detail})" if r.errors else "0"
        others = "—" if r.others_cpu is None else f"{r.others_cpu:.0f}%"
        if r.others_cpu is not None and r.others_cpu > NOISY:
            others += " (disturbed)"
        lines.append(
            f"| {r.peer} | {r.scenario} | {_num(r.req_s)}{flag} | {_num(r.rows_s)}{flag} | "
            f"{_ms_cell(r.p50_ms)} | {_ms_cell(r.p99_ms)} | {errors} | {_num(r.rss_mib)} | "
            f"{others} |"
        )
    return lines


def _find(results: list[Result], peer: str, scenario: str) -> Result | None:
    return next((r for r in results if r.peer.startswith(peer) and r.scenario == scenario), None)


def _ok(r: Result | None) -> Result | None:
    """``r`` if it ran without failures or errors, else None."""
    if r is None or r.failed is not None or not r.req_s or r.errors:
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
    elif tab is None and tab_r is not None:
        out.append(f"{head} **not met** ({_why_not(tab_r, 'tabforge')})")
    elif tab is None:
        out.append(f"{head} **not measured** (tabforge not run)")
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
    elif binary is None and bin_r is not None:
        out.append(f"{head} **not met** ({_why_not(bin_r, 'the binary run')})")
    elif binary is None:
        out.append(f"{head} **not measured** (tabforge not run)")
    else:
        out.append(f"{head} **not measured** ({_why_not(ceil_r, 'the ceiling')})")

    head = (
        f"3. batching on >= off at c=64 for both models (on may fall up to {100 * NOISE:.0f}% "
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
            parts.append(
                f"{model}: {_why_not(on_r, 'on') if on is None else _why_not(off_r, 'off')}"
            )
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
    disturbed = [r for r in bench.results if r.others_cpu is not None and r.others_cpu > NOISY]
    lines = [
        SECTION_HEADING,
        "",
        f"Online inference over HTTP on 127.0.0.1: a binary LightGBM classifier "
        f"({N_ESTIMATORS} trees) and a logistic regression on 30 float32 features, trained on "
        f"{ROWS:,} rows (numpy seed 0). Load from wrk, one fixed request body per run, "
        f"{args.duration:g} s per run. Every server was first checked for status 200 and "
        f"probabilities within {AGREE:g} of in-process onnxruntime's (tabforge) or native "
        "LightGBM's (MLServer, FastAPI) for the same rows.",
        "",
        f"- date: {meta['started'].strftime('%Y-%m-%d %H:%M %Z')}",
        f"- machine: {os.cpu_count()} cores (`os.cpu_count()`), {platform.system()} "
        f"{platform.machine()}, Python {platform.python_version()}; wrk runs on the same cores",
        f"- load average (1 min) at start / end: {meta['load_start']:.2f} / "
        f"{os.getloadavg()[0]:.2f}",
        f"- versions: {meta['versions']}",
        f"- server workers (processes) per peer: {args.workers}{meta['workers_note']}",
        f"- environment: OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')} (native "
        "LightGBM's threads in MLServer and FastAPI; onnxruntime does not read it)",
        f"- per run: {args.duration:g} s{' (--quick: fewer points)' if args.quick else ''}; "
        f"wrk threads: {1 if args.workers == 1 else 2} (1 for c=1); batching off/on rounds: "
        f"{args.rounds}, best req/s kept",
        f"- tabforge: {meta['tabforge_note']}",
        f"- MLServer: {meta['mlserver_note']}",
        f"- FastAPI: {meta['fastapi_note']}",
        "",
        *table(bench.results),
        "",
        "req/s as wrk reports it (a 1,000-row request counts once); rows/s = req/s x rows per "
        "request. p50/p99: wrk's latency distribution, client side. errors: non-2xx responses "
        "plus socket errors; any error marks the run suspect. RSS: VmRSS summed over the "
        "server's process tree after its runs (shared pages count once per process); the "
        "ceiling's is its own process. others' CPU: CPU time that processes other than the "
        "server and wrk used during the run, in % of one core (from /proc/stat); above "
        f"{NOISY:g}% the run is marked disturbed and its numbers are low. Single-row JSON "
        "sends one fixed row: tabforge input `numeric` [1, 30] FP32, MLServer input `predict` "
        '[1, 30] FP32, FastAPI `{"rows": [[...]]}`. The binary rows use the V2 binary tensor '
        "extension (`Inference-Header-Content-Length`) for the request and the response.",
        "",
    ]
    if disturbed:
        lines += [
            f"**{len(disturbed)} run(s) shared the machine with other work** (others' CPU above "
            f"{NOISY:g}%): rerun on a quiet machine before trusting them.",
            "",
        ]
    lines += ["Targets:", "", *targets(bench.results, meta["batching"]), "", "Checks:", ""]
    lines += [f"- {_cell(n, 300)}" for n in bench.notes]
    lines.append("")
    for failure in bench.failures:
        lines += [failure, ""]
    lines += [f"Rerun from the project root: `{meta['rerun']}`", ""]
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/servebench"))
    ap.add_argument("--duration", type=float, help="seconds per wrk run (default 10; --quick 3)")
    ap.add_argument("--workers", type=int, default=1, help="server processes for every peer")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "RESULTS.md")
    ap.add_argument("--quick", action="store_true", help="3 s runs, no c=1 point, one round")
    ap.add_argument("--rounds", type=int, help="batching off/on rounds (default 2; --quick 1)")
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
    if args.duration <= 0 or args.workers < 1 or args.rounds < 1:
        ap.error("--duration, --workers and --rounds must be positive")
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


def _option_default(help_text: str, option: str) -> int | None:
    """The ``[default: N]`` click prints for ``option`` (its text may wrap onto more lines)."""
    m = re.search(rf"{re.escape(option)}\b[^\n]*(?:\n(?!\s*-)[^\n]*)*", help_text)
    d = re.search(r"\[default:\s*(-?\d+)\]", m.group(0)) if m else None
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
    meta: dict[str, Any] = {
        "started": dt.datetime.now().astimezone(),
        "load_start": os.getloadavg()[0],
    }
    args.workdir.mkdir(parents=True, exist_ok=True)
    procs = Processes()
    signal.signal(signal.SIGTERM, _raise_interrupt)
    signal.signal(signal.SIGHUP, _raise_interrupt)
    try:
        return run(args, procs, meta)
    except KeyboardInterrupt:
        print("\ninterrupted: stopping every process started here", file=sys.stderr)
        return 130
    finally:
        procs.kill_all()


def run(args: argparse.Namespace, procs: Processes, meta: dict[str, Any]) -> int:
    workdir = args.workdir
    ensure_data(workdir)
    x = features(workdir)
    lgbm_args = ["--model", "lightgbm", "--param", f"n_estimators={N_ESTIMATORS}"]
    versions = {
        "lgbm": ensure_tabforge_model(workdir, args.tabforge, "lgbm", lgbm_args),
        "logreg": ensure_tabforge_model(workdir, args.tabforge, "logreg", ["--model", "logistic"]),
    }
    native = ensure_native_model(workdir)
    bench = Bench(args, procs, write_bodies(workdir, x))
    setup = references(workdir, x, versions, native)

    # MLServer serves HTTP from one process: equal worker counts mean 1 for everyone.
    meta["workers_note"] = ""
    if "mlserver" in args.peers:
        meta["workers_note"] = (
            " (MLServer 1.7 answers HTTP from one process; its `parallel_workers` inference pool "
            "crashes with current uvloop and is off"
        )
        if args.workers > 1:
            meta["workers_note"] += f"; asked for {args.workers}, so every peer ran with 1"
            args.workers = 1
        meta["workers_note"] += ")"

    # Installs before any timed run, so that pip never shares the machine with a measurement.
    setup.notes = {"mlserver": "not run (--peers)", "fastapi": "not run (--peers)"}
    logs = workdir / "logs"
    if "mlserver" in args.peers:
        dists = ["mlserver", "mlserver-lightgbm", "lightgbm"]
        setup.venvs["mlserver"], setup.notes["mlserver"] = ensure_venv(
            procs, workdir / "mlserver-venv", MLSERVER_SPECS, dists, logs / "install-mlserver"
        )
    if "fastapi" in args.peers:
        pinned = [*FASTAPI_SPEC, f"lightgbm=={_dist_version('lightgbm')}"]  # same as the native
        dists = ["fastapi", "uvicorn", "pydantic", "lightgbm", "uvloop", "httptools"]
        setup.venvs["fastapi"], setup.notes["fastapi"] = ensure_venv(
            procs,
            workdir / "fastapi-venv",
            [pinned, [*FASTAPI_SPEC, "lightgbm"]],
            dists,
            logs / "install-fastapi",
        )

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
        [f"{d} {_dist_version(d)}" for d in ("tabforge", "onnxruntime", "lightgbm")]
        + [f"{d} {mls.get(d, 'n/a')}" for d in ("mlserver", "mlserver-lightgbm")]
        + [f"{d} {fa.get(d, 'n/a')}" for d in ("fastapi", "uvicorn")]
        + [f"wrk {_wrk_version()}"]
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


if __name__ == "__main__":
    sys.exit(main())

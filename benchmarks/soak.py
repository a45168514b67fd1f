"""Soak test for `tabforge serve`: mixed load at fixed concurrency, every answer checked.

Run from the project root (a fresh clone after ``make install`` is enough):

    .venv/bin/python benchmarks/soak.py --minutes 10 [--concurrency 8] [--workers 1]
        [--registry DIR] [--seed 0] [--json PATH] [--write-doc [--doc docs/RELIABILITY.md]]

``make test`` runs a 30-second version of it (tests/e2e/test_soak.py).

Steps:

1. Models. Without ``--registry``, ``tabforge train`` stores four small models in a temporary
   registry, trained on 300 rows with numeric and categorical features and missing values
   (the data of tests/conftest.py's ``mixed_frame``): ``mixed:1`` (LightGBM, 20 trees) and
   ``mixed:2`` (logistic), three-class classifiers of one name; ``value:1`` (XGBoost, 20 trees,
   regression); ``binary:1`` (random forest, 10 trees, two classes). With ``--registry`` every
   model there whose input columns are among a, b, c, color, shape is used.
2. Server: ``tabforge serve --workers W`` on a free 127.0.0.1 port, logging to a file; it is
   stopped with SIGTERM at the end, also on errors and Ctrl-C.
3. Request pool, built before the load: for every model version (addressed explicitly) and
   every model name (unversioned: production alias, else latest), requests of 1, 10 and 200
   rows in four kinds: ``v2-json`` (the model's tensors), ``v2-json-columns`` (one input per
   column), ``v2-binary`` (binary tensor extension in, binary or JSON tensors out) and
   ``v1-json`` (KServe V1 records; unversioned only, V1 has no version in its URL). Rows include
   missing values, unseen categories, non-ASCII and empty strings. Each request's expected
   answer is computed once, in process, by ``tabforge.load(...).predict`` (onnxruntime) on the
   same rows.
4. Load: ``--concurrency`` threads, each with its own keep-alive connection, pick a kind at
   random and then a request of that kind, for ``--minutes``. Every response is checked: status
   200, the answering version, labels exactly equal, probabilities / predictions / scores
   within rtol 1e-5 + atol 1e-6 (the server batches rows of concurrent requests into one
   onnxruntime call, so floats need not be bit-equal).
5. Memory: the server's RSS (summed over its child processes with ``--workers`` > 1) is read
   from /proc every second. Warm-up is the first 20% of the run, at least 10 s; growth is
   (max RSS after warm-up - RSS at the end of warm-up) / RSS at the end of warm-up.

Pass (exit 0): zero 5xx, zero other non-200 responses, zero transport errors, zero wrong
answers and RSS growth under 10% after warm-up. Otherwise exit 1 with the reasons; the working
directory (server log, the failing requests' bodies) is then kept and its path printed.
Traffic stays on loopback and is bounded by ``--minutes`` (and ``--max-requests`` if given).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import http.client
import json
import os
import random
import shlex
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
from array import array
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

try:
    import common  # benchmarks/common.py, beside this script when it runs as one
except ImportError:  # imported as benchmarks.soak (tests/e2e/test_soak.py)
    from benchmarks import common  # type: ignore[no-redef]

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "RELIABILITY.md"
SECTION_HEADING = "## Soak"

KINDS = ("v2-json", "v2-json-columns", "v2-binary", "v1-json")
SIZES = (1, 10, 200)
VARIANTS = 4  # requests per (reference, kind, size); variants differ in rows and encoding
COLUMNS = ("a", "b", "c", "color", "shape")

RTOL = 1e-5
ATOL = 1e-6
RSS_LIMIT_PCT = 10.0
WARMUP_SHARE = 0.2
WARMUP_MIN_S = 10.0
MIN_SECONDS = 15.0  # shorter runs leave nothing to measure after the warm-up
EXAMPLES = 5  # mismatches kept for the report
REQUEST_TIMEOUT = 60.0
START_TIMEOUT = 120.0
TRAIN_TIMEOUT = 600.0
STOP_TIMEOUT = 30.0
BINARY_HEADER = "inference-header-content-length"


# --------------------------------------------------------------------------------------------
# data and models


# Rows every pool mixes in: all missing, unseen categories, non-ASCII and empty strings,
# whitespace, values far outside the training range.
SPECIAL_ROWS: list[dict[str, Any]] = [
    {"a": None, "b": None, "c": None, "color": None, "shape": None},
    {"a": 0.5, "b": 50.0, "c": 2.0, "color": "purple", "shape": "star"},
    {"a": None, "b": 10.0, "c": None, "color": "teal", "shape": None},
    {"a": -1.0, "b": 99.9, "c": 4.0, "color": "grün", "shape": "ñandú"},
    {"a": 1.0, "b": 0.0, "c": 0.0, "color": "", "shape": ""},
    {"a": 0.25, "b": 33.3, "c": 1.0, "color": " red", "shape": "sq "},
    {"a": 1e6, "b": -1e4, "c": 1e3, "color": "red", "shape": "sq"},
    {"a": -3.5, "b": None, "c": 3.0, "color": None, "shape": "hex"},
]


@dataclass(frozen=True)
class ModelSpec:
    name: str
    target: str
    drop: str
    model: str
    params: tuple[str, ...] = ()


# Two chains trained side by side; within a chain in order, so mixed:1 is LightGBM.
TRAINING: tuple[tuple[ModelSpec, ...], ...] = (
    (
        ModelSpec("mixed", "label", "binary,value", "lightgbm", ("n_estimators=20",)),
        ModelSpec("mixed", "label", "binary,value", "logistic"),
    ),
    (
        ModelSpec("value", "value", "label,binary", "xgboost", ("n_estimators=20",)),
        ModelSpec("binary", "binary", "label,value", "random_forest", ("n_estimators=10",)),
    ),
)


def train_models(registry: Path, workdir: Path, tabforge: str) -> None:
    """Train the soak's models into ``registry`` with the CLI (two at a time)."""
    data = workdir / "train.csv"
    common.mixed_frame(300, seed=1).write_csv(data)

    def chain(specs: tuple[ModelSpec, ...]) -> None:
        for spec in specs:
            params = [arg for p in spec.params for arg in ("--param", p)]
            argv = [tabforge, "train", str(data), "--name", spec.name, "--model", spec.model]
            argv += ["--target", spec.target, "--drop", spec.drop, *params]
            argv += ["--registry", str(registry), "-q"]
            result = subprocess.run(
                argv, capture_output=True, text=True, timeout=TRAIN_TIMEOUT, check=False
            )
            if result.returncode != 0:
                raise SetupError(
                    f"training {spec.name} ({spec.model}) failed:\n{result.stderr.strip()}"
                )

    with ThreadPoolExecutor(len(TRAINING)) as pool:
        for future in [pool.submit(chain, specs) for specs in TRAINING]:
            future.result()


class SetupError(Exception):
    """The soak could not start: training, the registry or the server."""


# --------------------------------------------------------------------------------------------
# answers and the checker


@dataclass
class Answer:
    """What a model said for some rows, whatever the protocol that carried it."""

    version: str
    labels: list[str] | None = None
    probabilities: np.ndarray | None = None  # [N, classes], columns in class order
    prediction: np.ndarray | None = None  # [N]
    scores: np.ndarray | None = None  # [N, clusters]


@dataclass(frozen=True)
class SoakRequest:
    """One prepared request and the answers it may get (by answering version)."""

    kind: str
    name: str
    ref: str  # as addressed: "mixed:1", or "mixed" for unversioned
    rows: int
    path: str
    body: bytes
    headers: dict[str, str]
    task: str
    classes: tuple[str, ...]
    expected: dict[str, Answer]
    request_id: str | None = None  # V2 "id", echoed by the server


class Mismatch(Exception):
    """A response that is not the expected answer."""


def answer_from_frame(
    version: str, task: str, classes: Sequence[str], frame: pl.DataFrame
) -> Answer:
    """``tabforge.load(...).predict``'s frame as an Answer."""
    if task == "classification":
        proba = frame.select([f"proba_{c}" for c in classes]).to_numpy().astype(np.float64)
        return Answer(version, labels=[str(v) for v in frame["label"]], probabilities=proba)
    if task == "regression":
        return Answer(version, prediction=frame["prediction"].to_numpy().astype(np.float64))
    scores = np.array(frame["scores"].to_list(), dtype=np.float64)
    return Answer(version, labels=[str(v) for v in frame["label"]], scores=scores)


def check(req: SoakRequest, status: int, headers: Mapping[str, str], body: bytes) -> str | None:
    """None if the response is the expected answer, else what is wrong with it.

    ``headers`` keys are lower case.
    """
    if status != 200:
        return f"status {status}: {body[:200]!r}"
    try:
        got = (
            decode_v1(req, headers, body)
            if req.kind == "v1-json"
            else decode_v2(req, headers, body)
        )
        want = req.expected.get(got.version)
        if want is None:
            raise Mismatch(
                f"answered by version {got.version}, expected {' or '.join(sorted(req.expected))}"
            )
        compare(got, want, req.rows)
    except Mismatch as exc:
        return str(exc)
    except (ValueError, KeyError, TypeError, IndexError, AttributeError, struct.error) as exc:
        return f"undecodable response ({type(exc).__name__}: {exc}): {body[:200]!r}"
    return None


def decode_v1(req: SoakRequest, headers: Mapping[str, str], body: bytes) -> Answer:
    predictions = json.loads(body)["predictions"]
    if not isinstance(predictions, list) or len(predictions) != req.rows:
        raise Mismatch(f"{len(predictions)} predictions for {req.rows} rows")
    answer = Answer(version=headers.get("x-model-version", "?"))
    if req.task == "classification":
        answer.labels = [str(p["label"]) for p in predictions]
        keys = [sorted(p["probabilities"]) for p in predictions]
        if any(k != sorted(req.classes) for k in keys):
            raise Mismatch(f"probability keys {keys[0]}, expected classes {list(req.classes)}")
        answer.probabilities = np.array(
            [[p["probabilities"][c] for c in req.classes] for p in predictions], dtype=np.float64
        )
    elif req.task == "regression":
        answer.prediction = np.array([p["prediction"] for p in predictions], dtype=np.float64)
    else:
        answer.labels = [str(p["label"]) for p in predictions]
        answer.scores = np.array([p["scores"] for p in predictions], dtype=np.float64)
    return answer


def decode_v2(req: SoakRequest, headers: Mapping[str, str], body: bytes) -> Answer:
    split = headers.get(BINARY_HEADER)
    head_bytes, blob = (body, b"") if split is None else (body[: int(split)], body[int(split) :])
    head = json.loads(head_bytes)
    if head.get("model_name") != req.name:
        raise Mismatch(f"model_name {head.get('model_name')!r}, expected {req.name!r}")
    if req.request_id is not None and head.get("id") != req.request_id:
        raise Mismatch(f"id {head.get('id')!r}, expected {req.request_id!r}")
    tensors: dict[str, Any] = {}
    pos = 0
    for out in head["outputs"]:
        size = (out.get("parameters") or {}).get("binary_data_size")
        if size is None:
            values = out["data"]
        else:
            values = _binary_values(out["datatype"], blob[pos : pos + size])
            pos += size
        count = int(np.prod(out["shape"]))
        if len(values) != count:
            raise Mismatch(f"output {out['name']!r}: {len(values)} values for shape {out['shape']}")
        if out["datatype"] in ("BYTES", "INT64"):
            tensors[out["name"]] = [str(v) for v in values]
        else:
            tensors[out["name"]] = np.array(values, dtype=np.float64).reshape(out["shape"])
    if pos != len(blob):
        raise Mismatch(f"{len(blob) - pos} bytes of binary data no output claims")
    answer = Answer(version=str(head.get("model_version")))
    answer.labels = tensors.get("label")
    answer.probabilities = tensors.get("probabilities")
    answer.prediction = tensors.get("prediction")
    answer.scores = tensors.get("scores")
    return answer


def _binary_values(datatype: str, chunk: bytes) -> list[Any]:
    if datatype == "BYTES":
        values, i = [], 0
        while i < len(chunk):
            (n,) = struct.unpack_from("<I", chunk, i)
            values.append(chunk[i + 4 : i + 4 + n].decode("utf-8"))
            i += 4 + n
        return values
    dtype = {"FP32": "<f4", "FP64": "<f8", "INT64": "<i8", "INT32": "<i4"}[datatype]
    return np.frombuffer(chunk, dtype=dtype).tolist()  # type: ignore[no-any-return]


def compare(got: Answer, want: Answer, rows: int) -> None:
    """Raise Mismatch naming the first difference: labels exactly, floats within tolerance."""
    if want.labels is not None:
        if got.labels is None:
            raise Mismatch("no labels in the response")
        if len(got.labels) != len(want.labels):
            raise Mismatch(f"{len(got.labels)} labels for {rows} rows")
        for i, (g, w) in enumerate(zip(got.labels, want.labels, strict=True)):
            if g != w:
                raise Mismatch(f"row {i}: label {g!r}, expected {w!r}")
    for what in ("probabilities", "prediction", "scores"):
        w_arr: np.ndarray | None = getattr(want, what)
        if w_arr is None:
            continue
        g_arr: np.ndarray | None = getattr(got, what)
        if g_arr is None:
            raise Mismatch(f"no {what} in the response")
        if g_arr.shape != w_arr.shape:
            raise Mismatch(f"{what}: shape {list(g_arr.shape)}, expected {list(w_arr.shape)}")
        bad = ~np.isclose(g_arr, w_arr, rtol=RTOL, atol=ATOL, equal_nan=True)
        if bad.any():
            at = tuple(int(i) for i in np.argwhere(bad)[0])
            raise Mismatch(
                f"row {at[0]}: {what}{list(at[1:]) or ''} {float(g_arr[at])!r}, "
                f"expected {float(w_arr[at])!r} "
                f"(|diff| {abs(g_arr[at] - w_arr[at]):.3g}; {int(bad.sum())} values off)"
            )


# --------------------------------------------------------------------------------------------
# the request pool


@dataclass(frozen=True)
class ServedVersion:
    name: str
    version: int
    task: str
    estimator: str
    numeric: tuple[str, ...]
    categorical: tuple[str, ...]
    classes: tuple[str, ...]
    missing_text: str
    predict: Callable[[pl.DataFrame], pl.DataFrame]


def load_versions(
    registry: Path,
) -> tuple[dict[str, list[ServedVersion]], dict[str, set[int]], list[str]]:
    """Every usable version by name, the versions unversioned requests may get, and notes."""
    from tabforge.api import load
    from tabforge.registry.store import FilesystemRegistry

    store = FilesystemRegistry(registry)
    by_name: dict[str, list[ServedVersion]] = {}
    default: dict[str, set[int]] = {}
    notes: list[str] = []
    for name in store.names():
        for version in store.versions(name):
            model = load(f"{name}:{version}", registry=registry)
            schema = model.schema
            missing = [c for c in schema.columns if c not in COLUMNS]
            if missing:
                notes.append(f"{name}:{version} skipped: needs columns {', '.join(missing)}")
                continue
            by_name.setdefault(name, []).append(
                ServedVersion(
                    name=name,
                    version=version,
                    task=schema.task,
                    estimator=model.manifest.estimator.name,
                    numeric=schema.numeric,
                    categorical=schema.categorical,
                    classes=tuple(str(c) for c in schema.classes or ()),
                    missing_text=model.manifest.inputs.missing_text,
                    predict=model.predict,
                )
            )
        if name not in by_name:
            continue
        usable = {v.version for v in by_name[name]}
        if store.route(name):  # a split route: any version may answer
            default[name] = usable
        else:
            default[name] = {store.resolve(name).version or 0} & usable
    if not by_name:
        raise SetupError(f"no model in {registry} takes the soak's columns ({', '.join(COLUMNS)})")
    return by_name, default, notes


def pool_rows(seed: int) -> pl.DataFrame:
    """The rows requests draw from: random rows, then the special rows at the end."""
    base = common.mixed_frame(2000, seed=seed + 1000).select(COLUMNS)
    special = pl.DataFrame(SPECIAL_ROWS, schema=base.schema)
    return pl.concat([base, special])


def choose_rows(rng: random.Random, frame: pl.DataFrame, n: int, variant: int) -> pl.DataFrame:
    n_special = len(SPECIAL_ROWS)
    n_base = frame.height - n_special
    if n == 1:
        # Every other single-row request is a special row; the rest are random rows.
        index = [n_base + rng.randrange(n_special)] if variant % 2 == 0 else [rng.randrange(n_base)]
    else:
        index = rng.sample(range(n_base), n)
        for pos in rng.sample(range(n), min(n, 2)):
            index[pos] = n_base + rng.randrange(n_special)
    return frame[index]


def _numbers(frame: pl.DataFrame, columns: Sequence[str]) -> np.ndarray:
    if not columns:
        return np.zeros((frame.height, 0))
    return frame.select(pl.col(c).cast(pl.Float64) for c in columns).to_numpy()


def _texts(frame: pl.DataFrame, columns: Sequence[str]) -> list[list[str | None]]:
    rows = frame.select(pl.col(c).cast(pl.String) for c in columns).rows()
    return [list(r) for r in rows]


def _json_number(v: float) -> float | None:
    return None if np.isnan(v) else float(v)


def _tensor(name: str, shape: list[int], datatype: str, **fields: Any) -> dict[str, Any]:
    return {"name": name, "shape": shape, "datatype": datatype, **fields}


def v2_tensors_json(frame: pl.DataFrame, sv: ServedVersion, variant: int, rid: str) -> bytes:
    """The model's tensors in JSON; flat data for even variants, nested rows for odd ones."""
    numeric = _numbers(frame, sv.numeric)
    text = _texts(frame, sv.categorical)
    inputs = []
    if sv.numeric:
        nested = [[_json_number(v) for v in row] for row in numeric]
        data: list[Any] = nested if variant % 2 else [v for row in nested for v in row]
        inputs.append(_tensor("numeric", [frame.height, len(sv.numeric)], "FP32", data=data))
    if sv.categorical:
        data = text if variant % 2 else [v for row in text for v in row]
        shape = [frame.height, len(sv.categorical)]
        inputs.append(_tensor("categorical", shape, "BYTES", data=data))
    return json.dumps({"id": rid, "inputs": inputs}).encode()


def v2_columns_json(frame: pl.DataFrame, sv: ServedVersion, variant: int) -> bytes:
    """One input per column (MLServer's convention); shape [N] or [N, 1] by variant."""
    inputs = []
    for name in sv.numeric:
        values = [_json_number(v) for v in _numbers(frame, [name])[:, 0]]
        inputs.append(_tensor(name, [frame.height], "FP64", data=values))
    for name in sv.categorical:
        strings = frame.get_column(name).cast(pl.String).to_list()
        shape = [frame.height, 1] if variant % 2 else [frame.height]
        inputs.append(_tensor(name, shape, "BYTES", data=strings))
    return json.dumps({"inputs": inputs}).encode()


def v2_binary(
    frame: pl.DataFrame, sv: ServedVersion, variant: int, rid: str, outputs: Sequence[str]
) -> tuple[bytes, dict[str, str]]:
    """Binary tensor extension; outputs all binary, binary_data_output, JSON, or mixed."""
    blobs: list[bytes] = []
    inputs = []
    if sv.numeric:
        raw = _numbers(frame, sv.numeric).astype("<f4").tobytes()
        blobs.append(raw)
        shape = [frame.height, len(sv.numeric)]
        inputs.append(_tensor("numeric", shape, "FP32", parameters={"binary_data_size": len(raw)}))
    if sv.categorical:
        parts = []
        for row in _texts(frame, sv.categorical):
            for value in row:
                data = (sv.missing_text if value is None else value).encode()
                parts.append(struct.pack("<I", len(data)) + data)
        raw = b"".join(parts)
        blobs.append(raw)
        shape = [frame.height, len(sv.categorical)]
        sizes = {"binary_data_size": len(raw)}
        inputs.append(_tensor("categorical", shape, "BYTES", parameters=sizes))
    head: dict[str, Any] = {"id": rid, "inputs": inputs}
    mode = variant % 4
    if mode == 0:
        head["outputs"] = [{"name": o, "parameters": {"binary_data": True}} for o in outputs]
    elif mode == 1:
        head["parameters"] = {"binary_data_output": True}
    elif mode == 3:
        head["outputs"] = [
            {"name": o, "parameters": {"binary_data": i == len(outputs) - 1}}
            for i, o in enumerate(outputs)
        ]
    header = json.dumps(head).encode()
    headers = {
        "Content-Type": "application/octet-stream",
        "Inference-Header-Content-Length": str(len(header)),
    }
    return header + b"".join(blobs), headers


def v1_json(frame: pl.DataFrame, sv: ServedVersion) -> bytes:
    records = frame.select([*sv.numeric, *sv.categorical]).to_dicts()
    return json.dumps({"instances": records}).encode()


OUTPUTS = {
    "classification": ("label", "probabilities"),
    "regression": ("prediction",),
    "clustering": ("label", "scores"),
}


def build_pool(
    by_name: Mapping[str, list[ServedVersion]], default: Mapping[str, set[int]], seed: int
) -> list[SoakRequest]:
    """Every (reference, kind, size, variant) request with its expected answers."""
    rng = random.Random(seed)
    frame = pool_rows(seed)
    pool: list[SoakRequest] = []
    for name, versions in by_name.items():
        by_number = {v.version: v for v in versions}
        targets: list[tuple[str, ServedVersion, list[ServedVersion]]] = [
            (f"{name}:{v.version}", v, [v]) for v in versions
        ]
        answering = [by_number[n] for n in sorted(default[name])]
        if answering:
            targets.append((name, answering[-1], answering))
        for ref, sv, expect_from in targets:
            versioned = ":" in ref
            prefix = f"/v2/models/{name}" + (f"/versions/{sv.version}" if versioned else "")
            for kind in KINDS:
                if kind == "v1-json" and versioned:
                    continue  # V1 addresses a model by name only
                for size in SIZES:
                    for variant in range(VARIANTS):
                        rows = choose_rows(rng, frame, size, variant)
                        rid = f"soak-{len(pool)}"
                        headers = {"Content-Type": "application/json"}
                        path, request_id = prefix + "/infer", None
                        if kind == "v2-json":
                            body, request_id = v2_tensors_json(rows, sv, variant, rid), rid
                        elif kind == "v2-json-columns":
                            body = v2_columns_json(rows, sv, variant)
                        elif kind == "v2-binary":
                            body, headers = v2_binary(rows, sv, variant, rid, OUTPUTS[sv.task])
                            request_id = rid
                        else:
                            body, path = v1_json(rows, sv), f"/v1/models/{name}:predict"
                        expected = {
                            str(e.version): answer_from_frame(
                                str(e.version), e.task, e.classes, e.predict(rows)
                            )
                            for e in expect_from
                        }
                        pool.append(
                            SoakRequest(
                                kind=kind,
                                name=name,
                                ref=ref,
                                rows=size,
                                path=path,
                                body=body,
                                headers=headers,
                                task=sv.task,
                                classes=sv.classes,
                                expected=expected,
                                request_id=request_id,
                            )
                        )
    return pool


# --------------------------------------------------------------------------------------------
# the server and its memory


class Server:
    """``tabforge serve`` in its own session; ``stop`` sends SIGTERM, then kills what is left."""

    def __init__(self, argv: list[str], log: Path, port: int) -> None:
        self.port = port
        self.log = log
        with open(log, "wb") as out:
            self.proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.exit_code: int | None = None

    def wait_ready(self, timeout: float = START_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise SetupError(f"the server exited early:\n{tail(self.log)}")
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
            try:
                conn.request("GET", "/v2/health/ready")
                if conn.getresponse().status == 200:
                    return
            except (OSError, http.client.HTTPException):
                pass
            finally:
                conn.close()
            if time.monotonic() > deadline:
                raise SetupError(
                    f"the server was not ready within {timeout:.0f} s:\n{tail(self.log)}"
                )
            time.sleep(0.2)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> int | None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGTERM)
        try:
            self.exit_code = self.proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.exit_code = None
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)  # stragglers of the group, if any
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)
        return self.exit_code


def tail(path: Path, lines: int = 30) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.strip().splitlines()[-lines:])


class RssSampler(threading.Thread):
    """(seconds since start, MiB) every ``interval`` seconds until stopped."""

    def __init__(self, pid: int, interval: float = 1.0) -> None:
        super().__init__(name="soak-rss", daemon=True)
        self.pid = pid
        self.interval = interval
        self.samples: list[tuple[float, float]] = []
        self.halt = threading.Event()
        self.started_at = time.monotonic()

    def run(self) -> None:
        while True:
            self.sample()
            if self.halt.wait(self.interval):
                return

    def sample(self) -> None:
        rss = common.tree_rss_mib(self.pid)
        if rss is not None:
            self.samples.append((time.monotonic() - self.started_at, rss))


def rss_summary(samples: Sequence[tuple[float, float]], warmup_s: float) -> dict[str, Any]:
    """RSS at the end of warm-up, its max after, the final value and the growth in %.

    ``samples`` are (seconds since the load started, MiB); None where nothing was measured.
    """
    after = [m for t, m in samples if t >= warmup_s]
    base = after[0] if after else None
    peak = max(after) if after else None
    growth = None if base is None or peak is None else (peak - base) / base * 100
    return {
        "start": round(samples[0][1], 1) if samples else None,
        "warmup_seconds": round(warmup_s, 1),
        "warmup": None if base is None else round(base, 1),
        "max_after_warmup": None if peak is None else round(peak, 1),
        "final": round(after[-1], 1) if after else None,
        "growth_pct": None if growth is None else round(growth, 2),
        "samples": len(samples),
        "series": [[round(t, 1), round(m, 1)] for t, m in samples],
    }


# --------------------------------------------------------------------------------------------
# the load


@dataclass
class Stats:
    requests: int = 0
    rows: int = 0
    by_kind: Counter[str] = field(default_factory=Counter)
    by_rows: Counter[str] = field(default_factory=Counter)
    by_model: Counter[str] = field(default_factory=Counter)
    status: Counter[str] = field(default_factory=Counter)
    transport_errors: int = 0
    wrong: int = 0
    examples: list[dict[str, Any]] = field(default_factory=list)
    latencies: array[float] = field(default_factory=lambda: array("d"))

    def merge(self, other: Stats) -> None:
        self.requests += other.requests
        self.rows += other.rows
        for mine, theirs in (
            (self.by_kind, other.by_kind),
            (self.by_rows, other.by_rows),
            (self.by_model, other.by_model),
            (self.status, other.status),
        ):
            mine.update(theirs)
        self.transport_errors += other.transport_errors
        self.wrong += other.wrong
        self.examples += other.examples
        self.latencies.extend(other.latencies)


class Budget:
    """The shared request count limit (None: time only)."""

    def __init__(self, limit: int | None) -> None:
        self.left = limit
        self.lock = threading.Lock()

    def take(self) -> bool:
        if self.left is None:
            return True
        with self.lock:
            if self.left <= 0:
                return False
            self.left -= 1
            return True


def client(
    server: Server,
    by_kind: Mapping[str, list[SoakRequest]],
    deadline: float,
    halt: threading.Event,
    budget: Budget,
    seed: int,
    stats: Stats,
    keep: Path,
) -> None:
    """One keep-alive connection sending random pool requests until the deadline."""
    rng = random.Random(seed)
    kinds = sorted(by_kind)
    port = server.port
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT)
    try:
        while not halt.is_set() and time.monotonic() < deadline and budget.take():
            req = rng.choice(by_kind[rng.choice(kinds)])
            started = time.perf_counter()
            try:
                conn.request("POST", req.path, body=req.body, headers=req.headers)
                response = conn.getresponse()
                body = response.read()
            except (OSError, http.client.HTTPException) as exc:
                stats.requests += 1
                stats.transport_errors += 1
                _example(stats, keep, req, f"transport error: {type(exc).__name__}: {exc}", b"")
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT)
                if not server.alive():
                    halt.set()
                time.sleep(0.05)
                continue
            stats.latencies.append(time.perf_counter() - started)
            stats.requests += 1
            stats.rows += req.rows
            stats.by_kind[req.kind] += 1
            stats.by_rows[str(req.rows)] += 1
            stats.by_model[req.ref] += 1
            stats.status[str(response.status)] += 1
            if response.status != 200:
                _example(stats, keep, req, f"status {response.status}", body)
                continue
            headers = {k.lower(): v for k, v in response.getheaders()}
            problem = check(req, response.status, headers, body)
            if problem is not None:
                stats.wrong += 1
                _example(stats, keep, req, problem, body)
    finally:
        conn.close()


def _example(stats: Stats, keep: Path, req: SoakRequest, problem: str, body: bytes) -> None:
    if len(stats.examples) >= EXAMPLES:
        return
    stem = f"mismatch-{threading.get_ident()}-{len(stats.examples)}"
    with contextlib.suppress(OSError):
        (keep / f"{stem}.request").write_bytes(req.body)
        (keep / f"{stem}.response").write_bytes(body)
    stats.examples.append(
        {
            "kind": req.kind,
            "ref": req.ref,
            "rows": req.rows,
            "path": req.path,
            "problem": problem,
            "request_file": str(keep / f"{stem}.request"),
            "response": body[:300].decode("utf-8", "replace"),
        }
    )


def run_load(
    server: Server,
    pool: Sequence[SoakRequest],
    seconds: float,
    concurrency: int,
    seed: int,
    max_requests: int | None,
    keep: Path,
) -> tuple[Stats, float]:
    by_kind: dict[str, list[SoakRequest]] = {}
    for req in pool:
        by_kind.setdefault(req.kind, []).append(req)
    halt = threading.Event()
    budget = Budget(max_requests)
    per_thread = [Stats() for _ in range(concurrency)]
    started = time.monotonic()
    deadline = started + seconds
    threads = []
    for i in range(concurrency):
        args = (server, by_kind, deadline, halt, budget, seed * 1000 + i, per_thread[i], keep)
        threads.append(threading.Thread(target=client, args=args, name=f"soak-client-{i}"))
    for t in threads:
        t.start()
    try:
        for t in threads:
            while t.is_alive():
                t.join(timeout=0.5)
    finally:
        halt.set()
        for t in threads:
            t.join(timeout=REQUEST_TIMEOUT + 5)
    elapsed = time.monotonic() - started
    total = Stats()
    for s in per_thread:
        total.merge(s)
    total.examples = total.examples[:EXAMPLES]
    return total, elapsed


# --------------------------------------------------------------------------------------------
# the report


def percentile_ms(values: array[float], q: float) -> float | None:
    if not values:
        return None
    return round(float(np.percentile(np.frombuffer(values, dtype=np.float64), q)) * 1000, 2)


def reproduce(args: argparse.Namespace) -> str:
    python, script = Path(sys.executable), Path(__file__).resolve()
    argv = [_short(python), _short(script), "--minutes", f"{args.minutes:g}"]
    argv += ["--concurrency", str(args.concurrency), "--workers", str(args.workers)]
    argv += ["--seed", str(args.seed)]
    if args.registry:
        argv += ["--registry", str(args.registry)]
    if args.max_requests:
        argv += ["--max-requests", str(args.max_requests)]
    return shlex.join(argv)


def _short(path: Path) -> str:
    """``path`` relative to the project root when it is inside it."""
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def verdict(summary: dict[str, Any]) -> list[str]:
    """The reasons the run failed; empty when it passed."""
    failures = []
    if summary["requests"] == 0:
        failures.append("no request was sent")
    if summary["http_5xx"]:
        failures.append(f"{summary['http_5xx']} responses with a 5xx status")
    if summary["http_other_non_200"]:
        failures.append(f"{summary['http_other_non_200']} other non-200 responses")
    if summary["transport_errors"]:
        failures.append(f"{summary['transport_errors']} transport errors")
    if summary["wrong_answers"]:
        failures.append(f"{summary['wrong_answers']} wrong answers")
    growth = summary["rss_mib"]["growth_pct"]
    if growth is None:
        failures.append("RSS after warm-up was not measured")
    elif growth >= RSS_LIMIT_PCT:
        failures.append(f"RSS grew {growth:.1f}% after warm-up (limit {RSS_LIMIT_PCT:g}%)")
    if summary["server_died"]:
        failures.append("the server exited during the run")
    return failures


def _counts(counter: Mapping[str, int], total: int) -> str:
    return " | ".join(f"{k} {v:,} ({v / total:.0%})" for k, v in counter.items()) if total else "-"


def _mib(v: float | None) -> str:
    return "-" if v is None else f"{v:,.1f} MiB"


def human(summary: dict[str, Any]) -> str:
    rss = summary["rss_mib"]
    total = summary["requests"]
    growth = "-" if rss["growth_pct"] is None else f"{rss['growth_pct']:+.2f}%"
    lat = summary["latency_ms"]
    lines = [
        f"soak: {summary['minutes']:g} min, concurrency {summary['concurrency']}, "
        f"{summary['workers']} worker(s), {summary['cores']} cores",
        f"models     {', '.join(summary['models'])}",
        f"requests   {total:,} in {summary['seconds']:.1f} s: {summary['requests_per_s']:,.1f} "
        f"req/s, {summary['rows_per_s']:,.0f} rows/s (pool of {summary['pool']} requests)",
        f"  by kind  {_counts(summary['by_kind'], total)}",
        f"  by rows  {_counts(summary['by_rows'], total)}",
        f"  by model {_counts(summary['by_model'], total)}",
        f"latency    p50 {lat['p50']} ms, p99 {lat['p99']} ms, max {lat['max']} ms",
        f"errors     5xx {summary['http_5xx']}, other non-200 {summary['http_other_non_200']}, "
        f"transport {summary['transport_errors']}",
        f"wrong      {summary['wrong_answers']}",
        f"RSS        start {_mib(rss['start'])}; end of warm-up ({rss['warmup_seconds']:g} s) "
        f"{_mib(rss['warmup'])}; max after {_mib(rss['max_after_warmup'])}; "
        f"final {_mib(rss['final'])}; growth {growth} (limit {RSS_LIMIT_PCT:g}%)",
        f"server     exit code {summary['server_exit_code']} after SIGTERM; "
        f"{summary['server_log_errors']} error lines in its log",
    ]
    lines += [f"note       {n}" for n in summary["notes"]]
    for ex in summary["examples"]:
        lines.append(f"example    {ex['kind']} {ex['ref']} {ex['rows']} rows: {ex['problem']}")
    lines.append(f"command    {summary['command']}")
    lines.append("PASS" if summary["passed"] else "FAIL: " + "; ".join(summary["failures"]))
    return "\n".join(lines)


def doc_section(summary: dict[str, Any]) -> str:
    rss = summary["rss_mib"]
    total = summary["requests"]
    growth = "-" if rss["growth_pct"] is None else f"{rss['growth_pct']:+.2f}%"
    kinds = ", ".join(f"{k}: {v:,}" for k, v in summary["by_kind"].items())
    sizes = ", ".join(f"{k} rows: {v:,}" for k, v in summary["by_rows"].items())
    rows = [
        ("date", summary["date"]),
        ("machine", f"{summary['cores']} cores, {summary['platform']}"),
        (
            "load",
            f"{summary['minutes']:g} min, concurrency {summary['concurrency']}, "
            f"{summary['workers']} server worker(s)",
        ),
        ("models", ", ".join(summary["models"])),
        (
            "requests",
            f"{total:,} ({summary['requests_per_s']:,.0f}/s, {summary['rows_per_s']:,.0f} rows/s)",
        ),
        ("by kind", kinds),
        ("by size", sizes),
        (
            "latency p50 / p99 / max",
            f"{summary['latency_ms']['p50']} / "
            f"{summary['latency_ms']['p99']} / "
            f"{summary['latency_ms']['max']} ms",
        ),
        ("5xx", f"{summary['http_5xx']}"),
        (
            "other non-200 / transport errors",
            f"{summary['http_other_non_200']} / {summary['transport_errors']}",
        ),
        ("wrong answers", f"{summary['wrong_answers']}"),
        ("RSS end of warm-up", f"{_mib(rss['warmup'])} (warm-up {rss['warmup_seconds']:g} s)"),
        (
            "RSS max after warm-up / final",
            f"{_mib(rss['max_after_warmup'])} / {_mib(rss['final'])}",
        ),
        ("RSS growth", f"{growth} (limit {RSS_LIMIT_PCT:g}%)"),
        ("result", "pass" if summary["passed"] else "FAIL: " + "; ".join(summary["failures"])),
    ]
    table = "\n".join(f"| {k} | {v} |" for k, v in rows)
    return (
        f"{SECTION_HEADING}\n\n"
        "Mixed load on `tabforge serve` (single rows and batches of 10 and 200; V2 JSON tensors, "
        "V2 JSON per column, V2 binary tensors, V1 JSON; explicit versions and plain names), "
        "every response checked against in-process predictions of the same rows (labels "
        f"exact, floats within rtol {RTOL:g} + atol {ATOL:g}). Pass: no 5xx, no other "
        "error, no wrong answer, RSS growth under "
        f"{RSS_LIMIT_PCT:g}% after warm-up (the first {WARMUP_SHARE:.0%} of the run, at least "
        f"{WARMUP_MIN_S:g} s).\n\n"
        "| | |\n|---|---|\n"
        f"{table}\n\n"
        "Reproduce:\n\n"
        f"```sh\n{summary['command']}\n```\n"
    )


def write_doc(path: Path, summary: dict[str, Any]) -> None:
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("# Reliability\n")
    common.write_section(path, SECTION_HEADING, doc_section(summary))


# --------------------------------------------------------------------------------------------
# main


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Soak `tabforge serve` with mixed, checked load (see the module docstring)."
    )
    parser.add_argument("--minutes", type=float, required=True, help="length of the load")
    parser.add_argument("--concurrency", type=int, default=8, help="client threads (8)")
    parser.add_argument("--workers", type=int, default=1, help="tabforge serve --workers (1)")
    parser.add_argument("--registry", type=Path, help="serve this registry instead of training")
    parser.add_argument("--seed", type=int, default=0, help="fixes the pool and the request order")
    parser.add_argument("--max-requests", type=int, help="stop after this many requests too")
    parser.add_argument("--json", type=Path, help="write the summary as JSON here")
    parser.add_argument("--write-doc", action="store_true", help="write the ## Soak section")
    parser.add_argument(
        "--doc", type=Path, default=DOC, help=f"for --write-doc ({DOC.relative_to(ROOT)})"
    )
    parser.add_argument("--tabforge", default=None, help="the tabforge executable")
    args = parser.parse_args(argv)
    if args.minutes * 60 < MIN_SECONDS:
        parser.error(f"--minutes must be at least {MIN_SECONDS / 60:g} (warm-up needs time)")
    if args.concurrency < 1 or args.workers < 1:
        parser.error("--concurrency and --workers must be at least 1")
    if args.max_requests is not None and args.max_requests < 1:
        parser.error("--max-requests must be at least 1")
    return args


@contextlib.contextmanager
def workdir() -> Iterator[tuple[Path, list[bool]]]:
    """A temporary directory, removed unless the run failed (``keep[0]`` set)."""
    path = Path(tempfile.mkdtemp(prefix="tabforge-soak-"))
    keep = [False]
    try:
        yield path, keep
    finally:
        if keep[0]:
            print(f"kept {path} (server log, failing requests)", file=sys.stderr)
        else:
            shutil.rmtree(path, ignore_errors=True)


def soak(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    tabforge = args.tabforge or common.default_tabforge()
    seconds = args.minutes * 60
    if args.registry is not None:
        registry = args.registry.resolve()
        if not registry.is_dir():
            raise SetupError(f"registry directory {registry} does not exist")
    else:
        registry = work / "models"
        t0 = time.monotonic()
        print("training the soak's models ...", file=sys.stderr, flush=True)
        train_models(registry, work, tabforge)
        print(f"  trained in {time.monotonic() - t0:.1f} s", file=sys.stderr, flush=True)
    by_name, default, notes = load_versions(registry)
    pool = build_pool(by_name, default, args.seed)
    models = [f"{v.name}:{v.version} ({v.estimator})" for vs in by_name.values() for v in vs]

    port = common.free_port()
    argv = [tabforge, "serve", "--registry", str(registry), "--port", str(port)]
    argv += ["--workers", str(args.workers)]
    server = Server(argv, work / "server.log", port)
    died = False
    try:
        server.wait_ready()
        print(
            f"serving on 127.0.0.1:{port}; {len(pool)} requests in the pool; "
            f"load for {seconds:.0f} s at concurrency {args.concurrency} ...",
            file=sys.stderr,
            flush=True,
        )
        sampler = RssSampler(server.proc.pid)
        sampler.start()
        try:
            stats, elapsed = run_load(
                server, pool, seconds, args.concurrency, args.seed, args.max_requests, work
            )
        finally:
            sampler.halt.set()
            sampler.join()
            sampler.sample()  # the final value, after the last response
        died = not server.alive()
    finally:
        exit_code = server.stop()
    log_text = server.log.read_text(errors="replace") if server.log.is_file() else ""
    log_errors = sum(
        1 for line in log_text.splitlines() if line.startswith(("ERROR", "Traceback", "CRITICAL"))
    )
    warmup_s = max(WARMUP_SHARE * elapsed, WARMUP_MIN_S)
    n5xx = sum(v for k, v in stats.status.items() if k.startswith("5"))
    n4xx = sum(v for k, v in stats.status.items() if k.startswith("4"))
    other = sum(v for k, v in stats.status.items() if k != "200") - n5xx
    lat = stats.latencies
    summary: dict[str, Any] = {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": reproduce(args),
        "cores": os.cpu_count(),
        "platform": f"{sys.platform}, Python {sys.version.split()[0]}",
        "minutes": args.minutes,
        "seconds": round(elapsed, 1),
        "concurrency": args.concurrency,
        "workers": args.workers,
        "seed": args.seed,
        "models": models,
        "pool": len(pool),
        "requests": stats.requests,
        "rows": stats.rows,
        "requests_per_s": round(stats.requests / elapsed, 1) if elapsed else 0.0,
        "rows_per_s": round(stats.rows / elapsed, 1) if elapsed else 0.0,
        "by_kind": {k: stats.by_kind[k] for k in KINDS if stats.by_kind[k]},
        "by_rows": {str(s): stats.by_rows[str(s)] for s in SIZES if stats.by_rows[str(s)]},
        "by_model": dict(sorted(stats.by_model.items())),
        "status": dict(sorted(stats.status.items())),
        "http_4xx": n4xx,
        "http_5xx": n5xx,
        "http_other_non_200": other,
        "transport_errors": stats.transport_errors,
        "wrong_answers": stats.wrong,
        "examples": stats.examples,
        "latency_ms": {
            "p50": percentile_ms(lat, 50),
            "p99": percentile_ms(lat, 99),
            "max": percentile_ms(lat, 100),
        },
        "rss_mib": rss_summary(sampler.samples, warmup_s),
        "server_exit_code": exit_code,
        "server_died": died,
        "server_log_errors": log_errors,
        "notes": notes,
    }
    summary["failures"] = verdict(summary)
    summary["passed"] = not summary["failures"]
    return summary


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _raise_interrupt)
    with workdir() as (work, keep):
        try:
            summary = soak(args, work)
        except SetupError as exc:
            keep[0] = True
            print(f"soak could not run: {exc}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            print("soak interrupted; the server was stopped", file=sys.stderr)
            return 130
        keep[0] = not summary["passed"]
        print(human(summary))
        if args.json is not None:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps(summary, indent=2) + "\n")
        if args.write_doc:
            write_doc(args.doc, summary)
            print(f"wrote the {SECTION_HEADING} section of {args.doc}", file=sys.stderr)
    return 0 if summary["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())

"""Prepared requests, the answers they may get, and the checker that compares them.

A response is decoded whatever the protocol that carried it (V1 records, V2 JSON or binary
tensors) into an ``Answer``, then compared with the in-process prediction of the same rows.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from .criteria import ATOL, RTOL

KINDS = ("v2-json", "v2-json-columns", "v2-binary", "v1-json")
SIZES = (1, 10, 200)
BINARY_HEADER = "inference-header-content-length"


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

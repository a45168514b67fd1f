"""Request bodies for one served version: V2 tensors, V2 per column, V2 binary, V1 records."""

from __future__ import annotations

import json
import struct
from collections.abc import Sequence
from typing import Any

import numpy as np
import polars as pl

from .models import ServedVersion


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

"""The request bodies wrk sends, one file each: V2 JSON and binary tensors, KServe V1 records,
FastAPI rows."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common import FEATURES  # benchmarks/common.py, beside the entry script

from .config import BATCH


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


def v1_records(x: Any) -> bytes:
    """KServe V1 ``{"instances": [{column: value, ...}, ...]}``, one object per row."""
    rows = [dict(zip(FEATURES, _floats(r), strict=True)) for r in x]
    return _json({"instances": rows})


def v2_binary(x: Any, every_output: bool = False) -> tuple[bytes, int]:
    """A V2 binary-extension body (JSON header, then raw little-endian float32) and header size.

    The answer's ``probabilities`` come as binary data; with ``every_output``, every output
    does (request parameter ``binary_data_output``).
    """
    import numpy as np

    raw = np.ascontiguousarray(x, dtype="<f4").tobytes()
    tensor = {
        "name": "numeric",
        "shape": [len(x), 30],
        "datatype": "FP32",
        "parameters": {"binary_data_size": len(raw)},
    }
    if every_output:
        head = _json({"inputs": [tensor], "parameters": {"binary_data_output": True}})
    else:
        outputs = [{"name": "probabilities", "parameters": {"binary_data": True}}]
        head = _json({"inputs": [tensor], "outputs": outputs})
    return head + raw, len(head)


def write_bodies(workdir: Path, x: Any) -> dict[str, Body]:
    out = workdir / "bodies"
    out.mkdir(parents=True, exist_ok=True)
    one, many = x[:1], x[:BATCH]
    binary, head_len = v2_binary(many)
    every, every_len = v2_binary(many, every_output=True)
    payloads: dict[str, tuple[bytes, int, str, int | None]] = {
        "tabforge-1": (v2_json(one, "numeric"), 1, "application/json", None),
        "tabforge-batch": (v2_json(many, "numeric"), BATCH, "application/json", None),
        "tabforge-binary": (binary, BATCH, "application/octet-stream", head_len),
        "tabforge-binary-all": (every, BATCH, "application/octet-stream", every_len),
        "tabforge-v1": (v1_records(one), 1, "application/json", None),
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

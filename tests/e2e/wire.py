"""V2 request bodies and binary responses for the mixed test model, built by hand like a client would."""

from __future__ import annotations

import json
import struct
from typing import Any

import httpx
import numpy as np
import polars as pl


def grouped_json(df: pl.DataFrame) -> dict[str, Any]:
    numeric = df.select("a", "b", "c").to_numpy()
    return {"inputs": [
        {"name": "numeric", "shape": [df.height, 3], "datatype": "FP32",
         "data": [None if np.isnan(v) else float(v) for v in numeric.reshape(-1)]},
        {"name": "categorical", "shape": [df.height, 2], "datatype": "BYTES",
         "data": df.select("color", "shape").fill_null("").to_numpy().reshape(-1).tolist()},
    ]}  # fmt: skip


def binary_body(df: pl.DataFrame, outputs_binary: bool) -> tuple[bytes, dict[str, str]]:
    numeric = df.select("a", "b", "c").to_numpy().astype("<f4")
    strings = df.select("color", "shape").fill_null("").to_numpy().reshape(-1)
    text = b"".join(struct.pack("<I", len(s.encode())) + s.encode() for s in strings)
    head = {
        "inputs": [
            {"name": "numeric", "shape": [df.height, 3], "datatype": "FP32",
             "parameters": {"binary_data_size": numeric.nbytes}},
            {"name": "categorical", "shape": [df.height, 2], "datatype": "BYTES",
             "parameters": {"binary_data_size": len(text)}},
        ],
        "outputs": [{"name": "label", "parameters": {"binary_data": outputs_binary}},
                    {"name": "probabilities", "parameters": {"binary_data": outputs_binary}}],
    }  # fmt: skip
    header = json.dumps(head).encode()
    return header + numeric.tobytes() + text, {
        "Inference-Header-Content-Length": str(len(header)),
        "Content-Type": "application/octet-stream",
    }


def parse_binary_response(r: httpx.Response) -> dict[str, np.ndarray]:
    split = int(r.headers["inference-header-content-length"])
    head = json.loads(r.content[:split])
    blob = r.content[split:]
    out, pos = {}, 0
    for o in head["outputs"]:
        size = o["parameters"]["binary_data_size"]
        chunk = blob[pos : pos + size]
        pos += size
        if o["datatype"] == "BYTES":
            values, i = [], 0
            while i < len(chunk):
                (n,) = struct.unpack_from("<I", chunk, i)
                values.append(chunk[i + 4 : i + 4 + n].decode())
                i += 4 + n
            out[o["name"]] = np.array(values, dtype=object)
        else:
            out[o["name"]] = np.frombuffer(chunk, dtype="<f4").reshape(o["shape"])
    assert pos == len(blob)
    return out

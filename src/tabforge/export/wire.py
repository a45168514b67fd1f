"""Parity from the wire: the rows parity checks, sent the ways clients send them.

Each path encodes the rows as a client would and decodes them with the server's own
decoders (in-process, no server): the feed must be exactly the one ``encode`` gave, which
is the feed the ONNX side of parity runs. So a stored model is proven from the request
bytes to the answer, and a decoder that drifts from the encoder refuses the model.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import msgspec
import numpy as np
import polars as pl

from tabforge.contract import Inputs, Tensors, v1, v2, v2client
from tabforge.contract.binary import binary_inputs, binary_tensor
from tabforge.errors import ParityError

TENSOR_TYPES = {"numeric": "FP32", "categorical": "BYTES"}
WIRE_ROWS = 5_000


def _rows(frame: pl.DataFrame, inputs: Inputs) -> pl.DataFrame:
    return frame.select([*inputs.numeric, *inputs.categorical])


def _json_columns(frame: pl.DataFrame, feed: Tensors, inputs: Inputs) -> Tensors:
    body = msgspec.json.encode({"inputs": v2client.column_inputs(_rows(frame, inputs))})
    return v2.assemble(v2.decode_request(body), inputs, max_rows=max(1, frame.height))


def _v1_instances(frame: pl.DataFrame, feed: Tensors, inputs: Inputs) -> Tensors:
    rows = _rows(frame, inputs).with_columns(pl.selectors.float().fill_nan(None))
    body = json.dumps({"instances": rows.to_dicts()}, default=str).encode()
    return v1.assemble(body, inputs, max_rows=max(1, frame.height))


def _tensor_inputs(feed: Tensors) -> list[dict[str, Any]]:
    out = []
    for name, arr in feed.items():
        data = arr.tolist()
        if arr.dtype.kind == "f":  # JSON has no NaN: a missing number travels as null
            boxed = arr.astype(object)
            boxed[np.isnan(arr)] = None
            data = boxed.tolist()
        out.append({"name": name, "shape": list(arr.shape), "datatype": TENSOR_TYPES[name],
                    "data": data})  # fmt: skip
    return out


def _json_tensors(frame: pl.DataFrame, feed: Tensors, inputs: Inputs) -> Tensors:
    body = msgspec.json.encode({"inputs": _tensor_inputs(feed)})
    rows = len(next(iter(feed.values())))
    return v2.assemble(v2.decode_request(body), inputs, max_rows=max(1, rows))


def _binary_tensors(frame: pl.DataFrame, feed: Tensors, inputs: Inputs) -> Tensors:
    blobs = {name: binary_tensor(arr, TENSOR_TYPES[name]) for name, arr in feed.items()}
    header = {
        "inputs": [
            {"name": name, "shape": list(arr.shape), "datatype": TENSOR_TYPES[name],
             "parameters": {"binary_data_size": len(blobs[name])}}
            for name, arr in feed.items()
        ]
    }  # fmt: skip
    request = v2.decode_request(msgspec.json.encode(header))
    blob = memoryview(b"".join(blobs[name] for name in feed))
    rows = len(next(iter(feed.values())))
    binary = binary_inputs(request, blob)
    return v2.assemble(request, inputs, max_rows=max(1, rows), binary=binary)


Path = Callable[[pl.DataFrame, Tensors, Inputs], Tensors]


def check_wire(
    holdout: pl.DataFrame, holdout_feed: Tensors, extra: Tensors, inputs: Inputs
) -> list[str]:
    """Every client path must decode to the encoder's feed; the paths proven, in order.

    Column-shaped paths carry hold-out rows as read from the file; tensor-shaped paths
    carry hold-out rows and every adversarial row as tensors. At most WIRE_ROWS hold-out
    rows travel: the decoders are vectorised, so more rows only cost time (on flights'
    65k hold-out rows all of them took 3-4 s).
    """
    frame = holdout.head(WIRE_ROWS)
    rows = {k: v[:WIRE_ROWS] for k, v in holdout_feed.items()}
    both = {k: np.concatenate([rows[k], extra[k]]) for k in rows}
    paths: list[tuple[str, Path, Tensors]] = [
        ("v2 json columns", _json_columns, rows),
        ("v2 json tensors", _json_tensors, both),
        ("v2 binary tensors", _binary_tensors, both),
        ("v1 instances", _v1_instances, rows),
    ]
    for name, path, expected in paths:
        _same(name, expected, path(frame, expected, inputs))
    return [p[0] for p in paths]


def _same(path: str, expected: Tensors, got: Tensors) -> None:
    for name, want in expected.items():
        have = got.get(name)
        if have is None or have.shape != want.shape or have.dtype != want.dtype:
            shown = None if have is None else (have.shape, have.dtype)
            raise ParityError(
                f"{path}: input {name!r} decodes as {shown}, the encoder gives "
                f"{(want.shape, want.dtype)}; nothing stored"
            )
        if want.dtype.kind == "f":
            equal = (want == have) | (np.isnan(want) & np.isnan(have))
        else:
            equal = want == have
        if not equal.all():
            row, col = (int(i) for i in np.argwhere(~equal)[0])
            raise ParityError(
                f"{path}: row {row + 1}, {name} column {col + 1} decodes as "
                f"{have[row, col]!r}, the encoder gives {want[row, col]!r}; nothing stored"
            )

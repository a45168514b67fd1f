"""KServe V1: ``{"instances": [{column: value, ...}, ...]}`` -> ``{"predictions": [...]}``."""

from __future__ import annotations

import math
from typing import Any

import msgspec
import numpy as np

from tabforge.contract.encode import empty_feed, encode_strict, to_frame
from tabforge.contract.manifest import Inputs, Manifest
from tabforge.contract.tensors import NUMERIC_INPUT
from tabforge.contract.v2 import decode_json
from tabforge.errors import DataError, PayloadTooLarge


class PredictRequest(msgspec.Struct):
    instances: list[dict[str, Any]]


_decoder = msgspec.json.Decoder(PredictRequest)


def assemble(body: bytes, inputs: Inputs, *, max_rows: int) -> dict[str, np.ndarray]:
    if not body.strip():
        raise DataError('empty request body: expected {"instances": [...]}')
    what = "predict request (instances must be objects keyed by column)"
    request: PredictRequest = decode_json(body, _decoder, what)
    if not request.instances:
        return empty_feed(inputs)  # no rows: {"predictions": []}
    if len(request.instances) > max_rows:
        raise PayloadTooLarge(f"{len(request.instances)} instances, over the limit of {max_rows}")
    feed = encode_strict(to_frame(request.instances), inputs)
    _refuse_infinity(feed, inputs)
    return feed


def _refuse_infinity(feed: dict[str, np.ndarray], inputs: Inputs) -> None:
    """Infinity is no value a model was trained on, and no way to say "missing": refused, as
    V2 refuses it (the Rust server applies the same rule), naming the first row and column."""
    numeric = feed.get(NUMERIC_INPUT)
    if numeric is None or math.isfinite(float(numeric.sum(dtype=np.float64))):
        return
    where = np.argwhere(np.isinf(numeric))
    if len(where):
        row, col = (int(v) for v in where[0])
        raise DataError(
            f"row {row + 1}: column {inputs.numeric[col]!r} holds Infinity; "
            "send null for a missing value"
        )


def predictions(outputs: dict[str, np.ndarray], manifest: Manifest) -> list[dict[str, Any]]:
    if manifest.task == "classification":
        classes = [str(c) for c in manifest.outputs.classes or []]
        labels = outputs["label"].tolist()
        return [
            {"label": label, "probabilities": dict(zip(classes, row, strict=True))}
            for label, row in zip(labels, outputs["probabilities"].tolist(), strict=True)
        ]
    if manifest.task == "regression":
        return [{"prediction": v} for v in outputs["prediction"].tolist()]
    return [
        {"label": label, "scores": row}
        for label, row in zip(outputs["label"].tolist(), outputs["scores"].tolist(), strict=True)
    ]

"""manifest.json: the contract between training and every runtime.

msgspec structs, so readers decode strictly (a malformed manifest is an error naming the
field, not a KeyError later). Bump MANIFEST_VERSION on any incompatible change.
"""

from __future__ import annotations

from typing import Any

import msgspec

MANIFEST_VERSION = 1


class TensorSpec(msgspec.Struct, frozen=True):
    name: str
    datatype: str  # Open Inference Protocol name: FP32, INT64, BYTES
    shape: list[int]  # -1 for a variable dimension


class Inputs(msgspec.Struct, frozen=True):
    numeric: list[str]
    categorical: list[str]
    categories: dict[str, list[str]]  # categories seen in training, per categorical column
    tensors: list[TensorSpec]
    missing_text: str = ""  # how a missing categorical value is sent in the string tensor


class Outputs(msgspec.Struct, frozen=True):
    tensors: list[TensorSpec]
    classes: list[Any] | None = None  # class labels in probability-column order
    scores: str | None = None  # what clustering scores mean


class Estimator(msgspec.Struct, frozen=True):
    name: str
    class_name: str
    params: dict[str, Any]


class DataInfo(msgspec.Struct, frozen=True):
    source: str
    rows: int
    train_rows: int
    test_rows: int
    fingerprint: str
    target: str | None
    ignored: dict[str, str]
    profile: dict[str, dict[str, Any]]
    # Columns that alone predicted the hold-out almost perfectly: {column, metric, score}.
    leaks: list[dict[str, Any]] = msgspec.field(default_factory=list)
    # Everything training said about the data and the run (ignored columns, cut
    # categories, the inferred task, leaks), as printed.
    notes: list[str] = msgspec.field(default_factory=list)


class Manifest(msgspec.Struct, frozen=True, kw_only=True):
    manifest_version: int = MANIFEST_VERSION
    name: str
    version: int
    created_at: str
    task: str
    estimator: Estimator
    inputs: Inputs
    outputs: Outputs
    metrics: dict[str, Any]
    parity: dict[str, Any]
    data: DataInfo
    seed: int
    config: dict[str, Any]
    versions: dict[str, str]
    model_sha256: str


def encode(manifest: Manifest) -> bytes:
    return msgspec.json.format(msgspec.json.encode(manifest), indent=2) + b"\n"


def decode(data: bytes) -> Manifest:
    return msgspec.json.decode(data, type=Manifest)


def library_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for dist in (
        "tabforge", "numpy", "polars", "scikit-learn", "xgboost-cpu", "lightgbm",
        "onnx", "skl2onnx", "onnxmltools", "onnxruntime",
    ):  # fmt: skip
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            continue
    import platform

    out["python"] = platform.python_version()
    return out

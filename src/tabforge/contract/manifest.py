"""manifest.json: the contract between training and every runtime.

msgspec structs, so readers decode strictly (a malformed manifest is an error naming the
field, not a KeyError later; an unknown task or datatype too). Bump MANIFEST_VERSION on any
incompatible change.
"""

from __future__ import annotations

import hashlib
from typing import Any, Literal, get_args

import msgspec

from tabforge.contract.reference import Reference

MANIFEST_VERSION = 1

Task = Literal["classification", "regression", "clustering"]
TASKS: tuple[str, ...] = get_args(Task)
# Open Inference Protocol tensor datatypes a stored model uses.
Datatype = Literal["FP32", "FP64", "INT64", "INT32", "BOOL", "BYTES"]
DATATYPES: tuple[str, ...] = get_args(Datatype)


class TensorSpec(msgspec.Struct, frozen=True):
    name: str
    datatype: Datatype
    shape: list[int]  # -1 for a variable dimension


class Inputs(msgspec.Struct, frozen=True):
    numeric: list[str]
    categorical: list[str]
    categories: dict[str, list[str]]  # categories seen in training, per categorical column
    tensors: list[TensorSpec]
    missing_text: str = ""  # how a missing categorical value is sent in the string tensor

    def kinds(self) -> dict[str, str]:
        """Each input column's kind (numeric, categorical), numeric columns first."""
        return {c: "numeric" for c in self.numeric} | {c: "categorical" for c in self.categorical}


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
    task: Task
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
    # Bins and alert thresholds for drift monitoring; None in manifests written before it.
    reference: Reference | None = None

    def to_dict(self) -> dict[str, Any]:
        """The manifest as plain dicts, lists and scalars: what ``json.dumps`` takes, and
        what ``json.load`` gives for the stored manifest.json."""
        built: dict[str, Any] = msgspec.to_builtins(self)
        return built

    def to_json(self) -> str:
        """The manifest as JSON text, exactly as manifest.json stores it."""
        return to_json(self).decode()


def sha256_bytes(data: bytes) -> str:
    """The digest a manifest records for its model.onnx (checked on every load)."""
    return hashlib.sha256(data).hexdigest()


def to_json(manifest: Manifest) -> bytes:
    return msgspec.json.format(msgspec.json.encode(manifest), indent=2) + b"\n"


def from_json(data: bytes) -> Manifest:
    return msgspec.json.decode(data, type=Manifest)

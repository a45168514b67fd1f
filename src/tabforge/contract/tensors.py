"""The model's tensors: names, element types, and the specs a manifest records.

A model takes at most two inputs: ``numeric`` float32 [N, k] and ``categorical`` string
[N, m] (one grouped input costs ~13 us per single-row call, 300 one-column inputs ~800 us).
Outputs are ``label`` + ``probabilities`` (classification), ``prediction`` (regression) or
``label`` + ``scores`` (clustering). Training, export, the manifest, V2 metadata and the
OpenAPI document all take these from here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from tabforge.contract.manifest import Datatype, Inputs, Outputs, Task, TensorSpec

NUMERIC_INPUT = "numeric"
CATEGORICAL_INPUT = "categorical"
# A missing categorical value travels as the empty string (ONNX string tensors have no null).
MISSING_TEXT = ""

Tensors = dict[str, npt.NDArray[Any]]

# Open Inference Protocol datatype -> numpy element type (BYTES: object arrays of str).
NUMPY_TYPES: dict[Datatype, Any] = {
    "FP32": np.float32, "FP64": np.float64, "INT64": np.int64, "INT32": np.int32,
    "BOOL": np.bool_, "BYTES": object,
}  # fmt: skip


def input_specs(numeric: Sequence[str], categorical: Sequence[str]) -> list[TensorSpec]:
    specs = []
    if numeric:
        specs.append(TensorSpec(NUMERIC_INPUT, "FP32", [-1, len(numeric)]))
    if categorical:
        specs.append(TensorSpec(CATEGORICAL_INPUT, "BYTES", [-1, len(categorical)]))
    return specs


def inputs(
    numeric: Sequence[str],
    categorical: Sequence[str],
    categories: dict[str, list[str]] | None = None,
) -> Inputs:
    """The input half of a manifest; ``categories`` are known once the encoder is fitted."""
    return Inputs(
        numeric=list(numeric),
        categorical=list(categorical),
        categories=dict(categories or {}),
        tensors=input_specs(numeric, categorical),
        missing_text=MISSING_TEXT,
    )


def outputs(
    task: Task,
    *,
    classes: list[Any] | None = None,
    clusters: int | None = None,
    scores: str | None = None,
) -> Outputs:
    """The output half of a manifest: what the exported graph returns, in order."""
    if task == "classification":
        labels = classes or []
        label_type: Datatype = "INT64" if labels and isinstance(labels[0], int) else "BYTES"
        return Outputs(
            tensors=[
                TensorSpec("label", label_type, [-1]),
                TensorSpec("probabilities", "FP32", [-1, len(labels)]),
            ],
            classes=labels,
        )
    if task == "regression":
        return Outputs(tensors=[TensorSpec("prediction", "FP32", [-1])])
    return Outputs(
        tensors=[
            TensorSpec("label", "INT64", [-1]),
            TensorSpec("scores", "FP32", [-1, clusters or -1]),
        ],
        scores=scores,
    )

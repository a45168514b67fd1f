"""Model outputs -> the frame every API returns, and zero-row outputs built from the specs."""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from tabforge.contract.manifest import Task, TensorSpec
from tabforge.contract.tensors import NUMPY_TYPES, Tensors
from tabforge.errors import RegistryError


def outputs_frame(task: Task, classes: list[Any] | None, outputs: Tensors) -> pl.DataFrame:
    """Model outputs as the frame every API returns.

    ``label`` and one ``proba_<class>`` column per class (classification), ``prediction``
    (regression), or ``label`` and ``scores`` (clustering).
    """
    if task == "classification":
        cols: dict[str, Any] = {"label": _labels(outputs["label"])}
        proba = outputs["probabilities"]
        for i, c in enumerate(classes or []):
            cols[f"proba_{c}"] = proba[:, i]
        return pl.DataFrame(cols)
    if task == "regression":
        return pl.DataFrame({"prediction": outputs["prediction"]})
    return pl.DataFrame(
        {
            "label": np.asarray(outputs["label"], dtype=np.int64),
            "scores": pl.Series("scores", np.asarray(outputs["scores"])),  # Array(f32, k)
        }
    )


def _labels(labels: np.ndarray) -> pl.Series:
    """Class labels are text (BYTES: object arrays) or int64; typed even with no rows."""
    if labels.dtype == object:
        return pl.Series("label", labels.tolist(), dtype=pl.String)
    return pl.Series("label", labels)


def score_columns(frame: pl.DataFrame) -> pl.DataFrame:
    """Clustering ``scores`` as flat columns ``score_0``..``score_{k-1}`` (CSV has no arrays)."""
    dtype = frame.schema.get("scores")
    if not isinstance(dtype, pl.Array):
        return frame
    names = [f"score_{i}" for i in range(dtype.size)]
    return frame.with_columns(pl.col("scores").arr.to_struct(names)).unnest("scores")


def empty_outputs(tensors: list[TensorSpec], trailing: dict[str, tuple[int, ...]]) -> Tensors:
    """Zero-row outputs of the types and widths the manifest declares.

    ``trailing`` gives the widths a spec leaves open (-1; clustering scores), as learned
    from a one-row run. The model never runs on zero rows: the k-NN graph fails on them.
    """
    out: Tensors = {}
    for spec in tensors:
        dims = tuple(spec.shape[1:])
        if any(d < 0 for d in dims):
            dims = trailing[spec.name]
        dtype = NUMPY_TYPES.get(spec.datatype)
        if dtype is None:
            raise RegistryError(f"output {spec.name!r} has unknown datatype {spec.datatype!r}")
        out[spec.name] = np.empty((0, *dims), dtype=dtype)
    return out

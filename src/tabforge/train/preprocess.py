"""The preprocessing half of the pipeline, fed from the contract's two tensors.

Training encodes rows with ``tabforge.contract.encode``, the encoder every runtime uses,
and the native pipeline is fed a frame built from exactly those tensors, so native and ONNX
see the same float32 values and the same strings.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from tabforge.contract import CATEGORICAL_INPUT, MISSING_TEXT, NUMERIC_INPUT, Tensors
from tabforge.contract import inputs as contract_inputs
from tabforge.contract.manifest import Inputs
from tabforge.data.schema import Schema

# A missing categorical value arrives as MISSING_TEXT and is imputed to MISSING_CATEGORY
# inside the graph.
MISSING_CATEGORY = "__missing__"


def schema_inputs(schema: Schema) -> Inputs:
    """The contract's inputs for a schema, before any category is learned."""
    return contract_inputs(schema.numeric, schema.categorical)


def tensors_to_frame(tensors: Tensors, schema: Schema) -> pd.DataFrame:
    """The native pipeline's input: the same values as the tensors, columns in tensor order."""
    cols: dict[str, Any] = {}
    for i, name in enumerate(schema.numeric):
        cols[name] = tensors[NUMERIC_INPUT][:, i]
    for j, name in enumerate(schema.categorical):
        cols[name] = pd.Series(tensors[CATEGORICAL_INPUT][:, j], dtype=object)
    n = len(next(iter(tensors.values())))
    return pd.DataFrame(cols, index=pd.RangeIndex(n))


def top_categories(
    frame: pd.DataFrame, schema: Schema, *, max_categories: int
) -> tuple[list[list[str]] | None, dict[str, int]]:
    """Per categorical column, the categories one-hot keeps: all, or the most frequent.

    Returns (lists for OneHotEncoder, or None when every column fits; {column: distinct
    count} for the columns that were cut). Values beyond the kept ones encode like unseen
    ones (all zeros): skl2onnx cannot export scikit-learn's "infrequent" bucket, and an
    all-zero row is exactly that bucket for linear models and trees alike.
    """
    kept: list[list[str]] = []
    cut: dict[str, int] = {}
    for name in schema.categorical:
        values = frame[name].replace(MISSING_TEXT, MISSING_CATEGORY)
        counts = values.value_counts()
        if len(counts) > max_categories:
            cut[name] = len(counts)
            # Most frequent first, ties by value, so the choice is the same on every run.
            ranked = sorted(counts.items(), key=lambda kv: (-kv[1], str(kv[0])))
            counts = counts[[k for k, _ in ranked[:max_categories]]]
        kept.append(sorted(str(v) for v in counts.index))
    return (kept if cut else None), cut


def float64_numeric(estimator: Any, task: str) -> bool:
    """Whether the native pipeline gets float64 numeric columns (values still float32's).

    Linear regressors: scikit-learn keeps float32 coefficients for float32 input, and a sum
    around a large intercept in float32 loses a small prediction's digits; the graph
    computes these in double too (export/linear.py).
    """
    return task == "regression" and type(estimator).__module__.startswith("sklearn.linear_model")


def as_float64(frame: pd.DataFrame, schema: Schema) -> pd.DataFrame:
    """The same frame with numeric columns widened to float64 (exact)."""
    return frame.astype(dict.fromkeys(schema.numeric, np.float64))


def build_preprocessor(
    schema: Schema, *, scale: bool, categories: list[list[str]] | None = None
) -> ColumnTransformer:
    """Impute (median / constant), one-hot with unknown categories ignored, scale if asked.

    Integer positions, not names: skl2onnx maps them across the two typed inputs, numeric
    first. Trees get no scaler (a float64 scaler before a float32 tree moves rows across
    thresholds); models that need scaling get it inside the graph. ``categories`` limits
    one-hot to the given values per column (see top_categories).
    """
    k = len(schema.numeric)
    parts: list[tuple[str, Any, list[int]]] = []
    if schema.numeric:
        steps: list[tuple[str, Any]] = [("impute", SimpleImputer(strategy="median"))]
        if scale:
            steps.append(("scale", StandardScaler()))
        parts.append(("numeric", Pipeline(steps), list(range(k))))
    if schema.categorical:
        categorical = Pipeline(
            [
                (
                    "impute",
                    SimpleImputer(
                        missing_values=MISSING_TEXT,
                        strategy="constant",
                        fill_value=MISSING_CATEGORY,
                    ),
                ),
                (
                    "onehot",
                    OneHotEncoder(
                        categories=categories or "auto",
                        handle_unknown="ignore",
                        sparse_output=False,
                        dtype=np.float32,
                    ),
                ),
            ]
        )
        parts.append(("categorical", categorical, list(range(k, k + len(schema.categorical)))))
    return ColumnTransformer(parts, sparse_threshold=0.0)


def build_pipeline(
    schema: Schema, estimator: Any, *, scale: bool, categories: list[list[str]] | None = None
) -> Pipeline:
    preprocess = build_preprocessor(schema, scale=scale, categories=categories)
    return Pipeline([("preprocess", preprocess), ("model", estimator)])


def categories_seen(pipeline: Pipeline, schema: Schema) -> dict[str, list[str]]:
    """Categories the one-hot encoder learned per column (the missing marker left out)."""
    if not schema.categorical:
        return {}
    encoder = pipeline.named_steps["preprocess"].named_transformers_["categorical"]["onehot"]
    return {
        name: [str(v) for v in cats if v != MISSING_CATEGORY]
        for name, cats in zip(schema.categorical, encoder.categories_, strict=True)
    }

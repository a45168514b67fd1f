"""Frames -> the model's two tensors, with vectorised checks that name row and column.

One place for the rules every runtime shares: numbers become float32 (null -> NaN),
categories become strings (null -> the manifest's missing marker), text where a number
belongs is refused (or reported per row so batch scoring can skip it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from tabforge.errors import DataError
from tabforge.export.manifest import Inputs

NUMERIC_INPUT = "numeric"
CATEGORICAL_INPUT = "categorical"


@dataclass
class BadValues:
    """Rows holding text where a number belongs: mask over the batch, first offence."""

    mask: npt.NDArray[np.bool_]
    row: int
    column: str
    value: str

    def message(self, offset: int = 0) -> str:
        return (
            f"row {offset + self.row + 1}: column {self.column!r} holds {self.value!r}, "
            "not a number"
        )


def to_frame(data: Any) -> pl.DataFrame:
    """Accept a polars or pandas DataFrame, a pyarrow Table, a dict of columns, or records."""
    if isinstance(data, pl.DataFrame):
        return data
    if isinstance(data, pl.LazyFrame):
        return data.collect()
    module = type(data).__module__.split(".")[0]
    try:
        if module == "pandas":
            return pl.from_pandas(data)
        if module == "pyarrow":
            frame = pl.from_arrow(data)
            if isinstance(frame, pl.DataFrame):
                return frame
        if isinstance(data, dict):
            return pl.DataFrame(data, strict=False)
        if isinstance(data, (list, tuple)) and all(isinstance(r, dict) for r in data):
            return pl.DataFrame(list(data), infer_schema_length=None, strict=False)
    except (pl.exceptions.PolarsError, TypeError, ValueError) as exc:
        raise DataError(f"cannot read the input as a table: {str(exc).splitlines()[0]}") from exc
    raise DataError(
        f"cannot predict on {type(data).__name__}: pass a polars or pandas DataFrame, a "
        "pyarrow Table, a dict of columns or a list of records"
    )


def check_columns(columns: list[str], inputs: Inputs) -> None:
    missing = [c for c in (*inputs.numeric, *inputs.categorical) if c not in columns]
    if missing:
        raise DataError(f"missing required columns: {', '.join(missing)}")


def _plain(s: pl.Series) -> pl.Series:
    """A column polars can cast: numpy object arrays that start with None arrive as Object."""
    if s.dtype != pl.Object:
        return s
    values = s.to_list()
    if all(v is None or isinstance(v, str) for v in values):
        return pl.Series(s.name, values, dtype=pl.String)
    try:
        return pl.Series(s.name, values, strict=False)
    except (pl.exceptions.PolarsError, TypeError, ValueError) as exc:
        raise DataError(f"column {s.name!r} holds values of mixed types") from exc


def _numeric_column(s: pl.Series) -> tuple[pl.Series, npt.NDArray[np.bool_] | None]:
    s = _plain(s)
    dtype = s.dtype
    if dtype.is_numeric() or dtype == pl.Boolean or dtype == pl.Null:
        return s.cast(pl.Float32), None
    if dtype == pl.String or isinstance(dtype, (pl.Categorical, pl.Enum)):
        text = s.cast(pl.String).str.strip_chars()
        parsed = text.cast(pl.Float32, strict=False)
        bad = (parsed.is_null() & text.is_not_null() & (text != "")).to_numpy()
        return parsed, bad if bad.any() else None
    raise DataError(f"column {s.name!r} has type {dtype}, not numbers")


def encode(df: pl.DataFrame, inputs: Inputs) -> tuple[dict[str, np.ndarray], BadValues | None]:
    """The feed for onnxruntime plus, if any row holds text in a numeric column, which."""
    check_columns(df.columns, inputs)
    feed: dict[str, np.ndarray] = {}
    bad: BadValues | None = None
    if inputs.numeric:
        parsed = []
        for name in inputs.numeric:
            column, mask = _numeric_column(df.get_column(name))
            parsed.append(column)
            if mask is not None:
                if bad is None:
                    row = int(np.flatnonzero(mask)[0])
                    bad = BadValues(mask.copy(), row, name, str(df.get_column(name)[row]))
                else:
                    bad.mask |= mask
        block = pl.DataFrame(parsed).to_numpy(order="c")
        feed[NUMERIC_INPUT] = np.ascontiguousarray(block, dtype=np.float32)
    if inputs.categorical:
        cat = pl.DataFrame(
            _plain(df.get_column(c)).cast(pl.String).fill_null(inputs.missing_text)
            for c in inputs.categorical
        )
        feed[CATEGORICAL_INPUT] = cat.to_numpy().astype(object)
    return feed, bad


def encode_strict(df: pl.DataFrame, inputs: Inputs) -> dict[str, np.ndarray]:
    feed, bad = encode(df, inputs)
    if bad is not None:
        raise DataError(bad.message())
    return feed


def outputs_frame(
    task: str, classes: list[Any] | None, outputs: dict[str, np.ndarray]
) -> pl.DataFrame:
    """Model outputs as the frame every API returns.

    ``label`` and one ``proba_<class>`` column per class (classification), ``prediction``
    (regression), or ``label`` and ``scores`` (clustering).
    """
    if task == "classification":
        cols: dict[str, Any] = {"label": np.asarray(outputs["label"]).tolist()}
        proba = outputs["probabilities"]
        for i, c in enumerate(classes or []):
            cols[f"proba_{c}"] = proba[:, i]
        return pl.DataFrame(cols)
    if task == "regression":
        return pl.DataFrame({"prediction": outputs["prediction"]})
    scores = outputs["scores"]
    return pl.DataFrame(
        {
            "label": np.asarray(outputs["label"], dtype=np.int64),
            "scores": pl.Series(scores).reshape((scores.shape[0], scores.shape[1])),
        }
    )

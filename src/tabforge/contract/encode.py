"""Rows -> the model's two tensors, with vectorised checks that name row and column.

The only encoder: training, parity, batch scoring, the Python API and the server all feed
the graph through ``encode``, so the parity proof covers what production runs.

One place for the rules every runtime shares: numbers become float32 (null -> NaN),
categories become strings (null -> the manifest's missing marker), text where a number
belongs is refused (or reported per row so batch scoring can skip it).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from tabforge.contract.manifest import Inputs
from tabforge.contract.tensors import CATEGORICAL_INPUT, NUMERIC_INPUT, Tensors
from tabforge.errors import DataError


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


def quoted(names: Iterable[str]) -> str:
    """Names as a user must read them: quoted, so an empty or padded name still shows."""
    return ", ".join(repr(n) for n in names)


def missing_columns(columns: Collection[str], inputs: Inputs) -> list[str]:
    return [c for c in (*inputs.numeric, *inputs.categorical) if c not in columns]


def check_columns(columns: Collection[str], inputs: Inputs) -> None:
    missing = missing_columns(columns, inputs)
    if missing:
        raise DataError(f"missing required columns: {quoted(missing)}")


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


def encode(df: pl.DataFrame, inputs: Inputs) -> tuple[Tensors, BadValues | None]:
    """The feed for onnxruntime plus, if any row holds text in a numeric column, which."""
    check_columns(df.columns, inputs)
    feed: Tensors = {}
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
            _categorical_column(df.get_column(c), inputs.categories.get(c, [])).fill_null(
                inputs.missing_text
            )
            for c in inputs.categorical
        )
        feed[CATEGORICAL_INPUT] = cat.to_numpy().astype(object)
    return feed, bad


def _categorical_column(s: pl.Series, known: list[str]) -> pl.Series:
    """A category column as text; numbers where the model knows differently written text
    are refused, because ``1`` for ``"001"`` would silently become an unseen category."""
    s = _plain(s)
    text = s.cast(pl.String)
    if not s.dtype.is_numeric() or not known:
        return text
    unseen = text.drop_nulls().unique(maintain_order=True)
    unseen = unseen.filter(~unseen.is_in(known))
    if unseen.is_empty():
        return text
    names = pl.Series(known, dtype=pl.String)
    numbers = names.cast(pl.Float64, strict=False)
    finite = numbers.is_finite()  # null where a category is not a number
    # How each numeric-looking category would read had it arrived as this column does.
    rewritten = numbers.filter(finite).cast(s.dtype, strict=False).cast(pl.String)
    differs = names.filter(finite).filter(rewritten.ne_missing(names.filter(finite)))
    if differs.is_empty():
        return text  # genuinely unseen categories: the one-hot encoder ignores them
    shown = ", ".join(unseen.head(2).to_list()) + (", ..." if unseen.len() > 2 else "")
    raise DataError(
        f"column {s.name!r} arrived as numbers ({shown}) but the model knows it as text "
        f"such as {quoted(differs.head(2).to_list())}; read it as text "
        "(e.g. dtype=str / schema_overrides)"
    )


def encode_strict(df: pl.DataFrame, inputs: Inputs) -> Tensors:
    feed, bad = encode(df, inputs)
    if bad is not None:
        raise DataError(bad.message())
    return feed


def empty_feed(inputs: Inputs) -> Tensors:
    """The model's input tensors with no rows (never run: some graphs fail on zero rows)."""
    return _filled(inputs, 0)


def probe_feed(inputs: Inputs) -> Tensors:
    """One row of missing values: every model imputes it, so any graph must run on it."""
    return _filled(inputs, 1)


def _filled(inputs: Inputs, rows: int) -> Tensors:
    feed: Tensors = {}
    if inputs.numeric:
        feed[NUMERIC_INPUT] = np.full((rows, len(inputs.numeric)), np.nan, dtype=np.float32)
    if inputs.categorical:
        shape = (rows, len(inputs.categorical))
        feed[CATEGORICAL_INPUT] = np.full(shape, inputs.missing_text, dtype=object)
    return feed

"""The client's side of the V2 wire: what ``tabforge.Client`` (and the export's wire
check) send, one input per column, and how it reads outputs back."""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from tabforge.contract.v2 import WIRE_TYPES


def column_inputs(frame: pl.DataFrame) -> list[dict[str, Any]]:
    """One V2 input per column (MLServer's pandas convention), nulls as JSON null."""
    return [_column_input(frame.get_column(c)) for c in frame.columns]


def _column_input(s: pl.Series) -> dict[str, Any]:
    if s.dtype.is_integer():
        # Integers stay integers (codes such as 1, 2 must read "1", "2", never "1.0"); JSON
        # INT64 has no null, so a column with gaps travels as text, which both numeric and
        # categorical inputs read back exactly.
        if s.null_count() == 0:
            return {"name": s.name, "shape": [s.len()], "datatype": "INT64", "data": s.to_list()}
        values = s.cast(pl.String).to_list()
        return {"name": s.name, "shape": [len(values)], "datatype": "BYTES", "data": values}
    if s.dtype.is_numeric():
        values = s.cast(pl.Float64).fill_nan(None).to_list()
        return {"name": s.name, "shape": [len(values)], "datatype": "FP64", "data": values}
    if s.dtype == pl.Boolean:
        return {"name": s.name, "shape": [s.len()], "datatype": "BOOL", "data": s.to_list()}
    values = s.cast(pl.String).to_list()
    return {"name": s.name, "shape": [len(values)], "datatype": "BYTES", "data": values}


def output_arrays(outputs: list[dict[str, Any]]) -> dict[str, np.ndarray]:
    """V2 JSON response outputs -> arrays of their declared types and shapes."""
    return {
        out["name"]: np.array(out["data"], dtype=WIRE_TYPES.get(out["datatype"], object)).reshape(
            out["shape"]
        )
        for out in outputs
    }

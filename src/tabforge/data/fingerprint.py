"""A sha256 over a canonical form of the data a model was trained on.

Canonical: for each column used (in schema order), its name, its role, a null mask and its
values (float64 little-endian for numbers, length-prefixed UTF-8 for text). It does not
depend on the file format, the column order in the file, or the polars version.
"""

from __future__ import annotations

import hashlib

import numpy as np
import polars as pl

from tabforge.data.schema import Schema


def fingerprint(df: pl.DataFrame, schema: Schema) -> str:
    h = hashlib.sha256()
    roles: list[tuple[str, str]] = [(schema.target, "target")] if schema.target else []
    roles += [(c, "numeric") for c in schema.numeric]
    roles += [(c, "categorical") for c in schema.categorical]
    h.update(f"rows={df.height}\n".encode())
    for name, role in roles:
        s = df.get_column(name)
        h.update(f"{role}:{name}\n".encode())
        h.update(np.packbits(s.is_null().to_numpy()).tobytes())
        if role == "numeric" or (role == "target" and s.dtype.is_numeric()):
            values = s.cast(pl.Float64).fill_null(0.0).fill_nan(0.0).to_numpy()
            h.update(np.ascontiguousarray(values, dtype="<f8").tobytes())
        else:
            text = s.cast(pl.String).fill_null("")
            h.update(np.ascontiguousarray(text.str.len_bytes().to_numpy(), "<u4").tobytes())
            h.update(text.str.join("").item().encode())
    return h.hexdigest()

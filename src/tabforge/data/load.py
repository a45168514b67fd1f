"""Readers for CSV, Parquet, Arrow IPC/Feather and NDJSON, all through polars lazy scans."""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

import polars as pl

from tabforge.errors import DataError

# Rows a CSV's types are first inferred from. Inferring from the whole file costs a full
# parse of its own (a 200,000-row file: 1.8 s to read instead of 0.4 s). A window's types
# are kept only when the whole file parses with them and no column was typed as text for
# lack of values in it.
INFER_ROWS = 10_000

# Spellings of "no value" that CSV writers use; all become null.
NULL_VALUES = ["", "NA", "N/A", "NaN", "nan", "null", "NULL", "None"]

FORMATS: dict[str, str] = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".txt": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".arrow": "ipc",
    ".ipc": "ipc",
    ".feather": "ipc",
    ".ndjson": "ndjson",
    ".jsonl": "ndjson",
}


def detect_format(path: Path) -> str:
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        known = ", ".join(sorted(FORMATS))
        raise DataError(f"{path.name}: unknown file type {path.suffix!r} (use one of {known})")
    return fmt


def _scanner(
    fmt: str, *, text: bool = False, infer_rows: int | None = None
) -> Callable[[Path], pl.LazyFrame]:
    if fmt in ("csv", "tsv"):

        def scan_csv(p: Path) -> pl.LazyFrame:
            # The whole file is read to infer types (infer_rows=None): a column that turns
            # from ints to floats at row 10,000 must not fail or be mistyped.
            separator = "\t" if fmt == "tsv" else ","
            return pl.scan_csv(
                p,
                separator=separator,
                null_values=NULL_VALUES,
                infer_schema_length=infer_rows if not text else 0,
                try_parse_dates=False,
                with_column_names=lambda names: _unescaped(p, separator, names),
            )

        return scan_csv
    if fmt == "parquet":
        return pl.scan_parquet
    if fmt == "ipc":
        return pl.scan_ipc
    return lambda p: pl.scan_ndjson(p, infer_schema_length=None)


def _unescaped(path: Path, separator: str, names: list[str]) -> list[str]:
    # The header's names as CSV means them. polars keeps a quoted name's doubled quotes
    # (the field "a ""b""" comes back as a ""b""), so a client sending the column a "b"
    # would not match; Python's csv module reads the header line right.
    if not any('"' in name for name in names):
        return names
    with open(path, newline="", encoding="utf-8", errors="replace") as f:
        header = next(csv.reader(f, delimiter=separator), [])
    return header if len(header) == len(names) else names


def scan_table(path: str | Path) -> pl.LazyFrame:
    """A lazy frame over the file; errors name the file and say what is wrong."""
    p = Path(path)
    fmt = _checked_format(p)
    try:
        return _scanner(fmt)(p)
    except (pl.exceptions.PolarsError, OSError, ValueError) as exc:
        raise DataError(f"cannot read {p.name} as {fmt}: {_first_line(exc)}") from exc


def _checked_format(p: Path) -> str:
    """The file's format, once it is known to be a non-empty file (and text, if text)."""
    if not p.exists():
        raise DataError(f"file not found: {p}")
    if p.is_dir():
        raise DataError(f"{p} is a directory, not a data file")
    fmt = detect_format(p)
    if p.stat().st_size == 0:
        raise DataError(f"{p.name} is empty")
    if fmt in ("csv", "tsv", "ndjson"):
        with open(p, "rb") as f:
            if b"\x00" in f.read(8192):
                raise DataError(f"cannot read {p.name} as {fmt}: it holds binary data, not text")
    return fmt


def read_table(path: str | Path, *, columns: list[str] | None = None) -> pl.DataFrame:
    """Read a whole file into memory; refuses files with no rows."""
    p = Path(path)
    fmt = _checked_format(p)
    df = _read_csv_window_typed(p, fmt, columns) if fmt in ("csv", "tsv") else None
    if df is None:
        df = _collect(p, fmt, scan_table(p), columns)
    if fmt in ("csv", "tsv"):
        df = _codes_as_text(df, lazy_text=_scanner(fmt, text=True)(p))
    if df.width == 0:
        raise DataError(f"{p.name} has no columns")
    if df.height == 0:
        raise DataError(f"{p.name} has a header but no rows")
    return df


def _read_csv_window_typed(p: Path, fmt: str, columns: list[str] | None) -> pl.DataFrame | None:
    """The file read with types inferred from its first INFER_ROWS rows, or None when those
    types might not be the whole file's: a later value did not parse as its column's type
    (polars refuses it), or a text column had no values at all in the window."""
    try:
        lazy = _scanner(fmt, infer_rows=INFER_ROWS)(p)
        df = lazy.select(columns).collect() if columns is not None else lazy.collect()
    except Exception:  # any failure: the full read below says what is wrong, as it always did
        return None
    except BaseException as exc:  # polars' PanicException
        if type(exc).__name__ != "PanicException":
            raise
        return None
    window = df.head(INFER_ROWS)
    untyped = [
        name
        for name, dtype in df.schema.items()
        if dtype == pl.String and window.get_column(name).null_count() == window.height
    ]
    return None if any(df.get_column(n).null_count() < df.height for n in untyped) else df


def _collect(p: Path, fmt: str, lazy: pl.LazyFrame, columns: list[str] | None) -> pl.DataFrame:
    try:
        if columns is not None:
            lazy = lazy.select(columns)
        return lazy.collect()
    except pl.exceptions.ColumnNotFoundError as exc:
        raise DataError(f"{p.name}: {_first_line(exc)}") from exc
    except (pl.exceptions.PolarsError, OSError, ValueError) as exc:
        raise DataError(f"cannot read {p.name} as {fmt}: {_first_line(exc)}") from exc
    except BaseException as exc:  # polars raises PanicException (a BaseException) on corrupt files
        if type(exc).__name__ != "PanicException":
            raise
        raise DataError(f"cannot read {p.name} as {fmt}: the file is corrupt") from exc


def _codes_as_text(df: pl.DataFrame, *, lazy_text: pl.LazyFrame) -> pl.DataFrame:
    """Integer columns written with leading zeros ("001", "02134") are codes: keep the text.

    Read as numbers they would become 1 and 2134, and a client sending "001" would meet a
    category the model never saw.
    """
    ints = [c for c, t in df.schema.items() if t.is_integer()]
    if not ints:
        return df
    text = lazy_text.select(ints).collect()
    codes = [c for c in ints if text.get_column(c).str.contains(r"^\s*[+-]?0[0-9]").any()]
    if not codes:
        return df
    return df.with_columns(text.get_column(c) for c in codes)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__

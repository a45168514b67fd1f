"""``tabforge predict``: stream a file through a model in record batches.

Memory stays bounded by a few batches whatever the file size: polars streams the input
(only the columns needed), a reader thread decodes the next batch while onnxruntime runs
the current one, and each result batch is appended to a temporary output file that is
renamed into place only when every row is done.
"""

from __future__ import annotations

import os
import queue
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from tabforge.contract import (
    BadValues,
    Inputs,
    Tensors,
    encode,
    missing_columns,
    quoted,
    score_columns,
)
from tabforge.data.load import NULL_VALUES, detect_format
from tabforge.errors import DataError
from tabforge.progress import Reporter, SilentReporter
from tabforge.runtime.predictor import Predictor

OnError = Literal["fail", "skip"]
OUTPUT_FORMATS = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv"}
DEFAULT_BATCH_ROWS = 65_536
_DONE = object()
# Called with each scored batch's feed and outputs (predict --monitor counts them).
Observer = Callable[[Tensors, Tensors], None]
# (first row, row count): the part of a file to score (a partition of predict --dask).
Rows = tuple[int, int]


@dataclass
class ScoreSummary:
    rows_in: int
    rows_out: int
    rejected: int
    output: Path
    rejects: Path | None


def _scan(path: Path, inputs: Inputs) -> pl.LazyFrame:
    fmt = detect_format(path)
    # Every input column is read as text. Numbers are parsed by the codec, so a stray word
    # is reported with its row and column instead of failing the whole read; categories
    # stay as written, so a code "001" is not inferred to be the number 1 (text "1").
    as_text = {c: pl.String for c in (*inputs.numeric, *inputs.categorical)}
    if fmt in ("csv", "tsv"):
        return pl.scan_csv(
            path,
            separator="\t" if fmt == "tsv" else ",",
            null_values=NULL_VALUES,
            schema_overrides=as_text,
            infer_schema_length=10_000,
        )
    if fmt == "parquet":
        return pl.scan_parquet(path)
    if fmt == "ipc":
        return pl.scan_ipc(path)
    return pl.scan_ndjson(path, schema_overrides=as_text)


def _columns(lazy: pl.LazyFrame, name: str) -> list[str]:
    try:
        return lazy.collect_schema().names()
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise DataError(f"cannot read {name}: {str(exc).splitlines()[0]}") from exc


def _count(lazy: pl.LazyFrame, fmt: str) -> int | None:
    if fmt not in ("parquet", "ipc"):
        return None  # counting text files would read them twice
    return int(lazy.select(pl.len()).collect().item())


class _Writer:
    """Appends batches to a temp file beside the target; ``commit`` renames it into place.
    ``metadata`` goes into a Parquet file's footer (key-value metadata)."""

    def __init__(self, target: Path, metadata: Mapping[str, str] | None = None) -> None:
        self.target = target
        self.metadata = dict(metadata or {})
        self.fmt = OUTPUT_FORMATS[target.suffix.lower()]
        self.tmp = target.parent / f".{target.name}.{uuid.uuid4().hex[:8]}.tmp"
        self._parquet: pq.ParquetWriter | None = None
        self._csv: Any = None
        self.rows = 0

    def write(self, df: pl.DataFrame) -> None:
        if self.fmt == "parquet":
            table = df.to_arrow(compat_level=pl.CompatLevel.oldest())
            if self._parquet is None:
                schema = table.schema.with_metadata(self.metadata) if self.metadata else None
                self._parquet = pq.ParquetWriter(self.tmp, schema or table.schema)
            self._parquet.write_table(table)
        else:
            if self._csv is None:
                self._csv = open(self.tmp, "wb")  # noqa: SIM115  closed in close()
                df.write_csv(self._csv, include_header=True)
            else:
                df.write_csv(self._csv, include_header=False)
        self.rows += df.height

    def close(self) -> None:
        if self._parquet is not None:
            self._parquet.close()
            self._parquet = None
        if self._csv is not None:
            self._csv.flush()
            os.fsync(self._csv.fileno())
            self._csv.close()
            self._csv = None

    def commit(self) -> None:
        self.close()
        os.replace(self.tmp, self.target)

    def discard(self) -> None:
        self.close()
        self.tmp.unlink(missing_ok=True)


def _check_output(path: Path, source: Path) -> None:
    if path.suffix.lower() not in OUTPUT_FORMATS:
        raise DataError(f"output {path.name}: use a .parquet or .csv file name")
    if path.resolve() == source.resolve():
        raise DataError("output must not be the input file")
    parent = path.parent
    if not parent.is_dir():
        raise DataError(f"cannot write {path}: directory {parent} does not exist")
    if not os.access(parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise DataError(f"cannot write {path}: permission denied")


def score_file(
    predictor: Predictor,
    source: str | os.PathLike[str],
    output: str | os.PathLike[str],
    *,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    keep: tuple[str, ...] = (),
    on_error: OnError = "fail",
    reporter: Reporter | None = None,
    observe: Observer | None = None,
    rows: Rows | None = None,
    metadata: Mapping[str, str] | None = None,
) -> ScoreSummary:
    reporter = reporter or SilentReporter()
    src, out = Path(source), Path(output)
    inputs = predictor.manifest.inputs
    lazy, total = _open(src, out, inputs, keep=keep, batch_rows=batch_rows, rows=rows)
    result = _Results(predictor, keep, reporter)
    writer = _Writer(out, metadata)
    rejects = _Writer(out.with_name(out.stem + ".rejects.csv")) if on_error == "skip" else None
    rows_in = rejected = 0
    try:
        with reporter.rows(f"Scoring {src.name}", total=total) as advance:
            start = 0 if rows is None else rows[0]  # row numbers in messages are the file's
            for offset, batch, feed, bad in _decoded(lazy, inputs, batch_rows, src.name, start):
                rows_in += batch.height
                if bad is not None:
                    if rejects is None:
                        raise DataError(f"{src.name}: {bad.message(offset)}")
                    rejected += int(bad.mask.sum())
                    rejects.write(_reject_rows(batch, bad, offset, inputs.numeric))
                    keep_rows = ~bad.mask
                    batch = batch.filter(pl.Series(keep_rows))
                    feed = {k: v[keep_rows] for k, v in feed.items()}
                if batch.height:  # a batch whose rows were all rejected is not run
                    outputs = predictor.run(feed)
                    writer.write(result(batch, outputs))
                    if observe is not None:
                        observe(feed, outputs)
                advance(batch.height + (0 if bad is None else int(bad.mask.sum())))
        if writer.rows == 0:  # header only, or every row rejected: the columns, no rows
            writer.write(result(lazy.head(0).collect(), predictor.empty_outputs()))
        if rejects is not None and rejected:
            rejects.commit()  # first: an output in place means its rejects are too
        elif rejects is not None:
            rejects.discard()
        writer.commit()
    except BaseException:
        writer.discard()
        if rejects is not None:
            rejects.discard()
        raise
    return ScoreSummary(
        rows_in, writer.rows, rejected, out, rejects.target if rejected and rejects else None
    )


def read_batches(
    source: str | os.PathLike[str], inputs: Inputs, *, batch_rows: int = DEFAULT_BATCH_ROWS
) -> Iterator[tuple[int, pl.DataFrame, Tensors, BadValues | None]]:
    """(offset, rows, feed, bad values) per batch, read and encoded exactly as ``score_file``
    reads and encodes them (the same checks, the same messages)."""
    src = Path(source)
    lazy, _ = _open(src, None, inputs, keep=(), batch_rows=batch_rows)
    yield from _decoded(lazy, inputs, batch_rows, src.name)


def _open(
    src: Path,
    out: Path | None,
    inputs: Inputs,
    *,
    keep: tuple[str, ...],
    batch_rows: int,
    rows: Rows | None = None,
) -> tuple[pl.LazyFrame, int | None]:
    """The input's needed columns (checked before any work), only ``rows`` of them if given,
    and the row count if cheap."""
    if batch_rows < 1:
        raise DataError(f"--batch-rows must be at least 1, got {batch_rows}")
    if not src.is_file():
        raise DataError(f"file not found: {src}")
    fmt = detect_format(src)
    if out is not None:
        _check_output(out, src)
    lazy = _scan(src, inputs)
    columns = _columns(lazy, src.name)
    missing = missing_columns(columns, inputs)
    if missing:
        raise DataError(f"{src.name} lacks required columns: {quoted(missing)}")
    unknown = [c for c in keep if c not in columns]
    if unknown:
        raise DataError(f"--keep names columns not in {src.name}: {quoted(unknown)}")
    selected = list(dict.fromkeys([*keep, *inputs.numeric, *inputs.categorical]))
    if rows is not None:
        return lazy.select(selected).slice(*rows), rows[1]
    return lazy.select(selected), _count(lazy, fmt)


class _Results:
    """Outputs -> the rows written: kept input columns, then the flat prediction columns."""

    def __init__(self, predictor: Predictor, keep: tuple[str, ...], reporter: Reporter) -> None:
        self.predictor = predictor
        self.keep = keep
        self.numeric = predictor.manifest.inputs.numeric
        columns = score_columns(predictor.frame(predictor.empty_outputs())).columns
        self.renamed = {c: f"{c}_input" for c in keep if c in columns}
        for old, new in self.renamed.items():
            reporter.note(f"kept column {old!r} is written as {new!r} (the output has {old!r})")

    def __call__(self, batch: pl.DataFrame, outputs: dict[str, np.ndarray]) -> pl.DataFrame:
        scored = score_columns(self.predictor.frame(outputs))
        if not self.keep:
            return scored
        kept = batch.select(_kept(self.keep, batch, self.numeric)).rename(self.renamed)
        return pl.concat([kept, scored], how="horizontal")


def _kept(keep: tuple[str, ...], batch: pl.DataFrame, numeric: list[str]) -> list[pl.Expr]:
    """Kept columns as the user had them: numeric inputs read as text are numbers again."""
    return [
        pl.col(c).cast(pl.Float64, strict=False)
        if c in numeric and batch.schema[c] == pl.String
        else pl.col(c)
        for c in keep
    ]


def _reject_rows(
    batch: pl.DataFrame, bad: BadValues, offset: int, numeric: list[str]
) -> pl.DataFrame:
    rows = np.flatnonzero(bad.mask)
    bad_rows = batch[rows.tolist()]
    reasons = []
    for i in range(bad_rows.height):
        cols = []
        for name in numeric:
            value = bad_rows.get_column(name)[i]
            if isinstance(value, str) and value.strip():
                try:
                    float(value)
                except ValueError:
                    cols.append(name)
        reasons.append(f"not a number in {', '.join(cols)}")
    return pl.concat(
        [
            pl.DataFrame({"row": (rows + offset + 1).astype(np.int64), "error": reasons}),
            bad_rows.select(pl.all().cast(pl.String)),
        ],
        how="horizontal",
    )


def _decoded(
    lazy: pl.LazyFrame, inputs: Any, batch_rows: int, name: str, start: int = 0
) -> Iterator[tuple[int, pl.DataFrame, dict[str, np.ndarray], BadValues | None]]:
    """Batches decoded to tensors in a reader thread, a couple ahead of the consumer; each
    with the offset of its first row (``start`` for the first batch)."""
    ahead: queue.Queue[Any] = queue.Queue(maxsize=2)
    stop = threading.Event()

    def produce() -> None:
        offset = start
        try:
            for batch in _rebatch(lazy.collect_batches(chunk_size=batch_rows), batch_rows):
                feed, bad = encode(batch, inputs)
                while not stop.is_set():
                    try:
                        ahead.put((offset, batch, feed, bad), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
                offset += batch.height
            ahead.put(_DONE)
        except BaseException as exc:  # handed to the consumer, which re-raises it
            ahead.put(exc)

    thread = threading.Thread(target=produce, name="tabforge-reader", daemon=True)
    thread.start()
    try:
        while True:
            item = ahead.get()
            if item is _DONE:
                return
            if isinstance(item, pl.exceptions.PolarsError):
                raise DataError(f"cannot read {name}: {str(item).splitlines()[0]}") from item
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join(timeout=5)


def _rebatch(batches: Any, size: int) -> Iterator[pl.DataFrame]:
    """Exactly ``size`` rows per batch (the streaming engine's chunks vary)."""
    pending: list[pl.DataFrame] = []
    count = 0
    for df in batches:
        pending.append(df)
        count += df.height
        while count >= size:
            merged = pl.concat(pending, rechunk=True) if len(pending) > 1 else pending[0]
            yield merged.slice(0, size)
            rest = merged.slice(size)
            pending, count = ([rest] if rest.height else []), rest.height
    if count:
        yield pl.concat(pending, rechunk=True) if len(pending) > 1 else pending[0]


__all__ = ["Observer", "Rows", "ScoreSummary", "pa", "read_batches", "score_file"]

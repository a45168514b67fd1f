"""INPUT (a directory, a glob or one file) -> numbered partitions, one task each.

Files are taken in name order and each file's rows in file order, so the parts concatenated
in number order are the rows in that order. A Parquet file is cut at row-group boundaries
(consecutive small groups merged up to ``partition_rows``; a larger group split into equal
row ranges), so a worker reads only its own groups; any other file is one partition.
"""

from __future__ import annotations

import glob
import itertools
import json
import math
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import pyarrow.parquet as pq

from tabforge.batch.scoring import Rows
from tabforge.data.load import FORMATS, detect_format
from tabforge.errors import DataError

DEFAULT_PARTITION_ROWS = 1_000_000


@dataclass(frozen=True)
class Partition:
    index: int
    source: str  # absolute path
    rows: Rows | None  # (first row, count); None: the whole file
    # The source's size and modification time: a changed file is not mistaken for scored.
    size: int
    mtime_ns: int

    @property
    def name(self) -> str:
        return f"part-{self.index:05d}.parquet"

    @property
    def rejects(self) -> str:
        """Where rows refused with --on-error skip go (named as local predict names them)."""
        return f"part-{self.index:05d}.rejects.csv"

    def describe(self) -> str:
        where = Path(self.source).name
        if self.rows is None:
            return f"{self.name} ({where})"
        first, count = self.rows
        return f"{self.name} ({where} rows {first + 1:,}-{first + count:,})"

    def tag(self, **run: object) -> str:
        """What identifies this part's output: the partition and the run's settings (model,
        columns kept, ...). Stored in the part's footer; a rerun skips a part whose tag matches."""
        return json.dumps({**asdict(self), **run}, sort_keys=True)


def partitions(source: str, *, partition_rows: int) -> list[Partition]:
    if partition_rows < 1:
        raise DataError(f"--partition-rows must be at least 1, got {partition_rows}")
    found: list[Partition] = []
    for path in input_files(source):
        stat = path.stat()
        for rows in _ranges(path, partition_rows):
            found.append(Partition(len(found), str(path), rows, stat.st_size, stat.st_mtime_ns))
    return found


def input_files(source: str) -> list[Path]:
    """The files INPUT names: a file, a directory's data files (by suffix), or a glob's."""
    path = Path(source)
    if path.is_file():
        detect_format(path)  # an unknown suffix is refused here, with the known ones
        return [path.resolve()]
    if path.is_dir():
        files = [p for p in path.iterdir() if p.is_file() and _data_file(p)]
        if not files:
            known = ", ".join(sorted(FORMATS))
            raise DataError(f"no data files ({known}) in directory {source}")
    else:
        files = [Path(p) for p in glob.glob(source) if Path(p).is_file()]
        if not files:
            raise DataError(f"no files match {source}")
        for p in files:
            detect_format(p)
    return sorted(p.resolve() for p in files)


def _data_file(path: Path) -> bool:
    return path.suffix.lower() in FORMATS and not path.name.startswith((".", "_"))


def _ranges(path: Path, partition_rows: int) -> Iterator[Rows | None]:
    if detect_format(path) != "parquet":
        yield None
        return
    try:
        meta = pq.ParquetFile(path).metadata
    except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid is a ValueError
        raise DataError(f"cannot read {path.name}: {str(exc).splitlines()[0]}") from exc
    groups = [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]
    if sum(groups) == 0:
        yield None  # no rows: one part with the columns, as local predict writes
        return
    first = count = 0
    for rows in groups:
        if count and count + rows > partition_rows:
            yield first, count
            first, count = first + count, 0
        if rows > partition_rows:
            pieces = math.ceil(rows / partition_rows)
            cuts = [first + rows * i // pieces for i in range(pieces + 1)]
            yield from ((a, b - a) for a, b in itertools.pairwise(cuts))
            first += rows
        else:
            count += rows
    if count:
        yield first, count

"""OUTPUT_DIR of ``predict --dask``: numbered Parquet parts, then ``_manifest.json`` last.

A part appears only complete (scored to a hidden temp file, then renamed), and carries in its
footer the tag of the partition and run that made it; a rerun skips the parts whose tag
matches and redoes the rest. The manifest is removed when a run starts and written when every
part is in place, so its presence means the directory is whole.
"""

from __future__ import annotations

import json
import os
import re
import uuid
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from tabforge.errors import DataError

MANIFEST = "_manifest.json"
TAG_KEY = "tabforge.part"
_PART = re.compile(r"part-\d{5,}(\.rejects\.csv|\.parquet)")


def prepare(directory: str | os.PathLike[str], names: set[str]) -> Path:
    """The output directory, made if needed, without the previous run's manifest, temp files,
    or parts beyond this run's ``names`` (an earlier run of a larger input)."""
    out = Path(directory).resolve()  # as the workers see it: they need not share our cwd
    if out.exists() and not out.is_dir():
        raise DataError(f"output {out} is a file: predict --dask writes a directory of parts")
    try:
        out.mkdir(parents=True, exist_ok=True)
        (out / MANIFEST).unlink(missing_ok=True)
        for path in out.iterdir():
            temp = path.name.startswith((".part-", f".{MANIFEST}."))
            stale = temp and path.name.endswith(".tmp")
            if stale or (_PART.fullmatch(path.name) and _part_name(path.name) not in names):
                path.unlink()
    except OSError as exc:
        raise DataError(f"cannot write to {out}: {exc.strerror or exc}") from exc
    if not os.access(out, os.W_OK):
        raise DataError(f"cannot write to {out}: permission denied")
    return out


def _part_name(name: str) -> str:
    return name.split(".", 1)[0] + ".parquet"


def done(path: Path, tag: str) -> bool:
    """Whether ``path`` is a complete part made for ``tag``."""
    try:
        metadata = pq.read_schema(path).metadata or {}
    except (OSError, ValueError):  # missing, or not a readable Parquet file
        return False
    return metadata.get(TAG_KEY.encode()) == tag.encode()


def part_rows(path: Path) -> int:
    return int(pq.read_metadata(path).num_rows)


def part_columns(path: Path) -> list[str]:
    return list(pq.read_schema(path).names)


def write_manifest(out: Path, content: dict[str, Any]) -> Path:
    """``_manifest.json``, in place whole or not at all."""
    target = out / MANIFEST
    tmp = out / f".{MANIFEST}.{uuid.uuid4().hex[:8]}.tmp"
    try:
        with open(tmp, "w") as f:
            json.dump(content, f, indent=2)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise DataError(f"cannot write {target}: {exc.strerror or exc}") from exc
    return target

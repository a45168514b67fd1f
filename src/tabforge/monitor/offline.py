"""``tabforge drift``: a file through the stored model, its drift per window of rows.

The file is read and encoded by batch scoring's own reader (``read_batches``), so its
rows reach the model exactly as ``tabforge predict`` sends them and bad rows are refused
(or skipped) the same way; memory stays bounded by a batch.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from tabforge.batch.scoring import DEFAULT_BATCH_ROWS, read_batches
from tabforge.contract import Reference, Tensors
from tabforge.errors import DataError
from tabforge.monitor.binner import Binner
from tabforge.monitor.window import Window
from tabforge.runtime.predictor import Predictor


@dataclass
class DriftRun:
    """Every window's report, in file order, and the rows skipped as bad."""

    windows: list[dict[str, Any]] = field(default_factory=list)
    rows: int = 0
    skipped: int = 0


def drift_file(
    predictor: Predictor,
    reference: Reference,
    source: str | os.PathLike[str],
    *,
    window_rows: int | None = None,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    on_error: Literal["fail", "skip"] = "fail",
) -> DriftRun:
    """Drift of ``source`` as one window, or per ``window_rows`` consecutive rows (the
    last window holds what is left)."""
    if window_rows is not None and window_rows < 1:
        raise DataError(f"--window-rows must be at least 1, got {window_rows}")
    src = Path(source)
    binner = Binner(reference)
    run = DriftRun()
    window = Window(reference, binner)
    for offset, _, feed, bad in read_batches(src, predictor.manifest.inputs, batch_rows=batch_rows):
        if bad is not None:
            if on_error == "fail":
                raise DataError(f"{src.name}: {bad.message(offset)}")
            run.skipped += int(bad.mask.sum())
            feed = {k: v[~bad.mask] for k, v in feed.items()}
        n = len(next(iter(feed.values())))
        if n == 0:
            continue
        outputs = predictor.run(feed)
        at = 0
        while at < n:
            take = n - at if window_rows is None else min(n - at, window_rows - window.rows)
            window(_rows(feed, at, take), _rows(outputs, at, take))
            at += take
            if window.rows == window_rows:
                run.windows.append(_finished(window, run))
                window = Window(reference, binner)
    if window.rows or not run.windows:
        run.windows.append(_finished(window, run))
    return run


def _rows(tensors: Tensors, at: int, take: int) -> Tensors:
    if at == 0 and take == len(next(iter(tensors.values()))):
        return tensors
    return {k: v[at : at + take] for k, v in tensors.items()}


def _finished(window: Window, run: DriftRun) -> dict[str, Any]:
    """The window's report, with where it starts among the rows counted (1-based)."""
    doc = {"first_row": run.rows + 1 if window.rows else None, **window.report()}
    run.rows += window.rows
    return doc

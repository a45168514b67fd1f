"""Drift statistics of a window's counts against the reference, and the report of a window.

For each feature and output, with ``p`` the reference proportions per bin (training rows)
and ``q`` the window's:

- PSI (population stability index) ``sum((q - p) * ln(q / p))``, natural log, where a bin
  empty on either side counts as holding ``EPSILON`` = 1e-4 of its rows (as Evidently does;
  the proportions are not renormalised). 0 when nothing moved; no upper bound.
- JS: the Jensen-Shannon distance, base 2: ``sqrt((KL(p || m) + KL(q || m)) / 2)`` with
  ``m = (p + q) / 2``; in [0, 1], 0 for identical, 1 for disjoint distributions. Empty bins
  need no smoothing (0 * log 0 = 0).

``alert`` is true when the window holds at least ``Reference.min_rows`` rows and its PSI or
its JS is above that column's threshold for the window's row count (the thresholds stored
per window size, interpolated in log(rows) between sizes, the largest size's beyond it).
Below ``min_rows`` no alert is raised: ``alert`` is false and ``reason`` says
``too_few_rows``.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np
import numpy.typing as npt

from tabforge.contract import ColumnReference, Reference

EPSILON = 1e-4
TOO_FEW_ROWS = "too_few_rows"
Floats = npt.NDArray[np.float64]


def proportions(counts: npt.ArrayLike) -> Floats:
    """Counts -> proportions along the last axis (all zeros stay zeros)."""
    values = np.asarray(counts, dtype=np.float64)
    total = values.sum(axis=-1, keepdims=True)
    return values / np.where(total > 0, total, 1.0)


def psi(p: Floats, q: Floats) -> Floats:
    """PSI along the last axis; see the module docstring for the smoothing."""
    p, q = np.maximum(p, EPSILON), np.maximum(q, EPSILON)
    return np.asarray(((q - p) * np.log(q / p)).sum(axis=-1), dtype=np.float64)


def js(p: Floats, q: Floats) -> Floats:
    """Jensen-Shannon distance, base 2, along the last axis: in [0, 1]."""
    m = (p + q) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        left = np.where(p > 0, p * np.log2(p / m), 0.0)
        right = np.where(q > 0, q * np.log2(q / m), 0.0)
    divergence = (left.sum(axis=-1) + right.sum(axis=-1)) / 2
    return np.asarray(np.sqrt(np.clip(divergence, 0.0, 1.0)), dtype=np.float64)


def threshold(reference: Reference, column: ColumnReference, rows: int) -> tuple[float, float]:
    """(PSI, JS) thresholds of ``column`` for a window of ``rows`` rows."""
    sizes = reference.window_rows
    if rows <= sizes[0]:
        return column.psi[0], column.js[0]
    if rows >= sizes[-1]:
        return column.psi[-1], column.js[-1]
    i = int(np.searchsorted(sizes, rows, side="right"))
    w = (math.log(rows) - math.log(sizes[i - 1])) / (math.log(sizes[i]) - math.log(sizes[i - 1]))
    return (
        column.psi[i - 1] + w * (column.psi[i] - column.psi[i - 1]),
        column.js[i - 1] + w * (column.js[i] - column.js[i - 1]),
    )


def labels(column: ColumnReference) -> list[str]:
    """Each bin's label, in counts-vector order."""
    if column.kind == "categorical":
        return [*column.top, "other", "unseen", "missing"]
    edges = [f"{e:.6g}" for e in column.edges]
    ranges = [f"[{a}, {b})" for a, b in itertools.pairwise(edges)]
    return [f"< {edges[0]}", *ranges, f"[{edges[-1]}, {column.high:.6g}]",
            f"> {column.high:.6g}", "missing"]  # fmt: skip


def report(reference: Reference, counts: npt.ArrayLike, rows: int) -> dict[str, Any]:
    """A window's drift: ``{"rows", "min_rows", "alert", "reason", "reference", "features",
    "outputs"}``, JSON-serialisable.

    ``counts`` is a ``Binner``'s vector summed over the window's batches, ``rows`` the rows
    counted. Each item: ``name, kind, psi, js, threshold: {psi, js}, alert, reason,
    missing_rate, out_of_range_rate`` (numeric; else null), ``unseen_rate`` (categorical;
    else null), ``bins`` (the window's rows per bin), ``reference`` (the training
    proportions per bin) and ``labels``. With no rows psi and js are null.
    """
    vector = np.asarray(counts, dtype=np.int64)
    items: dict[str, list[dict[str, Any]]] = {"features": [], "outputs": []}
    start = 0
    for group in ("features", "outputs"):
        for column in getattr(reference, group):
            window = vector[start : start + column.size]
            start += column.size
            items[group].append(_item(reference, column, window, rows))
    if start != len(vector):
        raise ValueError(f"counts has {len(vector)} bins, the reference {start}")
    alert = any(i["alert"] for group in items.values() for i in group)
    return {
        "rows": rows,
        "min_rows": reference.min_rows,
        "alert": alert,
        "reason": TOO_FEW_ROWS if rows < reference.min_rows else None,
        "reference": {
            "source": reference.source,
            "rows": reference.rows,
            "threshold_rows": reference.threshold_rows,
        },
        **items,
    }


def _item(
    reference: Reference, column: ColumnReference, window: npt.NDArray[np.int64], rows: int
) -> dict[str, Any]:
    p, q = proportions(column.counts), proportions(window)
    total = int(window.sum())
    enough = rows >= reference.min_rows
    stats = (float(psi(p, q)), float(js(p, q))) if total else (None, None)
    limits = threshold(reference, column, rows) if enough else None
    alert = bool(
        limits is not None
        and stats[0] is not None
        and (stats[0] > limits[0] or (stats[1] or 0.0) > limits[1])
    )
    numeric = column.kind == "numeric"
    return {
        "name": column.name,
        "kind": column.kind,
        "psi": stats[0],
        "js": stats[1],
        "threshold": None if limits is None else {"psi": limits[0], "js": limits[1]},
        "alert": alert,
        "reason": None if enough else TOO_FEW_ROWS,
        "missing_rate": _rate(window[-1], total),
        "out_of_range_rate": _rate(window[0] + window[-2], total) if numeric else None,
        "unseen_rate": None if numeric else _rate(window[-2], total),
        "bins": window.tolist(),
        "reference": p.tolist(),
        "labels": labels(column),
    }


def _rate(rows: Any, total: int) -> float | None:
    return int(rows) / total if total else None

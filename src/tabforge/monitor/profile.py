"""A version's reference: the stored one, else one rebuilt from its data profile.

Manifests written before monitoring hold no reference but do hold ``data.profile``: per
numeric column the count, nulls, min, max and seven quantiles; per categorical column the
count, nulls and the 20 most frequent values. From these:

- numeric: bins between the quantiles (1%, 5%, 25%, 50%, 75%, 95%, 99%) with their known
  shares of the rows. Where quantiles tie (a discrete column) the shares cannot be told
  apart, so the column gets a single in-range bin: missing and out-of-range still count.
- categorical: the profile's top values a bin each, the rest of the categories the model
  knows as "other", nothing unseen.
- thresholds: simulated, both the reference and the window drawn from the approximate
  proportions (training rows / window rows), as ``thresholds`` draws them.
- no outputs (the profile knows nothing of them).
"""

from __future__ import annotations

import itertools
from typing import Any

import msgspec
import numpy as np

from tabforge.contract import ColumnReference, Manifest, Reference
from tabforge.errors import DataError
from tabforge.monitor.build import MIN_ROWS, short
from tabforge.monitor.thresholds import WINDOW_ROWS, thresholds

# Profile quantiles in order, with min (0) and max (1) around them.
SHARES = (0.0, 0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99, 1.0)


def reference_of(manifest: Manifest) -> Reference | None:
    """The stored reference, else one from ``manifest.data.profile``, else None."""
    if manifest.reference is not None:
        return manifest.reference
    profile = manifest.data.profile
    inputs = manifest.inputs
    if any(name not in profile for name in (*inputs.numeric, *inputs.categorical)):
        return None
    try:
        features = [_numeric(name, j, profile[name]) for j, name in enumerate(inputs.numeric)] + [
            _categorical(name, j, profile[name], inputs.categories.get(name, []))
            for j, name in enumerate(inputs.categorical)
        ]
    except (KeyError, TypeError, ValueError):
        return None  # a profile of another shape: no reference rather than a wrong one
    rng = np.random.default_rng(manifest.seed)
    counts = [c.counts for c in features]
    rows = [max(sum(c), 1) for c in counts]
    limits = thresholds(counts, counts, rng, reference_rows=rows)
    done = [
        msgspec.structs.replace(column, psi=psi, js=js)
        for column, (psi, js) in zip(features, limits, strict=True)
    ]
    return Reference(source="profile", rows=manifest.data.rows, threshold_rows=0,
                     window_rows=list(WINDOW_ROWS), min_rows=MIN_ROWS, features=done)  # fmt: skip


def _numeric(name: str, index: int, entry: dict[str, Any]) -> ColumnReference:
    count, nulls = int(entry["count"]), int(entry["nulls"])
    present = count - nulls
    if entry["min"] is None:
        edges, high, shares = [0.0], 0.0, [0.0]
    else:
        quantiles = [entry["quantiles"][str(q)] for q in SHARES[1:-1]]
        points = [short(v) for v in (entry["min"], *quantiles, entry["max"])]
        if all(a < b for a, b in itertools.pairwise(points)):
            edges, high, shares = points[:-1], points[-1], [float(s) for s in np.diff(SHARES)]
        else:  # tied quantiles: how the rows share the tied values is unknown
            edges, high, shares = points[:1], points[-1], [1.0]
    counts = [0, *(round(s * present) for s in shares), 0, nulls]
    return ColumnReference(name=name, kind="numeric", tensor="numeric", index=index,
                           counts=counts, psi=[], js=[], edges=edges, high=high)  # fmt: skip


def _categorical(name: str, index: int, entry: dict[str, Any], known: list[str]) -> ColumnReference:
    top = [str(v) for v, _ in entry["top"]]
    shown = [int(c) for _, c in entry["top"]]
    other = int(entry["count"]) - int(entry["nulls"]) - sum(shown)
    others = [c for c in known if c not in set(top)]
    return ColumnReference(name=name, kind="categorical", tensor="categorical", index=index,
                           counts=[*shown, max(other, 0), 0, int(entry["nulls"])], psi=[], js=[],
                           top=top, others=others)  # fmt: skip


def require_reference(manifest: Manifest) -> Reference:
    """``reference_of``, or a one-line error saying why there is none."""
    reference = reference_of(manifest)
    if reference is None:
        raise DataError(
            f"{manifest.name}:{manifest.version} has no monitoring reference: it was trained "
            "before monitoring and its data profile does not cover its inputs (retrain it)"
        )
    return reference

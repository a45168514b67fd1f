"""Alert thresholds: how far a window's PSI and JS go by chance, per window size.

A window's statistics are noisy, more so the fewer rows it holds, and some columns are
noisier than others. So each column's threshold is the ``PERCENTILE`` of the statistic over
``REPLICATES`` chunks of each ``WINDOW_ROWS`` size drawn from rows the model never trained
on (the hold-out's binned counts), each compared with the reference. A chunk's count in a
bin is Poisson with mean (window rows x the bin's share): drawing rows with replacement
while the row count itself varies, as it does in a time-based window (and 4x cheaper than
numpy's multinomial). The cost depends on the columns and bins, not on the rows.

A threshold is never below the statistic of ``MIN_SHIFT`` of the rows moving to a bin the
reference has empty: a column that never varied would otherwise alert on one odd row.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from tabforge.monitor.stats import js, proportions, psi

WINDOW_ROWS = (100, 300, 1000, 3000, 10_000)
REPLICATES = 300
PERCENTILE = 99.0
MIN_SHIFT = 0.001
GROUP = 8  # columns simulated together (bounded memory: ~4 MB per array)

Limits = tuple[list[float], list[float]]  # PSI and JS thresholds per WINDOW_ROWS size


def floor(p: npt.NDArray[np.float64]) -> tuple[float, float]:
    """PSI and JS of ``MIN_SHIFT`` of the rows moving to a bin the reference has empty
    (every column has one: below/above range for numbers, unseen for categories)."""
    empty = np.flatnonzero(p == 0)
    if not len(empty):
        return 0.0, 0.0
    q = p * (1 - MIN_SHIFT)
    q[empty[0]] += MIN_SHIFT
    return float(psi(p, q)), float(js(p, q))


def thresholds(
    references: Sequence[npt.ArrayLike],
    draws: Sequence[npt.ArrayLike],
    rng: np.random.Generator,
    *,
    reference_rows: Sequence[int] | None = None,
) -> list[Limits]:
    """Per column, thresholds for its ``references`` counts, chunks drawn from ``draws``.

    ``reference_rows``: redraw each reference from itself with that many rows too (when it
    is an estimate with no hold-out to draw from, both sides are noisy).
    """
    limits: list[Limits] = []
    for start in range(0, len(references), GROUP):
        end = start + GROUP
        rows = None if reference_rows is None else reference_rows[start:end]
        limits += _group(references[start:end], draws[start:end], rng, rows)
    return limits


def _group(
    references: Sequence[npt.ArrayLike],
    draws: Sequence[npt.ArrayLike],
    rng: np.random.Generator,
    reference_rows: Sequence[int] | None,
) -> list[Limits]:
    """Columns side by side, bins padded with empty ones (which add nothing to PSI or JS)."""
    sizes = [len(np.asarray(r)) for r in references]
    p = np.zeros((len(sizes), max(sizes)))
    d = np.zeros_like(p)
    for i, (reference, draw) in enumerate(zip(references, draws, strict=True)):
        p[i, : sizes[i]], d[i, : sizes[i]] = proportions(reference), proportions(draw)
    shape = (len(WINDOW_ROWS), REPLICATES, *p.shape)
    window = np.asarray(WINDOW_ROWS, dtype=np.float64)[:, None, None, None]
    q = proportions(rng.poisson(window * d, size=shape))
    base = p
    if reference_rows is not None:
        base = proportions(rng.poisson(np.asarray(reference_rows)[:, None] * p, size=shape))
    by_psi = np.percentile(psi(base, q), PERCENTILE, axis=1)  # [sizes, columns]
    by_js = np.percentile(js(base, q), PERCENTILE, axis=1)
    out = []
    for i, size in enumerate(sizes):
        least = floor(p[i, :size])
        out.append(([_round(max(v, least[0])) for v in by_psi[:, i]],
                    [_round(max(v, least[1])) for v in by_js[:, i]]))  # fmt: skip
    return out


def _round(value: float) -> float:
    return float(f"{value:.4g}")

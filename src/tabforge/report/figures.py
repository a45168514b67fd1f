"""Chart specs from evaluations: what ``TabforgeCharts`` draws, as plain JSON-able data.

Each builder takes one or two named evaluations (``runs``): one draws a version's own
figures; two overlay them in the same axes (two versions in a comparison, or the hold-out
and a labelled file on one version's page), so a difference is seen, not looked for.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from tabforge.contract.evaluation import (
    ClassCurves,
    Classification,
    Clustering,
    Curve,
    Evaluation,
    Histogram,
    Histogram2D,
    Importance,
)
from tabforge.report.html import num

Chart = Literal["line", "bars", "histogram", "heatmap"]
Run = tuple[str, Evaluation]  # a name for titles and legends, an evaluation
Scales = dict[str, tuple[float, float]]  # numeric column -> (mean, std) of the training data

MAX_POINTS = 200  # per series; stored curves are thinned already, others may not be
MAX_SERIES = 8  # colours in the palette
MAX_CELLS = 40  # heatmap rows or columns
MAX_BARS = 25
UNIT = [0.0, 1.0]


@dataclass(frozen=True)
class Fig:
    """One figure: where it goes (``id``), what it is called and what the script draws."""

    id: str
    title: str
    chart: Chart
    spec: dict[str, Any]
    caption: str | None = None

    def doc(self) -> dict[str, Any]:
        return {"title": self.title, "chart": self.chart, "spec": self.spec}


def thin(points: list[list[float]]) -> list[list[float]]:
    """At most MAX_POINTS points, the first and last always kept."""
    if len(points) <= MAX_POINTS:
        return points
    step = (len(points) - 1) / (MAX_POINTS - 1)
    return [points[round(i * step)] for i in range(MAX_POINTS)]


def _curve(curve: Curve) -> list[list[float]]:
    return thin([[x, y] for x, y in zip(curve.x, curve.y, strict=False)])


def _ranked(curves: list[ClassCurves]) -> list[ClassCurves]:
    """The classes drawn: all when they fit the palette, else the most frequent."""
    if len(curves) <= MAX_SERIES:
        return curves
    return sorted(curves, key=lambda c: -c.positives)[:MAX_SERIES]


def _curve_figs(prefix: str, runs: Sequence[tuple[str, Classification]]) -> list[Fig]:
    kinds = (
        ("roc", "ROC curve", "False positive rate", "True positive rate", "AUC", True),
        ("pr", "Precision-recall curve", "Recall", "Precision", "AP", False),
    )
    figs = []
    for key, title, x_label, y_label, stat, diagonal in kinds:

        def series(c: ClassCurves, name: str, key: str = key, stat: str = stat) -> dict[str, Any]:
            value = c.roc_auc if key == "roc" else c.average_precision
            return {"name": f"{name} ({stat} {num(value)})", "points": _curve(getattr(c, key))}

        axes = {
            "xLabel": x_label,
            "yLabel": y_label,
            "xDomain": UNIT,
            "yDomain": UNIT,
            "diagonal": diagonal,
        }
        if len(runs) == 1:
            drawn = [series(c, c.label) for c in _ranked(runs[0][1].curves)]
            figs.append(Fig(f"{prefix}-{key}", title, "line", {"series": drawn, **axes}))
            continue
        for i, c in enumerate(_ranked(runs[0][1].curves)[:6]):
            others = [next((o for o in cls.curves if o.label == c.label), None) for _, cls in runs]
            drawn = [series(o, name) for (name, _), o in zip(runs, others, strict=True) if o]
            label = f"{title}, class {c.label}" if len(runs[0][1].curves) > 1 else title
            figs.append(Fig(f"{prefix}-{key}{i}", label, "line", {"series": drawn, **axes}))
    return figs


def _confusion(fig_id: str, title: str, cls: Classification) -> Fig:
    keep = cls.classes[:MAX_CELLS]
    values = [row[: len(keep)] for row in cls.confusion[: len(keep)]]
    caption = "Rows: the true class; columns: the class the model predicted."
    if len(cls.classes) > len(keep):
        caption += f" The first {len(keep)} of {len(cls.classes)} classes."
    spec = {
        "rows": keep,
        "cols": keep,
        "values": values,
        "xLabel": "Predicted class",
        "yLabel": "True class",
    }
    return Fig(fig_id, title, "heatmap", spec, caption)


def _calibration(prefix: str, runs: Sequence[tuple[str, Classification]]) -> list[Fig]:
    of = runs[0][1].calibration_of
    series = [
        {
            "name": name,
            "points": [[b.mean_predicted, b.fraction_positive] for b in cls.calibration if b.count],
        }
        for name, cls in runs
    ]
    y_label = "Fraction positive" if of == "positive class" else "Fraction correct"
    spec = {
        "series": series,
        "xLabel": f"Mean predicted probability ({of})",
        "yLabel": y_label,
        "xDomain": UNIT,
        "yDomain": UNIT,
        "diagonal": True,
    }
    caption = "On the dashed diagonal the probabilities mean what they say."
    figs = [Fig(f"{prefix}-calibration", "Calibration", "line", spec, caption)]
    bins = runs[0][1].calibration
    if len(runs) == 1 and bins:
        edges = [bins[0].lower, *(b.upper for b in bins)]
        hist = {
            "edges": edges,
            "counts": [b.count for b in bins],
            "xLabel": f"Predicted probability ({of})",
            "yLabel": "Rows",
        }
        figs.append(Fig(f"{prefix}-scores", "Scores", "histogram", hist))
    return figs


def classification_figs(prefix: str, runs: Sequence[Run]) -> list[Fig]:
    named = [(name, ev.classification) for name, ev in runs if ev.classification is not None]
    if not named:
        return []
    figs = _curve_figs(prefix, named)
    for i, (name, cls) in enumerate(named):
        title = "Confusion matrix" if len(named) == 1 else f"Confusion matrix, {name}"
        figs.append(_confusion(f"{prefix}-confusion{i}", title, cls))
    return figs + _calibration(prefix, named)


def _centres(edges: list[float]) -> list[str]:
    return [num((a + b) / 2) for a, b in itertools.pairwise(edges)]


def _shares(fine: Histogram) -> list[list[float]]:
    hist = coarse(fine)
    total = sum(hist.counts) or 1
    centres = [(a + b) / 2 for a, b in itertools.pairwise(hist.edges)]
    return [[x, c / total] for x, c in zip(centres, hist.counts, strict=False)]


def merged(n: int, rows: int) -> int:
    """How many adjacent bins of ``n`` to merge so ``rows`` rows read as a shape, not as
    scattered single rows (8 bins for a hundred rows, up to 24 for tens of thousands)."""
    wanted = max(8, min(24, round(math.sqrt(rows) / 2)))
    return max(1, -(-n // wanted))


def _edges(edges: list[float], k: int) -> list[float]:
    n = len(edges) - 1
    return [edges[i] for i in range(0, n, k)] + [edges[n]]


def coarse(hist: Histogram) -> Histogram:
    k = merged(len(hist.counts), sum(hist.counts))
    counts = [sum(hist.counts[i : i + k]) for i in range(0, len(hist.counts), k)]
    return Histogram(edges=_edges(hist.edges, k), counts=counts)


def coarse_2d(grid: Histogram2D) -> Histogram2D:
    counts = np.asarray(grid.counts, dtype=np.int64)
    if counts.size == 0:
        return grid
    kx, ky = (merged(n, int(counts.sum())) for n in counts.shape)
    counts = np.add.reduceat(counts, range(0, counts.shape[0], kx), axis=0)
    counts = np.add.reduceat(counts, range(0, counts.shape[1], ky), axis=1)
    x_edges, y_edges = _edges(grid.x_edges, kx), _edges(grid.y_edges, ky)
    return Histogram2D(x_edges=x_edges, y_edges=y_edges, counts=counts.tolist())


def _scatter(fig_id: str, title: str, fine: Histogram2D) -> Fig:
    """Predicted (rows, highest on top) against actual (columns); empty cells left blank."""
    grid = coarse_2d(fine)
    y_labels = _centres(grid.y_edges)
    rows = list(range(len(y_labels)))[::-1]
    values = [[grid.counts[x][y] or None for x in range(len(grid.counts))] for y in rows]
    spec = {
        "rows": [y_labels[y] for y in rows],
        "cols": _centres(grid.x_edges),
        "values": values,
        "xLabel": "Actual",
        "yLabel": "Predicted",
    }
    caption = "Rows per cell; a perfect model fills the diagonal from bottom left to top right."
    return Fig(fig_id, title, "heatmap", spec, caption)


def regression_figs(prefix: str, runs: Sequence[Run]) -> list[Fig]:
    named = [(name, ev.regression) for name, ev in runs if ev.regression is not None]
    if not named:
        return []
    figs = []
    for i, (name, reg) in enumerate(named):
        title = "Predicted vs actual" if len(named) == 1 else f"Predicted vs actual, {name}"
        figs.append(_scatter(f"{prefix}-pva{i}", title, reg.predicted_vs_actual))
    if len(named) == 1:
        reg = named[0][1]
        figs.append(
            Fig(
                f"{prefix}-residuals",
                "Residuals",
                "histogram",
                {
                    "edges": coarse(reg.residuals).edges,
                    "counts": coarse(reg.residuals).counts,
                    "xLabel": "Predicted - actual",
                    "yLabel": "Rows",
                },
            )
        )
        series = [
            {"name": "actual", "points": _shares(reg.actual)},
            {"name": "predicted", "points": _shares(reg.predicted)},
        ]
    else:
        figs.append(
            _overlay(
                f"{prefix}-residuals",
                "Residuals",
                named,
                "Predicted - actual",
                lambda r: r.residuals,
            )
        )
        series = [{"name": name, "points": _shares(reg.predicted)} for name, reg in named]
    spec = {"series": series, "xLabel": "Target", "yLabel": "Share of rows"}
    figs.append(Fig(f"{prefix}-dist", "Distributions", "line", spec))
    return figs


def _overlay(fig_id: str, title: str, named: Any, x_label: str, pick: Any) -> Fig:
    series = [{"name": name, "points": _shares(pick(value))} for name, value in named]
    return Fig(
        fig_id, title, "line", {"series": series, "xLabel": x_label, "yLabel": "Share of rows"}
    )


def clustering_figs(prefix: str, runs: Sequence[Run], scales: Scales) -> list[Fig]:
    """Cluster sizes, and each cluster's numeric means in standard deviations of the data."""
    figs = []
    for i, (name, ev) in enumerate(runs):
        if ev.clustering is None:
            continue
        suffix = "" if len(runs) == 1 else f", {name}"
        sizes = {
            "labels": [c.cluster for c in ev.clustering.clusters],
            "values": [c.rows for c in ev.clustering.clusters],
            "xLabel": "Cluster",
            "yLabel": "Rows",
        }
        figs.append(Fig(f"{prefix}-sizes{i}", f"Cluster sizes{suffix}", "bars", sizes))
        title = f"Cluster profiles{suffix}"
        profile = _profile(f"{prefix}-profile{i}", title, ev.clustering, scales)
        figs.extend([profile] if profile else [])
    return figs


def _profile(fig_id: str, title: str, clu: Clustering, scales: Scales) -> Fig | None:
    """None when no numeric column has a spread to measure in (the table still shows all)."""

    def z(mean: float | None, column: str) -> float | None:
        centre, spread = scales.get(column, (0.0, 0.0))
        return None if mean is None or not spread else (mean - centre) / spread

    columns = [c for c in (clu.clusters[0].means if clu.clusters else {}) if c in scales]
    table = {c: [z(k.means.get(c), c) for k in clu.clusters] for c in columns}
    spread = {}
    for column, values in table.items():
        known = [v for v in values if v is not None]
        if known:
            spread[column] = max(known) - min(known)
    shown = sorted(spread, key=lambda c: -spread[c])[:MAX_CELLS]
    if not shown:
        return None
    spec = {
        "rows": [k.cluster for k in clu.clusters],
        "cols": shown,
        "xLabel": "Column",
        "yLabel": "Cluster",
        "values": [[table[c][i] for c in shown] for i in range(len(clu.clusters))],
    }
    caption = (
        "Each cluster's mean in standard deviations from the training mean; the "
        "columns that tell clusters apart most come first."
    )
    return Fig(fig_id, title, "heatmap", spec, caption)


def importance_fig(fig_id: str, title: str, importance: list[Importance], metric: str) -> Fig:
    moved = [i for i in importance if i.mean or i.std]
    top = sorted(moved, key=lambda i: -i.mean)[:MAX_BARS]
    spec = {
        "labels": [i.column for i in top],
        "values": [i.mean for i in top],
        "errors": [i.std for i in top],
        "horizontal": True,
        "xLabel": f"Drop in {metric} when the column is shuffled",
    }
    notes = []
    if len(moved) > len(top):
        notes.append(f"The {len(top)} most important of {len(importance)} columns.")
    if len(moved) < len(importance):
        still = len(importance) - len(moved)
        notes.append(f"{still} column{'s' if still > 1 else ''} changed nothing when shuffled.")
    caption = " ".join(notes) or None
    return Fig(fig_id, title, "bars", spec, caption)


def task_figs(prefix: str, runs: Sequence[Run], scales: Scales) -> list[Fig]:
    """The task's figures for one evaluation, or two overlaid."""
    return [
        *classification_figs(prefix, runs),
        *regression_figs(prefix, runs),
        *clustering_figs(prefix, runs, scales),
    ]


def scales_of(profile: dict[str, dict[str, Any]]) -> Scales:
    """Mean and standard deviation of each numeric column, from the manifest's data profile."""
    out = {}
    for name, entry in profile.items():
        if entry.get("kind") == "numeric" and entry.get("mean") is not None:
            out[name] = (float(entry["mean"]), float(entry.get("std") or 0.0))
    return out

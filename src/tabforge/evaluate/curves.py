"""Classification curves from one class's scores: ROC, precision-recall, calibration,
the threshold table, the confusion matrix.

The arithmetic follows scikit-learn's (``roc_curve`` with ``drop_intermediate``,
``precision_recall_curve``, ``average_precision_score``, ``calibration_curve`` with uniform
bins) so the numbers a report shows are the ones a data scientist gets from the library
they know; ``tests/test_evaluate.py`` holds them to it. Written on numpy alone because the
server renders reports and never loads scikit-learn.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from tabforge.contract.evaluation import MAX_POINTS, CalibrationBin, Curve, ThresholdRow

Floats = npt.NDArray[np.float64]
Bools = npt.NDArray[np.bool_]
Ints = npt.NDArray[np.int64]

CALIBRATION_BINS = 10
CUTOFFS = np.round(np.arange(1, 20) * 0.05, 2)  # the threshold table's 0.05 .. 0.95
EMPTY = Curve(x=[], y=[], thresholds=[])
DIGITS = 6  # rates and probabilities are stored to 1e-6: finer is noise, and bytes


@dataclass(frozen=True)
class Counts:
    """True and false positives at each distinct score, highest score first."""

    fps: Floats
    tps: Floats
    thresholds: Floats

    @property
    def positives(self) -> float:
        return float(self.tps[-1])

    @property
    def negatives(self) -> float:
        return float(self.fps[-1])


def counts(positive: Bools, score: Floats) -> Counts:
    """Cumulative counts at every distinct score (scikit-learn's ``_binary_clf_curve``)."""
    order = np.argsort(score, kind="mergesort")[::-1]
    ranked, hits = score[order], positive[order]
    last = np.r_[np.flatnonzero(np.diff(ranked)), ranked.size - 1]
    tps = np.cumsum(hits, dtype=np.float64)[last]
    return Counts(fps=1.0 + last - tps, tps=tps, thresholds=ranked[last])


def start_threshold(score: Floats) -> float:
    """The cut-off of the curve's first point, which no row reaches: scikit-learn's old
    ``max(score) + 1`` (it now says ``inf``, which JSON cannot hold)."""
    return float(score.max()) + 1.0 if score.size else 1.0


def roc(c: Counts) -> tuple[Floats, Floats, Floats] | None:
    """False and true positive rates per kept threshold; None without both classes."""
    if c.positives <= 0 or c.negatives <= 0:
        return None
    fps, tps, thresholds = c.fps, c.tps, c.thresholds
    if fps.size > 2:  # drop points on a straight line between their neighbours
        corner = np.r_[True, np.logical_or(np.diff(fps, 2), np.diff(tps, 2)), True]
        fps, tps, thresholds = fps[corner], tps[corner], thresholds[corner]
    fpr = np.r_[0.0, fps] / c.negatives
    tpr = np.r_[0.0, tps] / c.positives
    return fpr, tpr, np.r_[np.inf, thresholds]


def area(x: Floats, y: Floats) -> float:
    return float(np.trapezoid(y, x))


def precision_recall(c: Counts) -> tuple[Floats, Floats, Floats] | None:
    """Precision and recall, recall decreasing, ending at (recall 0, precision 1) like
    scikit-learn's; None when no row is positive (recall is undefined)."""
    if c.positives <= 0:
        return None
    predicted = c.tps + c.fps
    precision = np.divide(c.tps, predicted, out=np.zeros_like(c.tps), where=predicted != 0)
    recall = c.tps / c.positives
    return np.r_[precision[::-1], 1.0], np.r_[recall[::-1], 0.0], np.r_[c.thresholds[::-1], np.inf]


def average_precision(precision: Floats, recall: Floats) -> float:
    """The step integral of precision over recall (no interpolation)."""
    return max(0.0, float(-np.sum(np.diff(recall) * precision[:-1])))


def thinned(x: Floats, y: Floats, thresholds: Floats, top: float) -> Curve:
    """At most MAX_POINTS points, evenly spaced along the curve, both ends kept; the
    curve's infinite cut-off stored as ``top`` (JSON has no infinity)."""
    keep = np.unique(np.round(np.linspace(0, x.size - 1, min(x.size, MAX_POINTS))).astype(int))
    cut = np.where(np.isinf(thresholds[keep]), top, thresholds[keep])
    return Curve(x=rounded(x[keep]), y=rounded(y[keep]), thresholds=rounded(cut))


def rounded(values: Floats) -> list[float]:
    return [float(v) for v in np.round(values, DIGITS)]


def confusion(truth: Ints, predicted: Ints, classes: int) -> Ints:
    """[true class][predicted class] counts."""
    flat = np.bincount(truth * classes + predicted, minlength=classes * classes)
    return flat.reshape(classes, classes).astype(np.int64)


def calibration(hit: Bools, score: Floats, *, bins: int = CALIBRATION_BINS) -> list[CalibrationBin]:
    """Uniform bins over [0, 1]: each bin's rows, mean score and share of hits.

    A score on an edge belongs to the bin below it, as in scikit-learn's
    ``calibration_curve`` (bin i holds (edge_i, edge_i+1], the first also 0).
    """
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.searchsorted(edges[1:-1], np.clip(score, 0.0, 1.0))
    rows = np.bincount(which, minlength=bins)
    sums = np.bincount(which, weights=score, minlength=bins)
    hits = np.bincount(which, weights=hit.astype(np.float64), minlength=bins)
    return [
        CalibrationBin(
            lower=float(np.round(edges[i], DIGITS)),
            upper=float(np.round(edges[i + 1], DIGITS)),
            count=int(rows[i]),
            mean_predicted=float(np.round(sums[i] / rows[i], DIGITS)) if rows[i] else None,
            fraction_positive=float(np.round(hits[i] / rows[i], DIGITS)) if rows[i] else None,
        )
        for i in range(bins)
    ]


def threshold_table(positive: Bools, score: Floats) -> list[ThresholdRow]:
    """Precision, recall and F1 when a row is called positive at score >= each cut-off."""
    called = score[None, :] >= CUTOFFS[:, None]
    tp = (called & positive[None, :]).sum(axis=1)
    predicted = called.sum(axis=1)
    actual = int(positive.sum())
    return [
        ThresholdRow(
            threshold=float(cut),
            predicted_positive=int(p),
            **_precision_recall_f1(int(t), int(p), actual),
        )
        for cut, t, p in zip(CUTOFFS, tp, predicted, strict=True)
    ]


def _precision_recall_f1(tp: int, predicted: int, actual: int) -> dict[str, float | None]:
    precision = tp / predicted if predicted else None
    recall = tp / actual if actual else None
    f1 = None
    if precision is not None and recall is not None:
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}

"""Each task's figures from what the graph answered: classification curves and tables,
regression histograms, cluster profiles. Aggregates only: nothing here lets a row be read
back (cluster profiles of tiny clusters are left empty for that reason).
"""

from __future__ import annotations

import numpy as np

from tabforge.contract import CATEGORICAL_INPUT, MISSING_TEXT, NUMERIC_INPUT, Inputs, Tensors
from tabforge.contract.evaluation import (
    ClassCurves,
    Classification,
    Clustering,
    ClusterProfile,
    Histogram,
    Histogram2D,
    Regression,
)
from tabforge.evaluate import curves as cv
from tabforge.evaluate.curves import Floats, Ints
from tabforge.evaluate.metrics import finite

MAX_CLASS_CURVES = 20  # one-vs-rest curves for at most this many classes (the largest)
HISTOGRAM_BINS = 30
MIN_PROFILE_ROWS = 5  # a smaller cluster's means would be a row or two read back


def class_curves(label: str, positive: cv.Bools, score: Floats) -> ClassCurves:
    """ROC and precision-recall of one class against the rest, thinned, with their areas."""
    counted = cv.counts(positive, score)
    top = cv.start_threshold(score)
    roc = cv.roc(counted)
    pr = cv.precision_recall(counted)
    return ClassCurves(
        label=label,
        positives=int(positive.sum()),
        roc=cv.thinned(*roc, top) if roc else cv.EMPTY,
        pr=cv.thinned(pr[1], pr[0], pr[2], top) if pr else cv.EMPTY,
        roc_auc=finite(cv.area(roc[0], roc[1])) if roc else None,
        average_precision=cv.average_precision(pr[0], pr[1]) if pr else None,
    )


def curve_classes(truth: Ints, classes: int) -> list[int]:
    """Every class, or the MAX_CLASS_CURVES with most rows, in class order."""
    if classes <= MAX_CLASS_CURVES:
        return list(range(classes))
    sizes = np.bincount(truth, minlength=classes)
    return sorted(np.argsort(-sizes, kind="stable")[:MAX_CLASS_CURVES].tolist())


def classification(
    truth: Ints, predicted: Ints, proba: Floats, classes: list[str]
) -> Classification:
    """Binary: the positive class (``classes[1]``), its calibration and threshold table.
    Multiclass: one-vs-rest curves and the calibration of the top class's probability."""
    binary = len(classes) == 2
    shown = [1] if binary else curve_classes(truth, len(classes))
    if binary:
        hit, score = truth == 1, proba[:, 1]
    else:
        hit, score = predicted == truth, proba.max(axis=1)
    return Classification(
        classes=classes,
        confusion=cv.confusion(truth, predicted, len(classes)).tolist(),
        curves=[class_curves(classes[k], truth == k, proba[:, k]) for k in shown],
        calibration=cv.calibration(hit, score),
        calibration_of="positive class" if binary else "top class",
        thresholds=cv.threshold_table(truth == 1, proba[:, 1]) if binary else [],
    )


def histogram(values: Floats, edges: Floats | int) -> Histogram:
    counted, at = np.histogram(values, bins=edges)
    return Histogram(edges=significant(at), counts=counted.astype(int).tolist())


def significant(values: Floats) -> list[float]:
    """Edges to 7 significant digits: any scale of target, few bytes."""
    return [float(f"{v:.7g}") for v in values.tolist()]


def regression(truth: Floats, predicted: Floats) -> Regression:
    """Predicted against actual as a 2-D histogram on shared edges (never a scatter: a
    point per row would store the rows), and the residuals, actuals and predictions."""
    ok = np.isfinite(truth) & np.isfinite(predicted)
    truth, predicted = truth[ok], predicted[ok]
    edges = np.histogram_bin_edges(np.r_[truth, predicted], bins=HISTOGRAM_BINS)
    grid = np.histogram2d(truth, predicted, bins=[edges, edges])[0]
    return Regression(
        predicted_vs_actual=Histogram2D(
            x_edges=significant(edges),
            y_edges=significant(edges),
            counts=grid.astype(int).tolist(),
        ),
        residuals=histogram(predicted - truth, HISTOGRAM_BINS),
        actual=histogram(truth, edges),
        predicted=histogram(predicted, edges),
    )


def clustering(feed: Tensors, labels: Ints, inputs: Inputs) -> Clustering:
    """Per cluster: its rows, each numeric column's mean and each categorical column's most
    common value with its share of the cluster's rows (values as the model saw them)."""
    profiles = []
    for cluster in np.unique(labels).tolist():
        member = labels == cluster
        rows = int(member.sum())
        shown = rows >= MIN_PROFILE_ROWS
        profiles.append(
            ClusterProfile(
                cluster=str(cluster),
                rows=rows,
                means=_means(feed, member, inputs) if shown else {},
                modes=_modes(feed, member, inputs) if shown else {},
            )
        )
    return Clustering(clusters=profiles)


def _means(feed: Tensors, member: cv.Bools, inputs: Inputs) -> dict[str, float | None]:
    if not inputs.numeric:
        return {}
    block = feed[NUMERIC_INPUT][member].astype(np.float64)
    seen = np.isfinite(block)
    sums = np.where(seen, block, 0.0).sum(axis=0)
    n = seen.sum(axis=0)
    means = np.divide(sums, n, out=np.full(sums.shape, np.nan), where=n > 0)
    return {
        name: finite(f"{m:.7g}") for name, m in zip(inputs.numeric, means.tolist(), strict=True)
    }


def _modes(feed: Tensors, member: cv.Bools, inputs: Inputs) -> dict[str, tuple[str, float]]:
    if not inputs.categorical:
        return {}
    block = feed[CATEGORICAL_INPUT][member]
    out: dict[str, tuple[str, float]] = {}
    for j, name in enumerate(inputs.categorical):
        values = block[:, j]
        values = values[values != MISSING_TEXT]
        if values.size:
            seen, times = np.unique(values.astype(str), return_counts=True)
            top = int(times.argmax())
            out[name] = (str(seen[top]), round(float(times[top]) / int(member.sum()), 6))
    return out

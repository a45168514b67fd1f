"""The metrics an evaluation stores, on numpy alone, defined as training's (scikit-learn's).

Training's ``tabforge.train.metrics`` computes the same names with scikit-learn on the
native pipeline; these are computed on what the ONNX graph answered, so the two agree to
float32 rounding. The server renders reports, so this module cannot use scikit-learn.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

from tabforge.errors import DataError
from tabforge.evaluate.curves import Floats, Ints, area, confusion, counts, roc

Metrics = dict[str, float | None]


def finite(value: Any) -> float | None:
    """A metric as JSON can hold it: NaN and infinity are "undefined" (None)."""
    v = float(value)
    return v if math.isfinite(v) else None


def class_indices(labels: npt.NDArray[Any], classes: list[Any]) -> Ints:
    """The graph's labels (text or int64) as indices into ``classes``; each distinct label
    is looked up once."""
    seen, where = np.unique(np.asarray(labels).reshape(-1), return_inverse=True)
    index = {str(c): i for i, c in enumerate(classes)}
    found = np.array([index.get(str(v), -1) for v in seen.tolist()], dtype=np.int64)
    if (found < 0).any():
        unknown = seen[found < 0][:3].tolist()
        raise DataError(f"the model answered labels outside its classes: {unknown}")
    return found[where]


def classification(truth: Ints, predicted: Ints, proba: Floats) -> Metrics:
    """accuracy, balanced_accuracy, f1_macro, roc_auc (one-vs-rest macro), log_loss.

    ``truth`` and ``predicted`` are class indices, ``proba`` one column per class.
    """
    classes = proba.shape[1]
    table = confusion(truth, predicted, classes).astype(np.float64)
    hits = np.diag(table)
    f1_denominator = table.sum(axis=1) + table.sum(axis=0)
    f1 = np.divide(2 * hits, f1_denominator, out=np.zeros(classes), where=f1_denominator > 0)
    return {
        "accuracy": finite(hits.sum() / truth.size) if truth.size else None,
        "balanced_accuracy": balanced_accuracy(truth, predicted, classes),
        "f1_macro": finite(f1.mean()) if truth.size else None,
        "roc_auc": roc_auc(truth, proba),
        "log_loss": log_loss(truth, proba),
    }


def balanced_accuracy(truth: Ints, predicted: Ints, classes: int) -> float | None:
    """The mean recall of the classes present in the rows (an absent class has none)."""
    table = confusion(truth, predicted, classes)
    actual = table.sum(axis=1)
    present = actual > 0
    return finite(np.mean(np.diag(table)[present] / actual[present])) if present.any() else None


def roc_auc(truth: Ints, proba: Floats) -> float | None:
    """Binary: the positive class's AUC; multiclass: the mean of one-vs-rest AUCs. None
    unless every class is in the rows (as training reports it)."""
    classes = proba.shape[1]
    if np.unique(truth).size != classes:
        return None
    scored = [1] if classes == 2 else range(classes)
    areas = []
    for k in scored:
        curve = roc(counts(truth == k, proba[:, k]))
        if curve is None:
            return None
        areas.append(area(curve[0], curve[1]))
    return finite(np.mean(areas))


def log_loss(truth: Ints, proba: Floats) -> float | None:
    """Mean negative log probability of the true class, clipped like scikit-learn's."""
    if not truth.size:
        return None
    eps = np.finfo(np.float64).eps
    picked = np.clip(proba[np.arange(truth.size), truth], eps, 1 - eps)
    return finite(-np.mean(np.log(picked)))


def regression(truth: Floats, predicted: Floats) -> Metrics:
    """rmse, mae, r2 (r2 as scikit-learn's: 1.0 or 0.0 when the truth is constant)."""
    if not truth.size:
        return {"rmse": None, "mae": None, "r2": None}
    error = predicted - truth
    return {
        "rmse": finite(np.sqrt(np.mean(error**2))),
        "mae": finite(np.mean(np.abs(error))),
        "r2": _r2(truth, error) if truth.size > 1 else None,
    }


def _r2(truth: Floats, error: Floats) -> float | None:
    residual = float(np.sum(error**2))
    total = float(np.sum((truth - truth.mean()) ** 2))
    if total == 0:
        return 1.0 if residual == 0 else 0.0
    return finite(1 - residual / total)


def clustering(labels: Ints) -> Metrics:
    """How many clusters the rows fell in (the silhouette needs the model's own feature
    space, which only training has)."""
    return {"clusters_used": float(np.unique(labels).size)}

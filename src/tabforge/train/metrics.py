"""Metrics per task; the first name in PRIMARY's tuple decides `auto` and `--search`."""

from __future__ import annotations

import math
import warnings
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
from sklearn import metrics as skm

from tabforge.contract.manifest import Task

if TYPE_CHECKING:
    import pandas as pd
    from sklearn.pipeline import Pipeline

# (metric, higher is better)
PRIMARY: dict[Task, tuple[str, bool]] = {
    "classification": ("balanced_accuracy", True),
    "regression": ("rmse", False),
    "clustering": ("silhouette", True),
}

Metrics = dict[str, float | None]

# The label is the first class (in label order) whose probability is within TIE_EPS of the
# highest. Native float64 and ONNX float32 sums differ by ~1e-7, so an exact tie (a forest
# voting 0.47/0.06/0.47) would otherwise go to either class; with this rule both runtimes
# compute the same label from the same probabilities. The graph implements the same rule.
TIE_EPS = 1e-5


def labels_from_proba(proba: npt.NDArray[Any]) -> npt.NDArray[np.int64]:
    top = proba.max(axis=1, keepdims=True)
    return np.asarray((proba >= top - TIE_EPS).argmax(axis=1), dtype=np.int64)


def _finite(value: Any) -> float | None:
    v = float(value)
    return v if math.isfinite(v) else None


def classification(
    y: npt.NDArray[np.int64], pred: npt.NDArray[np.int64], proba: npt.NDArray[Any]
) -> Metrics:
    n_classes = proba.shape[1]
    labels = list(range(n_classes))
    out: Metrics = {
        "accuracy": _finite(skm.accuracy_score(y, pred)),
        "balanced_accuracy": None,
        "f1_macro": _finite(skm.f1_score(y, pred, average="macro", labels=labels, zero_division=0)),
        "roc_auc": None,
        "log_loss": _finite(skm.log_loss(y, proba, labels=labels)),
    }
    with warnings.catch_warnings():
        # A class absent from a small hold-out makes these ill-defined, not wrong.
        warnings.simplefilter("ignore")
        out["balanced_accuracy"] = _finite(skm.balanced_accuracy_score(y, pred))
        if len(np.unique(y)) == n_classes:
            if n_classes == 2:
                out["roc_auc"] = _finite(skm.roc_auc_score(y, proba[:, 1]))
            else:
                out["roc_auc"] = _finite(
                    skm.roc_auc_score(y, proba, multi_class="ovr", labels=labels)
                )
    return out


def regression(y: npt.NDArray[Any], pred: npt.NDArray[Any]) -> Metrics:
    return {
        "rmse": _finite(np.sqrt(skm.mean_squared_error(y, pred))),
        "mae": _finite(skm.mean_absolute_error(y, pred)),
        "r2": _finite(skm.r2_score(y, pred)) if len(y) > 1 else None,
    }


def clustering(
    features: npt.NDArray[Any], labels: npt.NDArray[Any], estimator: Any, *, seed: int
) -> Metrics:
    n_labels = len(np.unique(labels))
    silhouette = None
    if 2 <= n_labels < len(labels):
        silhouette = _finite(
            skm.silhouette_score(
                features, labels, sample_size=min(len(labels), 2000), random_state=seed
            )
        )
    out: Metrics = {"silhouette": silhouette, "clusters_used": float(n_labels)}
    if hasattr(estimator, "bic"):
        out["bic"] = _finite(estimator.bic(features))
    else:
        out["inertia"] = _finite(-estimator.score(features))
    return out


def is_better(task: Task, a: float | None, b: float | None) -> bool:
    """Is score ``a`` better than ``b`` for the task's primary metric (None is worst)."""
    if a is None:
        return False
    if b is None:
        return True
    return a > b if PRIMARY[task][1] else a < b


def ranking(task: Task, score: float | None) -> tuple[bool, float]:
    """A sort key putting better scores for the task's primary metric first (None last)."""
    if score is None:
        return True, 0.0
    return False, -score if PRIMARY[task][1] else score


def full_proba(pipe: Pipeline, X: pd.DataFrame, n_classes: int) -> npt.NDArray[np.float64]:
    """predict_proba with a column for every class, also when a fold lacked some class."""
    proba = pipe.predict_proba(X)
    if proba.shape[1] == n_classes:
        return np.asarray(proba)
    full = np.zeros((proba.shape[0], n_classes))
    full[:, np.asarray(pipe.classes_, dtype=np.int64)] = proba
    return full

"""Leak check: a column that alone predicts the hold-out almost perfectly.

Found on real data: row-number columns in files ordered by the target scored 1.000 on
the hold-out where the honest score was 0.755. Row numbers are ignored by schema
inference now; this check names whatever else gives the answer away (an ID assigned in
target order, a column derived from the target). It warns, it does not refuse: a column
may legitimately be that good, and only the user knows whether it exists at prediction
time.
"""

from __future__ import annotations

import os
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from sklearn.metrics import balanced_accuracy_score, r2_score
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from tabforge.data.schema import Schema

THRESHOLD = 0.99
MAX_ROWS = 20_000  # rows of the training split each one-column model sees (seeded sample)
MAX_DEPTH = 12


@dataclass(frozen=True)
class Leak:
    column: str
    metric: str
    score: float

    def as_dict(self) -> dict[str, Any]:
        return {"column": self.column, "metric": self.metric, "score": round(self.score, 4)}

    def message(self) -> str:
        return (
            f"possible leak: column {self.column!r} alone predicts the hold-out "
            f"({self.metric} {self.score:.3f}); if it is not known when predicting, "
            f"--drop it"
        )


def _column(frame: pd.DataFrame, name: str, codes: dict[str, int] | None) -> npt.NDArray[Any]:
    values = frame[name] if codes is None else frame[name].map(codes).fillna(-1)
    column: npt.NDArray[Any] = values.to_numpy(dtype=np.float64).reshape(-1, 1)
    return column


def find_leaks(
    schema: Schema,
    X_train: pd.DataFrame,
    y_train: npt.NDArray[Any],
    X_test: pd.DataFrame,
    y_test: npt.NDArray[Any],
    *,
    seed: int,
) -> list[Leak]:
    """Columns whose one-column tree scores >= THRESHOLD on the hold-out."""
    if schema.task == "clustering" or len(y_test) < 2:
        return []
    rows = np.arange(len(X_train))
    if len(rows) > MAX_ROWS:
        rows = np.sort(np.random.default_rng(seed).choice(rows, MAX_ROWS, replace=False))
    fit_frame, fit_y = X_train.iloc[rows], y_train[rows]

    def check(name: str) -> tuple[float, str]:
        codes = None
        if name in schema.categorical:
            codes = {v: i for i, v in enumerate(pd.unique(fit_frame[name]))}
        x_fit, x_test = _column(fit_frame, name, codes), _column(X_test, name, codes)
        return _score(schema, x_fit, fit_y, x_test, y_test, seed=seed)

    # One seeded tree per column, each independent of the others: scikit-learn grows a tree
    # without the GIL, so threads run them on every core, with the same scores as in turn.
    with warnings.catch_warnings(), ThreadPoolExecutor(os.cpu_count() or 1) as pool:
        # Classes absent from a small hold-out, constant targets: not the user's news.
        warnings.simplefilter("ignore")
        scores = list(pool.map(check, schema.features))
    return [
        Leak(name, metric, float(score))
        for name, (score, metric) in zip(schema.features, scores, strict=True)
        if np.isfinite(score) and score >= THRESHOLD
    ]


def _score(
    schema: Schema,
    x_fit: npt.NDArray[Any],
    y_fit: npt.NDArray[Any],
    x_test: npt.NDArray[Any],
    y_test: npt.NDArray[Any],
    *,
    seed: int,
) -> tuple[float, str]:
    if schema.task == "classification":
        tree: Any = DecisionTreeClassifier(max_depth=MAX_DEPTH, random_state=seed)
        pred = tree.fit(x_fit, y_fit).predict(x_test)
        return float(balanced_accuracy_score(y_test, pred)), "balanced accuracy"
    tree = DecisionTreeRegressor(max_depth=MAX_DEPTH, random_state=seed)
    return float(r2_score(y_test, tree.fit(x_fit, y_fit).predict(x_test))), "R²"

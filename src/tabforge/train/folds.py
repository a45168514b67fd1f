"""Fitting and scoring one pipeline, and cross-validation folds as independent tasks.

A fold is a pure function of picklable values (the catalog name, the parameters, the row
indices, the training frame), so the same function runs the folds one after another here or,
with a joblib backend such as Dask's (``train --dask``), on a cluster: same inputs, same
seeded estimator, same scores. The training frame and target go as their own arguments so
joblib's Dask backend scatters them to the workers once per call instead of once per fold.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import lightgbm
import numpy.typing as npt
import pandas as pd
import xgboost
from sklearn.exceptions import ConvergenceWarning
from sklearn.pipeline import Pipeline

from tabforge.contract.manifest import Task
from tabforge.data.schema import Schema
from tabforge.errors import TrainingError
from tabforge.progress import Advance
from tabforge.train import metrics
from tabforge.train.catalog import CatalogEntry, lookup
from tabforge.train.preprocess import as_float64, build_pipeline, float64_numeric


@contextmanager
def fitting(entry: CatalogEntry) -> Iterator[list[str]]:
    """Turn estimator failures into one clear error; a convergence warning into a note
    (appended to the yielded list once the fit is done)."""
    notes: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            yield notes
        except (
            ValueError,
            TypeError,
            xgboost.core.XGBoostError,
            lightgbm.basic.LightGBMError,
        ) as exc:
            message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise TrainingError(f"{entry.name} failed to fit: {message}") from exc
    if any(issubclass(w.category, ConvergenceWarning) for w in caught):
        notes.append(f"{entry.name} did not fully converge (raise max_iter with --param)")


@dataclass(frozen=True)
class Fitter:
    """What building, fitting and scoring a pipeline needs besides the rows: small and
    picklable, so a cluster's worker gets it with each fold."""

    schema: Schema
    task: Task
    seed: int
    categories: list[list[str]] | None
    n_classes: int | None

    def pipeline(self, entry: CatalogEntry, params: Mapping[str, Any]) -> Pipeline:
        est = entry.build(self.task, seed=self.seed, params=params)
        return build_pipeline(self.schema, est, scale=entry.scale, categories=self.categories)

    def fit(
        self,
        entry: CatalogEntry,
        params: Mapping[str, Any],
        X: pd.DataFrame,
        y: npt.NDArray[Any] | None,
    ) -> tuple[Pipeline, list[str]]:
        """The fitted pipeline and its notes (a convergence warning)."""
        pipe = self.pipeline(entry, params)
        X = self.features(pipe, X)
        with fitting(entry) as notes:
            pipe.fit(X) if y is None else pipe.fit(X, y)
        return pipe, notes

    def features(self, pipe: Pipeline, X: pd.DataFrame) -> pd.DataFrame:
        """X as the pipeline's estimator takes it (float64 numbers for linear regressors)."""
        if float64_numeric(pipe[-1], self.task):
            return as_float64(X, self.schema)
        return X

    def score(self, pipe: Pipeline, X: pd.DataFrame, y: npt.NDArray[Any] | None) -> metrics.Metrics:
        X = self.features(pipe, X)
        if self.task == "classification":
            assert y is not None
            assert self.n_classes is not None
            proba = metrics.full_proba(pipe, X, self.n_classes)
            return metrics.classification(y, metrics.labels_from_proba(proba), proba)
        if self.task == "regression":
            assert y is not None  # set by prepare()
            return metrics.regression(y, pipe.predict(X))
        features = pipe[:-1].transform(X)
        return metrics.clustering(features, pipe.predict(X), pipe[-1], seed=self.seed)


@dataclass(frozen=True)
class Fold:
    """One fit on ``fit_rows`` of the training rows, scored on ``val_rows``."""

    model: str  # catalog name: the entry is looked up where the fold runs
    params: Mapping[str, Any]
    fit_rows: npt.NDArray[Any]
    val_rows: npt.NDArray[Any]


@dataclass
class FoldResult:
    scores: metrics.Metrics
    seconds: float
    notes: list[str] = field(default_factory=list)


def run_fold(fitter: Fitter, fold: Fold, X: pd.DataFrame, y: npt.NDArray[Any] | None) -> FoldResult:
    t0 = time.monotonic()
    entry = lookup(fold.model, fitter.task)
    y_fit = None if y is None else y[fold.fit_rows]
    pipe, notes = fitter.fit(entry, fold.params, X.iloc[fold.fit_rows], y_fit)
    y_val = None if y is None else y[fold.val_rows]
    scores = fitter.score(pipe, X.iloc[fold.val_rows], y_val)
    return FoldResult(scores, time.monotonic() - t0, notes)


def run_folds(
    fitter: Fitter,
    folds: Sequence[Fold],
    X: pd.DataFrame,
    y: npt.NDArray[Any] | None,
    *,
    backend: str | None,
    advance: Advance | None = None,
) -> list[FoldResult]:
    """Every fold's result, in order: here one by one (``backend`` None), or all at once
    through joblib on ``backend`` ("dask": the current distributed Client's cluster)."""
    if backend is None:
        results = []
        for fold in folds:
            results.append(run_fold(fitter, fold, X, y))
            if advance:
                advance()
        return results
    from joblib import parallel_config
    from sklearn.utils.parallel import Parallel, delayed

    with parallel_config(backend=backend):
        tasks = (delayed(run_fold)(fitter, fold, X, y) for fold in folds)
        results = []
        for result in Parallel(n_jobs=-1, return_as="generator")(tasks):
            results.append(result)
            if advance:
                advance()
    return results

"""Split, choose (auto / search), cross-validate and fit the pipeline; score the hold-out."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import polars as pl
from sklearn.model_selection import KFold, StratifiedKFold, train_test_split
from sklearn.pipeline import Pipeline

from tabforge.contract import encode_strict
from tabforge.contract.manifest import Task
from tabforge.data.schema import MAX_CATEGORIES, Schema
from tabforge.errors import ConfigError, SchemaError
from tabforge.progress import Advance, Reporter, SilentReporter
from tabforge.train import auto, memory, metrics
from tabforge.train.catalog import CatalogEntry, lookup, sample_space
from tabforge.train.folds import Fitter, Fold, FoldResult, run_folds
from tabforge.train.leak import Leak, find_leaks
from tabforge.train.preprocess import schema_inputs, tensors_to_frame, top_categories

AUTO_FOLDS = auto.AUTO_FOLDS


@dataclass(frozen=True)
class TrainOptions:
    """Everything that decides the model; recorded whole in the manifest."""

    target: str | None = None
    model: str = "auto"
    task: Task | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    search: int = 0
    cv: int = 0
    test_size: float = 0.2
    seed: int = 0
    tolerance: float = 1e-4
    categorical: tuple[str, ...] = ()
    numeric: tuple[str, ...] = ()
    drop: tuple[str, ...] = ()
    time_budget: float = 120.0
    max_categories: int = MAX_CATEGORIES
    memory_limit: int | None = None  # bytes; None: a share of this machine's memory


@dataclass
class Prepared:
    """The rows used, their split, and the encoded target."""

    schema: Schema
    frame: pl.DataFrame
    train_idx: npt.NDArray[np.int64]
    test_idx: npt.NDArray[np.int64]
    y: npt.NDArray[Any] | None  # class indices (classification) or float64 values
    classes: list[Any] | None


@dataclass
class FitResult:
    pipeline: Pipeline
    entry: CatalogEntry
    params: dict[str, Any]
    holdout: metrics.Metrics
    cv: dict[str, dict[str, float | None]] | None = None
    leaderboard: list[dict[str, Any]] | None = None
    search: list[dict[str, Any]] | None = None
    leaks: list[Leak] = field(default_factory=list)


def prepare(df: pl.DataFrame, schema: Schema, *, test_size: float, seed: int) -> Prepared:
    if not 0.0 < test_size < 1.0:
        raise ConfigError(f"--test-size must be between 0 and 1, got {test_size}")
    frame = df if schema.target is None else df.filter(pl.col(schema.target).is_not_null())
    y: npt.NDArray[Any] | None = None
    classes: list[Any] | None = None
    stratify = None
    if schema.target is not None:
        target = frame.get_column(schema.target)
        if schema.task == "classification":
            if target.dtype == pl.Boolean:
                target = target.cast(pl.String)
            elif target.dtype.is_float():
                target = target.cast(pl.Int64)
            elif not target.dtype.is_integer():
                target = target.cast(pl.String)
            classes = sorted(target.unique().to_list())
            codes = target.replace_strict(classes, range(len(classes)), return_dtype=pl.Int64)
            y = codes.to_numpy()
            counts = np.bincount(y)
            if counts.min() < 2:
                rare = classes[int(counts.argmin())]
                why = (
                    f"the task was inferred as classification: {schema.task_reason}"
                    if schema.task_reason
                    else "classification needs at least two rows per class"
                )
                raise SchemaError(
                    f"class {rare!r} of target {schema.target!r} has only one row; {why}"
                )
            stratify = y
        else:
            y = target.cast(pl.Float64).to_numpy()
    n = frame.height
    if n < 5:
        raise SchemaError(f"only {n} usable rows; need at least 5")
    idx = np.arange(n, dtype=np.int64)
    try:
        train_idx, test_idx = train_test_split(
            idx, test_size=test_size, random_state=seed, stratify=stratify
        )
    except ValueError as exc:
        raise SchemaError(f"cannot split {n} rows for a hold-out: {exc}") from exc
    return Prepared(schema, frame, np.sort(train_idx), np.sort(test_idx), y, classes)


class Trainer:
    """One training run over prepared data."""

    def __init__(
        self,
        data: Prepared,
        options: TrainOptions,
        reporter: Reporter | None = None,
        *,
        started: float | None = None,
        backend: str | None = None,
    ):
        self.data = data
        # joblib backend the folds of --cv, --search and auto run on; None: here, in turn.
        self.backend = backend
        self.options = options
        self.reporter = reporter or SilentReporter()
        # The auto budget counts from here: the start of the run (reading included) if given.
        self.started = time.monotonic() if started is None else started
        self.task: Task = data.schema.task
        # The contract's encoder, the one every runtime feeds the graph with.
        inputs = schema_inputs(data.schema)
        train = encode_strict(data.frame[data.train_idx], inputs)
        self.X_train = tensors_to_frame(train, data.schema)
        self.y_train = None if data.y is None else data.y[data.train_idx]
        test = encode_strict(data.frame[data.test_idx], inputs)
        self.X_test = tensors_to_frame(test, data.schema)
        self.y_test = None if data.y is None else data.y[data.test_idx]
        self.categories, cut = top_categories(
            self.X_train, data.schema, max_categories=options.max_categories
        )
        for name, distinct in cut.items():
            self.reporter.note(
                f"column {name!r} has {distinct:,} categories; one-hot keeps the "
                f"{options.max_categories} most frequent, the rest encode like unseen values "
                "(--max-categories)"
            )
        kept = self.categories or [list(self.X_train[c].unique()) for c in data.schema.categorical]
        self.width = len(data.schema.numeric) + sum(len(k) for k in kept)
        limit = options.memory_limit
        self.memory_limit = memory.default_limit() if limit is None else limit
        n_classes = None if data.classes is None else len(data.classes)
        self.fitter = Fitter(data.schema, self.task, options.seed, self.categories, n_classes)

    def memory_check(self, entry: CatalogEntry, params: Mapping[str, Any]) -> None:
        outputs = len(self.data.classes or [None])
        memory.check(
            entry.name, rows=len(self.X_train), width=self.width, outputs=outputs,
            params=params, limit=self.memory_limit,
        )  # fmt: skip

    def memory_fits(self, entry: CatalogEntry) -> bool:
        outputs = len(self.data.classes or [None])
        return memory.fits(
            entry.name, rows=len(self.X_train), width=self.width, outputs=outputs,
            limit=self.memory_limit,
        )  # fmt: skip

    # -- building blocks ---------------------------------------------------------------

    def fit(
        self,
        entry: CatalogEntry,
        params: Mapping[str, Any],
        rows: npt.NDArray[np.intp] | None = None,
    ) -> Pipeline:
        X = self.X_train if rows is None else self.X_train.iloc[rows]
        y = self.y_train if rows is None or self.y_train is None else self.y_train[rows]
        pipe, notes = self.fitter.fit(entry, params, X, y)
        for note in notes:
            self.reporter.note(note)
        return pipe

    def score(self, pipe: Pipeline, X: pd.DataFrame, y: npt.NDArray[Any] | None) -> metrics.Metrics:
        return self.fitter.score(pipe, X, y)

    def folds(self, k: int) -> list[tuple[npt.NDArray[Any], npt.NDArray[Any]]]:
        n = len(self.X_train)
        if k < 2:
            raise ConfigError(f"--cv must be at least 2, got {k}")
        if k > n:
            raise ConfigError(f"--cv {k} is more folds than the {n} training rows")
        if self.task == "classification" and self.y_train is not None:
            smallest = int(np.bincount(self.y_train).min())
            if smallest >= k:
                splitter = StratifiedKFold(k, shuffle=True, random_state=self.options.seed)
                return list(splitter.split(np.zeros(n), self.y_train))
        return list(KFold(k, shuffle=True, random_state=self.options.seed).split(np.zeros(n)))

    def run_folds(self, folds: list[Fold], advance: Advance | None = None) -> list[FoldResult]:
        """Each fold's scores, in order, on this Trainer's backend; their notes reported once."""
        results = run_folds(
            self.fitter, folds, self.X_train, self.y_train, backend=self.backend, advance=advance
        )
        for note in dict.fromkeys(n for r in results for n in r.notes):
            self.reporter.note(note)
        return results

    def cross_validate(
        self, entry: CatalogEntry, params: Mapping[str, Any], k: int, advance: Advance | None = None
    ) -> list[metrics.Metrics]:
        folds = [Fold(entry.name, params, f, v) for f, v in self.folds(k)]
        return [r.scores for r in self.run_folds(folds, advance)]

    def primary(self, scores: list[metrics.Metrics]) -> float | None:
        name = metrics.PRIMARY[self.task][0]
        values = [v for s in scores if (v := s.get(name)) is not None]
        return float(np.mean(values)) if values else None

    # -- the run -----------------------------------------------------------------------

    def run(self) -> FitResult:
        opts = self.options
        params = dict(opts.params)
        leaderboard = None
        if opts.model == "auto":
            entry, leaderboard = auto.choose(self)
        else:
            entry = lookup(opts.model, self.task)
            entry.build(self.task, seed=opts.seed, params=params)  # validate before work
            self.memory_check(entry, params)
        search = None
        if opts.search:
            params, search = self.search(entry, params, opts.search)
        cv = None
        if opts.cv:
            with self.reporter.step(f"Cross-validating {entry.name}", total=opts.cv) as advance:
                cv = _summarise(self.cross_validate(entry, params, opts.cv, advance))
        with self.reporter.step(f"Fitting {entry.name}"):
            pipe = self.fit(entry, params)
        holdout = self.score(pipe, self.X_test, self.y_test)
        leaks = self.leaks()
        return FitResult(pipe, entry, params, holdout, cv, leaderboard, search, leaks)

    def leaks(self) -> list[Leak]:
        if self.y_train is None or self.y_test is None:
            return []
        with self.reporter.step("Checking single columns for target leaks"):
            found = find_leaks(
                self.data.schema, self.X_train, self.y_train, self.X_test, self.y_test,
                seed=self.options.seed,
            )  # fmt: skip
        for leak in found:
            self.reporter.note(leak.message())
        return found

    def search(
        self, entry: CatalogEntry, fixed: dict[str, Any], n: int
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        if n < 1:
            raise ConfigError(f"--search must be at least 1, got {n}")
        free = CatalogEntry(
            entry.name,
            entry.builders,
            entry.scale,
            {k: v for k, v in entry.space.items() if k not in fixed},
            entry.param_prefix,
        )
        candidates = [fixed | c for c in sample_space(free, n, seed=self.options.seed)]
        # Every candidate's folds in one call, so a cluster runs them all at once.
        splits = self.folds(AUTO_FOLDS)
        folds = [Fold(entry.name, cand, f, v) for cand in candidates for f, v in splits]
        total = len(folds)
        with self.reporter.step(f"Searching {entry.name}", total=total) as advance:
            done = self.run_folds(folds, advance)
        results: list[dict[str, Any]] = []
        best: dict[str, Any] | None = None
        for i, cand in enumerate(candidates):
            chunk = done[i * len(splits) : (i + 1) * len(splits)]
            score = self.primary([r.scores for r in chunk])
            results.append({"params": dict(cand), "score": score})  # JSON-ready in the manifest
            if best is None or metrics.is_better(self.task, score, best["score"]):
                best = {"params": cand, "score": score}
        assert best is not None  # candidates is never empty
        return dict(best["params"]), results


def _summarise(scores: list[metrics.Metrics]) -> dict[str, dict[str, float | None]]:
    out: dict[str, dict[str, float | None]] = {}
    for name in scores[0]:
        values = [v for s in scores if (v := s[name]) is not None]
        out[name] = {
            "mean": float(np.mean(values)) if values else None,
            "std": float(np.std(values)) if values else None,
        }
    return out

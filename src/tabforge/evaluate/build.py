"""An evaluation from rows with known answers, every number through the ONNX graph.

Two callers: training, on the hold-out right after parity (``evaluate_model``), and
``tabforge report REF --data FILE`` on a stored version and a labelled file
(``evaluate_frame``). Both reach ``build_evaluation``, which takes a ``run`` function
rather than a session so tests can hand it any graph.
"""

from __future__ import annotations

from typing import Any

import msgspec
import numpy as np
import numpy.typing as npt
import polars as pl

from tabforge.contract import Inputs, Manifest, Task, Tensors, encode_strict
from tabforge.contract.evaluation import Evaluation, Importance
from tabforge.errors import DataError
from tabforge.evaluate import metrics, sections
from tabforge.evaluate.curves import Ints
from tabforge.evaluate.importance import (
    Run,
    Score,
    columns,
    permutation_importance,
    rows_to_use,
)
from tabforge.evaluate.portability import portability, session_runner

MAX_ROWS = 200_000  # rows evaluated at most (a seeded sample beyond)
IMPORTANCE_METRIC: dict[Task, str] = {
    "classification": "balanced_accuracy",
    "regression": "rmse",
    "clustering": "cluster_agreement",  # share of rows keeping their cluster
}


def evaluate_frame(
    model: bytes, manifest: Manifest, frame: pl.DataFrame, *, source: str, seed: int = 0
) -> Evaluation:
    """A stored version's evaluation on a labelled frame (its target column as trained,
    mapped to the manifest's classes for classification). DataError when the frame
    lacks the target or holds a class the model does not know."""
    frame, target = targets(frame, manifest)
    return evaluate_model(
        model, frame, target, task=manifest.task, inputs=manifest.inputs,
        classes=manifest.outputs.classes, source=source, seed=seed,
    )  # fmt: skip


def evaluate_model(
    model: bytes,
    frame: pl.DataFrame,
    target: npt.NDArray[Any] | None,
    *,
    task: Task,
    inputs: Inputs,
    classes: list[Any] | None,
    source: str,
    seed: int = 0,
) -> Evaluation:
    """The evaluation of ONNX bytes on rows and their answers (class indices or values;
    None for clustering), portability included."""
    if frame.height == 0:
        raise DataError(f"{source}: no rows to evaluate on")
    if frame.height > MAX_ROWS:
        pick = np.sort(np.random.default_rng(seed).choice(frame.height, MAX_ROWS, replace=False))
        frame, target = frame[pick], None if target is None else target[pick]
    run = session_runner(model)
    feed = encode_strict(frame, inputs)
    evaluation = build_evaluation(
        feed, target, task=task, inputs=inputs, classes=classes, run=run, source=source, seed=seed
    )
    return msgspec.structs.replace(evaluation, portability=portability(model, feed, run))


def build_evaluation(
    feed: Tensors,
    target: npt.NDArray[Any] | None,
    *,
    task: Task,
    inputs: Inputs,
    classes: list[Any] | None,
    run: Run,
    source: str,
    seed: int = 0,
) -> Evaluation:
    """Metrics, the task's figures and permutation importance from ``run(feed)``."""
    outputs = run(feed)
    n = len(next(iter(feed.values())))
    common: dict[str, Any] = {"task": task, "source": source, "rows": n}
    if task == "classification":
        truth = _required(target, task).astype(np.int64)
        names = [str(c) for c in classes or []]
        predicted = metrics.class_indices(outputs["label"], classes or [])
        proba = np.asarray(outputs["probabilities"], dtype=np.float64)
        common["metrics"] = metrics.classification(truth, predicted, proba)
        common["classification"] = sections.classification(truth, predicted, proba, names)
    elif task == "regression":
        values = _required(target, task).astype(np.float64)
        answered = np.asarray(outputs["prediction"], dtype=np.float64).reshape(-1)
        common["metrics"] = metrics.regression(values, answered)
        common["regression"] = sections.regression(values, answered)
    else:
        labels = np.asarray(outputs["label"], dtype=np.int64).reshape(-1)
        common["metrics"] = metrics.clustering(labels)
        common["clustering"] = sections.clustering(feed, labels, inputs)
    return Evaluation(
        **common,
        importance_metric=IMPORTANCE_METRIC[task],
        importance=importance(
            feed, target, run, task=task, inputs=inputs, classes=classes, seed=seed
        ),
    )


def importance(
    feed: Tensors,
    target: npt.NDArray[Any] | None,
    run: Run,
    *,
    task: Task,
    inputs: Inputs,
    classes: list[Any] | None,
    seed: int,
) -> list[Importance]:
    """Permutation importance of every original column on a seeded sample of the rows."""
    cols = columns(inputs)
    n = len(next(iter(feed.values())))
    take = rows_to_use(n, len(cols))
    pick = np.arange(n)
    if take < n:
        pick = np.sort(np.random.default_rng(seed).choice(n, take, replace=False))
    rows = {name: tensor[pick] for name, tensor in feed.items()}
    score = scorer(task, None if target is None else target[pick], classes, run, rows)
    higher = task != "regression"
    return permutation_importance(rows, run, score, cols, higher_is_better=higher, seed=seed)


def scorer(
    task: Task, truth: npt.NDArray[Any] | None, classes: list[Any] | None, run: Run, rows: Tensors
) -> Score:
    """The importance metric of outputs for ``rows``: balanced accuracy, rmse, or for
    clustering the share of rows that keep the cluster the unshuffled rows got."""
    if task == "classification":
        known = _required(truth, task).astype(np.int64)
        k = len(classes or [])

        def balanced(outputs: Tensors) -> float:
            predicted = metrics.class_indices(outputs["label"], classes or [])
            return metrics.balanced_accuracy(known, predicted, k) or 0.0

        return balanced
    if task == "regression":
        values = _required(truth, task).astype(np.float64)

        def rmse(outputs: Tensors) -> float:
            predicted = np.asarray(outputs["prediction"], dtype=np.float64).reshape(-1)
            return float(np.sqrt(np.mean((predicted - values) ** 2)))

        return rmse
    base = np.asarray(run(rows)["label"]).reshape(-1)

    def agreement(outputs: Tensors) -> float:
        return float(np.mean(np.asarray(outputs["label"]).reshape(-1) == base))

    return agreement


def _required(target: npt.NDArray[Any] | None, task: Task) -> npt.NDArray[Any]:
    if target is None:
        raise DataError(f"{task} needs the target's values to be evaluated")
    return target


def targets(
    frame: pl.DataFrame, manifest: Manifest
) -> tuple[pl.DataFrame, npt.NDArray[Any] | None]:
    """The rows with a target and its values as training saw them: class indices into the
    manifest's classes, or float64 values; (all rows, None) for clustering."""
    name = manifest.data.target
    if manifest.task == "clustering" or name is None:
        return frame, None
    if name not in frame.columns:
        raise DataError(f"the rows have no target column {name!r}: a labelled file is needed")
    frame = frame.filter(pl.col(name).is_not_null())
    column = frame.get_column(name)
    if manifest.task == "regression":
        values = column.cast(pl.Float64, strict=False)
        if values.null_count():
            bad = column.filter(values.is_null()).head(1).to_list()
            raise DataError(f"target {name!r} holds {bad[0]!r}, not a number")
        return frame, values.to_numpy()
    return frame, target_classes(column, manifest.outputs.classes or [])


def target_classes(column: pl.Series, classes: list[Any]) -> Ints:
    """A target column as class indices, read the way training read it (whole numbers for
    integer classes, text otherwise); DataError names values the model has no class for."""
    integers = bool(classes) and all(type(c) is int for c in classes)
    text = column.cast(pl.Int64, strict=False) if integers else column.cast(pl.String)
    index = text.replace_strict(
        classes, list(range(len(classes))), default=None, return_dtype=pl.Int64
    )
    if index.null_count():
        unknown = column.filter(index.is_null()).unique(maintain_order=True).head(3).to_list()
        raise DataError(
            f"target {column.name!r} holds {', '.join(map(repr, unknown))}, which the model "
            f"has no class for (classes: {', '.join(map(str, classes[:10]))})"
        )
    return index.to_numpy().astype(np.int64)

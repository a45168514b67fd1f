"""What a version's evaluation stores (``evaluation.json`` beside the manifest): aggregates
for the report's figures, computed through the ONNX model on the hold-out, never raw rows.

Every figure of ``tabforge report`` and of a version's page on the server's dashboard is
drawn from this one shape, whether it was written at training time or recomputed on a
labelled file (``tabforge report REF --data FILE``). Curves are thinned to at most
``MAX_POINTS`` points; the predicted-vs-actual plot is a 2-D histogram, not a scatter, so
no row can be read back from the file. Computing it lives in ``tabforge.evaluate``; this
module only owns the stored shape.
"""

from __future__ import annotations

from typing import Literal

import msgspec

from tabforge.contract.manifest import Task

EVALUATION_FILE = "evaluation.json"
EVALUATION_VERSION = 1
MAX_POINTS = 200  # per curve


class Curve(msgspec.Struct, frozen=True, kw_only=True):
    """ROC (x = false positive rate, y = true positive rate) or precision-recall (x =
    recall, y = precision), ``thresholds[i]`` the score giving point i (a row counts as
    positive when its score >= the threshold; the end where nothing is positive has
    ``max(score) + 1``). Empty lists when the curve is undefined (a class absent or alone)."""

    x: list[float]
    y: list[float]
    thresholds: list[float]


class ClassCurves(msgspec.Struct, frozen=True, kw_only=True):
    """One class against the rest (binary: the positive class only)."""

    label: str
    positives: int  # hold-out rows of this class
    roc: Curve
    pr: Curve
    roc_auc: float | None  # None when the class is absent (or alone) in the rows
    average_precision: float | None  # None when the class is absent from the rows


class CalibrationBin(msgspec.Struct, frozen=True, kw_only=True):
    """Rows whose score fell in (lower, upper] (the first bin also holds 0, as in
    scikit-learn's ``calibration_curve``): their mean score and how often they were right
    (binary: the positive class's probability; multiclass: the top probability and
    whether the predicted label was the true one)."""

    lower: float
    upper: float
    count: int
    mean_predicted: float | None
    fraction_positive: float | None


class ThresholdRow(msgspec.Struct, frozen=True, kw_only=True):
    """Binary classification at one cut-off of the positive class's probability."""

    threshold: float
    precision: float | None
    recall: float | None
    f1: float | None
    predicted_positive: int


class Classification(msgspec.Struct, frozen=True, kw_only=True):
    classes: list[str]  # as strings, in probability-column order
    confusion: list[list[int]]  # [true class][predicted class], rows
    curves: list[ClassCurves]
    calibration: list[CalibrationBin]
    calibration_of: Literal["positive class", "top class"]
    thresholds: list[ThresholdRow]  # binary only, else []


class Histogram(msgspec.Struct, frozen=True, kw_only=True):
    edges: list[float]  # len(counts) + 1
    counts: list[int]


class Histogram2D(msgspec.Struct, frozen=True, kw_only=True):
    x_edges: list[float]
    y_edges: list[float]
    counts: list[list[int]]  # [x bin][y bin]


class Regression(msgspec.Struct, frozen=True, kw_only=True):
    predicted_vs_actual: Histogram2D  # x = actual, y = predicted, same edges
    residuals: Histogram  # predicted - actual
    actual: Histogram
    predicted: Histogram


class ClusterProfile(msgspec.Struct, frozen=True, kw_only=True):
    """One cluster: its size and, per original column, the mean (numeric) or the most
    common value with its share (categorical)."""

    cluster: str
    rows: int
    means: dict[str, float | None]
    modes: dict[str, tuple[str, float]]


class Clustering(msgspec.Struct, frozen=True, kw_only=True):
    clusters: list[ClusterProfile]


class Importance(msgspec.Struct, frozen=True, kw_only=True):
    """How much the metric drops when one original column is shuffled, through the ONNX
    model (a categorical column is shuffled whole, never one of its one-hot parts)."""

    column: str
    mean: float  # drop of ``Evaluation.importance_metric`` (positive: the column matters)
    std: float
    repeats: int


class Portability(msgspec.Struct, frozen=True, kw_only=True):
    """Whether the stored model runs, and agrees with onnxruntime, under another runtime."""

    runtime: str  # "onnxruntime", "tract"
    version: str | None
    runs: bool
    agrees: bool | None  # None when it did not run
    max_abs_diff: float | None
    rows: int  # rows compared
    missing_operators: list[str] = msgspec.field(default_factory=list)
    error: str | None = None  # one line when it did not run


class Evaluation(msgspec.Struct, frozen=True, kw_only=True):
    evaluation_version: int = EVALUATION_VERSION
    task: Task
    source: str  # "holdout", or the labelled file it was computed on
    rows: int
    metrics: dict[str, float | None]  # on these rows, through the ONNX model
    importance_metric: str | None  # balanced_accuracy, rmse, cluster_agreement
    importance: list[Importance]
    classification: Classification | None = None
    regression: Regression | None = None
    clustering: Clustering | None = None
    portability: list[Portability] = msgspec.field(default_factory=list)


_decoder = msgspec.json.Decoder(Evaluation)


def evaluation_to_json(evaluation: Evaluation) -> bytes:
    return msgspec.json.format(msgspec.json.encode(evaluation), indent=1)


def evaluation_from_json(data: bytes) -> Evaluation:
    """Decode a stored evaluation; a malformed one raises ``msgspec.DecodeError``."""
    return _decoder.decode(data)

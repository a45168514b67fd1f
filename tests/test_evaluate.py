"""The evaluation's numbers: numpy-only curves, tables and metrics against scikit-learn's on
the same predictions; permutation importance through the ONNX graph on real data;
portability's verdicts for graphs tract can and cannot run.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper, numpy_helper
from sklearn import calibration, datasets
from sklearn import metrics as skm

from tabforge.contract import CATEGORICAL_INPUT, NUMERIC_INPUT, inputs
from tabforge.contract.evaluation import MAX_POINTS, evaluation_from_json
from tabforge.errors import DataError
from tabforge.evaluate import build_evaluation, curves, metrics, sections
from tabforge.evaluate.build import target_classes
from tabforge.evaluate.portability import (
    compare,
    missing_operators,
    one_line,
    portability,
    session_runner,
    tract_portability,
)
from tests.helpers import Cli

Floats = npt.NDArray[np.float64]


def scores_with_ties(n: int, seed: int) -> tuple[npt.NDArray[np.bool_], Floats]:
    """Labels that the scores predict only in part, scores on a coarse grid so many tie."""
    rng = np.random.default_rng(seed)
    y = rng.random(n) < 0.4
    score = np.clip(np.round(0.3 * y + rng.random(n) * 0.7, 2), 0, 1)
    return y, score


# -- curves -----------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_roc_and_its_area_are_scikit_learns(seed: int) -> None:
    y, score = scores_with_ties(500, seed)
    fpr, tpr, thresholds = curves.roc(curves.counts(y, score)) or pytest.fail("no curve")
    want_fpr, want_tpr, want_thresholds = skm.roc_curve(y, score)
    np.testing.assert_allclose(fpr, want_fpr)
    np.testing.assert_allclose(tpr, want_tpr)
    np.testing.assert_allclose(thresholds[1:], want_thresholds[1:])  # [0] is inf in both
    assert curves.area(fpr, tpr) == pytest.approx(skm.roc_auc_score(y, score), abs=1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_precision_recall_and_average_precision_are_scikit_learns(seed: int) -> None:
    y, score = scores_with_ties(500, seed)
    precision, recall, thresholds = curves.precision_recall(curves.counts(y, score)) or (
        pytest.fail("no curve")
    )
    want_precision, want_recall, want_thresholds = skm.precision_recall_curve(y, score)
    np.testing.assert_allclose(precision, want_precision)
    np.testing.assert_allclose(recall, want_recall)
    np.testing.assert_allclose(thresholds[:-1], want_thresholds)  # [-1]: the (0, 1) end
    assert curves.average_precision(precision, recall) == pytest.approx(
        skm.average_precision_score(y, score), abs=1e-12
    )


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.booleans(), st.integers(0, 20)), min_size=2, max_size=60).filter(
        lambda rows: len({r[0] for r in rows}) == 2
    )
)
def test_curves_agree_with_scikit_learn_on_any_rows(rows: list[tuple[bool, int]]) -> None:
    y = np.array([r[0] for r in rows])
    score = np.array([r[1] / 20 for r in rows])
    counted = curves.counts(y, score)
    fpr, tpr, _ = curves.roc(counted) or pytest.fail("both classes are there")
    assert curves.area(fpr, tpr) == pytest.approx(skm.roc_auc_score(y, score), abs=1e-12)
    precision, recall, _ = curves.precision_recall(counted) or pytest.fail("positives exist")
    assert curves.average_precision(precision, recall) == pytest.approx(
        skm.average_precision_score(y, score), abs=1e-12
    )


def test_constant_scores_give_the_diagonal() -> None:
    y = np.array([True, False, True, False, False])
    score = np.full(5, 0.5)
    stored = sections.class_curves("yes", y, score)
    assert stored.roc.x == [0.0, 1.0]
    assert stored.roc.y == [0.0, 1.0]
    assert stored.roc_auc == 0.5 == skm.roc_auc_score(y, score)
    assert stored.average_precision == pytest.approx(skm.average_precision_score(y, score))


def test_a_class_absent_or_alone_has_no_curve_and_no_area() -> None:
    score = np.linspace(0, 1, 6)
    absent = sections.class_curves("x", np.zeros(6, dtype=bool), score)
    assert absent.roc.x == []
    assert absent.pr.x == []
    assert absent.roc_auc is None
    assert absent.average_precision is None
    assert absent.positives == 0
    alone = sections.class_curves("x", np.ones(6, dtype=bool), score)
    assert alone.roc.x == []
    assert alone.roc_auc is None
    assert alone.average_precision == 1.0 == skm.average_precision_score(np.ones(6), score)


def test_long_curves_are_thinned_to_max_points_keeping_both_ends() -> None:
    rng = np.random.default_rng(3)
    y = rng.random(20_000) < 0.5
    score = rng.random(20_000) * 0.5 + 0.5 * y * rng.random(20_000)
    stored = sections.class_curves("1", y, score)
    assert len(stored.roc.x) == MAX_POINTS == len(stored.roc.thresholds)
    assert len(stored.pr.x) == MAX_POINTS
    assert (stored.roc.x[0], stored.roc.y[0]) == (0.0, 0.0)
    assert (stored.roc.x[-1], stored.roc.y[-1]) == (1.0, 1.0)
    assert (stored.pr.x[-1], stored.pr.y[-1]) == (0.0, 1.0)
    assert stored.roc.thresholds[0] == pytest.approx(score.max() + 1)  # no row reaches it
    assert stored.roc_auc == pytest.approx(skm.roc_auc_score(y, score), abs=1e-12)  # full curve


def test_calibration_is_scikit_learns_and_keeps_empty_bins() -> None:
    y, score = scores_with_ties(400, 4)
    score[:10] = [0.0, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9, 1.0, 0.1, 0.6]  # on the edges
    score[score > 0.8] = 0.85  # leaves the top bin empty
    stored = curves.calibration(y, score)
    assert len(stored) == 10
    assert sum(b.count for b in stored) == 400
    assert [b.mean_predicted for b in stored if not b.count] == [None]
    prob_true, prob_pred = calibration.calibration_curve(y, score, n_bins=10)
    shown = [b for b in stored if b.count]
    fractions = np.array([b.fraction_positive for b in shown], dtype=np.float64)
    means = np.array([b.mean_predicted for b in shown], dtype=np.float64)
    np.testing.assert_allclose(fractions, prob_true, atol=1e-6)
    np.testing.assert_allclose(means, prob_pred, atol=1e-6)


def test_threshold_table_is_precision_recall_f1_per_cutoff() -> None:
    y, score = scores_with_ties(300, 5)
    table = curves.threshold_table(y, score)
    assert [row.threshold for row in table] == pytest.approx(np.arange(1, 20) * 0.05)
    for row in table:
        called = score >= row.threshold
        assert row.predicted_positive == called.sum()
        if called.any():
            assert row.precision == pytest.approx(skm.precision_score(y, called))
            assert row.f1 == pytest.approx(skm.f1_score(y, called))
        else:
            assert row.precision is None
            assert row.f1 is None
        assert row.recall == pytest.approx(skm.recall_score(y, called))


def test_confusion_is_scikit_learns_with_an_absent_class() -> None:
    rng = np.random.default_rng(6)
    truth, predicted = rng.integers(0, 3, 200), rng.integers(0, 4, 200)  # class 3 never true
    np.testing.assert_array_equal(
        curves.confusion(truth, predicted, 4),
        skm.confusion_matrix(truth, predicted, labels=[0, 1, 2, 3]),
    )


# -- metrics ----------------------------------------------------------------------------


def probabilities(n: int, classes: int, seed: int) -> tuple[Any, Any, Floats]:
    """Truth, the top label and probabilities that are right more often than chance."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, classes, n)
    logits = rng.normal(size=(n, classes)) + 1.5 * np.eye(classes)[truth]
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return truth, proba.argmax(axis=1), proba


def sklearn_classification(truth: Any, predicted: Any, proba: Floats) -> dict[str, Any]:
    labels = list(range(proba.shape[1]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # an absent class: scikit-learn warns, we say None
        auc = None
        if len(np.unique(truth)) == len(labels):
            auc = (
                skm.roc_auc_score(truth, proba[:, 1])
                if len(labels) == 2
                else skm.roc_auc_score(truth, proba, multi_class="ovr", labels=labels)
            )
        return {
            "accuracy": skm.accuracy_score(truth, predicted),
            "balanced_accuracy": skm.balanced_accuracy_score(truth, predicted),
            "f1_macro": skm.f1_score(
                truth, predicted, average="macro", labels=labels, zero_division=0
            ),
            "roc_auc": auc,
            "log_loss": skm.log_loss(truth, proba, labels=labels),
        }


@pytest.mark.parametrize(("classes", "seed"), [(2, 0), (2, 1), (3, 2), (7, 3)])
def test_classification_metrics_are_scikit_learns(classes: int, seed: int) -> None:
    truth, predicted, proba = probabilities(400, classes, seed)
    got = metrics.classification(truth, predicted, proba)
    assert got == pytest.approx(sklearn_classification(truth, predicted, proba), abs=1e-12)


def test_classification_metrics_with_a_class_absent_from_the_rows() -> None:
    truth, predicted, proba = probabilities(300, 4, 7)
    keep = truth != 2
    truth, predicted, proba = truth[keep], predicted[keep], proba[keep]
    got = metrics.classification(truth, predicted, proba)
    assert got["roc_auc"] is None
    assert got == pytest.approx(sklearn_classification(truth, predicted, proba), abs=1e-12)


def test_classification_metrics_when_all_rows_are_one_class() -> None:
    truth = np.zeros(50, dtype=np.int64)
    _, predicted, proba = probabilities(50, 2, 8)
    got = metrics.classification(truth, predicted, proba)
    assert got["roc_auc"] is None
    assert got == pytest.approx(sklearn_classification(truth, predicted, proba), abs=1e-12)


@pytest.mark.parametrize("constant", [False, True])
def test_regression_metrics_are_scikit_learns(constant: bool) -> None:
    rng = np.random.default_rng(9)
    truth = np.full(100, 3.0) if constant else rng.normal(size=100) * 10
    predicted = truth + rng.normal(size=100)
    got = metrics.regression(truth, predicted)
    assert got["rmse"] == pytest.approx(np.sqrt(skm.mean_squared_error(truth, predicted)))
    assert got["mae"] == pytest.approx(skm.mean_absolute_error(truth, predicted))
    assert got["r2"] == pytest.approx(skm.r2_score(truth, predicted))


def test_regression_histograms_share_edges_and_count_every_row() -> None:
    rng = np.random.default_rng(10)
    truth = rng.normal(size=500) * 50 + 100
    predicted = truth + rng.normal(size=500) * 10
    stored = sections.regression(truth, predicted)
    grid = stored.predicted_vs_actual
    assert grid.x_edges == grid.y_edges == stored.actual.edges == stored.predicted.edges
    assert len(grid.x_edges) == 31
    assert sum(map(sum, grid.counts)) == 500
    assert sum(stored.residuals.counts) == 500 == sum(stored.actual.counts)
    want, _ = np.histogram(predicted - truth, bins=30)
    assert stored.residuals.counts == want.tolist()


def test_cluster_profiles_are_group_means_and_modes_and_hide_tiny_clusters() -> None:
    rng = np.random.default_rng(11)
    labels = np.r_[np.zeros(40), np.ones(30), np.full(2, 2)].astype(np.int64)
    x = rng.normal(size=(72, 2)).astype(np.float32)
    x[0, 0] = np.nan  # a missing value does not count in the mean
    colour = np.where(rng.random(72) < 0.7, "red", "blue").astype(object)
    feed = {NUMERIC_INPUT: x, CATEGORICAL_INPUT: colour[:, None]}
    stored = sections.clustering(feed, labels, inputs(["a", "b"], ["colour"]))
    first, _, tiny = stored.clusters
    assert first.means["a"] == pytest.approx(float(np.nanmean(x[:40, 0])), rel=1e-6)
    top, share = first.modes["colour"]
    assert top == max(("red", "blue"), key=lambda c: (colour[:40] == c).sum())
    assert share == pytest.approx((colour[:40] == top).mean())
    assert (tiny.rows, tiny.means, tiny.modes) == (2, {}, {})


def test_class_targets_read_as_trained_and_unknown_classes_are_named() -> None:
    assert target_classes(pl.Series("y", [1.0, 0.0, 1.0]), [0, 1]).tolist() == [1, 0, 1]
    assert target_classes(pl.Series("y", [True, False]), ["false", "true"]).tolist() == [1, 0]
    with pytest.raises(DataError, match="'maybe', which the model has no class for"):
        target_classes(pl.Series("y", ["yes", "maybe"]), ["no", "yes"])


# -- through ONNX -----------------------------------------------------------------------


def linear_graph(weights: list[float]) -> bytes:
    """A regression graph tract can run: prediction = numeric @ weights."""
    w = numpy_helper.from_array(np.array(weights, dtype=np.float32)[:, None], "w")
    graph = helper.make_graph(
        [
            helper.make_node("MatMul", ["numeric", "w"], ["column"]),
            helper.make_node("Squeeze", ["column", "axis"], ["prediction"]),
        ],
        "linear",
        [helper.make_tensor_value_info("numeric", TensorProto.FLOAT, [None, len(weights)])],
        [helper.make_tensor_value_info("prediction", TensorProto.FLOAT, [None])],
        [w, numpy_helper.from_array(np.array([1], dtype=np.int64), "axis")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    return bytes(model.SerializeToString())


def test_importance_ranks_the_columns_a_graph_uses_and_a_shuffle_changes_nothing_else() -> None:
    rng = np.random.default_rng(12)
    x = rng.normal(size=(800, 3)).astype(np.float32)
    model = linear_graph([3.0, 0.5, 0.0])  # column c is ignored by the graph
    truth = x.astype(np.float64) @ np.array([3.0, 0.5, 0.0])
    evaluation = build_evaluation(
        {NUMERIC_INPUT: x}, truth, task="regression", inputs=inputs(["a", "b", "c"], []),
        classes=None, run=session_runner(model), source="test",
    )  # fmt: skip
    ranked = [imp.column for imp in evaluation.importance]
    assert ranked == ["a", "b", "c"]
    assert evaluation.importance[-1].mean == 0.0 == evaluation.importance[-1].std
    assert evaluation.metrics["rmse"] == pytest.approx(0.0, abs=1e-5)
    # Shuffling a column raises rmse from 0 to about |w| * sqrt(2) * std(column).
    assert evaluation.importance[0].mean == pytest.approx(3.0 * np.sqrt(2), rel=0.1)


def test_portability_runs_a_numeric_graph_under_tract_and_agrees() -> None:
    model = linear_graph([1.0, -2.0])
    feed = {NUMERIC_INPUT: np.random.default_rng(13).normal(size=(50, 2)).astype(np.float32)}
    ort_answer, tract_answer = portability(model, feed, session_runner(model))
    assert (ort_answer.runtime, ort_answer.runs, ort_answer.agrees) == ("onnxruntime", True, True)
    assert (tract_answer.runtime, tract_answer.runs, tract_answer.agrees) == ("tract", True, True)
    assert tract_answer.rows == 50
    assert tract_answer.max_abs_diff is not None
    assert tract_answer.max_abs_diff < 1e-5
    assert tract_answer.version


def test_portability_reports_what_tract_cannot_do_in_one_line() -> None:
    broken = tract_portability(b"not a model", {NUMERIC_INPUT: np.zeros((1, 1), np.float32)}, {})
    assert broken.runs is False
    assert broken.agrees is None
    assert broken.error
    assert "\n" not in broken.error
    assert "backtrace" not in broken.error.lower()
    assert missing_operators('node #1 "Imputer" Unimplemented(Imputer) ToTypedTranslator') == [
        "Imputer"
    ]
    chain = RuntimeError(
        "Failed analyse\n\nCaused by:\n    0: Infering facts\n\nStack backtrace:\n 0: x"
    )
    assert one_line(chain) == "Failed analyse; Infering facts"


# -- on real data, through the CLI ------------------------------------------------------


@pytest.fixture(scope="module")
def cancer_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """breast_cancer with a pure-noise column and a categorical column built from a strong
    one (so importance must move it whole, never its one-hot parts)."""
    frame = datasets.load_breast_cancer(as_frame=True).frame
    rng = np.random.default_rng(0)
    table = pl.from_pandas(frame).rename(lambda c: c.replace(" ", "_"))
    area = table.get_column("worst_area").to_numpy()
    band = np.digitize(area, np.quantile(area, [0.25, 0.5, 0.75]))
    table = table.with_columns(
        noise=pl.Series(rng.normal(size=table.height)),
        size_band=pl.Series(np.array(["s", "m", "l", "xl"])[band]),
        target=pl.col("target").replace_strict({0: "malignant", 1: "benign"}),
    )
    path = tmp_path_factory.mktemp("cancer") / "cancer.csv"
    table.write_csv(path)
    return path


def test_importance_through_the_cli_names_each_column_once_and_noise_low(
    cli: Cli, cancer_csv: Path, tmp_path: Path
) -> None:
    run = cli("train", str(cancer_csv), "--target", "target", "--model", "logistic", "-q")
    assert run.exit_code == 0, run.stderr
    stored = tmp_path / "models" / "cancer" / "1" / "evaluation.json"
    evaluation = evaluation_from_json(stored.read_bytes())
    manifest = json.loads((stored.parent / "manifest.json").read_text())
    columns = manifest["inputs"]["numeric"] + manifest["inputs"]["categorical"]
    assert "size_band" in manifest["inputs"]["categorical"]
    named = [imp.column for imp in evaluation.importance]
    assert sorted(named) == sorted(columns)
    assert len(set(named)) == len(named)
    assert evaluation.importance_metric == "balanced_accuracy"
    rank = {imp.column: i for i, imp in enumerate(evaluation.importance)}
    by_mean = {imp.column: imp.mean for imp in evaluation.importance}
    assert by_mean["noise"] <= 0.01
    assert rank["noise"] > min(rank[c] for c in ("worst_area", "worst_radius", "worst_perimeter"))


def test_tract_answers_are_held_to_the_parity_bound() -> None:
    want = {"prediction": np.array([1.0, np.nan, 1000.0], dtype=np.float32)}
    close = {"prediction": np.array([1.00005, np.nan, 1000.05])}
    worst, agrees = compare(want, close)
    assert worst == pytest.approx(0.05, rel=1e-3)
    assert agrees is True
    far = {"prediction": np.array([1.0002, np.nan, 1000.0])}
    assert compare(want, far)[1] is False
    assert compare({"label": np.array(["a", "b"], dtype=object)}, {}) == (None, None)

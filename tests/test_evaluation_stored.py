"""``evaluation.json`` beside every new version, trained through the CLI on real files:
binary (the churn example), multiclass (iris), regression (diabetes), clustering (iris
without its species); aggregates only; read back by the registry; portability's answers.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from click.testing import CliRunner
from sklearn import datasets

from tabforge.cli import main
from tabforge.contract.evaluation import EVALUATION_FILE, Evaluation, evaluation_from_json
from tabforge.data.example import write_example
from tabforge.errors import DataError, RegistryError
from tabforge.evaluate import evaluate_frame
from tabforge.registry.store import FilesystemRegistry
from tests.helpers import Cli, stored

# name -> (file, extra train arguments)
MODELS = {
    "churn": ("churn.csv", ["--target", "churn", "--model", "lightgbm", "-p", "n_estimators=30"]),
    "iris": ("iris.csv", ["--target", "species", "--model", "logistic"]),
    "diabetes": ("diabetes.csv", ["--target", "progression", "--model", "ridge"]),
    "clusters": ("iris.csv", ["--drop", "species", "--model", "kmeans", "--name", "clusters"]),
}


def write_data(folder: Path) -> None:
    write_example(folder / "churn.csv")
    iris = datasets.load_iris(as_frame=True)
    frame = pl.from_pandas(iris.data).rename(lambda c: c.replace(" (cm)", "").replace(" ", "_"))
    species = np.asarray(iris.target_names)[iris.target.to_numpy()]
    frame.with_columns(species=pl.Series(species)).write_csv(folder / "iris.csv")
    diabetes = datasets.load_diabetes(as_frame=True, scaled=False).frame
    pl.from_pandas(diabetes).rename({"target": "progression"}).write_csv(folder / "diabetes.csv")


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One registry holding churn:1, iris:1, diabetes:1 and clusters:1."""
    folder = tmp_path_factory.mktemp("evaluated")
    write_data(folder)
    root = folder / "models"
    for file, args in MODELS.values():
        argv = ["train", str(folder / file), *args, "--registry", str(root), "-q"]
        result = CliRunner().invoke(main, argv, catch_exceptions=False)
        assert result.exit_code == 0, result.stderr
    return root


def evaluation(root: Path, name: str) -> Evaluation:
    return evaluation_from_json((stored(root, f"{name}:1") / EVALUATION_FILE).read_bytes())


def manifest(root: Path, name: str) -> dict[str, Any]:
    found: dict[str, Any] = json.loads((stored(root, f"{name}:1") / "manifest.json").read_text())
    return found


@pytest.mark.parametrize("name", list(MODELS))
def test_every_new_version_stores_its_evaluation_beside_the_manifest(
    trained: Path, name: str
) -> None:
    files = sorted(p.name for p in stored(trained, f"{name}:1").iterdir())
    assert files == ["evaluation.json", "manifest.json", "model.onnx"]
    found, m = evaluation(trained, name), manifest(trained, name)
    assert (found.task, found.source, found.rows) == (m["task"], "holdout", m["data"]["test_rows"])
    for metric, value in m["metrics"]["holdout"].items():
        if metric in found.metrics and value is not None:  # through ONNX: float32 rounding
            assert found.metrics[metric] == pytest.approx(value, rel=1e-3, abs=1e-4), metric
    assert [imp.column for imp in found.importance] != []
    assert sorted(imp.column for imp in found.importance) == sorted(
        m["inputs"]["numeric"] + m["inputs"]["categorical"]
    )


def test_binary_classification_shows_the_positive_class(trained: Path) -> None:
    found = evaluation(trained, "churn")
    figures = found.classification
    assert figures is not None
    assert figures.classes == ["no", "yes"]
    assert [c.label for c in figures.curves] == ["yes"]
    assert figures.calibration_of == "positive class"
    assert len(figures.thresholds) == 19
    assert sum(map(sum, figures.confusion)) == found.rows
    assert figures.curves[0].roc_auc == pytest.approx(found.metrics["roc_auc"])
    assert sum(b.count for b in figures.calibration) == found.rows


def test_multiclass_shows_every_class_against_the_rest(trained: Path) -> None:
    figures = evaluation(trained, "iris").classification
    assert figures is not None
    assert [c.label for c in figures.curves] == ["setosa", "versicolor", "virginica"]
    assert figures.calibration_of == "top class"
    assert figures.thresholds == []
    assert [sum(row) for row in figures.confusion] == [c.positives for c in figures.curves]


def test_regression_and_clustering_figures_count_every_hold_out_row(trained: Path) -> None:
    reg = evaluation(trained, "diabetes")
    assert reg.regression is not None
    assert reg.importance_metric == "rmse"
    assert sum(map(sum, reg.regression.predicted_vs_actual.counts)) == reg.rows
    assert sum(reg.regression.residuals.counts) == reg.rows
    clusters = evaluation(trained, "clusters")
    assert clusters.clustering is not None
    assert clusters.importance_metric == "cluster_agreement"
    assert sum(c.rows for c in clusters.clustering.clusters) == clusters.rows
    shown = [c for c in clusters.clustering.clusters if c.means]
    assert shown
    assert set(shown[0].means) == set(manifest(trained, "clusters")["inputs"]["numeric"])


def numbers(doc: Any) -> set[float]:
    if isinstance(doc, dict):
        return set().union(*map(numbers, doc.values())) if doc else set()
    if isinstance(doc, list):
        return set().union(*map(numbers, doc)) if doc else set()
    return {round(float(doc), 4)} if isinstance(doc, (int, float)) else set()


@pytest.mark.parametrize(("name", "file"), [(n, f) for n, (f, _) in MODELS.items()])
def test_no_row_of_the_data_can_be_read_back(trained: Path, name: str, file: str) -> None:
    """No row's numeric values all stand in the file (three or more per row)."""
    text = (stored(trained, f"{name}:1") / EVALUATION_FILE).read_text()
    held = numbers(json.loads(text))
    frame = pl.read_csv(trained.parent / file).select(pl.selectors.numeric())
    rows = np.round(frame.to_numpy().astype(np.float64), 4)
    found = [row for row in rows if all(v in held for v in row)]
    assert frame.width >= 3
    assert found == []


def test_portability_names_onnxruntime_and_tracts_answer(trained: Path) -> None:
    for name in MODELS:
        ort_answer, tract_answer = evaluation(trained, name).portability
        assert (ort_answer.runtime, ort_answer.runs, ort_answer.agrees) == (
            "onnxruntime",
            True,
            True,
        )
        assert tract_answer.runtime == "tract"
        assert tract_answer.version
        if tract_answer.runs:
            assert tract_answer.agrees is not None
        else:
            assert tract_answer.error
            assert "\n" not in tract_answer.error
    churn = evaluation(trained, "churn").portability[1]  # strings in, so never runs
    assert churn.runs is False
    assert churn.agrees is None


def test_the_registry_reads_the_evaluation_or_says_there_is_none(
    trained: Path, tmp_path: Path
) -> None:
    root = tmp_path / "models"
    shutil.copytree(trained, root)
    store = FilesystemRegistry(root)
    assert store.evaluation("iris") == evaluation(trained, "iris")
    (stored(root, "iris:1") / EVALUATION_FILE).unlink()  # as stored before evaluations
    assert store.evaluation("iris:1") is None
    (stored(root, "churn:1") / EVALUATION_FILE).write_text('{"task": "classification"')
    with pytest.raises(RegistryError, match=r"churn/1/evaluation\.json is unreadable"):
        store.evaluation("churn")


def test_extra_files_are_written_with_the_version_and_named_plainly(tmp_path: Path) -> None:
    store = FilesystemRegistry(tmp_path)
    version = store.put("m", b"model", lambda v: b"{}", extras={"evaluation.json": b"[]"})
    assert (tmp_path / "m" / str(version) / "evaluation.json").read_bytes() == b"[]"
    for bad in ("manifest.json", "../x", ".hidden", "a/b"):
        with pytest.raises(RegistryError, match="cannot hold an extra file"):
            store.put("m", b"model", lambda v: b"{}", extras={bad: b""})
    assert store.versions("m") == [1]


def test_a_labelled_file_is_evaluated_against_a_stored_version(trained: Path) -> None:
    _, model, m = FilesystemRegistry(trained).load("iris:1")
    frame = pl.read_csv(trained.parent / "iris.csv")
    found = evaluate_frame(model, m, frame, source="iris.csv")
    assert (found.source, found.rows) == ("iris.csv", 150)
    assert found.metrics["accuracy"] is not None
    assert found.metrics["accuracy"] > 0.9
    with pytest.raises(DataError, match="no target column 'species'"):
        evaluate_frame(model, m, frame.drop("species"), source="iris.csv")


def test_a_failed_evaluation_never_costs_the_training(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_example(tmp_path / "churn.csv", rows=300)
    train = ("train", str(tmp_path / "churn.csv"), "--target", "churn", "--model", "logistic")

    def refuse(*args: Any, **kwargs: Any) -> Evaluation:
        raise DataError("no rows to evaluate on")

    monkeypatch.setattr("tabforge.flow.evaluate_model", refuse)
    run = cli(*train, "-q")
    assert run.exit_code == 0, run.stderr
    assert not (stored(tmp_path / "models", "churn:1") / EVALUATION_FILE).exists()
    notes = manifest(tmp_path / "models", "churn")["data"]["notes"]
    assert "no evaluation stored: no rows to evaluate on" in notes

    def defect(*args: Any, **kwargs: Any) -> Evaluation:
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr("tabforge.flow.evaluate_model", defect)
    with pytest.warns(RuntimeWarning, match="evaluation failed"):  # seen by the suite
        assert cli(*train, "-q").exit_code == 0
    assert not (stored(tmp_path / "models", "churn:2") / EVALUATION_FILE).exists()

"""``tabforge report``: pages for each task on real data, comparisons, --data, old versions.

Trained once per module on datasets that ship with scikit-learn (breast cancer, iris,
diabetes) and the demo churn file; a copy of iris has column names built to break HTML.
The page is checked through the CLI as a user runs it; the browser test checks it draws.
"""

from __future__ import annotations

import json
import re
import shutil
from html import escape
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from click.testing import CliRunner

from tabforge.cli import main
from tabforge.contract.evaluation import EVALUATION_FILE
from tabforge.data.example import write_example
from tests.helpers import Run, stored

MAX_BYTES = 2 * 1024 * 1024
EVIL = '</script><script>alert("x")</script>'
QUOTED = "petal \"width\" <cm> & 'more'"


def invoke(*args: str) -> Run:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return Run(result.exit_code, result.stdout, result.stderr)


def sklearn_frame(loader: Any, target: str, **kwargs: Any) -> pl.DataFrame:
    bunch = loader(as_frame=True, **kwargs)
    frame = bunch.frame.rename(columns={"target": target})
    if hasattr(bunch, "target_names") and len(bunch.target_names):
        frame[target] = [str(bunch.target_names[t]) for t in bunch.target]
    return pl.from_pandas(frame)


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris

    d = tmp_path_factory.mktemp("report-data")
    out = {name: d / f"{name}.csv" for name in ("cancer", "iris", "diabetes", "evil", "churn")}
    sklearn_frame(load_breast_cancer, "diagnosis").write_csv(out["cancer"])
    iris = sklearn_frame(load_iris, "species")
    iris.write_csv(out["iris"])
    evil = iris.rename({"sepal length (cm)": EVIL, "petal width (cm)": QUOTED})
    evil.with_columns(pl.col("species").replace({"setosa": "<b>setosa</b>"})).write_csv(out["evil"])
    sklearn_frame(load_diabetes, "progression", scaled=False).write_csv(out["diabetes"])
    write_example(out["churn"])
    return out


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory, files: dict[str, Path]) -> Path:
    """cancer:1 (lightgbm, 3-fold CV), cancer:2 (logistic), diabetes:1, iris:1 (clustering),
    evil:1 (iris with hostile column and class names), churn:1 and churn:2 (a column less)."""
    root = tmp_path_factory.mktemp("report-registry") / "models"
    few = ["-m", "lightgbm", "-p", "n_estimators=20"]
    runs = [
        [str(files["cancer"]), "--target", "diagnosis", *few, "--cv", "3"],
        [str(files["cancer"]), "--target", "diagnosis", "-m", "logistic"],
        [str(files["diabetes"]), "--target", "progression", *few],
        [str(files["iris"]), "--drop", "species", "--task", "clustering", "-m", "kmeans"],
        [str(files["evil"]), "--target", "species", *few],
        [str(files["churn"]), "--target", "churn", *few],
        [str(files["churn"]), "--target", "churn", *few, "--drop", "region"],
    ]
    for argv in runs:
        result = invoke("train", *argv, "--registry", str(root), "-q")
        assert result.exit_code == 0, result.stderr
    return root


def report(registry: Path, *args: str) -> Run:
    return invoke("report", *args, "--registry", str(registry))


def page_data(html: str) -> dict[str, Any]:
    """The JSON blob a page carries (what --json prints)."""
    found = re.search(r'<script type="application/json" id="tf-data">(.*?)</script>', html, re.S)
    assert found is not None
    data: dict[str, Any] = json.loads(found.group(1))
    return data


@pytest.mark.parametrize(
    ("ref", "figures"),
    [
        ("cancer:1", ["v-roc", "v-pr", "v-confusion0", "v-calibration", "v-scores"]),
        ("diabetes:1", ["v-pva0", "v-residuals", "v-dist"]),
        ("iris:1", ["v-sizes0", "v-profile0"]),
        ("churn:1", ["v-roc", "v-confusion0", "v-calibration"]),
    ],
)
def test_a_version_gets_one_self_contained_page_with_its_tasks_figures(
    registry: Path, tmp_path: Path, ref: str, figures: list[str]
) -> None:
    out = tmp_path / "page.html"
    result = report(registry, ref, "-o", str(out))
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip().startswith(f"wrote {out} (")
    assert result.stdout.count("\n") == 1
    html = out.read_text()
    assert len(html.encode()) < MAX_BYTES
    for anchor in ("evaluation", "importance", "data", "verification"):
        assert f'id="{anchor}"' in html
    # Offline: no URL to fetch anything from, and the browser is told to fetch nothing.
    assert "default-src 'none'" in html
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)
    data = page_data(html)
    assert data["model"]["ref"] == ref
    assert set(figures) <= set(data["figures"])
    assert "v-importance" in data["figures"]
    assert data["missing"] == []
    assert {p["runtime"] for p in data["evaluation"]["portability"]} == {"onnxruntime", "tract"}
    for fig in figures:
        assert f'data-figure="{fig}"' in html


def test_metrics_show_the_cross_validation_spread(registry: Path) -> None:
    data = report(registry, "cancer:1", "--json").json()
    rows = {r["metric"]: r for r in data["metrics"]["rows"]}
    assert data["metrics"]["cv_folds"] == 3
    assert rows["roc_auc"]["cv_std"] > 0
    # The same metric recomputed through the ONNX model on the hold-out agrees with training's.
    assert rows["accuracy"]["onnx"] == pytest.approx(rows["accuracy"]["holdout"], abs=1e-6)


def test_the_default_file_is_named_after_the_version(
    registry: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert report(registry, "churn").exit_code == 0
    assert report(registry, "churn:1", "churn:2").exit_code == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["churn-1-vs-2.html", "churn-2.html"]


def test_hostile_column_and_class_names_are_shown_as_text(registry: Path, tmp_path: Path) -> None:
    out = tmp_path / "evil.html"
    assert report(registry, "evil:1", "-o", str(out)).exit_code == 0
    html = out.read_text()
    data = page_data(html)
    # The names as written in the file (a header's doubled quotes are CSV escapes).
    names = [r["column"] for r in data["profile"] if "<" in r["column"]]
    assert sorted(names) == sorted([EVIL, QUOTED])
    assert "<b>setosa</b>" in data["model"]["classes"]
    for name in [*names, "<b>setosa</b>"]:
        assert name not in html
        assert escape(name, quote=True) in html
    assert html.count("<script") == 3  # the data, the charts, the drawing: nothing injected


def test_json_prints_the_pages_data(registry: Path) -> None:
    result = report(registry, "diabetes:1", "--json")
    assert result.exit_code == 0
    data = result.json()
    assert data["report"] == "version"
    assert data["evaluation"]["regression"]["residuals"]["counts"]
    assert data["figures"]["v-residuals"]["chart"] == "histogram"
    assert [r["column"] for r in data["profile"]][-1] == "progression"


def test_two_versions_compare_on_one_page(registry: Path, tmp_path: Path) -> None:
    out = tmp_path / "compare.html"
    assert report(registry, "cancer:1", "cancer:2", "-o", str(out)).exit_code == 0
    html = out.read_text()
    assert len(html.encode()) < MAX_BYTES
    data = page_data(html)
    assert data["report"] == "comparison"
    assert (data["a"]["ref"], data["b"]["ref"]) == ("cancer:1", "cancer:2")
    roc = data["figures"]["c-roc0"]["spec"]["series"]
    assert [s["name"].split(" ")[0] for s in roc] == ["cancer:1", "cancer:2"]
    metrics = {m["metric"]: m for m in data["metrics"]}
    assert metrics["roc_auc"]["a"] != metrics["roc_auc"]["b"]
    assert data["schema"] == {"changes": [], "compatible": True, "problems": []}
    assert "Importance side by side" in html


def test_a_comparison_lists_what_changed_in_the_schema(registry: Path) -> None:
    data = report(registry, "churn:1", "churn:2", "--json").json()
    assert data["schema"]["compatible"] is False
    assert {"what": "removed", "column": "region", "a": "categorical", "b": "-"} in data["schema"][
        "changes"
    ]


def test_data_recomputes_metrics_and_figures_on_a_labelled_file_with_drift(
    registry: Path, files: dict[str, Path], tmp_path: Path
) -> None:
    out = tmp_path / "on-file.html"
    assert (
        report(registry, "cancer:1", "--data", str(files["cancer"]), "-o", str(out)).exit_code == 0
    )
    data = page_data(out.read_text())
    assert data["data_evaluation"]["rows"] == 569
    assert data["data_evaluation"]["source"].endswith("cancer.csv")
    rows = {r["metric"]: r for r in data["metrics"]["rows"]}
    assert rows["accuracy"]["data"] is not None
    # The hold-out and the file overlaid in the same axes.
    assert len(data["figures"]["v-roc0"]["spec"]["series"]) == 2
    assert data["drift"]["rows"] == 569
    assert {i["name"] for i in data["drift"]["items"]} >= {"mean radius", "label"}
    assert "v-drift" in data["figures"]


def test_a_version_without_an_evaluation_says_what_is_missing(
    registry: Path, tmp_path: Path
) -> None:
    old = tmp_path / "models"
    shutil.copytree(registry, old)
    (stored(old, "churn:1") / EVALUATION_FILE).unlink()
    out = tmp_path / "old.html"
    result = invoke("report", "churn:1", "--registry", str(old), "-o", str(out))
    assert result.exit_code == 0, result.stderr
    html = out.read_text()
    assert html.count('class="missing"') >= 3
    assert "not stored for this version (no evaluation.json" in html
    data = page_data(html)
    assert data["figures"] == {}
    assert data["evaluation"] is None
    assert any(m.startswith("Permutation importance") for m in data["missing"])
    assert data["metrics"]["rows"]
    assert data["parity"]["passed"] is True


def test_a_damaged_evaluation_costs_the_page_its_figures_not_the_page(
    registry: Path, tmp_path: Path
) -> None:
    damaged = tmp_path / "models"
    shutil.copytree(registry, damaged)
    (stored(damaged, "churn:1") / EVALUATION_FILE).write_text('{"task": "classif')  # cut short
    out = tmp_path / "damaged.html"
    result = invoke("report", "churn:1", "--registry", str(damaged), "-o", str(out))
    assert result.exit_code == 0, result.stderr
    assert result.stderr.startswith("warning: ")
    assert "evaluation.json is unreadable" in result.stderr
    html = out.read_text()
    assert html.count('class="missing"') >= 3
    assert "evaluation.json is unreadable" in html
    data = page_data(html)
    assert data["evaluation"] is None
    assert data["metrics"]["rows"]
    assert data["parity"]["passed"] is True
    compared = invoke("report", "churn:1", "churn:2", "--registry", str(damaged), "--json")
    assert compared.exit_code == 0, compared.stderr
    assert "evaluation.json is unreadable" in compared.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nosuch:1"], "unknown model 'nosuch'"),
        (["cancer:9"], "has no version 9"),
        (["cancer:1", "--data", "missing.csv"], "file not found"),
        (["cancer:1", "--data", "{iris}"], "no target column 'diagnosis'"),
        (["cancer:1", "-o", "{tmp}/no/such/dir/page.html"], "does not exist"),
        (["cancer:1", "-o", "{tmp}"], "is a directory"),
    ],
)
def test_bad_input_is_one_line_and_exit_2_with_nothing_written(
    registry: Path,
    files: dict[str, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    message: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    argv = [a.format(iris=files["iris"], tmp=tmp_path) for a in args]
    result = report(registry, *argv)
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1
    assert message in result.stderr
    assert list(tmp_path.iterdir()) == []

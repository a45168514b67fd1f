"""Monitoring: the reference a version stores, `tabforge drift`, `predict --monitor`.

mixed:1 (tests/conftest.py) is LightGBM on mixed.csv: numeric a, b, c, categorical color
and shape, classes high/low/mid. Fresh rows come from the same generator with other seeds.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

from tests.helpers import Cli, mixed_frame, stored

FEATURES = ["a", "b", "c", "color", "shape"]
OUTPUTS = ["label", "proba_high", "proba_low", "proba_mid"]
ITEM_KEYS = {
    "name", "kind", "psi", "js", "threshold", "alert", "reason", "missing_rate",
    "out_of_range_rate", "unseen_rate", "bins", "reference", "labels",
}  # fmt: skip


def drifted(frame: pl.DataFrame) -> pl.DataFrame:
    """a scaled x3, color "red" renamed "purple", shape missing in every other row."""
    return frame.with_columns(
        pl.col("a") * 3,
        pl.col("color").replace("red", "purple"),
        pl.when(pl.int_range(pl.len()) % 2 == 0)
        .then(None)
        .otherwise(pl.col("shape"))
        .alias("shape"),
    )


@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """2,000 new rows from the training data's generator, as CSV."""
    path = tmp_path_factory.mktemp("fresh") / "fresh.csv"
    mixed_frame(2000, seed=7).write_csv(path)
    return path


@pytest.fixture(scope="module")
def moved(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("moved") / "moved.csv"
    drifted(mixed_frame(2000, seed=7)).write_csv(path)
    return path


def drift(cli: Cli, registry: Path, *args: str) -> Any:
    run = cli("drift", *args, "--json", "--registry", str(registry))
    assert run.exit_code == 0, run.stderr
    return run.json()


def alerts(doc: dict[str, Any], group: str = "features") -> set[str]:
    return {item["name"] for item in doc[group] if item["alert"]}


def by_name(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {item["name"]: item for item in doc["features"] + doc["outputs"]}


def test_training_stores_a_reference_for_every_feature_and_output(trained_registry: Path) -> None:
    manifest = json.loads((stored(trained_registry, "mixed:1") / "manifest.json").read_text())
    reference = manifest["reference"]
    assert reference["source"] == "training"
    assert reference["rows"] == manifest["data"]["train_rows"]
    assert reference["threshold_rows"] == manifest["data"]["test_rows"]
    assert [c["name"] for c in reference["features"]] == FEATURES
    assert [c["name"] for c in reference["outputs"]] == OUTPUTS
    sizes = reference["window_rows"]
    for column in reference["features"] + reference["outputs"]:
        assert sum(column["counts"]) == reference["rows"], column["name"]
        assert len(column["psi"]) == len(column["js"]) == len(sizes)
        assert all(v > 0 for v in column["psi"] + column["js"]), column["name"]
    color = next(c for c in reference["features"] if c["name"] == "color")
    assert sorted(color["top"]) == ["blue", "green", "red"]
    a = next(c for c in reference["features"] if c["name"] == "a")
    assert 10 <= len(a["edges"]) <= 20  # ~20 quantile bins of a continuous column
    assert a["counts"][-1] > 0  # a has missing values in training


def test_rows_like_the_training_data_raise_no_alert(
    cli: Cli, registry: Path, data_dir: Path, fresh: Path
) -> None:
    for path in (fresh, data_dir / "mixed.csv"):
        doc = drift(cli, registry, "mixed:1", str(path))
        assert doc["alert"] is False, [
            (i["name"], i["psi"], i["threshold"])
            for i in doc["features"] + doc["outputs"]
            if i["alert"]
        ]
        assert doc["reason"] is None


def test_moved_columns_alert_and_only_they(cli: Cli, registry: Path, moved: Path) -> None:
    doc = drift(cli, registry, "mixed:1", str(moved))
    assert alerts(doc) == {"a", "color", "shape"}
    items = by_name(doc)
    assert items["a"]["out_of_range_rate"] > 0.2
    assert items["color"]["unseen_rate"] == pytest.approx(1 / 3, abs=0.05)
    assert items["shape"]["missing_rate"] > 0.45
    assert alerts(doc, "outputs")  # a and color drive the model: its answers move too
    table = cli("drift", "mixed:1", str(moved), "--registry", str(registry))
    assert table.exit_code == 0  # drift is found, not an error
    assert "drift: a, color, shape" in table.stdout
    assert table.stdout.count("ALERT") == len(alerts(doc)) + len(alerts(doc, "outputs"))


def test_json_shape(cli: Cli, registry: Path, fresh: Path) -> None:
    doc = drift(cli, registry, "mixed:1", str(fresh))
    assert (doc["model"], doc["version"], doc["rows"]) == ("mixed", 1, 2000)
    assert [i["name"] for i in doc["features"]] == FEATURES
    assert [i["name"] for i in doc["outputs"]] == OUTPUTS
    for item in doc["features"] + doc["outputs"]:
        assert set(item) == ITEM_KEYS
        assert len(item["bins"]) == len(item["reference"]) == len(item["labels"])
        assert sum(item["bins"]) == 2000
        assert sum(item["reference"]) == pytest.approx(1.0)
        assert 0 <= item["js"] <= 1
        assert item["psi"] >= 0
        assert set(item["threshold"]) == {"psi", "js"}
        numeric = item["kind"] == "numeric"
        assert (item["out_of_range_rate"] is None) != numeric
        assert (item["unseen_rate"] is None) == numeric
        assert item["labels"][-1] == "missing"
    assert by_name(doc)["color"]["labels"][-3:] == ["other", "unseen", "missing"]


def test_window_rows(cli: Cli, registry: Path, moved: Path) -> None:
    whole = drift(cli, registry, "mixed:1", str(moved))
    windows = drift(cli, registry, "mixed:1", str(moved), "--window-rows", "700")
    assert [(w["first_row"], w["rows"]) for w in windows] == [(1, 700), (701, 700), (1401, 600)]
    for name, item in by_name(whole).items():
        summed = np.sum([by_name(w)[name]["bins"] for w in windows], axis=0)
        assert summed.tolist() == item["bins"], name
    assert all(alerts(w) == {"a", "color", "shape"} for w in windows)

    small = drift(cli, registry, "mixed:1", str(moved), "--window-rows", "50")
    assert len(small) == 40
    assert all(w["reason"] == "too_few_rows" and not w["alert"] for w in small)
    assert all(
        i["reason"] == "too_few_rows" and i["threshold"] is None for i in small[0]["features"]
    )
    table = cli(
        "drift", "mixed:1", str(moved), "--window-rows", "1500", "--registry", str(registry)
    )
    assert "rows 1-1,500" in table.stdout
    assert "rows 1,501-2,000" in table.stdout


def test_predict_monitor_prints_what_drift_prints(
    cli: Cli, registry: Path, moved: Path, tmp_path: Path
) -> None:
    drift_run = cli("drift", "mixed:1", str(moved), "--registry", str(registry))
    predict = cli("predict", "mixed:1", str(moved), "-o", str(tmp_path / "out.csv"), "--monitor",
                  "--batch-rows", "300", "--registry", str(registry))  # fmt: skip
    assert predict.exit_code == 0, predict.stderr
    assert predict.stdout.startswith("scored 2,000 rows")
    assert predict.stdout.endswith(drift_run.stdout)
    assert "drift: a, color, shape" in predict.stdout
    quiet = cli("predict", "mixed:1", str(moved), "-o", str(tmp_path / "out.csv"), "--monitor",
                "-q", "--registry", str(registry))  # fmt: skip
    assert quiet.stdout == drift_run.stdout


def without_reference(registry: Path, *, profile: bool = True) -> None:
    """mixed:1's manifest as written before monitoring (only manifest.json is edited)."""
    path = stored(registry, "mixed:1") / "manifest.json"
    manifest = json.loads(path.read_text())
    del manifest["reference"]
    if not profile:
        manifest["data"]["profile"] = {}
    path.write_text(json.dumps(manifest, indent=2))


def test_an_older_manifest_gets_a_reference_from_its_profile(
    cli: Cli, registry: Path, fresh: Path, moved: Path
) -> None:
    without_reference(registry)
    doc = drift(cli, registry, "mixed:1", str(fresh))
    assert doc["reference"]["source"] == "profile"
    assert [i["name"] for i in doc["features"]] == FEATURES
    assert doc["outputs"] == []
    assert doc["alert"] is False
    c = by_name(doc)["c"]  # c takes 5 values: tied quantiles, one in-range bin
    assert len(c["bins"]) == 4
    assert alerts(drift(cli, registry, "mixed:1", str(moved))) == {"a", "color", "shape"}


def test_no_profile_means_no_reference(cli: Cli, registry: Path, fresh: Path) -> None:
    without_reference(registry, profile=False)
    run = cli("drift", "mixed:1", str(fresh), "--registry", str(registry))
    assert run.exit_code == 2
    assert run.stderr.count("\n") == 1
    assert "has no monitoring reference" in run.stderr


def test_bad_rows_fail_or_are_skipped_as_predict_does(
    cli: Cli, registry: Path, tmp_path: Path
) -> None:
    frame = mixed_frame(300, seed=3).with_columns(pl.col("b").cast(pl.String))
    bad = tmp_path / "bad.csv"
    frame.with_columns(pl.when(pl.int_range(pl.len()) == 5).then(pl.lit("oops"))
                       .otherwise(pl.col("b")).alias("b")).write_csv(bad)  # fmt: skip
    failed = cli("drift", "mixed:1", str(bad), "--registry", str(registry))
    assert failed.exit_code == 2
    assert failed.stderr == "error: bad.csv: row 6: column 'b' holds 'oops', not a number\n"
    skipped = cli("drift", "mixed:1", str(bad), "--on-error", "skip", "--json",
                  "--registry", str(registry))  # fmt: skip
    assert skipped.exit_code == 0
    assert skipped.json()["rows"] == 299
    assert skipped.stderr == "skipped 1 rows with bad values\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["mixed:1", "{tmp}/nope.csv"], "file not found"),
        (["nosuch", "{data}/mixed.csv"], "nosuch"),
        (["mixed:9", "{data}/mixed.csv"], "has no version 9"),
        (["mixed:1", "{data}/numeric.parquet"], "lacks required columns: 'color', 'shape'"),
        (["mixed:1", "{data}/mixed.csv", "--window-rows", "0"], "--window-rows must be at least 1"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    cli: Cli, registry: Path, data_dir: Path, tmp_path: Path, args: list[str], message: str
) -> None:
    argv = [a.format(tmp=tmp_path, data=data_dir) for a in args]
    run = cli("drift", *argv, "--registry", str(registry))
    assert run.exit_code == 2
    assert run.stderr.startswith("error: ")
    assert run.stderr.count("\n") == 1
    assert message in run.stderr


def sklearn_frame(name: str) -> pl.DataFrame:
    """A public dataset that ships inside scikit-learn (no download), as a polars frame."""
    from sklearn import datasets

    if name == "breast_cancer":
        bunch = datasets.load_breast_cancer(as_frame=True)
        frame = pl.from_pandas(bunch.frame)
        frame = frame.with_columns(pl.col("target").replace_strict({0: "malignant", 1: "benign"}))
    else:
        bunch = datasets.load_diabetes(as_frame=True, scaled=False)
        frame = pl.from_pandas(bunch.frame)
        frame = frame.with_columns(pl.col("sex").cast(pl.Int64).cast(pl.String))
    frame.columns = [c.replace(" ", "_") for c in frame.columns]
    return frame


@pytest.mark.parametrize(
    ("dataset", "moves"),
    [
        # a unit slip (area in hundreds), a feed that lost a third of one column
        ("breast_cancer", {"mean_area": pl.col("mean_area") / 100,
                           "worst_texture": pl.when(pl.int_range(pl.len()) % 3 == 0)
                           .then(None).otherwise(pl.col("worst_texture"))}),
        # heavier patients, one sex only, s5 missing in 40% of the rows
        ("diabetes", {"bmi": pl.col("bmi") * 1.2, "sex": pl.lit("2"),
                      "s5": pl.when(pl.int_range(pl.len()) % 5 < 2).then(None)
                      .otherwise(pl.col("s5"))}),
    ],
)  # fmt: skip
def test_real_datasets(cli: Cli, tmp_path: Path, dataset: str, moves: dict[str, pl.Expr]) -> None:
    frame = sklearn_frame(dataset)
    path, moved = tmp_path / f"{dataset}.csv", tmp_path / "moved.csv"
    frame.write_csv(path)
    frame.with_columns(**moves).write_csv(moved)
    trained = cli("train", str(path), "--target", "target", "--model", "lightgbm",
                  "-p", "n_estimators=20", "-q")  # fmt: skip
    assert trained.exit_code == 0, trained.stderr
    registry = tmp_path / "models"
    own = drift(cli, registry, dataset, str(path))
    assert own["alert"] is False
    assert alerts(drift(cli, registry, dataset, str(moved))) == set(moves)


def test_clustering_and_regression_outputs(cli: Cli, data_dir: Path, tmp_path: Path) -> None:
    registry = tmp_path / "models"
    source = str(data_dir / "numeric.parquet")
    for args in (["--model", "kmeans", "-p", "n_clusters=3"],
                 ["--target", "value", "--model", "lightgbm", "-p", "n_estimators=10"]):  # fmt: skip
        assert cli("train", source, *args, "-q").exit_code == 0
    clusters = drift(cli, registry, "numeric:1", source)
    assert [(i["name"], i["kind"]) for i in clusters["outputs"]] == [("label", "categorical")]
    assert sorted(clusters["outputs"][0]["labels"][:3]) == ["0", "1", "2"]  # by frequency
    assert not clusters["alert"]
    prediction = drift(cli, registry, "numeric:2", source)
    assert [(i["name"], i["kind"]) for i in prediction["outputs"]] == [("prediction", "numeric")]
    assert not prediction["alert"]

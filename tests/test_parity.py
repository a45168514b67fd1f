"""Every catalog entry, every task it supports: export, and ONNX equals native."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
import polars as pl
import pytest

from tabforge.train.catalog import ENTRIES
from tests.helpers import Cli, stored

# Few trees and iterations keep the suite fast; parity does not depend on size.
SMALL = {
    "random_forest": ["-p", "n_estimators=15"],
    "extra_trees": ["-p", "n_estimators=15"],
    "xgboost": ["-p", "n_estimators=15"],
    "lightgbm": ["-p", "n_estimators=15"],
    "hist_gradient_boosting": ["-p", "max_iter=15"],
    "mlp": ["-p", "max_iter=300"],
}

# (file, target, columns to drop) per task and data kind
DATASETS = {
    ("classification", "mixed"): ("mixed.csv", "label", "binary,value"),  # 3 string classes
    ("classification", "numeric"): ("numeric.parquet", "binary", "value"),
    ("regression", "mixed"): ("mixed.csv", "value", "label,binary"),
    ("regression", "numeric"): ("numeric.parquet", "value", "binary"),
    ("clustering", "mixed"): ("mixed.csv", None, "label,binary,value"),
    ("clustering", "numeric"): ("numeric.parquet", None, "binary,value"),
}

CASES = [
    pytest.param(entry.name, task, kind, id=f"{entry.name}-{task}-{kind}")
    for entry in ENTRIES
    for task in entry.tasks
    for kind in ("mixed", "numeric")
]


@pytest.mark.parametrize(("model", "task", "kind"), CASES)
def test_every_catalog_entry_exports_with_parity(
    cli: Cli, data_dir: Path, tmp_path: Path, model: str, task: str, kind: str
) -> None:
    file, target, drop = DATASETS[(task, kind)]
    args = ["train", str(data_dir / file), "--model", model, "--drop", drop, "--json"]
    if target:
        args += ["--target", target, "--task", task]
    run = cli(*args, *SMALL.get(model, []))
    assert run.exit_code == 0, run.stderr
    summary = run.json()
    parity = summary["parity"]
    assert parity["passed"]
    assert parity["adversarial_rows"] > 0
    assert parity["rows_checked"] == parity["holdout_rows"] + parity["adversarial_rows"]
    if task != "regression":
        assert parity["label_agreement"] == 1.0
    assert all(diff <= 1e-4 for diff in parity["max_abs_diff"].values())

    # The stored artifact stands alone: onnxruntime reads it with the manifest only.
    folder = stored(tmp_path / "models", summary["ref"])
    manifest = json.loads((folder / "manifest.json").read_text())
    session = ort.InferenceSession(str(folder / "model.onnx"), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == [
        t["name"] for t in manifest["inputs"]["tensors"]
    ]
    expected_outputs = {
        "classification": ["label", "probabilities"],
        "regression": ["prediction"],
        "clustering": ["label", "scores"],
    }[task]
    assert [o.name for o in session.get_outputs()] == expected_outputs

    df = pl.read_csv(data_dir / file) if file.endswith(".csv") else pl.read_parquet(data_dir / file)
    feed = {}
    if manifest["inputs"]["numeric"]:
        feed["numeric"] = df.select(manifest["inputs"]["numeric"]).cast(pl.Float32).to_numpy()
    if manifest["inputs"]["categorical"]:
        cats = df.select(pl.col(c).fill_null("") for c in manifest["inputs"]["categorical"])
        feed["categorical"] = cats.to_numpy().astype(object)
    outputs = dict(zip(expected_outputs, session.run(None, feed), strict=True))
    n = df.height
    if task == "classification":
        assert target is not None
        classes = manifest["outputs"]["classes"]
        assert classes == sorted(df[target].unique().to_list())
        assert set(outputs["label"].tolist()) <= set(classes)
        assert outputs["probabilities"].shape == (n, len(classes))
        np.testing.assert_allclose(outputs["probabilities"].sum(axis=1), 1.0, atol=1e-4)
    elif task == "regression":
        assert outputs["prediction"].shape == (n,)
        assert np.isfinite(outputs["prediction"]).all()
    else:
        assert outputs["label"].shape == (n,)
        assert outputs["scores"].shape[0] == n

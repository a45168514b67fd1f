"""Same data + same command = the same model.onnx bytes; the manifest records how."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from tests.helpers import Cli, stored


@pytest.mark.parametrize(
    "model_args",
    [
        ["--model", "lightgbm", "-p", "n_estimators=20"],
        ["--model", "hist_gradient_boosting", "-p", "max_iter=20"],
        ["--model", "mlp"],
    ],
    ids=["lightgbm", "hist_gradient_boosting", "mlp"],
)
def test_two_trainings_give_the_same_sha256(
    cli: Cli, data_dir: Path, tmp_path: Path, model_args: list[str]
) -> None:
    args = ["train", str(data_dir / "mixed.csv"), "--target", "label", "--drop", "value,binary"]
    first = cli(*args, *model_args, "--json")
    second = cli(*args, *model_args, "--json")
    assert first.exit_code == 0, first.stderr
    assert second.exit_code == 0, second.stderr
    a, b = first.json(), second.json()
    assert (a["version"], b["version"]) == (1, 2)
    assert a["model_sha256"] == b["model_sha256"]
    for summary in (a, b):
        folder = stored(tmp_path / "models", summary["ref"])
        data = (folder / "model.onnx").read_bytes()
        assert hashlib.sha256(data).hexdigest() == summary["model_sha256"]


def test_a_different_seed_gives_a_different_model(cli: Cli, data_dir: Path) -> None:
    args = ["train", str(data_dir / "mixed.csv"), "--target", "label", "--model", "random_forest"]
    args += ["-p", "n_estimators=10", "--json"]
    a = cli(*args, "--seed", "0").json()
    b = cli(*args, "--seed", "1").json()
    assert a["model_sha256"] != b["model_sha256"]


def test_manifest_records_what_rebuilds_the_model(cli: Cli, data_dir: Path, tmp_path: Path) -> None:
    run = cli(
        "train", str(data_dir / "mixed.csv"), "--target", "label", "--model", "xgboost",
        "-p", "n_estimators=10", "--seed", "3", "--drop", "value", "--drop", "binary", "--json",
    )  # fmt: skip
    assert run.exit_code == 0, run.stderr
    folder = stored(tmp_path / "models", run.json()["ref"])
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["manifest_version"] == 1
    assert manifest["seed"] == 3
    assert manifest["config"]["params"] == {"n_estimators": 10}
    assert manifest["config"]["model"] == "xgboost"
    assert manifest["estimator"]["params"]["n_estimators"] == 10
    assert {"scikit-learn", "xgboost-cpu", "onnxruntime", "skl2onnx"} <= set(manifest["versions"])
    assert len(manifest["data"]["fingerprint"]) == 64
    assert manifest["model_sha256"] == run.json()["model_sha256"]
    assert manifest["inputs"]["numeric"] == ["a", "b", "c"]
    assert manifest["inputs"]["categorical"] == ["color", "shape"]
    assert set(manifest["inputs"]["categories"]["color"]) == {"red", "green", "blue"}
    assert manifest["outputs"]["classes"] == ["high", "low", "mid"]
    assert manifest["data"]["ignored"] == {
        "value": "dropped (--drop)",
        "binary": "dropped (--drop)",
    }
    assert manifest["config"]["drop"] == ["value", "binary"]
    profile = manifest["data"]["profile"]
    assert profile["a"]["nulls"] > 0
    assert "0.5" in profile["a"]["quantiles"]
    assert profile["color"]["top"][0][1] > 0
    assert manifest["created_at"].endswith("Z")
    # The creation time lives in the manifest only, never in the model bytes.
    assert manifest["created_at"].encode() not in (folder / "model.onnx").read_bytes()

"""The CLI as a user meets it: auto, search, cv, summaries, notes, and the demo."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from tests.helpers import Cli, stored


def test_auto_prints_a_leaderboard_and_keeps_the_best(
    cli: Cli, data_dir: Path, tmp_path: Path
) -> None:
    run = cli(
        "train", str(data_dir / "mixed.csv"), "--target", "label", "--drop", "value,binary",
        "--time-budget", "300",
    )  # fmt: skip
    assert run.exit_code == 0, run.stderr
    assert "auto: balanced_accuracy" in run.stdout
    folder = stored(tmp_path / "models", "mixed:1")
    manifest = json.loads((folder / "manifest.json").read_text())
    board = manifest["metrics"]["leaderboard"]
    assert len(board) >= 2, run.stderr
    best = max(board, key=lambda r: r["score"])
    assert manifest["estimator"]["name"] == best["model"] == board[0]["model"]


def test_search_and_cv_are_seeded_and_recorded(cli: Cli, data_dir: Path, tmp_path: Path) -> None:
    args = [
        "train", str(data_dir / "numeric.parquet"), "--target", "value", "--drop", "binary",
        "--model", "lightgbm", "--search", "3", "--cv", "3", "-p", "n_estimators=10", "--json",
    ]  # fmt: skip
    first, second = cli(*args), cli(*args)
    assert first.exit_code == 0, first.stderr
    assert first.json()["model_sha256"] == second.json()["model_sha256"]
    manifest = json.loads((stored(tmp_path / "models", "numeric:1") / "manifest.json").read_text())
    search = manifest["metrics"]["search"]
    assert len(search) == 3
    assert all(c["params"]["n_estimators"] == 10 for c in search)  # a fixed --param wins
    assert manifest["metrics"]["cv_folds"] == 3
    assert set(manifest["metrics"]["cv"]["rmse"]) == {"mean", "std"}
    best = min(search, key=lambda c: c["score"])["params"]
    assert all(manifest["estimator"]["params"][k] == v for k, v in best.items())


def test_human_output_names_ignored_columns_and_parity(
    cli: Cli, data_dir: Path, tmp_path: Path
) -> None:
    df = (
        pl.read_csv(data_dir / "mixed.csv")
        .with_row_index("row_id")
        .with_columns(pl.format("r{}", pl.col("row_id")).alias("row_id"))
    )
    path = tmp_path / "With Id.csv"
    df.write_csv(path)
    run = cli("train", str(path), "--target", "binary", "--model", "logistic", "--drop", "label")
    assert run.exit_code == 0, run.stderr
    assert "note: ignoring column 'row_id': ID-like" in run.stderr
    assert "labels agree 100.00%" in run.stdout
    assert "with-id:1" in run.stdout  # the name comes from the file's stem
    for metric in ("accuracy", "balanced_accuracy", "f1_macro", "roc_auc", "log_loss"):
        assert metric in run.stdout


def test_quiet_prints_only_the_reference(cli: Cli, data_dir: Path) -> None:
    run = cli("train", str(data_dir / "mixed.csv"), "--target", "label", "--model", "knn", "-q")
    assert run.exit_code == 0
    assert run.stdout == "mixed:1\n"
    assert run.stderr == ""


def test_registry_from_environment(data_dir: Path, tmp_path: Path) -> None:
    env = dict(os.environ, TABFORGE_REGISTRY=str(tmp_path / "envreg"))
    done = subprocess.run(
        [sys.executable, "-m", "tabforge.cli", "train", str(data_dir / "mixed.csv"),
         "--target", "label", "--model", "logistic", "-q"],
        env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "envreg" / "mixed" / "1" / "model.onnx").exists()


def test_demo_in_a_real_process(tmp_path: Path) -> None:
    exe = Path(sys.executable).parent / "tabforge"
    done = subprocess.run(
        [str(exe), "demo", "--no-serve", "--registry", str(tmp_path / "models")],
        capture_output=True, text=True, timeout=600, check=False, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "labels agree 100.00%" in done.stdout
    assert "sample prediction" in done.stdout
    assert f"report   {tmp_path / 'churn-1.html'}" in done.stdout
    assert (tmp_path / "churn-1.html").read_text().startswith("<!doctype html>")
    assert "note: ignoring column 'customer_id'" in done.stderr
    folder = tmp_path / "models" / "churn" / "1"
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["outputs"]["classes"] == ["no", "yes"]
    assert manifest["metrics"]["holdout"]["roc_auc"] > 0.7
    assert sorted(p.name for p in folder.iterdir()) == [
        "evaluation.json",
        "manifest.json",
        "model.onnx",
    ]
    assert [
        p.name for p in (tmp_path / "models" / "churn").iterdir() if p.name.startswith(".tmp")
    ] == []


def test_integer_and_boolean_targets_keep_their_labels(
    cli: Cli, data_dir: Path, tmp_path: Path
) -> None:
    df = pl.read_csv(data_dir / "mixed.csv").with_columns(
        pl.col("label").replace_strict({"low": 0, "mid": 1, "high": 2}).alias("grade"),
        (pl.col("binary") == "yes").alias("flag"),
    )
    path = tmp_path / "typed.parquet"
    df.drop("label", "binary", "value").write_parquet(path)
    import onnxruntime as ort

    for target, expected, other in (
        ("grade", [0, 1, 2], "flag"),
        ("flag", ["false", "true"], "grade"),
    ):
        run = cli("train", str(path), "--target", target, "--drop", other, "--model", "xgboost",
                  "-p", "n_estimators=10", "--json")  # fmt: skip
        assert run.exit_code == 0, run.stderr
        folder = stored(tmp_path / "models", run.json()["ref"])
        manifest = json.loads((folder / "manifest.json").read_text())
        assert manifest["outputs"]["classes"] == expected
        session = ort.InferenceSession(
            str(folder / "model.onnx"), providers=["CPUExecutionProvider"]
        )
        numeric = df.select(manifest["inputs"]["numeric"]).cast(pl.Float32).to_numpy()
        cats = df.select(pl.col(c).fill_null("") for c in manifest["inputs"]["categorical"])
        label = session.run(
            ["label"], {"numeric": numeric, "categorical": cats.to_numpy().astype(object)}
        )[0]
        assert set(label.tolist()) <= set(expected)


def test_auto_ranks_its_leaderboard_by_the_score_it_shows(cli: Cli, tmp_path: Path) -> None:
    from sklearn.datasets import load_breast_cancer

    cancer = load_breast_cancer(as_frame=True)
    cancer.frame.assign(target=[str(cancer.target_names[t]) for t in cancer.target]).to_csv(
        tmp_path / "cancer.csv", index=False
    )
    run = cli("train", str(tmp_path / "cancer.csv"), "--target", "target", "--time-budget", "600")
    assert run.exit_code == 0, run.stderr
    board = json.loads((stored(tmp_path / "models", "cancer:1") / "manifest.json").read_text())[
        "metrics"
    ]["leaderboard"]
    assert len(board) >= 4, run.stderr
    scores = [row["score"] for row in board]
    assert scores == sorted(scores, reverse=True)  # balanced accuracy: higher is better
    printed = [line.split("│")[1].strip() for line in run.stdout.splitlines()
               if line.startswith("│") and any(r["model"] in line for r in board)]  # fmt: skip
    assert printed[: len(board)] == [row["model"] for row in board]


def test_demo_refuses_a_busy_port_before_it_trains(cli: Cli, tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        run = cli("demo", "--port", str(port), "--registry", str(tmp_path / "models"))
    assert run.exit_code == 2
    assert run.stderr == (
        f"error: cannot listen on 127.0.0.1:{port}: Address already in use (nothing was "
        "trained: --port 0 picks a free port, --no-serve skips serving)\n"
    )
    assert run.stdout == ""
    assert not (tmp_path / "models").exists()  # no churn version stored for nothing


def test_demo_says_each_run_adds_a_version_and_every_path_it_prints_is_there(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # the report is written here
    registry = ["--registry", str(tmp_path / "models")]
    first = cli("demo", "--no-serve", *registry)
    assert first.exit_code == 0, first.stderr
    assert "each run adds a version" not in first.stdout
    second = cli("demo", "--no-serve", *registry)
    assert second.exit_code == 0, second.stderr
    assert (
        f"demo     each run adds a version: churn:2 joins churn:1 in {tmp_path / 'models'}"
        in second.stdout
    )
    for run in (first, second):
        paths = re.findall(r"(/[^\s,;:()]+)", run.stdout)
        assert any(p.endswith(".html") for p in paths), run.stdout
        assert [p for p in paths if not Path(p).exists()] == []
        assert "also served" not in run.stdout  # --no-serve: nothing is

"""Files shaped like the real ones new users bring: R-style CSVs, near-unique text, codes.

Each case is a symptom found by training on public datasets (issue "Real data"): row
numbers used as features, one-hot explosions, leading zeros lost, an integer target
taken as classes, notes missing from --json.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

from tests.helpers import Cli


def manifest(registry: Path, name: str, version: int = 1) -> dict[str, Any]:
    found: dict[str, Any] = json.loads(
        (registry / name / str(version) / "manifest.json").read_text()
    )
    return found


def r_style_csv(path: Path, n: int = 300) -> Path:
    """As R's write.csv writes a frame ordered by its target: unnamed row numbers, NA."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=n)
    noise = rng.normal(size=n)
    y = np.where(x + 2 * rng.normal(size=n) > 0, "yes", "no")  # x says only a little
    order = np.argsort(y, kind="stable")
    lines = ['"","x","noise","grade","y"']
    for i, row in enumerate(order, start=1):
        grade = "NA" if i % 17 == 0 else f'"{"abc"[row % 3]}"'
        lines.append(f'"{i}",{x[row]:.5f},{noise[row]:.5f},{grade},"{y[row]}"')
    path.write_text("\n".join(lines) + "\n")
    return path


def test_r_row_numbers_are_ignored_and_can_be_dropped_by_their_empty_name(
    cli: Cli, tmp_path: Path
) -> None:
    data = r_style_csv(tmp_path / "r.csv")
    reg = tmp_path / "models"
    run = cli("train", str(data), "--target", "y", "--model", "logistic", "--json")
    assert run.exit_code == 0, run.stderr
    m = manifest(reg, "r")
    assert "" not in m["inputs"]["numeric"] + m["inputs"]["categorical"]
    assert m["data"]["ignored"][""].startswith("row numbers")
    assert "ignoring column '': row numbers" in " ".join(run.json()["notes"])
    # A hold-out score of 1.000 would mean the row numbers leaked the ordered target.
    assert run.json()["metrics"]["holdout"]["balanced_accuracy"] < 0.95

    dropped = cli("train", str(data), "--target", "y", "--model", "logistic", "--drop", "", "-q")
    assert dropped.exit_code == 0, dropped.stderr
    assert manifest(reg, "r", 2)["data"]["ignored"][""] == "dropped (--drop)"


def test_an_integer_row_index_is_ignored_unless_told(cli: Cli, tmp_path: Path) -> None:
    n = 120
    rng = np.random.default_rng(1)
    df = pl.DataFrame({"obs": np.arange(1, n + 1), "x": rng.normal(size=n)})
    df = df.with_columns(y=pl.when(pl.col("obs") > n // 2).then(pl.lit("b")).otherwise(pl.lit("a")))
    df.write_csv(tmp_path / "idx.csv")
    run = cli("train", str(tmp_path / "idx.csv"), "--target", "y", "--model", "logistic", "--json")
    assert run.exit_code == 0, run.stderr
    assert "obs" in run.json()["ignored_columns"]
    told = cli("train", str(tmp_path / "idx.csv"), "--target", "y", "--model", "logistic",
               "--numeric", "obs", "--json")  # fmt: skip
    assert told.exit_code == 0, told.stderr
    assert "obs" in manifest(tmp_path / "models", "idx", 2)["inputs"]["numeric"]
    # Told to use it, the leak check names it: obs alone gives the ordered target away.
    assert [leak["column"] for leak in told.json()["leaks"]] == ["obs"]
    assert any("possible leak: column 'obs'" in note for note in told.json()["notes"])
    assert manifest(tmp_path / "models", "idx", 2)["data"]["leaks"][0]["column"] == "obs"


def test_a_column_derived_from_the_target_is_named_as_a_leak(cli: Cli, tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    n = 400
    x = rng.normal(size=n)
    price = np.exp(rng.normal(12, 0.5, size=n))
    df = pl.DataFrame({"x": x, "price_band": np.floor(price / 1000), "price": price})
    df.write_csv(tmp_path / "houses.csv")
    run = cli("train", str(tmp_path / "houses.csv"), "--target", "price", "--model", "ridge")
    assert run.exit_code == 0, run.stderr
    assert "possible leak: column 'price_band'" in run.stderr
    assert "column 'x'" not in run.stderr


def titles_csv(path: Path, n: int) -> Path:
    rng = np.random.default_rng(3)
    words = np.array(["the", "night", "of", "a", "red", "river", "song", "city", "lost", "sun"])
    title = [" ".join(rng.choice(words, 5)) + f" {i % 56_000}" for i in range(n)]  # near-unique
    genre = rng.choice(["drama", "comedy", "horror"], n)
    year = rng.integers(1950, 2020, n)
    score = (genre == "drama") * 1.0 + (year - 1950) / 70 + rng.normal(0, 0.3, n)
    pl.DataFrame({"title": title, "genre": genre, "year": year, "score": score}).write_csv(path)
    return path


def test_near_unique_text_is_ignored_and_training_stays_small(tmp_path: Path) -> None:
    data = titles_csv(tmp_path / "films.csv", 60_000)
    reg = tmp_path / "models"
    # Peak RSS of the training process itself, measured by the process.
    code = (
        "import resource, sys\n"
        "from tabforge.cli import main\n"
        "try:\n    main(sys.argv[1:])\n"
        "except SystemExit as e:\n    code = e.code\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)\n"
        "sys.exit(code)\n"
    )
    argv = ["train", str(data), "--target", "score", "--model", "lightgbm",
            "-p", "n_estimators=10", "--registry", str(reg)]  # fmt: skip
    done = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "ignoring column 'title': free text" in done.stderr
    peak_kib = int(done.stderr.strip().splitlines()[-1])
    assert peak_kib < 2 * 1024 * 1024, f"peak RSS {peak_kib / 1024:.0f} MiB"
    assert "title" not in manifest(reg, "films")["inputs"]["categorical"]


def test_many_categories_keep_the_most_frequent_and_still_pass_parity(
    cli: Cli, tmp_path: Path
) -> None:
    rng = np.random.default_rng(4)
    n = 2_000
    # 200 shop codes, a few common ones: too many to one-hot whole, too repeated to be text.
    weights = np.r_[np.full(5, 0.1), np.full(195, 0.5 / 195)]
    shop = rng.choice([f"s{i:03d}" for i in range(200)], n, p=weights)
    x = rng.normal(size=n)
    y = np.where((shop == "s001") | (x > 1), "yes", "no")
    pl.DataFrame({"shop": shop, "x": x, "y": y}).write_csv(tmp_path / "shops.csv")
    run = cli("train", str(tmp_path / "shops.csv"), "--target", "y", "--model", "logistic",
              "--max-categories", "10", "--json")  # fmt: skip
    assert run.exit_code == 0, run.stderr
    kept = manifest(tmp_path / "models", "shops")["inputs"]["categories"]["shop"]
    assert len(kept) == 10
    assert {"s000", "s001", "s002", "s003", "s004"} <= set(kept)
    assert run.json()["parity"]["passed"]
    assert any(re.search(r"'shop' has \d+ categories; one-hot keeps the 10 most frequent", note)
               for note in run.json()["notes"])  # fmt: skip


def test_training_estimated_above_the_memory_limit_is_refused_in_one_line(
    cli: Cli, tmp_path: Path
) -> None:
    data = r_style_csv(tmp_path / "r.csv")
    run = cli("train", str(data), "--target", "y", "--model", "random_forest",
              "--memory-limit", "1MB")  # fmt: skip
    assert run.exit_code == 2
    assert [line for line in run.stderr.splitlines() if not line.startswith("note:")] == [
        run.stderr.splitlines()[-1]
    ]
    assert run.stderr.splitlines()[-1].startswith("error: training random_forest on")
    assert "needs about" in run.stderr
    assert "--memory-limit" in run.stderr
    assert not (tmp_path / "models" / "r").exists()
    bad = cli("train", str(data), "--target", "y", "--memory-limit", "lots")
    assert bad.exit_code == 2
    assert "expected a size" in bad.stderr


def test_codes_with_leading_zeros_stay_text(cli: Cli, tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    n = 200
    code = rng.choice(["001", "002", "017", "120"], n)
    y = np.where(np.isin(code, ["001", "017"]), "a", "b")
    pl.DataFrame({"code": code, "x": rng.normal(size=n), "y": y}).write_csv(tmp_path / "c.csv")
    assert (tmp_path / "c.csv").read_text().splitlines()[1].startswith("0")
    run = cli("train", str(tmp_path / "c.csv"), "--target", "y", "--model", "logistic", "-q")
    assert run.exit_code == 0, run.stderr
    m = manifest(tmp_path / "models", "c")
    assert m["inputs"]["categorical"] == ["code"]
    assert sorted(m["inputs"]["categories"]["code"]) == ["001", "002", "017", "120"]


def test_a_one_row_class_in_an_integer_target_names_the_task_and_the_way_out(
    cli: Cli, tmp_path: Path
) -> None:
    rng = np.random.default_rng(6)
    n = 200
    shots = rng.integers(0, 20, n)
    goals = np.minimum(rng.poisson(shots / 5), 7)
    goals[0] = 10  # one match with ten goals
    pl.DataFrame({"shots": shots, "goals": goals}).write_csv(tmp_path / "goals.csv")
    run = cli("train", str(tmp_path / "goals.csv"), "--target", "goals", "--model", "logistic")
    assert run.exit_code == 2
    assert "class 10 of target 'goals' has only one row" in run.stderr
    assert "inferred as classification" in run.stderr
    assert "--task regression" in run.stderr
    ok = cli("train", str(tmp_path / "goals.csv"), "--target", "goals", "--model", "ridge",
             "--task", "regression", "-q")  # fmt: skip
    assert ok.exit_code == 0, ok.stderr


def test_an_integer_target_spread_over_few_values_is_a_number(cli: Cli, tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    height = rng.normal(170, 10, 60).round(1)
    weight = (np.round((height * 0.9 - 40) / 10) * 10).astype(int)  # pounds, rounded to tens
    pl.DataFrame({"height": height, "weight": weight}).write_csv(tmp_path / "w.csv")
    run = cli("train", str(tmp_path / "w.csv"), "--target", "weight", "--model", "ridge", "--json")
    assert run.exit_code == 0, run.stderr
    assert run.json()["task"] == "regression"
    assert any("taken as a number" in note for note in run.json()["notes"])


@pytest.mark.parametrize("budget", ["0.001"])
def test_auto_keeps_to_its_budget_by_leaving_candidates_out(
    cli: Cli, tmp_path: Path, budget: str
) -> None:
    data = r_style_csv(tmp_path / "r.csv")
    run = cli("train", str(data), "--target", "y", "--time-budget", budget, "--json")
    assert run.exit_code == 0, run.stderr
    board = run.json()["metrics"]["leaderboard"]
    assert len(board) == 1  # the first candidate always runs; nothing else fits
    assert any("time budget of 0.001s" in note for note in run.json()["notes"])


def test_auto_compares_candidates_on_a_sample_of_a_large_file(cli: Cli, tmp_path: Path) -> None:
    data = titles_csv(tmp_path / "films.csv", 70_000)  # 56,000 training rows
    run = cli("train", str(data), "--target", "score", "--time-budget", "0.001", "--json")
    assert run.exit_code == 0, run.stderr
    notes = run.json()["notes"]
    assert any("compared on 50,000 of 56,000 training rows" in note for note in notes), notes
    assert run.json()["parity"]["passed"]

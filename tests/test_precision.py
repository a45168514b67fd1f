"""Large regression targets export with parity: tree sums keep the native library's precision.

The fixture is shaped like the real data that was refused: house prices around 1.8e5 (here
x10) with a few x8 outliers, and a group of rows recorded in thousands (near 180). Summing
float32 leaves around the large base value lost the digits a row predicted near 180 needs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

from tabforge.export import precision
from tests.helpers import Cli

# One float32 rounding of the output, relative to the row: 2**-24 plus a hair for the
# float64 sum being done in another order than the native one.
ONE_ROUNDING = 6.0e-8


def house_prices(n: int = 1500, *, seed: int = 0, scale: float = 10.0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    sqft = rng.normal(1500, 500, n).clip(300, 5000).round()
    rooms = rng.integers(1, 8, n).astype(float)
    age = rng.uniform(0, 100, n).round(1)
    hood = rng.choice(["north", "south", "east", "west", "centre"], n)
    bonus = {"north": 30e3, "south": -20e3, "east": 0.0, "west": 10e3, "centre": 60e3}
    price = 1.8e5 + 80 * (sqft - 1500) + 5e3 * (rooms - 4) - 600 * (age - 50)
    price += np.array([bonus[h] for h in hood]) + rng.normal(0, 2e4, n)
    price = price.clip(2e4, None)
    outliers = rng.choice(n, n // 100, replace=False)
    price[outliers] *= 8
    price *= scale
    small = rng.choice(np.setdiff1d(np.arange(n), outliers), int(n * 0.3), replace=False)
    price[small] = rng.normal(180, 30, len(small))  # one source recorded thousands
    hood[small] = "harbour"
    return pl.DataFrame({"sqft": sqft, "rooms": rooms, "age": age, "hood": hood, "price": price})


@pytest.fixture(scope="module")
def houses(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("houses") / "houses.csv"
    house_prices().write_csv(path)
    return path


def _train(cli: Cli, houses: Path, model: str, *params: str) -> dict[str, Any]:
    args = ["train", str(houses), "--target", "price", "--model", model, "--json"]
    run = cli(*args, *[x for p in params for x in ("-p", p)])
    assert run.exit_code == 0, run.stderr
    parity: dict[str, Any] = run.json()["parity"]
    return parity


@pytest.mark.parametrize(
    ("model", "params"),
    [
        ("hist_gradient_boosting", ("max_iter=30", "learning_rate=0.5")),
        ("lightgbm", ("n_estimators=30", "learning_rate=0.5")),
    ],
)
def test_float64_boosters_export_with_one_float32_rounding(
    cli: Cli, houses: Path, model: str, params: tuple[str, ...]
) -> None:
    parity = _train(cli, houses, model, *params)
    assert parity["passed"]
    assert parity["tolerance"] == 1e-4  # the default: nothing was loosened
    assert parity["max_rel_diff"]["prediction"] <= ONE_ROUNDING


@pytest.mark.parametrize("trees_per_sum", [precision.TREES_PER_SUM, 8])
def test_xgboost_sums_in_its_own_float32_order_bit_for_bit(
    cli: Cli, houses: Path, monkeypatch: pytest.MonkeyPatch, trees_per_sum: int
) -> None:
    # 8 trees per op: the running sum also crosses from one group of trees to the next.
    monkeypatch.setattr(precision, "TREES_PER_SUM", trees_per_sum)
    parity = _train(cli, houses, "xgboost", "n_estimators=30", "n_jobs=1")
    assert parity["passed"]
    assert parity["max_abs_diff"] == {"prediction": 0.0}
    assert parity["max_rel_diff"] == {"prediction": 0.0}


def test_forest_sums_in_float64_too(cli: Cli, houses: Path) -> None:
    parity = _train(cli, houses, "random_forest", "n_estimators=10")
    assert parity["max_rel_diff"]["prediction"] <= ONE_ROUNDING


def test_parity_line_says_it_passed_and_names_the_bound(cli: Cli, houses: Path) -> None:
    run = cli("train", str(houses), "--target", "price", "--model", "decision_tree")
    assert run.exit_code == 0, run.stderr
    line = " ".join(run.stdout.split())  # the console wraps long lines
    assert "parity OK: " in line
    assert "hold-out +" in line
    assert "max abs diff prediction " in line
    assert "(relative " in line
    assert "; bound per row |diff| <= 0.0001 * max(1, |native|)" in line
    assert "(tolerance" not in line


@pytest.fixture(scope="module")
def houses_with_gaps(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same prices with missing values, so the imputer's float64 medians are used."""
    df = house_prices(seed=1)
    rng = np.random.default_rng(1)
    gaps = pl.Series(rng.random(df.height) < 0.05)
    df = df.with_columns(pl.when(gaps).then(None).otherwise(pl.col("sqft")).alias("sqft"))
    path = tmp_path_factory.mktemp("gaps") / "houses.csv"
    df.write_csv(path)
    return path


@pytest.mark.parametrize("model", ["ridge", "linear", "elastic_net"])
def test_linear_regressors_compute_in_float64_on_both_sides(
    cli: Cli, houses_with_gaps: Path, model: str
) -> None:
    # Found on diamonds (price ~4e3): float32 coefficients and a float32 sum around the
    # intercept lost the digits of rows predicted near zero, natively and in the graph.
    parity = _train(cli, houses_with_gaps, model)
    assert parity["passed"]
    assert parity["max_rel_diff"]["prediction"] <= ONE_ROUNDING

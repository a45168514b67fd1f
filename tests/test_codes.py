"""Category codes keep their meaning: "001" read as the number 1 is refused, never guessed.

Also: messages about columns quote each name, so an empty column name shows as ''.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import polars as pl
import pytest
from click.testing import CliRunner
from polars.testing import assert_frame_equal

import tabforge
from tabforge.cli import main
from tabforge.errors import DataError
from tests.e2e.server import Server, running

REFUSED = (
    "column 'code' arrived as numbers (17, 2, ...) but the model knows it as text such as "
    "'001', '002'; read it as text (e.g. dtype=str / schema_overrides)"
)


def _frame(rows: int, seed: int) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    code = rng.choice(["001", "002", "017", "A01"], rows)
    x = rng.normal(size=rows)
    return pl.DataFrame(
        {
            "x": x,
            "code": code,
            "n": rng.integers(1, 5, rows),
            "y": np.where(np.isin(code, ["001", "017"]) ^ (x > 1), "yes", "no"),
        }
    )


def _cli(*argv: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(argv), catch_exceptions=False)
    return result.exit_code, result.stderr


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """codes:1 knows code as text ("001", ..., "A01") and n as ints-as-text ("1".."4")."""
    root = tmp_path_factory.mktemp("codes") / "models"
    source = root.parent / "train.csv"
    _frame(300, seed=0).write_csv(source)  # "A01" keeps the column text when read
    code, err = _cli("train", str(source), "--target", "y", "--categorical", "n", "--model",
                     "logistic", "--name", "codes", "--registry", str(root), "-q")  # fmt: skip
    assert code == 0, err
    return root


@pytest.fixture
def digits(tmp_path: Path) -> Path:
    """Only all-digit codes, in the order the messages show: a reader infers numbers."""
    df = _frame(60, seed=1).with_columns(code=pl.Series(["017", "002", "001"] * 20))
    path = tmp_path / "digits.csv"
    df.write_csv(path)
    return path


def test_manifest_precondition(models: Path) -> None:
    categories = tabforge.load("codes", registry=models).schema.categories
    assert categories == {"code": ["001", "002", "017", "A01"], "n": ["1", "2", "3", "4"]}


def test_numbers_for_text_codes_are_refused_and_text_works(
    models: Path, digits: Path, tmp_path: Path
) -> None:
    model = tabforge.load("codes", registry=models)
    as_numbers = pd.read_csv(digits)
    assert as_numbers["code"].dtype == np.int64
    with pytest.raises(DataError) as caught:
        model.predict(as_numbers)
    assert str(caught.value) == REFUSED
    as_text = pd.read_csv(digits, dtype={"code": str})
    got = model.predict(as_text)
    out = tmp_path / "out.parquet"
    assert _cli("predict", "codes", str(digits), "-o", str(out), "--registry", str(models))[0] == 0
    assert_frame_equal(pl.read_parquet(out), got)


def test_predict_keeps_codes_as_written_and_refuses_them_as_numbers(
    models: Path, digits: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out.csv"
    code, err = _cli("predict", "codes", str(digits), "-o", str(out), "--keep", "code",
                     "--registry", str(models))  # fmt: skip
    assert code == 0, err
    assert [line.split(",")[0] for line in out.read_text().splitlines()[:3]] == [
        "code", "017", "002"]  # fmt: skip
    as_numbers = tmp_path / "numbers.parquet"
    pl.read_csv(digits).write_parquet(as_numbers)  # the numbers are now in the file's types
    code, err = _cli("predict", "codes", str(as_numbers), "-o", str(out), "--registry",
                     str(models))  # fmt: skip
    assert (code, err.strip()) == (2, f"error: {REFUSED}")


def test_unseen_numbers_where_categories_are_plain_ints_still_predict(models: Path) -> None:
    model = tabforge.load("codes", registry=models)
    rows = pd.DataFrame({"x": [0.5, 0.5], "code": ["001", "001"], "n": [9, 1]})
    assert model.predict(rows).height == 2  # 9 is a genuinely new category, ignored
    with pytest.raises(DataError, match=r"column 'n' arrived as numbers \(9.0, 1.0\)"):
        model.predict(rows.astype({"n": float}))  # 1.0 would not be the category '1'


def test_messages_quote_column_names(tmp_path: Path) -> None:
    source = tmp_path / "blank.csv"
    _frame(100, seed=2).rename({"x": ""}).drop("n").write_csv(source)
    registry = tmp_path / "models"
    # An unnamed column is row numbers unless named as a feature (--numeric '').
    assert _cli("train", str(source), "--target", "y", "--model", "logistic", "--numeric", "",
                "--registry", str(registry), "-q")[0] == 0  # fmt: skip
    model = tabforge.load("blank", registry=registry)
    with pytest.raises(DataError, match=r"^missing required columns: '', 'code'$"):
        model.predict({"y": ["no"]})
    rows = tmp_path / "rows.csv"
    pl.DataFrame({"code": ["001"]}).write_csv(rows)
    code, err = _cli("predict", "blank", str(rows), "-o", str(tmp_path / "o.csv"), "--registry",
                     str(registry))  # fmt: skip
    assert (code, err.strip()) == (2, "error: rows.csv lacks required columns: ''")


@pytest.fixture(scope="module")
def server(models: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running(models, tmp_path_factory.mktemp("codes-server")) as s:
        yield s


def test_server_refuses_numbers_for_text_codes(server: Server) -> None:
    url = f"{server.url}/v1/models/codes:predict"
    ok = httpx.post(url, json={"instances": [{"x": 0.1, "code": "017", "n": "2"}]})
    assert ok.status_code == 200, ok.text
    r = httpx.post(url, json={"instances": [{"x": 0.1, "code": c, "n": 2} for c in (17, 2, 1)]})
    assert (r.status_code, r.json()) == (400, {"error": REFUSED})
    inputs = [
        {"name": "x", "shape": [1], "datatype": "FP64", "data": [0.1]},
        {"name": "code", "shape": [1], "datatype": "INT64", "data": [1]},
        {"name": "n", "shape": [1], "datatype": "INT64", "data": [2]},
    ]
    r = httpx.post(f"{server.url}/v2/models/codes/infer", json={"inputs": inputs})
    assert r.status_code == 400
    assert r.json()["error"].startswith("column 'code' arrived as numbers (1)")

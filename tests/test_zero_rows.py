"""Zero rows through every surface: an empty, typed result, never a 500 or a traceback.

A k-NN graph fails when run on zero rows, a clustering model's score width is not in its
manifest, and a tree model is the common case: each goes through the Python API,
``tabforge predict`` and a real server (V2 JSON, V2 binary, V2 per column, V1).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import polars as pl
import pytest
from click.testing import CliRunner
from polars.testing import assert_frame_equal

import tabforge
from tabforge.cli import main
from tests.e2e.server import Server, running
from tests.e2e.wire import parse_binary_response
from tests.helpers import mixed_frame

FEATURES = ["a", "b", "c", "color", "shape"]
MODELS = {  # name -> train arguments
    "knn": ["--target", "label", "--drop", "binary,value", "--model", "knn"],
    "kmeans": ["--drop", "label,binary,value", "--model", "kmeans"],
    "tree": ["--target", "label", "--drop", "binary,value", "--model", "decision_tree"],
}


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("zero") / "models"
    source = root.parent / "train.csv"
    mixed_frame(200).write_csv(source)
    for name, args in MODELS.items():
        argv = ["train", str(source), *args, "--name", name, "--registry", str(root), "-q"]
        result = CliRunner().invoke(main, argv, catch_exceptions=False)
        assert result.exit_code == 0, result.stderr
    return root


@pytest.fixture(scope="module")
def server(models: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running(models, tmp_path_factory.mktemp("zero-server")) as s:
        yield s


@pytest.fixture
def rows() -> pl.DataFrame:
    return mixed_frame(30, seed=4).select(FEATURES)


def predict_cli(models: Path, name: str, source: Path, output: Path, *args: str) -> str:
    argv = ["predict", name, str(source), "-o", str(output), *args]
    result = CliRunner().invoke(main, [*argv, "--registry", str(models)], catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    return result.stdout


@pytest.mark.parametrize("name", MODELS)
def test_api_returns_an_empty_typed_frame(models: Path, rows: pl.DataFrame, name: str) -> None:
    model = tabforge.load(name, registry=models)
    some = model.predict(rows)
    empties: tuple[object, ...] = (
        rows.head(0),
        rows.head(0).to_pandas(),
        rows.head(0).to_arrow(),
        [],
        {},
    )
    for empty in empties:
        out = model.predict(empty)
        assert out.height == 0
        assert out.schema == some.schema, type(empty)


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_predict_on_a_header_only_file_writes_the_columns(
    models: Path, tmp_path: Path, rows: pl.DataFrame, name: str, fmt: str
) -> None:
    full, empty = tmp_path / "in-full.csv", tmp_path / "in-empty.csv"
    rows.write_csv(full)
    rows.head(0).write_csv(empty)
    predict_cli(models, name, full, tmp_path / f"full.{fmt}", "--keep", "a,color")
    out = predict_cli(models, name, empty, tmp_path / f"empty.{fmt}", "--keep", "a,color")
    assert "scored 0 rows" in out
    read = pl.read_parquet if fmt == "parquet" else pl.read_csv
    expected, got = read(tmp_path / f"full.{fmt}"), read(tmp_path / f"empty.{fmt}")
    assert got.height == 0
    assert got.columns == expected.columns
    if fmt == "parquet":
        assert got.drop("a", "color").schema == expected.drop("a", "color").schema


@pytest.mark.parametrize("name", MODELS)
def test_predict_where_every_batch_is_empty_after_rejects(
    models: Path, tmp_path: Path, rows: pl.DataFrame, name: str
) -> None:
    good, bad = tmp_path / "good.csv", tmp_path / "bad.csv"
    rows.write_csv(good)
    rows.with_columns(pl.lit("oops").alias("b")).write_csv(bad)
    predict_cli(models, name, good, tmp_path / "good.parquet")
    output = tmp_path / "out.parquet"
    predict_cli(models, name, bad, output, "--on-error", "skip", "--batch-rows", "7")
    got = pl.read_parquet(output)
    assert got.height == 0
    assert got.schema == pl.read_parquet(tmp_path / "good.parquet").schema
    assert pl.read_csv(tmp_path / "out.rejects.csv").height == rows.height


def test_clustering_scores_are_one_column_each_in_csv_and_parquet(
    models: Path, tmp_path: Path, rows: pl.DataFrame
) -> None:
    source = tmp_path / "rows.csv"
    rows.write_csv(source)
    predict_cli(models, "kmeans", source, tmp_path / "out.csv")
    predict_cli(models, "kmeans", source, tmp_path / "out.parquet")
    as_csv, as_parquet = (
        pl.read_csv(tmp_path / "out.csv"),
        pl.read_parquet(tmp_path / "out.parquet"),
    )
    k = tabforge.load("kmeans", registry=models).manifest.estimator.params["n_clusters"]
    assert as_parquet.columns == ["label", *(f"score_{i}" for i in range(k))]
    assert_frame_equal(as_csv, as_parquet, check_dtypes=False)
    api = tabforge.load("kmeans", registry=models).predict(rows)
    assert api.columns == ["label", "scores"]  # the Python API keeps one array column
    assert as_parquet.drop("label").to_numpy().tolist() == api["scores"].to_list()


def _v2(server: Server, name: str, body: dict[str, Any], **kwargs: Any) -> httpx.Response:
    return httpx.post(f"{server.url}/v2/models/{name}/infer", json=body, **kwargs)


def _zero_rows_body(binary: bool) -> dict[str, Any]:
    numeric: dict[str, Any] = {"name": "numeric", "shape": [0, 3], "datatype": "FP32", "data": []}
    categorical: dict[str, Any] = {
        "name": "categorical",
        "shape": [0, 2],
        "datatype": "BYTES",
        "data": [],
    }
    if binary:
        for inp in (numeric, categorical):
            del inp["data"]
            inp["parameters"] = {"binary_data_size": 0}
    return {"inputs": [numeric, categorical], "parameters": {"binary_data_output": binary}}


@pytest.mark.parametrize("name", MODELS)
def test_server_answers_zero_rows_with_empty_outputs(
    server: Server, models: Path, rows: pl.DataFrame, name: str
) -> None:
    one = _v2(server, name, _zero_rows_body(False) | {"inputs": _one_row(rows)}).json()
    widths = {o["name"]: o["shape"][1:] for o in one["outputs"]}
    types = {o["name"]: o["datatype"] for o in one["outputs"]}

    r = _v2(server, name, _zero_rows_body(False))
    assert r.status_code == 200, r.text
    for o in r.json()["outputs"]:
        assert (o["shape"], o["datatype"], o["data"]) == (
            [0, *widths[o["name"]]],
            types[o["name"]],
            [],
        )

    header = json.dumps(_zero_rows_body(True)).encode()
    r = httpx.post(f"{server.url}/v2/models/{name}/infer", content=header, headers={
        "inference-header-content-length": str(len(header)),
        "content-type": "application/octet-stream"})  # fmt: skip
    assert r.status_code == 200, r.text
    assert {k: v.size for k, v in parse_binary_response(r).items()} == dict.fromkeys(widths, 0)

    per_column = [{"name": c, "shape": [0], "datatype": "FP64" if c in "abc" else "BYTES",
                   "data": []} for c in FEATURES]  # fmt: skip
    r = _v2(server, name, {"inputs": per_column})
    assert r.status_code == 200, r.text
    assert [o["shape"][0] for o in r.json()["outputs"]] == [0] * len(widths)

    r = httpx.post(f"{server.url}/v1/models/{name}:predict", json={"instances": []})
    assert (r.status_code, r.json()) == (200, {"predictions": []})
    assert "Traceback" not in server.log.read_text()


def _one_row(rows: pl.DataFrame) -> list[dict[str, Any]]:
    row = rows.drop_nulls().head(1)
    return [
        {"name": "numeric", "shape": [1, 3], "datatype": "FP32",
         "data": row.select("a", "b", "c").row(0)},
        {"name": "categorical", "shape": [1, 2], "datatype": "BYTES",
         "data": list(row.select("color", "shape").row(0))},
    ]  # fmt: skip

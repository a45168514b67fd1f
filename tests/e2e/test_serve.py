"""The server over real HTTP: every endpoint, both protocols, every error code."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import polars as pl
import pytest

import tabforge
from tests.e2e.server import BOTH, CAT, INFER, NUM, Server
from tests.helpers import mixed_frame

ENGINES = BOTH  # the protocol suite: both engines must pass it alike

ROWS = mixed_frame(40, seed=9).drop("label", "binary", "value")


def grouped(df: pl.DataFrame) -> dict[str, Any]:
    numeric = df.select("a", "b", "c").to_numpy()
    categorical = df.select("color", "shape").to_numpy()
    return {
        "id": "req-1",
        "inputs": [
            {"name": "numeric", "shape": list(numeric.shape), "datatype": "FP32",
             "data": [[None if np.isnan(v) else float(v) for v in row] for row in numeric]},
            {"name": "categorical", "shape": list(categorical.shape), "datatype": "BYTES",
             "data": categorical.reshape(-1).tolist()},
        ],
    }  # fmt: skip


def per_column(df: pl.DataFrame) -> dict[str, Any]:
    inputs = []
    for name in df.columns:
        s = df[name]
        if s.dtype.is_numeric():
            inputs.append(
                {"name": name, "shape": [s.len()], "datatype": "FP64", "data": s.to_list()}
            )
        else:
            inputs.append(
                {"name": name, "shape": [s.len(), 1], "datatype": "BYTES", "data": s.to_list()}
            )
    return {"inputs": inputs}


@pytest.fixture(scope="module")
def expected(trained_registry: Path) -> dict[int, pl.DataFrame]:
    return {v: tabforge.load(f"mixed:{v}", registry=trained_registry).predict(ROWS) for v in (1, 2)}


def test_health_and_server_metadata(server: Server) -> None:
    assert httpx.get(server.url + "/v2/health/live").json() == {"live": True}
    assert httpx.get(server.url + "/v2/health/ready").json() == {"ready": True}
    meta = httpx.get(server.url + "/v2").json()
    assert meta["name"] == "tabforge"
    assert isinstance(meta["extensions"], list)


def test_model_metadata_and_readiness(server: Server) -> None:
    meta = httpx.get(server.url + "/v2/models/mixed").json()
    assert meta["name"] == "mixed"
    assert meta["versions"] == ["1", "2"]
    assert meta["platform"] == "onnx_onnxv1"
    assert meta["inputs"] == [
        {"name": "numeric", "datatype": "FP32", "shape": [-1, 3]},
        {"name": "categorical", "datatype": "BYTES", "shape": [-1, 2]},
    ]
    assert meta["outputs"] == [
        {"name": "label", "datatype": "BYTES", "shape": [-1]},
        {"name": "probabilities", "datatype": "FP32", "shape": [-1, 3]},
    ]
    assert meta["parameters"]["version"] == "2"  # latest: no production alias
    assert (
        httpx.get(server.url + "/v2/models/mixed/versions/1").json()["parameters"]["version"] == "1"
    )
    for path in ("/v2/models/mixed/ready", "/v2/models/mixed/versions/1/ready", "/v1/models/mixed"):
        r = httpx.get(server.url + path)
        assert r.status_code == 200
        assert r.json() == {"name": "mixed", "ready": True}


@pytest.mark.parametrize("body", [grouped, per_column], ids=["grouped", "per-column"])
@pytest.mark.parametrize("version", [1, 2])
def test_v2_infer_matches_the_python_api(
    server: Server,
    expected: dict[int, pl.DataFrame],
    body: Callable[[pl.DataFrame], dict[str, Any]],
    version: int,
) -> None:
    r = httpx.post(f"{server.url}/v2/models/mixed/versions/{version}/infer", json=body(ROWS))
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["model_name"] == "mixed"
    assert out["model_version"] == str(version)
    by = {o["name"]: o for o in out["outputs"]}
    want = expected[version]
    assert by["label"]["data"] == want["label"].to_list()
    assert by["label"]["shape"] == [ROWS.height]
    proba = np.array(by["probabilities"]["data"]).reshape(by["probabilities"]["shape"])
    np.testing.assert_allclose(proba, want.select(pl.exclude("label")).to_numpy(), atol=1e-6)


def test_v2_echoes_id_and_returns_only_requested_outputs(server: Server) -> None:
    body = grouped(ROWS) | {"outputs": [{"name": "label"}]}
    out = httpx.post(server.url + "/v2/models/mixed/infer", json=body).json()
    assert out["id"] == "req-1"
    assert [o["name"] for o in out["outputs"]] == ["label"]


def test_v1_predict_matches_the_python_api(
    server: Server, expected: dict[int, pl.DataFrame]
) -> None:
    r = httpx.post(server.url + "/v1/models/mixed:predict", json={"instances": ROWS.to_dicts()})
    assert r.status_code == 200, r.text
    assert r.headers["x-model-version"] == "2"
    predictions = r.json()["predictions"]
    want = expected[2]
    assert [p["label"] for p in predictions] == want["label"].to_list()
    for p, row in zip(predictions, want.iter_rows(named=True), strict=True):
        for cls in ("high", "low", "mid"):
            assert p["probabilities"][cls] == pytest.approx(row[f"proba_{cls}"], abs=1e-6)


def test_python_client_matches_the_python_api(
    server: Server, expected: dict[int, pl.DataFrame]
) -> None:
    with tabforge.Client(server.url) as client:
        for data in (ROWS, ROWS.to_pandas(), ROWS.to_dicts(), ROWS.to_dict(as_series=False)):
            got = client.predict("mixed", data)
            assert got.columns == expected[2].columns
            assert got["label"].to_list() == expected[2]["label"].to_list()
            np.testing.assert_allclose(got.drop("label").to_numpy(),
                                       expected[2].drop("label").to_numpy(), atol=1e-6)  # fmt: skip
        assert (
            client.predict("mixed", ROWS, version="1")["label"].to_list()
            == expected[1]["label"].to_list()
        )
        # A file's other columns (an ID, the target) are left out, as the API leaves them.
        extra = ROWS.with_row_index("customer_id").with_columns(label=pl.lit("low"))
        assert client.predict("mixed", extra)["label"].to_list() == expected[2]["label"].to_list()
        with pytest.raises(tabforge.TabforgeError, match="'a'"):
            client.predict("mixed", ROWS.drop("a"))


def nan_body() -> bytes:
    # What tritonclient and json.dumps send for a missing float: a bare NaN token.
    return json.dumps({"inputs": [
        {"name": "numeric", "shape": [1, 3], "datatype": "FP32", "data": [float("nan"), 1.0, None]},
        {"name": "categorical", "shape": [1, 2], "datatype": "BYTES", "data": [None, "unseen"]},
    ]}).encode()  # fmt: skip


def test_missing_values_nan_and_null_are_accepted(server: Server) -> None:
    r = httpx.post(server.url + "/v2/models/mixed/infer", content=nan_body(),
                   headers={"content-type": "application/json"})  # fmt: skip
    assert r.status_code == 200, r.text
    r = httpx.post(server.url + "/v1/models/mixed:predict",
                   json={"instances": [{"a": None, "b": None, "c": None, "color": None, "shape": None}]})  # fmt: skip
    assert r.status_code == 200, r.text


def _v2(rows: list[dict[str, Any]]) -> dict[str, Any]:
    return {"inputs": rows}


# Bad requests live in tests/corpus/ (one file per case), replayed by test_corpus.py.


def test_metrics_count_requests_rows_and_latency(server: Server) -> None:
    httpx.post(server.url + INFER, json=grouped(ROWS))
    httpx.post(server.url + "/v2/models/nope/infer", json=_v2([NUM, CAT]))
    text = httpx.get(server.url + "/metrics").text
    assert 'tabforge_requests_total{code="200",model="mixed",protocol="v2",version="2"}' in text
    assert 'tabforge_requests_total{code="404",model="nope",protocol="v2",version=""}' in text
    assert 'tabforge_rows_predicted_total{model="mixed",version="2"}' in text
    for family in ("tabforge_request_duration_seconds_bucket", "tabforge_inference_duration_seconds_bucket",
                   "tabforge_queue_duration_seconds_bucket", "tabforge_models_loaded 2.0"):  # fmt: skip
        assert family in text


def test_openapi_document_lists_every_endpoint(server: Server) -> None:
    doc = httpx.get(server.url + "/openapi.json").json()
    assert doc["openapi"].startswith("3.")
    for path in ("/v2/health/live", "/v2/health/ready", "/v2", "/v2/models/{name}",
                 "/v2/models/{name}/versions/{version}/infer", "/v1/models/{name}:predict", "/metrics"):  # fmt: skip
        assert path in doc["paths"]


def test_binds_loopback_by_default(server: Server) -> None:
    engine = {"python": "Uvicorn", "rust": "tabforge-server"}[server.engine]
    assert f"{engine} running on {server.url}" in server.log.read_text()
    assert server.url.startswith("http://127.0.0.1:")

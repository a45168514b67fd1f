"""Properties over HTTP: however a client encodes the same rows, it gets the same answer.

Hypothesis draws frames (missing values, extreme and subnormal floats, unseen and odd
unicode categories); each frame goes to a real server as V2 JSON grouped tensors, V2 JSON one
input per column (tabforge.Client), V2 binary tensors and KServe V1 instances, and every
answer must equal the in-process prediction of the same rows.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tabforge
from tests.e2e.server import BOTH, Server
from tests.e2e.wire import binary_body, grouped_json, parse_binary_response

ENGINES = BOTH  # the protocol suite: both engines must pass it alike

FLOATS = st.none() | st.floats(width=32, allow_nan=False, allow_infinity=False)
TEXT = st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=6)
COLORS = st.none() | st.sampled_from(["red", "green", "blue"]) | TEXT
SHAPES = st.none() | st.sampled_from(["sq", "tri", "circ", "hex"]) | TEXT


@st.composite
def frames(draw: st.DrawFn) -> pl.DataFrame:
    n = draw(st.integers(1, 12))

    def column(values: st.SearchStrategy[Any]) -> list[Any]:
        return draw(st.lists(values, min_size=n, max_size=n))

    return pl.DataFrame(
        {"a": column(FLOATS), "b": column(FLOATS), "c": column(FLOATS),
         "color": column(COLORS), "shape": column(SHAPES)},
        schema={"a": pl.Float64, "b": pl.Float64, "c": pl.Float64,
                "color": pl.Utf8, "shape": pl.Utf8},
    )  # fmt: skip


PROPERTY = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture(scope="module")
def model(trained_registry: Path) -> tabforge.Model:
    return tabforge.load("mixed", registry=trained_registry)  # as the server resolves it


def _expected(model: tabforge.Model, df: pl.DataFrame) -> tuple[list[str], np.ndarray]:
    out = model.predict(df)
    proba = out.select(sorted(c for c in out.columns if c.startswith("proba_"))).to_numpy()
    return out["label"].to_list(), proba


@PROPERTY
@given(df=frames())
def test_json_binary_client_and_v1_agree_with_in_process(
    server: Server, model: tabforge.Model, df: pl.DataFrame
) -> None:
    labels, proba = _expected(model, df)
    infer = server.url + "/v2/models/mixed/infer"

    r = httpx.post(infer, json=grouped_json(df))
    assert r.status_code == 200, r.text
    out = {o["name"]: o["data"] for o in r.json()["outputs"]}
    assert out["label"] == labels
    np.testing.assert_array_equal(np.array(out["probabilities"], np.float32), proba.reshape(-1))

    body, headers = binary_body(df, True)
    r = httpx.post(infer, content=body, headers=headers)
    assert r.status_code == 200, r.text
    binary = parse_binary_response(r)
    assert binary["label"].tolist() == labels
    np.testing.assert_array_equal(binary["probabilities"], proba)

    with tabforge.Client(server.url) as client:
        per_column = client.predict("mixed", df)
    assert per_column["label"].to_list() == labels
    np.testing.assert_array_equal(
        per_column.select(
            sorted(c for c in per_column.columns if c.startswith("proba_"))
        ).to_numpy(),
        proba,
    )

    r = httpx.post(server.url + "/v1/models/mixed:predict", json={"instances": df.to_dicts()})
    assert r.status_code == 200, r.text
    v1 = r.json()["predictions"]
    assert [p["label"] for p in v1] == labels
    classes = sorted(v1[0]["probabilities"])
    np.testing.assert_array_equal(
        np.array([[p["probabilities"][c] for c in classes] for p in v1], np.float32), proba
    )

"""Conformance with the official client, unchanged: tritonclient.http."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import tritonclient.http as httpclient

import tabforge
from tests.e2e.server import BOTH, Server
from tests.helpers import mixed_frame

ENGINES = BOTH  # the protocol suite: both engines must pass it alike

ROWS = mixed_frame(25, seed=3).drop("label", "binary", "value")


@pytest.fixture(scope="module")
def client(server: Server) -> Iterator[httpclient.InferenceServerClient]:
    c = httpclient.InferenceServerClient(server.url.removeprefix("http://"))
    yield c
    c.close()


def test_health_and_metadata(client: httpclient.InferenceServerClient) -> None:
    assert client.is_server_live()
    assert client.is_server_ready()
    assert client.is_model_ready("mixed")
    assert client.is_model_ready("mixed", "1")
    assert not client.is_model_ready("nope")
    meta = client.get_model_metadata("mixed")
    assert meta["platform"] == "onnx_onnxv1"
    assert [i["name"] for i in meta["inputs"]] == ["numeric", "categorical"]


def _outputs() -> list[httpclient.InferRequestedOutput]:
    return [httpclient.InferRequestedOutput("label", binary_data=False),
            httpclient.InferRequestedOutput("probabilities", binary_data=False)]  # fmt: skip


def test_infer_with_grouped_tensors(
    client: httpclient.InferenceServerClient, trained_registry: Path
) -> None:
    numeric = ROWS.select("a", "b", "c").to_numpy().astype(np.float32)  # NaN where missing
    categorical = ROWS.select("color", "shape").fill_null("").to_numpy().astype(object)
    a = httpclient.InferInput("numeric", list(numeric.shape), "FP32")
    a.set_data_from_numpy(numeric, binary_data=False)
    b = httpclient.InferInput("categorical", list(categorical.shape), "BYTES")
    b.set_data_from_numpy(categorical, binary_data=False)
    result = client.infer("mixed", [a, b], model_version="1", outputs=_outputs())
    expected = tabforge.load("mixed:1", registry=trained_registry).predict(ROWS)
    assert [
        x.decode() if isinstance(x, bytes) else x for x in result.as_numpy("label")
    ] == expected["label"].to_list()
    np.testing.assert_allclose(result.as_numpy("probabilities"),
                               expected.drop("label").to_numpy(), atol=1e-6)  # fmt: skip


def test_infer_with_one_input_per_column(
    client: httpclient.InferenceServerClient, trained_registry: Path
) -> None:
    inputs = []
    for name in ROWS.columns:
        s = ROWS[name]
        if s.dtype.is_numeric():
            values, datatype = s.to_numpy().astype(np.float64), "FP64"
        else:
            values, datatype = s.fill_null("").to_numpy().astype(object), "BYTES"
        tensor = httpclient.InferInput(name, [len(values)], datatype)
        tensor.set_data_from_numpy(values, binary_data=False)
        inputs.append(tensor)
    result = client.infer("mixed", inputs, outputs=_outputs())
    assert result.get_response()["model_version"] == "2"
    expected = tabforge.load("mixed:2", registry=trained_registry).predict(ROWS)
    np.testing.assert_allclose(result.as_numpy("probabilities"),
                               expected.drop("label").to_numpy(), atol=1e-6)  # fmt: skip

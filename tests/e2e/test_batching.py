"""Batching and binary tensors: correctness only (no timings)."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import tritonclient.http as httpclient

import tabforge
from tabforge.serve.batching import Batcher, BatchPolicy, Feed, InferenceThreads, Outputs
from tests.e2e.server import BOTH, Server, running
from tests.e2e.wire import binary_body, grouped_json, parse_binary_response
from tests.helpers import mixed_frame

ENGINES = BOTH  # batching is part of the protocol suite: both engines must pass it alike

ROWS = mixed_frame(240, seed=11).drop("label", "binary", "value")


@pytest.fixture(scope="module")
def batching_server(
    trained_registry: Path, tmp_path_factory: pytest.TempPathFactory, engine: str
) -> Iterator[Server]:
    # A 20 ms fill delay makes concurrent requests share calls for certain.
    with running(trained_registry, tmp_path_factory.mktemp("b"), "--max-batch-rows", "64",
                 "--max-delay-us", "20000", "--engine", engine) as server:  # fmt: skip
        yield server


def test_batched_results_equal_unbatched_row_for_row(
    batching_server: Server, trained_registry: Path
) -> None:
    expected = tabforge.load("mixed:2", registry=trained_registry).predict(ROWS)
    sizes = [1, 3, 2, 5, 1, 4] * 12  # uneven requests, 216 rows
    starts = np.cumsum([0, *sizes[:-1]])

    def call(i: int) -> tuple[int, dict[str, Any]]:
        chunk = ROWS.slice(int(starts[i]), sizes[i])
        r = httpx.post(
            batching_server.url + "/v2/models/mixed/infer", json=grouped_json(chunk), timeout=60
        )
        assert r.status_code == 200, r.text
        return i, r.json()

    with ThreadPoolExecutor(24) as pool:
        answers = dict(pool.map(call, range(len(sizes))))
    for i, answer in answers.items():
        want = expected.slice(int(starts[i]), sizes[i])
        by = {o["name"]: o for o in answer["outputs"]}
        assert by["label"]["data"] == want["label"].to_list()
        proba = np.array(by["probabilities"]["data"]).reshape(sizes[i], 3)
        np.testing.assert_allclose(proba, want.drop("label").to_numpy(), atol=1e-6)
    metrics = httpx.get(batching_server.url + "/metrics").text
    count = _metric(metrics, "tabforge_batch_requests_count")
    total = _metric(metrics, "tabforge_batch_requests_sum")
    assert total > count, "no call carried more than one request: batching did not happen"


def _metric(metrics: str, name: str) -> float:
    """The value of ``name`` for mixed:2 in a Prometheus text page."""
    found = re.search(rf'{name}\{{model="mixed",version="2"\}} (\S+)', metrics)
    assert found is not None, f"{name} not in /metrics"
    return float(found[1])


def test_a_failing_request_does_not_affect_its_batch_mates(
    batching_server: Server, trained_registry: Path
) -> None:
    expected = tabforge.load("mixed:2", registry=trained_registry).predict(ROWS.head(20))
    bad = grouped_json(ROWS.head(2))
    bad["inputs"][0]["data"][1] = "not a number"

    def call(i: int) -> tuple[int, httpx.Response]:
        body = bad if i % 3 == 0 else grouped_json(ROWS.slice(i, 1))
        return i, httpx.post(batching_server.url + "/v2/models/mixed/infer", json=body, timeout=60)

    with ThreadPoolExecutor(20) as pool:
        results = dict(pool.map(call, range(20)))
    for i, r in results.items():
        if i % 3 == 0:
            assert r.status_code == 400
            assert "holds 'not a number'" in r.json()["error"]
        else:
            assert r.status_code == 200
            label = next(o for o in r.json()["outputs"] if o["name"] == "label")["data"]
            assert label == [expected["label"][i]]


def test_a_batch_whose_run_fails_retries_its_requests_alone() -> None:
    """A run that raises for one request's rows fails that request only."""

    def run(feed: Feed) -> Outputs:
        x = feed["numeric"]
        if (x == -999).any():
            raise ValueError("poisoned row")
        return {"double": x * 2}

    async def scenario() -> list[Outputs | BaseException]:
        threads = InferenceThreads(2)
        try:
            policy = BatchPolicy(max_batch_rows=64, max_delay_us=50_000, slots=1)
            batcher = Batcher(run, threads, policy)
            feeds = [{"numeric": np.full((2, 1), float(i), dtype=np.float32)} for i in range(6)]
            feeds[3] = {"numeric": np.full((2, 1), -999.0, dtype=np.float32)}
            return await asyncio.gather(*(batcher.submit(f) for f in feeds), return_exceptions=True)
        finally:
            threads.shutdown()

    results = asyncio.run(scenario())
    for i, result in enumerate(results):
        if i == 3:
            assert isinstance(result, ValueError)
        else:
            assert not isinstance(result, BaseException)
            np.testing.assert_array_equal(result["double"], np.full((2, 1), 2.0 * i))


@pytest.mark.parametrize("outputs_binary", [True, False])
def test_binary_and_json_requests_give_identical_outputs(
    server: Server, outputs_binary: bool
) -> None:
    chunk = ROWS.head(50)
    as_json = httpx.post(server.url + "/v2/models/mixed/infer", json=grouped_json(chunk)).json()
    json_out = {o["name"]: o["data"] for o in as_json["outputs"]}
    body, headers = binary_body(chunk, outputs_binary)
    r = httpx.post(server.url + "/v2/models/mixed/infer", content=body, headers=headers)
    assert r.status_code == 200, r.text
    if outputs_binary:
        got = parse_binary_response(r)
        assert got["label"].tolist() == json_out["label"]
        np.testing.assert_array_equal(got["probabilities"].reshape(-1),
                                      np.array(json_out["probabilities"], dtype=np.float32))  # fmt: skip
    else:
        assert "inference-header-content-length" not in r.headers
        assert {o["name"]: o["data"] for o in r.json()["outputs"]} == json_out


def test_server_advertises_binary_tensor_data(server: Server) -> None:
    assert "binary_tensor_data" in httpx.get(server.url + "/v2").json()["extensions"]


LYING = [
    ("header length past the body", "999999", None, "does not fit"),
    ("size past the end", None, 10_000, "runs past the end"),
    ("size off by one", None, -1, "needs 600 bytes"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("header", "size", "words"), [c[1:] for c in LYING], ids=[c[0] for c in LYING]
)
def test_binary_requests_whose_lengths_lie_are_400(
    server: Server, header: str | None, size: int | None, words: str
) -> None:
    chunk = ROWS.head(50)
    body, headers = binary_body(chunk, True)
    if header is not None:
        headers["Inference-Header-Content-Length"] = header
    if size is not None:
        split = int(headers["Inference-Header-Content-Length"])
        head = json.loads(body[:split])
        head["inputs"][0]["parameters"]["binary_data_size"] = 600 + size if size < 0 else size
        new_head = json.dumps(head).encode()
        body = new_head + body[split:]
        headers["Inference-Header-Content-Length"] = str(len(new_head))
    r = httpx.post(server.url + "/v2/models/mixed/infer", content=body, headers=headers)
    assert r.status_code == 400
    assert words in r.json()["error"]
    assert (
        httpx.post(server.url + "/v2/models/mixed/infer", json=grouped_json(chunk)).status_code
        == 200
    )


def test_tritonclient_binary_mode(server: Server, trained_registry: Path) -> None:
    client = httpclient.InferenceServerClient(server.url.removeprefix("http://"))
    chunk = ROWS.head(30)
    numeric = chunk.select("a", "b", "c").to_numpy().astype(np.float32)
    categorical = chunk.select("color", "shape").fill_null("").to_numpy().astype(object)
    a = httpclient.InferInput("numeric", list(numeric.shape), "FP32")
    a.set_data_from_numpy(numeric, binary_data=True)
    b = httpclient.InferInput("categorical", list(categorical.shape), "BYTES")
    b.set_data_from_numpy(categorical, binary_data=True)
    outputs = [httpclient.InferRequestedOutput("label", binary_data=True),
               httpclient.InferRequestedOutput("probabilities", binary_data=True)]  # fmt: skip
    result = client.infer("mixed", [a, b], outputs=outputs)
    expected = tabforge.load("mixed:2", registry=trained_registry).predict(chunk)
    labels = [x.decode() if isinstance(x, bytes) else x for x in result.as_numpy("label")]
    assert labels == expected["label"].to_list()
    np.testing.assert_allclose(
        result.as_numpy("probabilities"), expected.drop("label").to_numpy(), atol=1e-6
    )
    # No outputs named: tritonclient asks for every output in binary.
    everything = client.infer("mixed", [a, b])
    assert everything.as_numpy("probabilities").shape == (30, 3)
    client.close()

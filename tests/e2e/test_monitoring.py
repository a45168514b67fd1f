"""The whole server's view with --workers 2: metrics, readiness, monitoring and feedback.

Each request below goes over a fresh connection, which either worker may accept, so both
workers take some; whichever answers a scrape or a report must speak for both.
"""

from __future__ import annotations

import math
import os
import signal
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import polars as pl
import pytest
from prometheus_client.mmap_dict import MmapedDict
from prometheus_client.parser import text_string_to_metric_families

import tabforge
from tests.e2e.server import Server, running, until
from tests.e2e.wire import grouped_json
from tests.helpers import Cli, mixed_frame


@pytest.fixture(scope="module")
def two(trained_registry: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """Two workers; TMPDIR set, so the server's shared directory is found under it."""
    tmp = tmp_path_factory.mktemp("two")
    with running(trained_registry, tmp, "--workers", "2", env={"TMPDIR": str(tmp)}) as server:
        yield server


def shared_dir(server: Server) -> Path:
    (found,) = server.log.parent.glob("tabforge-serve-*")
    return found


def post_each(url: str, bodies: list[dict[str, Any]]) -> list[httpx.Response]:
    """Every body on its own connection, 8 at a time (so both workers take some)."""
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda body: httpx.post(url, json=body, timeout=30), bodies))
    for r in answers:
        assert r.status_code == 200, r.text
    return answers


def requests_counted(server: Server, version: str) -> float:
    text = httpx.get(server.url + "/metrics").text
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "tabforge_requests_total"
        and sample.labels.get("model") == "mixed"
        and sample.labels.get("version") == version
        and sample.labels.get("code") == "200"
    )


def per_worker_requests(server: Server) -> list[float]:
    """Each worker's own count of mixed requests, read from its metrics file."""
    counts = []
    for path in sorted((shared_dir(server) / "metrics").glob("counter_*.db")):
        values = MmapedDict.read_all_values_from_file(str(path))  # type: ignore[no-untyped-call]
        counts.append(sum(v for key, v, _, _ in values
                          if '"tabforge_requests_total"' in key and '"model": "mixed"' in key))  # fmt: skip
    return counts


def samples(text: str, name: str) -> dict[tuple[str, ...], float]:
    """A metric's samples from an exposition: label values (sorted by label name) -> value."""
    return {
        tuple(v for _, v in sorted(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name
    }


def settled(read: Callable[[], Any]) -> Any:
    """A figure once two reads 0.1 s apart agree (counting just after answers has caught up)."""
    last = read()
    for _ in range(300):
        time.sleep(0.1)
        now = read()
        if now == last:
            return now
        last = now
    raise AssertionError(f"still changing: {last}")


def monitor(server: Server, path: str = "/v2/models/mixed/versions/2/monitor", **query: str) -> Any:
    r = httpx.get(server.url + path, params=query)
    assert r.status_code == 200, r.text
    return r.json()


def test_metrics_from_any_worker_count_the_whole_server(two: Server) -> None:
    body = grouped_json(mixed_frame(3, seed=4).drop("label", "binary", "value"))
    url = two.url + "/v2/models/mixed/versions/2/infer"
    before = requests_counted(two, "2")
    sent = 0
    deadline = time.monotonic() + 60
    # Until both workers have answered some (the kernel picks who accepts a connection).
    while len([n for n in per_worker_requests(two) if n > 0]) < 2:
        assert time.monotonic() < deadline, per_worker_requests(two)
        post_each(url, [body] * 16)
        sent += 16
    # A request is counted just after its answer: wait for the last, then every scrape agrees.
    until(lambda: requests_counted(two, "2") - before == sent, "requests counted")
    for _ in range(10):  # ten scrapes, each on its own connection: any worker answers
        assert requests_counted(two, "2") - before == sent


def test_monitor_rows_add_up_over_workers(two: Server) -> None:
    before = settled(lambda: monitor(two, window="5m")["rows"])
    frame = mixed_frame(120, seed=5).drop("label", "binary", "value")
    bodies = [grouped_json(frame.slice(i, 4)) for i in range(0, 120, 4)]
    post_each(two.url + "/v2/models/mixed/versions/2/infer", bodies)
    # Counting happens in the inference thread just after each answer: poll for it.
    until(lambda: monitor(two, window="5m")["rows"] - before == 120, "rows counted")
    for _ in range(10):
        report = monitor(two, window="5m")
        assert report["rows"] - before == 120
        assert (report["model"], report["version"], report["window"]) == ("mixed", "2", "5m")
    slots = list((shared_dir(two) / "monitor" / "mixed" / "2").glob("*.slots"))
    assert len(slots) == 2  # both workers counted some


def test_window_parameter(two: Server) -> None:
    assert monitor(two)["window"] == "1h"
    for window in ("5m", "1h", "24h"):
        assert monitor(two, window=window)["window"] == window
    body = grouped_json(mixed_frame(1, seed=1).drop("label", "binary", "value"))
    default = httpx.post(two.url + "/v2/models/mixed/infer", json=body).json()["model_version"]
    assert monitor(two, "/v2/models/mixed/monitor")["version"] == default
    for query in ("window=2h", "window=", "window=5m&window=1h", "window=1H"):
        r = httpx.get(two.url + "/v2/models/mixed/monitor?" + query)
        assert r.status_code == 400, query
        assert set(r.json()) == {"error"}
    assert httpx.get(two.url + "/v2/models/nope/monitor").status_code == 404
    assert httpx.get(two.url + "/v2/models/mixed/versions/9/monitor").status_code == 404
    r = httpx.post(two.url + "/v2/models/mixed/monitor")
    assert (r.status_code, r.headers["allow"]) == (405, "GET, HEAD")


def _expected_quality(
    answers: list[httpx.Response], truths: list[list[str]], classes: list[str]
) -> tuple[float, float, float]:
    """(accuracy, log loss, mean top probability) computed here from the answers."""
    correct = total = 0
    losses, tops = [], []
    for r, truth in zip(answers, truths, strict=True):
        outputs = {o["name"]: o for o in r.json()["outputs"]}
        labels = outputs["label"]["data"]
        proba = np.array(outputs["probabilities"]["data"], dtype=np.float64).reshape(
            len(labels), -1
        )
        correct += sum(p == t for p, t in zip(labels, truth, strict=True))
        total += len(labels)
        for row, t in zip(proba, truth, strict=True):
            losses.append(-math.log(max(row[classes.index(t)], 1e-15)))
            tops.append(row.max())
    return correct / total, float(np.mean(losses)), float(np.mean(tops))


def test_feedback_gives_realized_quality_across_workers(
    two: Server, trained_registry: Path
) -> None:
    frame = mixed_frame(90, seed=11)
    sizes = [1, 3, 2] * 15  # 45 requests, 90 rows; version 1 gets no other traffic
    bodies, truths, start = [], [], 0
    for i, size in enumerate(sizes):
        chunk = frame.slice(start, size)
        start += size
        bodies.append({"id": f"req-{i}", **grouped_json(chunk.drop("label", "binary", "value"))})
        truths.append(chunk["label"].to_list())
    answers = post_each(two.url + "/v2/models/mixed/versions/1/infer", bodies)
    assert [r.json()["id"] for r in answers] == [f"req-{i}" for i in range(45)]
    classes = tabforge.load("mixed:1", registry=trained_registry).manifest.outputs.classes
    accuracy, log_loss, top = _expected_quality(answers, truths, list(classes or []))

    url = two.url + "/v2/models/mixed/feedback"
    labels = [{"id": f"req-{i}", "label": t if len(t) > 1 else t[0]} for i, t in enumerate(truths)]
    # Half in one list, half one by one, each on its own connection: either worker joins.
    joined = httpx.post(url, json=[*labels[:20], {"id": "never-sent", "label": "low"}]).json()
    assert joined == {"joined": 20, "unknown": 1}
    for r in post_each(url, labels[20:]):
        assert r.json() == {"joined": 1, "unknown": 0}
    assert len(list((shared_dir(two) / "feedback" / "mixed").glob("*.ids"))) == 2

    path = "/v2/models/mixed/versions/1/monitor"
    live = until(lambda: monitor(two, path, window="5m")["live"], "live quality")
    assert live["labels"] == 90
    assert live["accuracy"] == pytest.approx(accuracy, rel=1e-9)
    assert live["log_loss"] == pytest.approx(log_loss, rel=1e-6)
    assert live["expected_accuracy_estimate"] == pytest.approx(top, rel=1e-6)
    quality = samples(httpx.get(two.url + "/metrics").text, "tabforge_live_quality")
    # label values sorted by label name: metric, model, version, window
    assert quality[("accuracy", "mixed", "1", "5m")] == pytest.approx(accuracy, rel=1e-9)
    assert quality[("log_loss", "mixed", "1", "1h")] == pytest.approx(log_loss, rel=1e-6)


@pytest.mark.parametrize(("body", "words"), [
    (b"{", "invalid feedback"),
    (b'{"label": "low"}', "invalid feedback"),
    (b'{"id": "req-1", "label": "low", "extra": 1}', "invalid feedback"),
    (b'{"id": "req-1", "value": 2.5}', "give a 'label'"),
    (b'{"id": "req-1", "label": ["low", "mid"]}', "2 label(s) for a request of 3 row"),
    (b'{"id": "req-0", "label": "purple"}', "not a class"),
    (b'[{"id": "req-0", "label": "low"}, {"id": "req-1", "label": "low"}]', "request of 3 row"),
])  # fmt: skip
def test_bad_feedback_is_400_and_counts_nothing(two: Server, body: bytes, words: str) -> None:
    path = "/v2/models/mixed/versions/1/monitor"
    before = monitor(two, path, window="5m")["live"]["labels"]
    r = httpx.post(two.url + "/v2/models/mixed/feedback", content=body)
    assert r.status_code == 400, r.text
    assert words in r.json()["error"]
    assert monitor(two, path, window="5m")["live"]["labels"] == before


def not_ready(server: Server) -> httpx.Response | None:
    r = httpx.get(server.url + "/v2/health/ready")
    return r if r.status_code == 503 else None


def test_ready_only_while_every_worker_is(two: Server) -> None:
    """Last in this module: it kills a worker (uvicorn starts another)."""
    assert httpx.get(two.url + "/v2/health/ready").status_code == 200
    markers = sorted((shared_dir(two) / "ready").glob("*.json"))
    assert len(markers) == 2  # each worker said it is ready, with its process id
    os.kill(int(markers[0].stem), signal.SIGKILL)
    r = until(lambda: not_ready(two), "not ready while a worker is missing")
    assert r.json() == {"error": "models are still loading (1 of 2 workers ready)"}
    model = httpx.get(two.url + "/v2/models/mixed/ready")
    assert model.status_code == 503
    assert "not loaded in every worker" in model.json()["error"]
    # uvicorn replaces the worker; ready again once the new one has loaded its models.
    until(lambda: httpx.get(two.url + "/v2/health/ready").status_code == 200, "ready", 120)
    assert httpx.get(two.url + "/v2/models/mixed/ready").json() == {"name": "mixed", "ready": True}


def test_no_monitor_turns_monitoring_off(trained_registry: Path, tmp_path: Path) -> None:
    with running(trained_registry, tmp_path, "--no-monitor") as server:
        body = {"id": "x", **grouped_json(mixed_frame(2, seed=1).drop("label", "binary", "value"))}
        assert httpx.post(server.url + "/v2/models/mixed/infer", json=body).status_code == 200
        for method, path in (("GET", "/v2/models/mixed/monitor"),
                             ("GET", "/v2/models/mixed/versions/1/monitor"),
                             ("POST", "/v2/models/mixed/feedback")):  # fmt: skip
            r = httpx.request(method, server.url + path, json={"id": "x", "label": "low"})
            assert r.status_code == 404
            assert r.json() == {"error": "monitoring is off: the server runs with --no-monitor"}
        assert httpx.get(server.url + "/v2/models/nope/monitor").json() == {
            "error": "unknown model 'nope'"
        }
        assert "tabforge_drift" not in httpx.get(server.url + "/metrics").text


# -- drift -------------------------------------------------------------------------------


def _drifted(frame: pl.DataFrame) -> pl.DataFrame:
    """``a`` scaled x3, ``color`` red replaced by an unseen purple, ``b`` mostly missing."""
    rng = np.random.default_rng(3)
    return frame.with_columns(
        pl.col("a") * 3,
        pl.col("color").replace("red", "purple"),
        pl.when(pl.Series(rng.random(frame.height) < 0.6)).then(None).otherwise(pl.col("b")).alias("b"),
    )  # fmt: skip


def _alerting(report: dict[str, Any]) -> tuple[set[str], set[str]]:
    return ({f["name"] for f in report["features"] if f["alert"]},
            {o["name"] for o in report["outputs"] if o["alert"]})  # fmt: skip


def test_drift_alerts_on_exactly_the_drifted_features_and_matches_tabforge_drift(
    registry: Path, tmp_path: Path, cli: Cli
) -> None:
    manifest = tabforge.load("mixed:2", registry=registry).manifest
    if getattr(manifest, "reference", None) is None:
        pytest.skip("this registry's versions were stored without a monitoring reference")
    clean = mixed_frame(600, seed=21).drop("binary", "value")
    drifted = _drifted(mixed_frame(600, seed=22).drop("binary", "value"))
    with running(registry, tmp_path, "--workers", "2") as server:
        for version, frame in (("1", clean), ("2", drifted)):
            rows = frame.drop("label")
            bodies = [grouped_json(rows.slice(i, 20)) for i in range(0, rows.height, 20)]
            post_each(f"{server.url}/v2/models/mixed/versions/{version}/infer", bodies)
        path = "/v2/models/mixed/versions/{}/monitor"
        until(lambda: all(monitor(server, path.format(v), window="5m")["rows"] == 600
                          for v in ("1", "2")), "rows counted")  # fmt: skip
        quiet = monitor(server, path.format("1"), window="5m")
        loud = monitor(server, path.format("2"), window="5m")
        alerts = samples(httpx.get(server.url + "/metrics").text, "tabforge_drift_alert")
    assert _alerting(quiet) == (set(), set())
    features, outputs = _alerting(loud)
    assert features == {"a", "b", "color"}
    assert outputs
    # label values sorted by label name: feature, model, version, window
    assert alerts[("a", "mixed", "2", "5m")] == 1.0
    assert alerts[("c", "mixed", "2", "5m")] == 0.0
    assert alerts[("a", "mixed", "1", "1h")] == 0.0
    for version, frame, report in (("1", clean, quiet), ("2", drifted, loud)):
        csv = tmp_path / f"rows-{version}.csv"
        frame.drop("label").write_csv(csv)
        offline = cli("drift", f"mixed:{version}", str(csv), "--json", "--registry", str(registry))
        assert offline.exit_code == 0, offline.stderr
        expected = offline.json()
        assert report["rows"] == expected["rows"] == 600
        for key in ("features", "outputs"):
            assert [_numbers(i) for i in report[key]] == [_numbers(i) for i in expected[key]]


def _numbers(item: dict[str, Any]) -> tuple[Any, ...]:
    return (item["name"], item["bins"], item["alert"],
            pytest.approx(item["psi"], rel=1e-9), pytest.approx(item["js"], rel=1e-9))  # fmt: skip

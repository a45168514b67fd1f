"""The dashboard's data, files and reports over HTTP, against real server processes.

/dashboard.json holds the server's cumulative numbers, every worker's: after a known set of
requests (each on its own connection, so both workers of two take some) whichever worker
answers gives the same totals. The page and its files are public and only named files are
served; the data and the reports are guarded by API keys like the model endpoints.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from importlib import resources
from pathlib import Path
from typing import Any

import httpx
import pytest

from tabforge.contract.evaluation import EVALUATION_FILE
from tabforge.registry import FilesystemRegistry, ServingPolicy
from tests.e2e.server import BODY, Server, running, staged, until
from tests.e2e.wire import grouped_json
from tests.helpers import mixed_frame, stored

ROWS = mixed_frame(3, seed=7).drop("label", "binary", "value")  # three rows per V2 request


@pytest.fixture(scope="module")
def two(trained_registry: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """Two workers with a response cache; TMPDIR set, so the shared directory is found."""
    tmp = tmp_path_factory.mktemp("dashboard")
    with running(trained_registry, tmp, "--workers", "2", "--cache-entries", "4",
                 env={"TMPDIR": str(tmp)}) as server:  # fmt: skip
        yield server


def send(url: str, requests: list[tuple[str, Any]]) -> list[int]:
    """(path, JSON body) pairs, each on its own connection, 8 at a time: the statuses."""

    def post(request: tuple[str, Any]) -> int:
        return httpx.post(url + request[0], json=request[1], timeout=30).status_code

    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(post, requests))


def snapshot(server: Server, **headers: str) -> dict[str, Any]:
    r = httpx.get(server.url + "/dashboard.json", headers=headers)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/json"
    return dict(r.json())


def workers_counting(server: Server) -> int:
    """Workers that counted a request: each keeps its counters in its own file."""
    (shared,) = server.log.parent.glob("tabforge-serve-*")
    return len(list((shared / "metrics").glob("counter_*.db")))


def version(snap: dict[str, Any], model: str, number: int) -> dict[str, Any]:
    (found,) = [m for m in snap["models"] if m["name"] == model]
    (entry,) = [v for v in found["versions"] if v["version"] == number]
    return dict(entry)


def grown(after: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    """What a by-label count gained between two snapshots."""
    return {k: v - before.get(k, 0) for k, v in after.items() if v != before.get(k, 0)}


def test_request_counts_add_up_over_both_workers(two: Server) -> None:
    # One body each: the cache answers repeats. V1 requests go to the default version, 2.
    v1: list[tuple[str, Any]] = [("/v2/models/mixed/versions/1/infer", grouped_json(ROWS.head(1)))]
    v2: list[tuple[str, Any]] = [("/v1/models/mixed:predict", BODY)]
    bad: list[tuple[str, Any]] = [("/v2/models/mixed/versions/2/infer", {"inputs": []})]  # 400
    unknown: list[tuple[str, Any]] = [("/v1/models/nope:predict", BODY)]  # 404
    before = snapshot(two)
    rounds = 0
    while workers_counting(two) < 2 or rounds == 0:  # until both workers took some
        assert rounds < 20, "one worker took every connection"
        statuses = send(two.url, v1 * 16 + v2 * 8 + bad * 3 + unknown * 2)
        assert statuses == [200] * 24 + [400] * 3 + [404] * 2
        rounds += 1
    expected = {"200": 24 * rounds, "400": 3 * rounds, "404": 2 * rounds}
    old = before["server"]["requests"]
    # Counted just after the answer: wait for the last, then every worker says the same.
    until(lambda: grown(snapshot(two)["server"]["requests"], old) == expected, "counted")
    for _ in range(8):  # each read on its own connection: either worker answers
        snap = snapshot(two)
        server = snap["server"]
        assert grown(server["requests"], old) == expected
        assert server["workers"] == 2
        # Every counted request is in the latency histogram; the dashboard's reads are not.
        assert server["latency"]["counts"][-1] == sum(server["requests"].values())
        (mixed,) = snap["models"]
        assert grown(mixed["requests"], before["models"][0]["requests"]) == {
            "200": 24 * rounds, "400": 3 * rounds,
        }  # fmt: skip
        for number, sent in (
            (1, {"200": 16 * rounds}),
            (2, {"200": 8 * rounds, "400": 3 * rounds}),
        ):
            now, then = version(snap, "mixed", number), version(before, "mixed", number)
            assert grown(now["requests"], then["requests"]) == sent
            # Each lookup of a repeated body is a hit or a miss; only misses reach the model.
            lookups = grown(now["cache"], then["cache"])
            assert sum(lookups.values()) == sent["200"]
            assert lookups["miss"] >= 1
            assert now["rows"] - then["rows"] == lookups["miss"]  # one row per request
            batches = now["batch_rows"], then["batch_rows"]
            assert batches[0]["sum"] - batches[1]["sum"] == lookups["miss"]
            calls = batches[0]["counts"][-1] - batches[1]["counts"][-1]
            assert 1 <= calls <= lookups["miss"]
            timed = now["inference"]["counts"][-1] - then["inference"]["counts"][-1]
            assert timed == calls


def test_histograms_are_cumulative_over_their_bounds(two: Server) -> None:
    send(two.url, [("/v2/models/mixed/versions/1/infer", grouped_json(ROWS))])
    snap = snapshot(two)
    for hist in (snap["server"]["latency"], version(snap, "mixed", 1)["batch_rows"]):
        assert len(hist["counts"]) == len(hist["bounds"]) + 1
        assert hist["bounds"] == sorted(hist["bounds"])
        assert hist["counts"] == sorted(hist["counts"])  # cumulative: never decreasing
        assert hist["counts"][-1] > 0


def test_versions_drift_and_live_quality_come_from_monitoring(two: Server) -> None:
    snap = snapshot(two)
    assert snap["server"]["monitor"] is True
    assert snap["server"]["window"] == "1h"
    for number in (1, 2):
        entry = version(snap, "mixed", number)
        assert entry["report"] == f"/v2/models/mixed/versions/{number}/report"
        assert entry["task"] == "classification"
        drift = entry["drift"]
        monitor = httpx.get(f"{two.url}/v2/models/mixed/versions/{number}/monitor").json()
        assert drift["window"] == monitor["window"] == "1h"
        assert drift["drift"] == monitor["drift"]
        assert drift["alert"] == monitor["alert"]
        if drift["drift"] == "on":
            names = [f["name"] for f in drift["features"]]
            assert names == [f["name"] for f in monitor["features"]]
            assert set(drift["features"][0]) >= {"psi", "js", "threshold", "alert"}
        assert drift["live"]["holdout"] == monitor["live"]["holdout"]
    short = httpx.get(two.url + "/dashboard.json", params={"window": "5m"}).json()
    assert short["server"]["window"] == version(short, "mixed", 1)["drift"]["window"] == "5m"
    r = httpx.get(two.url + "/dashboard.json", params={"window": "2d"})
    assert r.status_code == 400
    assert r.json() == {"error": "window '2d' is not one of 5m, 1h, 24h"}


def test_report_route_returns_each_versions_html(two: Server) -> None:
    pages = []
    for number in (1, 2):
        r = httpx.get(f"{two.url}/v2/models/mixed/versions/{number}/report", timeout=60)
        assert r.status_code == 200, r.text
        assert r.headers["content-type"] == "text/html; charset=utf-8"
        assert r.text.lstrip().lower().startswith("<!doctype html>")
        assert f"mixed:{number}" in r.text
        pages.append(r.text)
    assert pages[0] != pages[1]
    for path, error in (("/v2/models/mixed/versions/9/report", "model 'mixed' has no version '9'"),
                        ("/v2/models/mixed/versions/x/report", "model 'mixed' has no version 'x'"),
                        ("/v2/models/nope/versions/1/report", "unknown model 'nope'")):  # fmt: skip
        r = httpx.get(two.url + path)
        assert (r.status_code, r.json()) == (404, {"error": error})


def raw_status(server: Server, path: str) -> int:
    """GET ``path`` exactly as written (an HTTP client would resolve ``..`` first)."""
    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        return int(s.recv(64).split()[1])


def test_the_page_and_only_its_named_files_are_served(two: Server) -> None:
    page = httpx.get(two.url + "/")
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert 'src="/static/dashboard.js"' in page.text
    assert 'data-keys="no"' in page.text
    kinds = {"dashboard.js": "text/javascript", "dashparts.js": "text/javascript",
             "dashdrift.js": "text/javascript", "charts.js": "text/javascript",
             "dashboard.css": "text/css"}  # fmt: skip
    for name, kind in kinds.items():
        r = httpx.get(f"{two.url}/static/{name}")
        assert r.status_code == 200
        assert r.headers["content-type"] == f"{kind}; charset=utf-8"
        assert r.headers["x-content-type-options"] == "nosniff"
        again = httpx.get(f"{two.url}/static/{name}", headers={"If-None-Match": r.headers["etag"]})
        assert (again.status_code, again.content) == (304, b"")
    charts = resources.files("tabforge").joinpath("report", "static", "charts.js").read_bytes()
    assert httpx.get(two.url + "/static/charts.js").content == charts  # the report's own script
    for name in ("dashboard.html", "nope.js", "__init__.py", "%2e%2e", "..%2fREADME.md"):
        r = httpx.get(f"{two.url}/static/{name}")
        assert r.status_code == 404, name
        assert "error" in r.json()
    for path in ("/static/../x", "/static/../../pyproject.toml", "/static/..%2f..%2fpyproject.toml",
                 "/static/%2e%2e", "/static/./dashboard.js/..", "/static/"):  # fmt: skip
        assert raw_status(two, path) == 404, path


def test_aliases_route_and_shadow_as_the_registry_has_them(
    trained_registry: Path, tmp_path: Path
) -> None:
    registry = staged(trained_registry, tmp_path, route={"production": 75, "2": 25}, shadow=1.0)
    store = FilesystemRegistry(registry)
    with running(registry, tmp_path, "--watch-interval", "0.2") as server:
        snap = snapshot(server)
        (mixed,) = snap["models"]
        assert (mixed["default"], mixed["aliases"]) == (1, {"production": 1, "staging": 2})
        assert [v["aliases"] for v in mixed["versions"]] == [["production"], ["staging"]]
        assert [v["default"] for v in mixed["versions"]] == [True, False]
        assert mixed["route"] == [{"version": 1, "weight": 75}, {"version": 2, "weight": 25}]
        assert (mixed["shadow"]["version"], mixed["shadow"]["sample"]) == (2, 1.0)
        for _ in range(10):  # one at a time: at most one shadow runs at once, the rest drop
            assert send(server.url, [("/v1/models/mixed:predict", BODY)]) == [200]
            time.sleep(0.05)

        def shadowed() -> dict[str, Any] | None:
            shadow = snapshot(server)["models"][0]["shadow"]
            return shadow if sum(shadow["runs"].values()) == 10 else None

        shadow = until(shadowed, "ten shadow runs counted")
        ran = shadow["runs"].get("ran", 0)
        assert ran > 0
        assert sum(shadow["rows"].values()) == ran  # one row per request, labels compared
        assert shadow["diff"]["counts"][-1] == ran
        # A moved alias shows with the watcher's next look, no request reads the registry.
        store.promote("mixed:2", "canary")
        until(lambda: snapshot(server)["models"][0]["aliases"].get("canary") == 2, "alias seen")
        assert version(snapshot(server), "mixed", 2)["aliases"] == ["canary", "staging"]
        ServingPolicy(store).set_route("mixed", {})
        until(lambda: snapshot(server)["models"][0]["route"] == [], "route cleared")


def test_keys_guard_the_data_and_reports_but_not_the_page(
    trained_registry: Path, tmp_path: Path
) -> None:
    with running(trained_registry, tmp_path, "--no-monitor",
                 env={"TABFORGE_API_KEYS": "key-one,key-two"}) as server:  # fmt: skip
        for path in ("/dashboard.json", "/v2/models/mixed/versions/1/report"):
            r = httpx.get(server.url + path)
            assert (r.status_code, r.headers["www-authenticate"]) == (401, "Bearer"), path
            assert "error" in r.json()
            wrong = httpx.get(server.url + path, headers={"Authorization": "Bearer nope"})
            assert wrong.status_code == 403
            keyed = httpx.get(server.url + path, headers={"Authorization": "Bearer key-two"})
            assert keyed.status_code == 200, keyed.text
        page = httpx.get(server.url + "/")
        assert page.status_code == 200
        assert 'data-keys="yes"' in page.text  # the page asks for a key before any request
        assert httpx.get(server.url + "/static/dashboard.js").status_code == 200
        snap = snapshot(server, **{"X-API-Key": "key-one"})
        assert snap["server"]["monitor"] is False
        assert [v["drift"] for v in snap["models"][0]["versions"]] == [None, None]


def test_a_damaged_evaluation_still_gets_its_report(registry: Path, tmp_path: Path) -> None:
    """The page without the stored figures, saying why: not a 400 or a 500."""
    (stored(registry, "mixed:2") / EVALUATION_FILE).write_bytes(b'{"task": ')
    with running(registry, tmp_path, "--no-monitor") as server:
        r = httpx.get(f"{server.url}/v2/models/mixed/versions/2/report", timeout=60)
        assert r.status_code == 200, r.text
        assert "mixed:2" in r.text
        assert "the evaluation.json stored with mixed:2 is unreadable" in r.text
        assert str(registry) not in r.text  # no server paths on the page
        fine = httpx.get(f"{server.url}/v2/models/mixed/versions/1/report", timeout=60)
        assert fine.status_code == 200
        assert "is unreadable" not in fine.text

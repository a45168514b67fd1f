"""Hot reload from the registry, against a real multi-worker server."""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

import httpx

from tabforge.registry import FilesystemRegistry, ServingPolicy
from tests.e2e.server import BODY, running, wait_for_log


def copy_version(registry: Path, source: int, target: int, *, corrupt: bool = False) -> None:
    """A new version directory, renamed into place like the registry does."""
    tmp = registry / "mixed" / f".tmp-test-{target}"
    shutil.copytree(registry / "mixed" / str(source), tmp)
    if corrupt:
        data = bytearray((tmp / "model.onnx").read_bytes())
        data[len(data) // 2] ^= 0xFF
        (tmp / "model.onnx").write_bytes(bytes(data))
    tmp.rename(registry / "mixed" / str(target))


def test_promotions_and_route_moves_under_load_fail_no_request(
    registry: Path, tmp_path: Path
) -> None:
    copy_version(registry, 2, 3)  # three versions to move between
    store = FilesystemRegistry(registry)
    with running(registry, tmp_path, "--workers", "2") as server:
        offset = wait_for_log(server, "ready: 1 model(s)", 2)  # both workers loaded
        results: list[tuple[float, float, int, str]] = []
        stop = threading.Event()

        def client() -> None:
            with httpx.Client(timeout=30) as http:
                while not stop.is_set():
                    began = time.monotonic()
                    r = http.post(server.url + "/v1/models/mixed:predict", json=BODY)
                    results.append(
                        (
                            began,
                            time.monotonic(),
                            r.status_code,
                            r.headers.get("x-model-version", ""),
                        )
                    )

        clients = [threading.Thread(target=client) for _ in range(4)]
        for c in clients:
            c.start()
        # (promote time, time both workers had swapped, target); before any promote: latest
        timeline: list[tuple[float, float, int]] = [(0.0, 0.0, 3)]
        try:
            for i in range(10):
                target = [1, 2, 3][i % 3]
                promoted = time.monotonic()
                if i % 2 == 0:  # move the production alias, then drop the route
                    # (this order never exposes an older target between the two steps)
                    store.promote(f"mixed:{target}", "production", force=True)
                    ServingPolicy(store).set_route("mixed", {})
                    offset = wait_for_log(server, f"(default {target}, production)\n", 2, offset)
                else:  # move all traffic with a route instead
                    ServingPolicy(store).set_route("mixed", {str(target): 1})
                    offset = wait_for_log(server, f"route {target}=1\n", 2, offset)
                timeline.append((promoted, time.monotonic(), target))
        finally:
            stop.set()
            for c in clients:
                c.join(timeout=60)
    assert results
    assert {status for _, _, status, _ in results} == {200}  # zero failed requests
    # Target i may answer from its promote until every worker has swapped to target i+1.
    windows = [
        (
            promoted if i else float("-inf"),
            timeline[i + 1][1] if i + 1 < len(timeline) else float("inf"),
            target,
        )
        for i, (promoted, _, target) in enumerate(timeline)
    ]
    for began, ended, _, version in results:
        allowed = {target for start, stop, target in windows if began <= stop and ended >= start}
        assert int(version) in allowed, (began, ended, version, timeline)
    assert len({v for *_, v in results}) == 3  # every target answered at some point


def test_a_new_version_is_served_without_a_restart(registry: Path, tmp_path: Path) -> None:
    with running(registry, tmp_path, "--workers", "2") as server:
        offset = wait_for_log(server, "ready: 1 model(s)", 2)
        copy_version(registry, 1, 3)
        wait_for_log(server, "loaded mixed:3", 2, offset)
        meta = httpx.get(server.url + "/v2/models/mixed").json()
        assert meta["versions"] == ["1", "2", "3"]
        assert httpx.post(server.url + "/v2/models/mixed/versions/3/infer", json={"inputs": [
            {"name": "numeric", "shape": [1, 3], "datatype": "FP32", "data": [1, 2, 3]},
            {"name": "categorical", "shape": [1, 2], "datatype": "BYTES", "data": ["red", "sq"]},
        ]}).status_code == 200  # fmt: skip
        assert (
            httpx.post(server.url + "/v1/models/mixed:predict", json=BODY).headers[
                "x-model-version"
            ]
            == "3"
        )


def test_a_corrupt_new_version_is_refused_and_the_old_one_keeps_answering(
    registry: Path, tmp_path: Path
) -> None:
    store = FilesystemRegistry(registry)
    store.promote("mixed:1", "production")
    with running(registry, tmp_path, "--workers", "2") as server:
        offset = wait_for_log(server, "ready: 1 model(s)", 2)
        copy_version(registry, 2, 3, corrupt=True)
        store.promote("mixed:3", "production", force=True)
        wait_for_log(server, "not serving mixed:3", 2, offset)
        for _ in range(20):
            r = httpx.post(server.url + "/v1/models/mixed:predict", json=BODY)
            assert r.status_code == 200
            assert r.headers["x-model-version"] == "1"
        assert httpx.get(server.url + "/v2/models/mixed/versions/3/ready").status_code == 404
        assert "model.onnx is corrupt" in server.log.read_text()
        assert "tabforge_model_load_failures 1.0" in httpx.get(server.url + "/metrics").text


def test_no_watch_keeps_the_start_up_state(registry: Path, tmp_path: Path) -> None:
    with running(registry, tmp_path, "--no-watch") as server:
        wait_for_log(server, "ready: 1 model(s)", 1)
        FilesystemRegistry(registry).promote("mixed:1", "production")
        time.sleep(2.5)  # longer than the watch interval: a watching server would have swapped
        r = httpx.post(server.url + "/v1/models/mixed:predict", json=BODY)
        assert r.headers["x-model-version"] == "2"

"""Admin API (repository extension, promote, route) and credentials."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.server import BODY, BOTH, Server, running, wait_for_log

TOKEN = "s3cret-admin-token"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}


def test_admin_is_disabled_without_a_token(registry: Path, tmp_path: Path) -> None:
    with running(registry, tmp_path, env={"TABFORGE_ADMIN_TOKEN": ""}) as server:
        r = httpx.post(server.url + "/v2/repository/index", headers=ADMIN)
        assert r.status_code == 403
        assert "disabled" in r.json()["error"]


@pytest.fixture
def admin_server(registry: Path, tmp_path: Path) -> Iterator[Server]:
    # Two workers; the tests below talk over one keep-alive connection, so to one worker
    # (load/unload act on the worker that receives them; promote/route go to the registry).
    with running(
        registry, tmp_path, "--workers", "2", env={"TABFORGE_ADMIN_TOKEN": TOKEN}
    ) as server:
        wait_for_log(server, "ready: ", 2)  # both workers: readiness is per worker
        yield server


@pytest.mark.parametrize(("headers", "status"), [
    ({}, 401),
    ({"Authorization": "Bearer wrong"}, 403),
    ({"Authorization": f"Basic {TOKEN}"}, 401),
    ({"Authorization": f"Bearer {TOKEN}x"}, 403),
])  # fmt: skip
def test_admin_refuses_missing_and_wrong_tokens(
    admin_server: Server, headers: dict[str, str], status: int
) -> None:
    r = httpx.post(admin_server.url + "/v2/repository/index", headers=headers)
    assert r.status_code == status
    assert TOKEN not in r.text


def test_repository_index_load_and_unload(admin_server: Server) -> None:
    with httpx.Client(base_url=admin_server.url, headers=ADMIN) as http:
        index = http.post("/v2/repository/index").json()
        assert {(m["name"], m["version"], m["state"]) for m in index} == {
            ("mixed", "1", "READY"),
            ("mixed", "2", "READY"),
        }
        assert http.post("/v2/repository/models/mixed/unload").json()["state"] == "UNLOADED"
        assert http.get("/v2/models/mixed/ready").status_code == 404
        loaded = http.post("/v2/repository/models/mixed/load")
        assert loaded.status_code == 200, loaded.text
        assert loaded.json()["versions"] == [1, 2]
        assert http.get("/v2/models/mixed/ready").status_code == 200
        assert http.post("/v2/repository/models/nope/unload").status_code == 404


def test_promote_and_route_endpoints_take_effect(admin_server: Server, registry: Path) -> None:
    repo = "/v2/repository/models/mixed"
    with httpx.Client(base_url=admin_server.url, headers=ADMIN) as http:

        def served_version() -> str:
            return http.post("/v1/models/mixed:predict", json=BODY).headers["x-model-version"]

        assert served_version() == "2"
        r = http.post(f"{repo}/promote", json={"version": 1})
        assert r.status_code == 200, r.text
        assert r.json() == {"name": "mixed", "alias": "production", "version": 1}
        assert served_version() == "1"
        r = http.post(f"{repo}/route", json={"weights": {"2": 1}})
        assert r.status_code == 200, r.text
        assert served_version() == "2"
        assert http.post(f"{repo}/route", json={}).json()["route"] == {}
        assert served_version() == "1"
        bad = http.post(f"{repo}/promote", json={"version": 9})
        assert bad.status_code == 404
        assert "no version 9" in bad.json()["error"]
        assert http.post(f"{repo}/promote", content=b"{").status_code == 400
        unknown = http.post("/v2/repository/models/nope/promote", json={"version": 1})
        assert unknown.status_code == 404
        assert str(registry) not in unknown.text
        assert "<registry>" in unknown.json()["error"]


@pytest.mark.parametrize("engine", BOTH)
def test_api_keys_guard_inference_but_not_health(
    registry: Path, tmp_path: Path, engine: str
) -> None:
    keys = {"TABFORGE_API_KEYS": "key-one, key-two"}
    with running(registry, tmp_path, "--engine", engine, env=keys) as server:
        url = server.url + "/v1/models/mixed:predict"
        assert httpx.post(url, json=BODY).status_code == 401
        wrong = httpx.post(url, json=BODY, headers={"X-API-Key": "key-three"})
        assert wrong.status_code == 403
        assert "key-one" not in wrong.text
        assert (
            httpx.post(url, json=BODY, headers={"Authorization": "Bearer key-two"}).status_code
            == 200
        )
        assert httpx.post(url, json=BODY, headers={"X-API-Key": "key-one"}).status_code == 200
        assert httpx.get(server.url + "/v2/models/mixed").status_code == 401
        assert httpx.get(server.url + "/v2/health/ready").status_code == 200
        assert httpx.get(server.url + "/v2/health/live").status_code == 200
        assert httpx.get(server.url + "/metrics").status_code == 200

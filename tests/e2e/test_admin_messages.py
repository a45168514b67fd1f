"""What the admin API tells an HTTP client: refusals in the API's own terms, not the CLI's."""

from __future__ import annotations

from pathlib import Path

import httpx

from tabforge.registry import FilesystemRegistry
from tests.e2e.server import running
from tests.helpers import Cli

TOKEN = "s3cret-admin-token"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}


def test_a_refused_promote_says_how_to_force_it_over_http(
    cli: Cli, registry: Path, data_dir: Path, tmp_path: Path
) -> None:
    # mixed:3 leaves out column c, which production (mixed:1) takes: incompatible.
    trained = cli("train", str(data_dir / "mixed.csv"), "--target", "label", "--drop",
                  "binary,value,c", "--model", "logistic", "-q", registry=registry)  # fmt: skip
    assert trained.stdout == "mixed:3\n", trained.stderr
    FilesystemRegistry(registry).promote("mixed:1", "production")
    with running(registry, tmp_path, env={"TABFORGE_ADMIN_TOKEN": TOKEN}) as server:
        url = server.url + "/v2/repository/models/mixed/promote"
        refused = httpx.post(url, headers=ADMIN, json={"version": 3})
        assert refused.status_code == 400
        error = refused.json()["error"]
        assert error.startswith("mixed:3 is incompatible with production (mixed:1): ")
        assert error.endswith('(send "force": true to promote anyway)')
        assert "--force" not in error
        forced = httpx.post(url, headers=ADMIN, json={"version": 3, "force": True})
        assert forced.status_code == 200, forced.text
        assert forced.json() == {"name": "mixed", "alias": "production", "version": 3}
        documented = httpx.get(server.url + "/openapi.json").json()
        promote = documented["components"]["schemas"]["PromoteRequest"]["properties"]
        assert promote["force"]["type"] == "boolean"
    assert FilesystemRegistry(registry).aliases("mixed") == {"production": 3}

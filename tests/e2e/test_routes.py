"""Traffic routes: weighted splits of unversioned traffic, sticky per routing key."""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

import httpx
import pytest

from tabforge.registry import FilesystemRegistry, ServingPolicy
from tests.e2e.server import BODY, running, wait_for_log
from tests.helpers import Cli

V2_BODY = {"inputs": [
    {"name": "numeric", "shape": [1, 3], "datatype": "FP32", "data": [1.0, 50.0, 2.0]},
    {"name": "categorical", "shape": [1, 2], "datatype": "BYTES", "data": ["red", "sq"]},
]}  # fmt: skip


def test_route_cli_sets_shows_and_clears(registry: Path, cli: Cli) -> None:
    r = ["--registry", str(registry)]
    assert cli("models", "promote", "mixed:1", "production", *r).exit_code == 0
    run = cli("models", "route", "mixed", "production=90", "2=10", *r)
    assert run.exit_code == 0, run.stderr
    assert run.stdout == "mixed route: production=90, 2=10\n"
    assert cli("models", "show", "mixed", "--json", *r).json()["route"] == {
        "production": 90,
        "2": 10,
    }
    assert "route     production=90, 2=10" in cli("models", "show", "mixed", *r).stdout
    assert cli("models", "route", "mixed", "--clear", *r).stdout == "mixed route: cleared\n"
    assert ServingPolicy(FilesystemRegistry(registry)).route("mixed") == {}


BAD = [
    ("unknown alias", ["canary=10"], "no alias 'canary'"),
    ("unknown version", ["9=10"], "no version 9"),
    ("malformed", ["production"], "expected TARGET=WEIGHT"),
    ("negative", ["2=-1"], "expected TARGET=WEIGHT"),
    ("all zero", ["2=0"], "add up to more than 0"),
    ("nothing", [], "give TARGET=WEIGHT pairs, or --clear"),
]  # fmt: skip


@pytest.mark.parametrize(("weights", "words"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_routes_are_refused(registry: Path, cli: Cli, weights: list[str], words: str) -> None:
    run = cli("models", "route", "mixed", *weights, "--registry", str(registry))
    assert run.exit_code == 2
    assert words in run.stderr
    assert ServingPolicy(FilesystemRegistry(registry)).route("mixed") == {}


def test_split_ratio_and_sticky_keys(registry: Path, tmp_path: Path) -> None:
    ServingPolicy(FilesystemRegistry(registry)).set_route("mixed", {"1": 80, "2": 20})
    with running(registry, tmp_path, "--workers", "2") as server:
        wait_for_log(server, "route 1=80,2=20", 2)  # both workers hold the route
        n = 3000
        with httpx.Client(base_url=server.url, timeout=30) as http:
            counts = Counter(
                http.post("/v1/models/mixed:predict", json=BODY).headers["x-model-version"]
                for _ in range(n)
            )
            # Binomial(3000, 0.2): mean 600, sd 21.9; 5 sd either side is a false alarm
            # once in ~1.7 million runs.
            sd = math.sqrt(n * 0.2 * 0.8)
            assert abs(counts["2"] - n * 0.2) < 5 * sd, counts
            assert set(counts) == {"1", "2"}
            landed = {}
            for k in range(60):
                key = f"user-{k}"
                seen = {http.post("/v1/models/mixed:predict", json=BODY, headers={"X-Routing-Key": key})
                        .headers["x-model-version"] for _ in range(4)}  # fmt: skip
                v2 = http.post(
                    "/v2/models/mixed/infer", json=V2_BODY | {"parameters": {"routing_key": key}}
                )
                seen.add(v2.json()["model_version"])
                assert len(seen) == 1, (key, seen)  # same key, same version, both protocols
                landed[key] = seen.pop()
            assert set(landed.values()) == {"1", "2"}
            # An explicit version is never routed.
            assert (
                http.post("/v2/models/mixed/versions/2/infer", json=V2_BODY).json()["model_version"]
                == "2"
            )

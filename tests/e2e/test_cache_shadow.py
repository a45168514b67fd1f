"""Response cache across version swaps, and shadow traffic that never changes a response."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import numpy as np
import pytest

import tabforge
from tabforge.registry import FilesystemRegistry, ServingPolicy
from tests.e2e.server import BODY, running, wait_for_log
from tests.helpers import Cli

ROW = BODY["instances"][0]


def metric(text: str, name: str, **labels: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def predict(http: httpx.Client) -> httpx.Response:
    r = http.post("/v1/models/mixed:predict", json=BODY)
    assert r.status_code == 200, r.text
    return r


# Two workers, one keep-alive connection: every request and each metrics scrape of a test
# reach the same worker, whose counters they read.
WORKERS = ("--workers", "2")


def test_cache_hits_and_never_crosses_a_version_swap(registry: Path, tmp_path: Path) -> None:
    expected = {v: tabforge.load(f"mixed:{v}", registry=registry).predict([ROW]) for v in (1, 2)}
    with running(registry, tmp_path, "--cache-entries", "50", *WORKERS) as server, \
            httpx.Client(base_url=server.url) as http:  # fmt: skip
        offset = wait_for_log(server, "ready: 1 model(s)", 2)
        first, second = predict(http), predict(http)
        assert first.content == second.content
        assert first.headers["x-model-version"] == "2"
        text = http.get("/metrics").text
        assert metric(text, "tabforge_cache_total", version="2", result="hit") == 1
        assert metric(text, "tabforge_cache_total", version="2", result="miss") == 1
        FilesystemRegistry(registry).promote("mixed:1", "production")
        wait_for_log(server, "(default 1, production)", 2, offset)
        after = predict(http)
        assert after.headers["x-model-version"] == "1"
        p = after.json()["predictions"][0]
        assert p["label"] == expected[1]["label"][0]
        np.testing.assert_allclose([p["probabilities"][c] for c in ("high", "low", "mid")],
                                   expected[1].drop("label").row(0), atol=1e-6)  # fmt: skip
        text = http.get("/metrics").text
        assert metric(text, "tabforge_cache_total", version="1", result="miss") == 1


def test_shadow_runs_but_never_changes_a_response(registry: Path, tmp_path: Path, cli: Cli) -> None:
    run = cli("models", "shadow", "mixed", "mixed:1", "--sample", "1", "--registry", str(registry))
    assert run.stdout == "mixed shadow: 1 (100%)\n"
    expected = tabforge.load("mixed:2", registry=registry).predict([ROW])
    with running(registry, tmp_path, *WORKERS) as server, httpx.Client(base_url=server.url) as http:
        wait_for_log(server, "shadow 1", 2)
        answers = [predict(http) for _ in range(30)]
        for r in answers:
            assert r.headers["x-model-version"] == "2"
            p = r.json()["predictions"][0]
            assert p["label"] == expected["label"][0]
            np.testing.assert_allclose([p["probabilities"][c] for c in ("high", "low", "mid")],
                                       expected.drop("label").row(0), atol=1e-6)  # fmt: skip
        text = http.get("/metrics").text
        ran = metric(text, "tabforge_shadow_requests_total", version="1", result="ran")
        dropped = metric(text, "tabforge_shadow_requests_total", version="1", result="dropped")
        assert ran >= 1
        assert ran + dropped == 30
        agreed = metric(text, "tabforge_shadow_rows_total", version="1")
        assert agreed == ran  # one row per mirrored request, counted as agreeing or not
        assert re.search(r'tabforge_shadow_abs_diff_count\{model="mixed",version="1"\} [1-9]', text)


BAD = [
    ("other model", ["mixed", "other:1"], "must be a version of mixed"),
    ("bare name", ["mixed", "mixed"], "NAME:VERSION or NAME@ALIAS"),
    ("sample too big", ["mixed", "mixed:1", "--sample", "1.5"], "--sample"),
    ("unknown version", ["mixed", "mixed:9"], "no version 9"),
    ("nothing", ["mixed"], "give the shadow REF, or --clear"),
]  # fmt: skip


@pytest.mark.parametrize(("args", "words"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_shadow_settings_are_refused(
    registry: Path, cli: Cli, args: list[str], words: str
) -> None:
    run = cli("models", "shadow", *args, "--registry", str(registry))
    assert run.exit_code == 2
    assert words in run.stderr
    assert ServingPolicy(FilesystemRegistry(registry)).shadow("mixed") == {}


def test_shadow_shows_and_clears(registry: Path, cli: Cli) -> None:
    r = ["--registry", str(registry)]
    cli("models", "promote", "mixed:1", "canary", *r)
    assert cli("models", "shadow", "mixed", "mixed@canary", "--sample", "0.25", *r).exit_code == 0
    assert "shadow    canary (25% of traffic)" in cli("models", "show", "mixed", *r).stdout
    assert cli("models", "shadow", "mixed", "--clear", *r).stdout == "mixed shadow: cleared\n"
    assert cli("models", "show", "mixed", "--json", *r).json()["shadow"] == {}

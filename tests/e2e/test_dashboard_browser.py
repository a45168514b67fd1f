"""The live dashboard in a real browser (Debian's chromium, headless) against a real server.

Traffic flows while the page is open, so its charts draw rates and latency from the
differences between refreshes; version 2 is sent drifted rows, so its drift panel alerts.
A clean page has no console errors, no exceptions and no request past loopback.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import numpy as np
import polars as pl

from tests.browser import Browsed
from tests.e2e.server import Server, running, staged
from tests.e2e.wire import grouped_json
from tests.helpers import mixed_frame

# Charts with data: the whole server's two, and the model's traffic, latency, batch, cache.
CHARTS_DRAWN = """() => [...document.querySelectorAll("svg.tf-chart")]
    .filter(svg => Number(svg.getAttribute("data-points")) >= 4).length >= 5"""
KEY = "key-one"


def drifted(rows: int, seed: int) -> pl.DataFrame:
    """``a`` scaled x3, red replaced by an unseen purple, ``b`` mostly missing."""
    frame = mixed_frame(rows, seed=seed).drop("label", "binary", "value")
    missing = pl.Series(np.random.default_rng(seed).random(rows) < 0.6)
    return frame.with_columns(
        pl.col("a") * 3,
        pl.col("color").replace("red", "purple"),
        pl.when(missing).then(None).otherwise(pl.col("b")).alias("b"),
    )


def post_rows(server: Server, version: int, frame: pl.DataFrame, **headers: str) -> None:
    url = f"{server.url}/v2/models/mixed/versions/{version}/infer"
    with httpx.Client(headers=headers, timeout=30) as http:
        for start in range(0, frame.height, 20):
            assert http.post(url, json=grouped_json(frame.slice(start, 20))).status_code == 200


@contextmanager
def flowing(server: Server, **headers: str) -> Iterator[None]:
    """Unversioned V1 requests, one clean row each (now and then a bad one), until the
    block ends."""
    rows = mixed_frame(300, seed=33).drop("label", "binary", "value").to_dicts()
    stop = threading.Event()

    def run() -> None:
        url = server.url + "/v1/models/mixed:predict"
        with httpx.Client(headers=headers, timeout=30) as http:
            sent = 0
            while not stop.wait(0.02):
                sent += 1
                row = rows[sent % len(rows)] if sent % 25 else {"a": "x"}
                http.post(url, json={"instances": [row]})

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    try:
        yield
    finally:
        stop.set()
        worker.join(timeout=30)


def test_the_dashboard_shows_a_live_server(
    browsed: Browsed, trained_registry: Path, tmp_path: Path
) -> None:
    registry = staged(
        trained_registry, tmp_path, route={"production": 70, "staging": 30}, shadow=0.5
    )
    page = browsed.page
    with running(registry, tmp_path, "--workers", "2", "--cache-entries", "16") as server:
        post_rows(server, 1, mixed_frame(400, seed=31).drop("label", "binary", "value"))
        post_rows(server, 2, drifted(600, seed=32))
        with flowing(server):
            page.goto(server.url + "/")
            page.wait_for_function(CHARTS_DRAWN, timeout=60_000)
            assert page.locator("section.model h2").all_inner_texts() == ["mixed"]
            rows = page.locator("table.versions tbody tr")
            assert rows.count() == 2
            assert rows.nth(0).inner_text().startswith("v1 default\tproduction\t")
            assert "staging" in rows.nth(1).inner_text()
            head = page.locator(".model-head").inner_text()
            assert "production → v1" in head
            assert "staging → v2" in head
            assert "v1 70\u202f% · v2 30\u202f%" in page.locator(".model-lines").inner_text()
            assert "of unversioned requests mirrored" in page.locator(".model-lines").inner_text()
            tiles = page.locator(".tile .value").all_inner_texts()
            assert all(value.strip() != "\u2013" for value in tiles[:4]), tiles
            # Drift: a panel per version, the drifted one alerting on the drifted columns.
            blocks = page.locator(".drift-block")
            assert blocks.count() == 2
            assert blocks.nth(0).locator(".badge.alert").count() == 0
            assert blocks.nth(1).locator("h3 .badge.alert").inner_text().lower() == "drift alert"
            alerting = (
                blocks.nth(1)
                .locator("tr.alert")
                .evaluate_all("rows => rows.map(r => r.getAttribute('data-column'))")
            )
            assert {"a", "b", "color"} <= set(alerting)
            assert blocks.nth(1).locator(".psi-limit").count() > 0
            assert "expected accuracy" in blocks.nth(0).inner_text()
            with page.expect_popup() as opened:
                page.locator("a.report-link").nth(0).click()
            report = opened.value
            report.wait_for_load_state()
            assert "mixed:1" in report.title()
            report.close()
            page.wait_for_timeout(3000)  # one more refresh with traffic, for the picture
        shot = browsed.screenshot(tmp_path, "dashboard")
    assert shot.stat().st_size > 20_000
    assert browsed.problems() == []
    assert any(url.endswith("/static/charts.js") for url in browsed.requests)


def test_with_api_keys_the_page_asks_for_one_then_renders(
    browsed: Browsed, trained_registry: Path, tmp_path: Path
) -> None:
    page = browsed.page
    keyed = {"Authorization": f"Bearer {KEY}"}
    with running(trained_registry, tmp_path, env={"TABFORGE_API_KEYS": KEY}) as server:
        page.goto(server.url + "/")
        page.wait_for_selector("#key", state="visible")
        assert page.locator("#main").is_hidden()
        # It asks first: no request for data went out without a key (no 401 in the console).
        assert not [url for url in browsed.requests if "/dashboard.json" in url]
        browsed.screenshot(tmp_path, "dashboard-asks-for-a-key")
        page.fill("#key", KEY)
        with flowing(server, **keyed):
            page.click("#auth button[type=submit]")
            page.wait_for_function(CHARTS_DRAWN, timeout=60_000)
        assert page.locator("section.model h2").all_inner_texts() == ["mixed"]
        assert page.locator("#auth").is_hidden()
        assert page.evaluate("sessionStorage.getItem('tabforge.apiKey')") == KEY
        # The report is fetched with the key and opened from a blob: URL.
        with page.expect_popup() as opened:
            page.locator("tr[data-version='2'] a.report-link").click()
        report = opened.value
        report.wait_for_url(lambda url: url.startswith("blob:"))
        report.wait_for_load_state()
        assert "mixed:2" in report.title()
        report.close()
        browsed.screenshot(tmp_path, "dashboard-keyed")
        # A reload keeps the key (this tab's session storage): no question again.
        page.reload()
        page.wait_for_selector("section.model h2")
        assert page.locator("#auth").is_hidden()
    assert browsed.problems() == []
    assert all(
        url.startswith((server.url, "blob:", "about:", "data:")) for url in browsed.requests
    ), browsed.requests

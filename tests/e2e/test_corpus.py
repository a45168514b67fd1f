"""The bad-input corpus: every file in tests/corpus/ replayed against a real server.

Each case names its expected status and a phrase the error must contain. A 4xx must come
as {"error": ...} with no traceback, and the server must answer a correct request right
after. (A few cases are accepted inputs, e.g. NaN or null where the model imputes.)
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.server import BOTH, CAT, INFER, NUM, Server

ENGINES = BOTH  # the protocol suite: both engines must pass it alike


CORPUS = sorted((Path(__file__).parent.parent / "corpus").glob("*.json"))


def body_of(case: dict[str, Any]) -> bytes:
    if "body_b64" in case:
        return base64.b64decode(case["body_b64"])
    if "body_repeat" in case:
        r = case["body_repeat"]
        return str(r["prefix"] + r["fill"] * r["count"] + r["suffix"]).encode()
    return str(case.get("body", "")).encode()


def test_the_corpus_is_large_enough() -> None:
    assert len(CORPUS) >= 40


@pytest.mark.parametrize("path", CORPUS, ids=[p.stem for p in CORPUS])
def test_corpus_case(server: Server, path: Path) -> None:
    case = json.loads(path.read_text())
    headers = {"content-type": "application/json"} | case["headers"]
    r = httpx.request(
        case["method"], server.url + case["path"], content=body_of(case), headers=headers
    )
    assert r.status_code == case["status"], r.text
    assert "Traceback" not in r.text
    if r.status_code >= 400:
        assert r.status_code < 500
        assert case["error_contains"] in r.json()["error"]
    if r.status_code == 405:
        assert r.headers["allow"]  # RFC 9110: a 405 lists the methods that work
    if r.status_code == 401:
        assert r.headers["www-authenticate"] == "Bearer"
    ok = httpx.post(server.url + INFER, json={"inputs": [NUM, CAT]})
    assert ok.status_code == 200

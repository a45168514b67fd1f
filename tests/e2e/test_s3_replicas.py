"""Two servers on one S3 registry, as replicas behind a load balancer on two machines: a
promote or a route change made from a third process reaches both within seconds, and no
request fails meanwhile."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

from tabforge.registry import open_registry
from tests.e2e.server import BODY, running, wait_for_log
from tests.s3server import S3Server, upload

REQUESTS = 3000  # at most, per replica


def tabforge(*args: str) -> None:
    """A command from another machine: its own process, its own S3 client."""
    exe = str(Path(sys.executable).parent / "tabforge")
    done = subprocess.run([exe, *args, "-q"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_replicas_follow_a_promote_and_a_route_from_elsewhere_with_no_failed_request(
    s3: S3Server, s3_registry: str, trained_registry: Path, tmp_path: Path
) -> None:
    upload(trained_registry, s3.url, s3_registry.removeprefix("s3://").split("/")[0], "models")
    open_registry(s3_registry).promote("mixed:1", "production")
    watch = ("--watch-interval", "0.5")
    with (
        running(s3_registry, tmp_path, *watch) as one,
        running(s3_registry, tmp_path, *watch) as two,
    ):
        replicas = (one, two)
        answers: dict[str, list[tuple[int, str]]] = {r.url: [] for r in replicas}
        stop = threading.Event()

        def load(url: str) -> None:
            with httpx.Client(timeout=30) as http:
                for _ in range(REQUESTS):
                    if stop.is_set():
                        break
                    r = http.post(url + "/v1/models/mixed:predict", json=BODY)
                    answers[url].append((r.status_code, r.headers.get("x-model-version", "")))

        clients = [threading.Thread(target=load, args=(r.url,)) for r in replicas]
        for c in clients:
            c.start()
        try:
            offsets = [len(r.log.read_text()) for r in replicas]
            tabforge("models", "promote", "mixed:2", "production", "--registry", s3_registry)
            began = time.monotonic()
            for i, replica in enumerate(replicas):
                offsets[i] = wait_for_log(replica, "(default 2, production)", 1, offsets[i], 10)
            promoted_in = time.monotonic() - began
            tabforge("models", "route", "mixed", "1=1", "--registry", s3_registry)
            for i, replica in enumerate(replicas):
                wait_for_log(replica, "route 1=1", 1, offsets[i], 10)
        finally:
            stop.set()
            for c in clients:
                c.join(timeout=60)
    assert promoted_in < 10
    # Watching lists keys and rereads only what changed: model bytes were fetched at most
    # once per version and replica (here they share one cache, so once), never to check.
    bucket = s3_registry.removeprefix("s3://").split("/")[0]
    for version in (1, 2):
        assert 1 <= s3.requests("GET", f"/{bucket}/models/mixed/{version}/model.onnx") <= 2
    for url, seen in answers.items():
        assert seen, url
        assert {status for status, _ in seen} == {200}, url  # zero failed requests
        assert {version for _, version in seen} >= {"1", "2"}, url  # each followed both moves
        assert seen[-1][1] == "1", url

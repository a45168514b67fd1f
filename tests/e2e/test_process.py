"""Whole-process behaviour: graceful shutdown, demo serving, start-up errors."""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pytest

from tests.e2e.server import BOTH, running, wait_for_log


@pytest.mark.parametrize("engine", BOTH)
def test_sigterm_finishes_in_flight_requests_then_exits_0(
    trained_registry: Path, tmp_path: Path, engine: str
) -> None:
    rows = 90_000
    rng = np.random.default_rng(0)
    body = {
        "inputs": [
            {"name": "numeric", "shape": [rows, 3], "datatype": "FP32",
             "data": rng.normal(size=rows * 3).round(3).tolist()},
            {"name": "categorical", "shape": [rows, 2], "datatype": "BYTES",
             "data": ["red", "sq"] * rows},
        ]
    }  # fmt: skip
    args = ("--max-rows", "100000", "--engine", engine)
    with running(trained_registry, tmp_path, *args) as server:
        result: dict[str, httpx.Response] = {}
        sender = threading.Thread(
            target=lambda: result.setdefault(
                "r", httpx.post(server.url + "/v2/models/mixed/infer", json=body, timeout=120)
            )
        )
        sender.start()
        deadline = time.monotonic() + 60
        # Stop the server once it is handling the request, not before.
        while time.monotonic() < deadline and sender.is_alive():
            if "tabforge_requests_in_progress 1.0" in httpx.get(server.url + "/metrics").text:
                break
            time.sleep(0.01)
        assert sender.is_alive(), "the request finished before the server could be stopped"
        server.proc.send_signal(signal.SIGTERM)
        sender.join(timeout=120)
        code = server.proc.wait(timeout=60)
    assert code == 0
    response = result["r"]
    assert response.status_code == 200
    label = next(o for o in response.json()["outputs"] if o["name"] == "label")
    assert label["shape"] == [rows]
    log = server.log.read_text()
    finished = {"python": "Finished server process", "rust": "shutting down: finishing in-flight"}
    assert finished[engine] in log


def test_demo_serves_on_the_free_port_it_picked_and_its_printed_curl_commands_work(
    tmp_path: Path,
) -> None:
    exe = str(Path(sys.executable).parent / "tabforge")
    out = tmp_path / "demo.out"
    with open(out, "wb") as f:
        proc = subprocess.Popen([exe, "demo", "--port", "0", "--registry", str(tmp_path / "models")],
                                stdout=f, stderr=subprocess.STDOUT, cwd=tmp_path)  # fmt: skip
    try:
        deadline = time.monotonic() + 300
        picked = None
        while picked is None and time.monotonic() < deadline:
            picked = re.search(r"Serving churn on http://127\.0\.0\.1:(\d+) \(--port 0 picked \1\)",
                               out.read_text())  # fmt: skip
            time.sleep(0.3)
        assert picked is not None, out.read_text()
        port = int(picked.group(1))
        assert port != 0
        while time.monotonic() < deadline:
            try:
                if (
                    httpx.get(f"http://127.0.0.1:{port}/v2/health/ready", timeout=2).status_code
                    == 200
                ):
                    break
            except httpx.HTTPError:
                time.sleep(0.3)
        text = out.read_text()
        commands = [line.strip() for line in text.splitlines() if line.strip().startswith("curl ")]
        assert len(commands) == 2, text
        assert f"http://127.0.0.1:{port}/v1/models/churn:predict" in commands[0]
        assert f"http://127.0.0.1:{port}/v2/models/churn/infer" in commands[1]
        answers = [subprocess.run(shlex.split(c), capture_output=True, text=True, timeout=30, check=True).stdout
                   for c in commands]  # fmt: skip
        v1 = httpx.Response(200, content=answers[0]).json()
        v2 = httpx.Response(200, content=answers[1]).json()
        label = v1["predictions"][0]["label"]
        assert label in ("no", "yes")
        assert next(o for o in v2["outputs"] if o["name"] == "label")["data"] == [label]
        p_yes = v1["predictions"][0]["probabilities"]["yes"]
        v2_proba = next(o for o in v2["outputs"] if o["name"] == "probabilities")["data"]
        assert abs(v2_proba[1] - p_yes) < 1e-6
        # The printed report file and the pages it names are there.
        assert f"report   {tmp_path / 'churn-1.html'}" in text
        assert (tmp_path / "churn-1.html").read_text().startswith("<!doctype html>")
        assert f"dashboard: http://127.0.0.1:{port}/ " in text
        page = httpx.get(f"http://127.0.0.1:{port}/", timeout=10)
        assert page.status_code == 200
        assert "text/html" in page.headers["content-type"]
        url = f"http://127.0.0.1:{port}/v2/models/churn/versions/1/report"
        assert f"report:    {url}" in text
        served = httpx.get(url, timeout=30)
        assert served.status_code == 200
        assert "churn:1" in served.text
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0


def test_serve_refuses_a_missing_registry_and_a_busy_port(
    tmp_path: Path, trained_registry: Path
) -> None:
    exe = str(Path(sys.executable).parent / "tabforge")
    missing = subprocess.run([exe, "serve", "--registry", str(tmp_path / "nowhere")],
                             capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert missing.returncode == 2
    assert (
        missing.stderr.strip()
        == f"error: registry directory {tmp_path / 'nowhere'} does not exist "
        "(set --registry or TABFORGE_REGISTRY to use another)"
    )
    with running(trained_registry, tmp_path) as server:
        port = server.url.rsplit(":", 1)[1]
        busy = subprocess.run([exe, "serve", "--registry", str(trained_registry), "--port", port],
                              capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert busy.returncode == 2
    assert re.fullmatch(
        r"error: cannot listen on 127\.0\.0\.1:\d+: Address already in use\n", busy.stderr
    )


def test_two_workers_serve_one_port(trained_registry: Path, tmp_path: Path) -> None:
    env_before = dict(os.environ)
    with running(trained_registry, tmp_path, "--workers", "2") as server:
        wait_for_log(server, "ready: 1 model(s)", 2)  # /v2/health/ready answers per worker
        body = {"instances": [{"a": 1.0, "b": 2.0, "c": 0.0, "color": "red", "shape": "sq"}]}
        answers = {
            httpx.post(server.url + "/v1/models/mixed:predict", json=body).text for _ in range(20)
        }
        assert len(answers) == 1  # every worker gives the same answer
    assert server.proc.returncode == 0
    assert dict(os.environ) == env_before

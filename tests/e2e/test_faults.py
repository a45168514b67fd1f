"""Faults a real machine has: odd clients, kills, corrupt files. Loopback only, bounded."""

from __future__ import annotations

import contextlib
import shutil
import signal
import socket
import threading
import time
from pathlib import Path

import httpx

from tests.e2e.server import BODY, Server, running, wait_for_log
from tests.helpers import snapshot

V2 = "/v2/models/mixed/infer"
GOOD = {"inputs": [
    {"name": "numeric", "shape": [1, 3], "datatype": "FP32", "data": [1.0, 2.0, 3.0]},
    {"name": "categorical", "shape": [1, 2], "datatype": "BYTES", "data": ["red", "sq"]},
]}  # fmt: skip


def test_deeply_nested_json_is_a_400(server: Server) -> None:
    for depth in (2_000, 100_000):
        nested = "[" * depth + "1.0" + "]" * depth
        body = (
            '{"inputs":[{"name":"numeric","shape":[1,3],"datatype":"FP32","data":' + nested + "}]}"
        )
        for path in (V2, "/v1/models/mixed:predict"):
            r = httpx.post(
                server.url + path, content=body, headers={"content-type": "application/json"}
            )
            assert r.status_code == 400, r.text
            assert "error" in r.json()
    assert httpx.post(server.url + V2, json=GOOD).status_code == 200
    assert "Traceback" not in server.log.read_text()


def test_a_client_that_disconnects_mid_request_harms_nobody(server: Server) -> None:
    for _ in range(20):
        with socket.create_connection(("127.0.0.1", int(server.url.rsplit(":", 1)[1]))) as s:
            s.sendall(b"POST " + V2.encode() + b" HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      b"Content-Length: 5000\r\n\r\n{\"inputs\": [")  # fmt: skip
    assert httpx.post(server.url + V2, json=GOOD).status_code == 200
    assert "unhandled error" not in server.log.read_text()


def test_slow_clients_do_not_starve_normal_ones(server: Server) -> None:
    """200 connections dribble their headers one byte a second for a few seconds."""
    port = int(server.url.rsplit(":", 1)[1])
    stop = threading.Event()
    sockets = []
    for _ in range(200):
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(b"P")
        sockets.append(s)

    def dribble() -> None:
        line = b"OST /v2/health/live HTTP/1.1\r\nHost: slow\r\n"
        for i in range(min(len(line), 5)):
            if stop.wait(1.0):
                return
            for s in sockets:
                with contextlib.suppress(OSError):  # the server may close a slow socket
                    s.sendall(line[i : i + 1])

    slow = threading.Thread(target=dribble)
    slow.start()
    try:
        with httpx.Client(base_url=server.url, timeout=10) as http:
            statuses = [http.post(V2, json=GOOD).status_code for _ in range(50)]
        assert statuses == [200] * 50
    finally:
        stop.set()
        slow.join()
        for s in sockets:
            s.close()


def test_connections_that_never_finish_their_headers_are_closed(
    registry: Path, tmp_path: Path
) -> None:
    """Slowloris: heads dribbled a byte a second are cut off at --header-timeout."""
    with running(registry, tmp_path, "--header-timeout", "2") as server:
        port = int(server.url.rsplit(":", 1)[1])
        sockets = [socket.create_connection(("127.0.0.1", port)) for _ in range(100)]
        line = b"POST /v2/models/mixed/infer HTTP/1.1\r\nHost: slow\r\nX-Pad: " + b"a" * 60
        closed: set[int] = set()
        try:
            for i in range(len(line)):  # at most ~70 s; the server cuts them after ~2 s
                for n, s in enumerate(sockets):
                    if n in closed:
                        continue
                    try:
                        s.sendall(line[i : i + 1])
                        s.settimeout(0.001)
                        if s.recv(1) == b"":
                            closed.add(n)
                    except (TimeoutError, BlockingIOError):
                        pass
                    except OSError:  # reset: closed too
                        closed.add(n)
                if len(closed) == len(sockets):
                    break
                assert httpx.post(server.url + V2, json=GOOD).status_code == 200
                time.sleep(1.0)
        finally:
            for s in sockets:
                s.close()
        assert len(closed) == len(sockets)
        assert httpx.post(server.url + V2, json=GOOD).status_code == 200


def test_a_body_that_never_finishes_gets_408_and_the_connection_closed(
    registry: Path, tmp_path: Path
) -> None:
    with running(registry, tmp_path, "--body-timeout", "2") as server:
        port = int(server.url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port)) as s:
            s.sendall(b"POST /v2/models/mixed/infer HTTP/1.1\r\nHost: x\r\n"
                      b"Content-Type: application/json\r\nContent-Length: 500\r\n\r\n"
                      b'{"inputs": [')  # fmt: skip
            s.settimeout(60)
            answer = b""
            while chunk := s.recv(4096):  # the server answers, then closes
                answer += chunk
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 408")
        assert b"did not arrive within 2 s" in body
        assert httpx.post(server.url + V2, json=GOOD).status_code == 200


def test_sigkill_under_load_then_restart_serves_the_same_versions(
    registry: Path, tmp_path: Path
) -> None:
    before = snapshot(registry)
    with running(registry, tmp_path) as server:
        versions = httpx.get(server.url + "/v2/models/mixed").json()["versions"]
        stop = threading.Event()

        def load() -> None:
            with httpx.Client(base_url=server.url, timeout=5) as http:
                while not stop.is_set():
                    try:
                        http.post("/v1/models/mixed:predict", json=BODY)
                    except httpx.HTTPError:
                        return  # the server is gone

        clients = [threading.Thread(target=load) for _ in range(4)]
        for c in clients:
            c.start()
        time.sleep(1.0)
        server.proc.send_signal(signal.SIGKILL)
        server.proc.wait(timeout=30)
        stop.set()
        for c in clients:
            c.join(timeout=30)
    assert snapshot(registry) == before  # nothing in the registry was touched
    with running(registry, tmp_path) as again:
        assert httpx.get(again.url + "/v2/models/mixed").json()["versions"] == versions
        assert httpx.post(again.url + "/v1/models/mixed:predict", json=BODY).status_code == 200


def test_a_corrupt_model_at_start_up_is_skipped_and_the_others_serve(
    registry: Path, tmp_path: Path
) -> None:
    for name in ("broken", "gone", "flipped"):
        shutil.copytree(registry / "mixed", registry / name)
    model = registry / "broken" / "1" / "model.onnx"
    model.write_bytes(model.read_bytes()[:100])  # truncated
    (registry / "broken" / "2" / "manifest.json").write_text("{not json")
    (registry / "gone" / "1" / "model.onnx").unlink()
    (registry / "gone" / "2" / "manifest.json").unlink()  # no manifest: not a version at all
    flipped = registry / "flipped" / "1" / "model.onnx"
    data = bytearray(flipped.read_bytes())
    data[len(data) // 2] ^= 0x01  # one bit, same length: only the sha256 can tell
    flipped.write_bytes(bytes(data))
    with running(registry, tmp_path, env={"TABFORGE_ADMIN_TOKEN": "t0ken"}) as server:
        wait_for_log(server, "ready: 2 model(s), 4 failed", 1)
        assert httpx.post(server.url + V2, json=GOOD).status_code == 200
        for name in ("broken", "gone"):
            r = httpx.post(server.url + f"/v2/models/{name}/infer", json=GOOD)
            assert r.status_code == 404
            assert name in r.json()["error"]
        # The intact version of a model with a corrupt one is served; the corrupt one is not.
        assert httpx.get(server.url + "/v2/models/flipped").json()["versions"] == ["2"]
        r = httpx.post(server.url + "/v2/models/flipped/versions/1/infer", json=GOOD)
        assert r.status_code == 404
        log = server.log.read_text()
        for ref in ("broken:1", "broken:2", "gone:1", "flipped:1"):
            assert f"not serving {ref}" in log
        assert "gone:2" not in log
        assert "Traceback" not in log
        assert "tabforge_model_load_failures 4.0" in httpx.get(server.url + "/metrics").text
        index = httpx.post(
            server.url + "/v2/repository/index", headers={"Authorization": "Bearer t0ken"}
        )
        failed = [row for row in index.json() if row["state"] == "UNAVAILABLE"]
        assert len(failed) == 4
        assert all(row["reason"] for row in failed)
        assert not [row for row in failed if str(tmp_path) in row["reason"]]  # no paths

"""The fast lane (small V2 infers answered by the protocol) and uvicorn's ASGI path behave
alike on the wire: same answers, in order on a pipelined connection, keep-alive honoured."""

from __future__ import annotations

import json
import socket
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.e2e.server import Server, running

V2 = "/v2/models/mixed/infer"
ROW = {"inputs": [
    {"name": "numeric", "shape": [1, 3], "datatype": "FP32", "data": [1.0, 2.0, 3.0]},
    {"name": "categorical", "shape": [1, 2], "datatype": "BYTES", "data": ["red", "sq"]},
]}  # fmt: skip


def _request(path: str, body: bytes = b"", *, method: str = "POST", extra: str = "") -> bytes:
    head = f"{method} {path} HTTP/1.1\r\nHost: x\r\n{extra}"
    if method == "POST":
        head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
    return head.encode() + b"\r\n" + body


class _Reader:
    """HTTP/1.1 responses read back from a raw socket, one at a time."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock, self.buffer = sock, b""

    def _fill(self) -> bool:
        chunk = self.sock.recv(65536)
        self.buffer += chunk
        return bool(chunk)

    def _line(self) -> bytes:
        while b"\r\n" not in self.buffer:
            assert self._fill(), "connection closed mid-response"
        line, self.buffer = self.buffer.split(b"\r\n", 1)
        return line

    def _exactly(self, n: int) -> bytes:
        while len(self.buffer) < n:
            assert self._fill(), "connection closed mid-body"
        data, self.buffer = self.buffer[:n], self.buffer[n:]
        return data

    def response(self) -> tuple[int, dict[str, str], bytes]:
        status = int(self._line().split()[1])
        headers = {}
        while line := self._line():
            name, _, value = line.decode().partition(":")
            headers[name.strip().lower()] = value.strip()
        if status == 100:  # an interim answer: no body
            return status, headers, b""
        if "content-length" in headers:
            return status, headers, self._exactly(int(headers["content-length"]))
        assert headers.get("transfer-encoding") == "chunked", headers
        body = b""
        while size := int(self._line(), 16):
            body += self._exactly(size)
            self._line()
        self._line()
        return status, headers, body

    def closed(self) -> bool:
        self.sock.settimeout(10)
        return not self.buffer and not self._fill()


def _connect(server: Server) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", int(server.url.rsplit(":", 1)[1])))
    sock.settimeout(30)
    return sock


def test_pipelined_requests_are_answered_in_order(server: Server) -> None:
    good = json.dumps(ROW).encode()
    two = json.dumps({"inputs": [{**ROW["inputs"][0], "data": [9.0, 9.0, 9.0]},
                                 ROW["inputs"][1]]}).encode()  # fmt: skip
    expected = [httpx.post(server.url + V2, content=b).json() for b in (good, two)]
    sequence = [
        _request(V2, good),
        _request("/v2/health/ready", method="GET"),  # not the lane's: uvicorn's ASGI path
        _request(V2, two),
        _request(V2, b'{"inputs": 1}'),  # a 400 from the lane, between good answers
        _request(V2, good),
    ]
    with _connect(server) as sock:
        sock.sendall(b"".join(sequence))  # one write: the server parses them together
        reader = _Reader(sock)
        answers = [reader.response() for _ in sequence]
    statuses = [status for status, _, _ in answers]
    assert statuses == [200, 200, 200, 400, 200]
    assert json.loads(answers[0][2]) == expected[0]
    assert json.loads(answers[1][2]) == {"ready": True}
    assert json.loads(answers[2][2]) == expected[1]
    assert "error" in json.loads(answers[3][2])
    assert json.loads(answers[4][2]) == expected[0]
    assert all(headers["content-type"] == "application/json" for _, headers, _ in answers)


def test_both_paths_give_the_same_answer(server: Server) -> None:
    """HTTP/1.0, Expect: 100-continue and a body over the lane's size go through uvicorn's
    ASGI path; a plain HTTP/1.1 request through the lane."""
    body = json.dumps(ROW).encode()
    padded = json.dumps({**ROW, "id": "x" * 70_000}).encode()  # over 64 KiB, still 1 row
    with _connect(server) as sock:
        sock.sendall(_request(V2, body))
        lane = _Reader(sock).response()
    answers = [lane]
    for raw in (
        _request(V2, body).replace(b"HTTP/1.1", b"HTTP/1.0", 1),
        _request(V2, body, extra="Expect: 100-continue\r\n"),
        _request(V2, padded),
    ):
        with _connect(server) as sock:
            sock.sendall(raw)
            reader = _Reader(sock)
            status, headers, answer = reader.response()
            if status == 100:
                status, headers, answer = reader.response()
            answers.append((status, headers, answer))
    outputs = [json.loads(answer)["outputs"] for _, _, answer in answers]
    assert [status for status, _, _ in answers] == [200] * 4
    assert all(o == outputs[0] for o in outputs)
    assert json.loads(answers[3][2])["id"] == "x" * 70_000


def test_keep_alive_and_connection_close(server: Server) -> None:
    body = json.dumps(ROW).encode()
    with _connect(server) as sock:
        reader = _Reader(sock)
        for _ in range(3):  # one connection, several requests
            sock.sendall(_request(V2, body))
            status, headers, _ = reader.response()
            assert status == 200
            assert headers.get("connection") != "close"
        sock.sendall(_request(V2, body, extra="Connection: close\r\n"))
        status, headers, _ = reader.response()
        assert status == 200
        assert headers["connection"] == "close"
        assert reader.closed()


def test_many_connections_at_once_all_get_their_own_answer(server: Server) -> None:
    """Rows differ per client; batched together, each must come back to its sender (up
    to float32 rounding: a batch of rows may round differently than one row alone)."""
    results: dict[int, list[float]] = {}

    def client(k: int) -> None:
        row = {"inputs": [{**ROW["inputs"][0], "data": [float(k), 0.5 * k, -k]},
                          ROW["inputs"][1]]}  # fmt: skip
        with httpx.Client() as c:
            for _ in range(10):
                r = c.post(server.url + V2, json=row)
                assert r.status_code == 200
                results.setdefault(k, []).append(r.json()["outputs"][1]["data"][0])

    threads = [threading.Thread(target=client, args=(k,)) for k in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    alone = {}
    for k in range(16):
        row = {"inputs": [{**ROW["inputs"][0], "data": [float(k), 0.5 * k, -k]},
                          ROW["inputs"][1]]}  # fmt: skip
        alone[k] = httpx.post(server.url + V2, json=row).json()["outputs"][1]["data"][0]
    assert sorted(results) == list(range(16))
    for k, seen in results.items():
        assert seen == pytest.approx([alone[k]] * 10, abs=1e-6), k


def test_without_the_lane_and_inline_runs_the_answers_are_the_same(
    server: Server, trained_registry: Path, tmp_path: Path
) -> None:
    """``--no-fast-lane --inline-rows 0``: every request an ASGI task, every run on a thread."""
    body = json.dumps(ROW).encode()
    with _connect(server) as sock:
        sock.sendall(_request(V2, body))
        expected = json.loads(_Reader(sock).response()[2])
    flags = ("--no-fast-lane", "--inline-rows", "0")
    with running(trained_registry, tmp_path, *flags) as plain, _connect(plain) as sock:
        sock.sendall(_request(V2, body) + _request(V2, b"{"))
        reader = _Reader(sock)
        status, headers, answer = reader.response()
        bad = reader.response()
    assert status == 200
    assert json.loads(answer) == expected
    assert int(headers["content-length"]) == len(answer)
    assert bad[0] == 400
    assert "malformed JSON" in json.loads(bad[2])["error"]


def test_an_idle_keep_alive_connection_is_closed(server: Server) -> None:
    """No timer per response: the deadline sweep closes a connection idle for the
    keep-alive time (5 s, seen to within the sweep's second)."""
    with _connect(server) as sock:
        reader = _Reader(sock)
        sock.sendall(_request(V2, json.dumps(ROW).encode()))
        assert reader.response()[0] == 200
        answered = time.monotonic()
        sock.settimeout(30)
        assert sock.recv(1) == b""  # closed by the server, not by the timeout
        idle = time.monotonic() - answered
    assert 4 <= idle <= 15

"""Start a real `tabforge serve` process on a free loopback port for tests."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# Both engines: the protocol suite's modules set ENGINES = BOTH (see conftest.py).
BOTH = ("python", "rust")


class Server:
    def __init__(self, proc: subprocess.Popen[bytes], url: str, log: Path) -> None:
        self.proc = proc
        self.url = url
        self.log = log
        self.engine = "python"

    def stop(self, timeout: float = 60) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=timeout)


@contextmanager
def running(
    registry: Path | str,
    tmp: Path,
    *args: str,
    command: str = "serve",
    env: dict[str, str] | None = None,
) -> Iterator[Server]:
    port = free_port()
    exe = str(Path(sys.executable).parent / "tabforge")
    log = tmp / f"server-{port}.log"
    argv = [exe, command, "--registry", str(registry), "--port", str(port), *args]
    url = f"http://127.0.0.1:{port}"
    with started(argv, log, url + "/v2/health/ready", env=dict(os.environ) | (env or {})) as proc:
        yield Server(proc, url, log)


@contextmanager
def started(
    argv: list[str], log: Path, ready: str, *, env: dict[str, str], cwd: Path | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """A process writing to ``log``, up once ``ready`` answers 200; SIGTERM at the end."""
    with open(log, "wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=cwd)
    try:
        wait_until_up(proc, ready, log, timeout=120)
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)


def wait_until_up(proc: subprocess.Popen[bytes], url: str, log: Path, *, timeout: float) -> None:
    """Wait until ``url`` answers 200; RuntimeError with the process's ``log`` if it exits
    or does not answer in time."""
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited early:\n{log.read_text()}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"server not ready:\n{log.read_text()}")
        time.sleep(0.2)


# Requests for the session's mixed models: a V1 body, one row of each V2 tensor, the V2 path.
BODY = {"instances": [{"a": 1.0, "b": 50.0, "c": 2.0, "color": "red", "shape": "sq"}]}
NUM = {"name": "numeric", "shape": [1, 3], "datatype": "FP32", "data": [1.0, 2.0, 3.0]}
CAT = {"name": "categorical", "shape": [1, 2], "datatype": "BYTES", "data": ["red", "sq"]}
INFER = "/v2/models/mixed/infer"


def wait_for_log(server: Server, text: str, count: int, start: int = 0, timeout: float = 60) -> int:
    """Wait until ``text`` appears ``count`` times after offset ``start``; the end offset."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        log = server.log.read_text()
        if log[start:].count(text) >= count:
            return len(log)
        time.sleep(0.05)
    raise AssertionError(f"{text!r} x{count} not logged:\n{server.log.read_text()[start:]}")


def until(check: Callable[[], Any], what: str, timeout: float = 30) -> Any:
    """Poll ``check`` until it returns something truthy; that value."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def staged(trained: Path, tmp: Path, *, route: dict[str, int], shadow: float) -> Path:
    """A copy of the trained registry (mixed:1, mixed:2) set up as a rollout: production ->
    1, staging -> 2, a weighted ``route`` and version 2 shadowing ``shadow`` of requests."""
    from tabforge.registry import FilesystemRegistry, ServingPolicy

    registry = tmp / "models"
    shutil.copytree(trained, registry)
    store = FilesystemRegistry(registry)
    store.promote("mixed:1", "production")
    store.promote("mixed:2", "staging")
    ServingPolicy(store).set_route("mixed", route)
    ServingPolicy(store).set_shadow("mixed", "mixed:2", sample=shadow)
    return registry

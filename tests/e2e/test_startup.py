"""`tabforge serve` start-up against real processes: refusals are one line and exit 2."""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.e2e.server import running

EXE = str(Path(sys.executable).parent / "tabforge")
ELSEWHERE = "(set --registry or TABFORGE_REGISTRY to use another)"


def serve(*args: str) -> subprocess.CompletedProcess[str]:
    """A serve that must refuse; the timeout fails a server that starts instead."""
    return subprocess.run([EXE, "serve", *args], capture_output=True, text=True, timeout=60,
                          check=False)  # fmt: skip


def refused(run: subprocess.CompletedProcess[str]) -> str:
    assert run.returncode == 2, run.stderr
    assert run.stderr.count("\n") == 1, run.stderr  # one line, no traceback
    assert run.stderr.startswith("error: ")
    return run.stderr.strip()


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--port", "99999"], "error: --port 99999 is out of range: use 1-65535 (0 picks a free port)"),
        (["--port", "-1"], "error: --port -1 is out of range: use 1-65535 (0 picks a free port)"),
        (["--host", ""], "error: --host is empty: give an address such as 127.0.0.1 or 0.0.0.0"),
        (["--host", "999.1.1.1"], "error: --host '999.1.1.1' is not an IP address or a known host name (e.g. 127.0.0.1, ::1, 0.0.0.0 or localhost)"),
    ],
    ids=["port too big", "port negative", "empty host", "unparsable host"],
)  # fmt: skip
def test_a_bad_address_is_refused(trained_registry: Path, args: list[str], expected: str) -> None:
    assert refused(serve("--registry", str(trained_registry), *args)) == expected


def test_a_port_in_use_is_refused(trained_registry: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        for workers in ("1", "2"):
            run = serve("--registry", str(trained_registry), "--port", str(port),
                        "--workers", workers)  # fmt: skip
            assert (
                refused(run) == f"error: cannot listen on 127.0.0.1:{port}: Address already in use"
            )


def test_every_model_named_must_be_in_the_registry(trained_registry: Path, tmp_path: Path) -> None:
    where = f"in registry {trained_registry} (models there: mixed; {ELSEWHERE[1:]}"
    one = serve("--registry", str(trained_registry), "--models", "nosuch")
    assert refused(one) == f"error: unknown model 'nosuch' {where}"
    two = serve("--registry", str(trained_registry), "--models", "mixed,nosuch", "--models", "gone")
    assert refused(two) == f"error: unknown models 'nosuch', 'gone' {where}"
    missing = serve("--registry", str(tmp_path / "nowhere"))
    assert refused(missing) == (
        f"error: registry directory {tmp_path / 'nowhere'} does not exist {ELSEWHERE}"
    )


def test_an_empty_registry_is_refused_unwatched_and_served_with_a_warning_watched(
    trained_registry: Path, tmp_path: Path
) -> None:
    empty = tmp_path / "models"
    empty.mkdir()
    assert refused(serve("--registry", str(empty), "--no-watch")) == (
        f"error: registry {empty} holds no models: nothing to serve with --no-watch {ELSEWHERE}"
    )
    with running(empty, tmp_path) as server:
        log = server.log.read_text()
        assert f"warning: registry {empty} holds no models yet: serving none until one" in log
        shutil.copytree(trained_registry / "mixed", tmp_path / ".tmp-copy")
        (tmp_path / ".tmp-copy").rename(empty / "mixed")  # a model arrives whole
        deadline = time.monotonic() + 60
        while httpx.get(server.url + "/v2/models/mixed/ready").status_code != 200:
            assert time.monotonic() < deadline, server.log.read_text()
            time.sleep(0.2)


def test_foreign_entries_in_the_registry_are_ignored_when_serving(
    registry: Path, tmp_path: Path
) -> None:
    (registry / "lost+found").mkdir(mode=0)  # as on a mounted volume: not even readable
    (registry / ".DS_Store").write_bytes(b"")
    shutil.copytree(registry / "mixed", registry / "Foo Bar")  # not a valid model name
    (registry / "mixed" / "3").mkdir()  # numbered, but no manifest: not a version
    shutil.copytree(registry / "mixed" / "2", registry / "mixed" / ".tmp-interrupted")
    try:
        for args in (["--models", "mixed"], []):
            with running(registry, tmp_path, *args) as server:
                assert httpx.get(server.url + "/v2/models/mixed").json()["versions"] == ["1", "2"]
                log = server.log.read_text()
                assert "ready: 1 model(s), 0 failed" in log
                assert "Traceback" not in log
                assert "not serving" not in log
    finally:
        (registry / "lost+found").chmod(0o700)


def test_port_zero_picks_a_free_port_and_says_which(trained_registry: Path, tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([EXE, "serve", "--registry", str(trained_registry), "--port", "0"],
                                stdout=out, stderr=subprocess.STDOUT)  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not (
            found := re.search(r"Uvicorn running on (http://127\.0\.0\.1:(\d+))", log.read_text())
        ):
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        assert found[2] != "0"
        while httpx.get(found[1] + "/v2/health/ready").status_code != 200:
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
    finally:
        proc.terminate()
        assert proc.wait(timeout=60) == 0

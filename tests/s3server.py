"""A real S3-compatible server for tests: moto in server mode on a free loopback port.

Moto checks a conditional write and then applies it in two steps, so two requests at once
could both pass the check (real S3 applies them atomically). The server here runs moto's
application behind one lock, which makes each request atomic as on S3, and logs every
request line, so a test can count what reached the store. ``--ignore-conditions`` serves
a store that drops If-None-Match and If-Match before moto sees them: one that does not
honour conditional writes, as some S3-compatible stores do not.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.server import free_port, started

CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


class S3Server:
    def __init__(self, proc: subprocess.Popen[bytes], url: str, log: Path) -> None:
        self.proc, self.url, self.log = proc, url, log

    def requests(self, method: str, key_part: str) -> int:
        """How many ``method`` requests for a key containing ``key_part`` it has answered."""
        return sum(
            1
            for line in self.log.read_text().splitlines()
            if line.startswith(method + " ") and key_part in line
        )

    def env(self, tmp: Path) -> dict[str, str]:
        """The AWS environment that points at this server and at nothing else."""
        return CREDENTIALS | {
            "AWS_ENDPOINT_URL": self.url,
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_CONFIG_FILE": str(tmp / "no-aws-config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(tmp / "no-aws-credentials"),
            "AWS_EC2_METADATA_DISABLED": "true",
            "XDG_CACHE_HOME": str(tmp / "cache"),
        }

    def use(self, tmp: Path, monkeypatch: pytest.MonkeyPatch) -> str:
        """Point this process (and those it starts) at this server, with a private model
        cache; a new bucket there, as ``s3://<bucket>/models``."""
        for key, value in self.env(tmp).items():
            monkeypatch.setenv(key, value)
        for key in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_REGION", "TABFORGE_REGISTRY"):
            monkeypatch.delenv(key, raising=False)
        bucket = f"tf-{uuid.uuid4().hex[:12]}"
        client(self.url).create_bucket(Bucket=bucket)
        return f"s3://{bucket}/models"


def client(url: str) -> Any:
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def upload(directory: Path, url: str, bucket: str, prefix: str) -> None:
    """Copy a registry directory into a bucket, file for file (the layout is the same)."""
    s3 = client(url)
    for path in sorted(directory.rglob("*")):
        if path.is_file() and not path.name.startswith("."):
            key = f"{prefix}/{path.relative_to(directory).as_posix()}"
            s3.put_object(Bucket=bucket, Key=key, Body=path.read_bytes())


@contextmanager
def s3_server(tmp: Path, *, ignore_conditions: bool = False) -> Iterator[S3Server]:
    port = free_port()
    log = tmp / f"s3-{port}.log"
    argv = [sys.executable, "-m", "tests.s3server", str(port), str(log)]
    if ignore_conditions:
        argv.append("--ignore-conditions")
    root = Path(__file__).parent.parent
    env = dict(os.environ) | {"PYTHONPATH": os.pathsep.join([str(root), *sys.path])}
    url = f"http://127.0.0.1:{port}"
    with started(argv, tmp / f"s3-{port}.out", url + "/moto-api/", env=env, cwd=root) as proc:
        yield S3Server(proc, url, log)


def _serve(port: int, log: Path, *, ignore_conditions: bool) -> None:
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
    from werkzeug.serving import WSGIRequestHandler, run_simple

    app = DomainDispatcherApplication(create_backend_app)
    lock = threading.Lock()
    out = open(log, "a", buffering=1)  # noqa: SIM115  (open for the server's life)

    def serialized(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        if ignore_conditions:
            environ.pop("HTTP_IF_NONE_MATCH", None)
            environ.pop("HTTP_IF_MATCH", None)
        with lock:
            out.write(f"{environ['REQUEST_METHOD']} {environ.get('PATH_INFO', '')}\n")
            return list(app(environ, start_response))

    class Quiet(WSGIRequestHandler):
        def log_request(self, *args: Any) -> None:
            pass

    run_simple("127.0.0.1", port, serialized, threaded=True, request_handler=Quiet)


if __name__ == "__main__":
    _serve(int(sys.argv[1]), Path(sys.argv[2]), ignore_conditions="--ignore-conditions" in sys.argv)

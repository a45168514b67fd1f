"""The registry on an S3-compatible store (moto in server mode on loopback): the same
commands as on disk, versions and aliases safe across processes, stores that cannot keep
them safe refused, model bytes fetched once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest

import tabforge
from tabforge.errors import ConfigError
from tabforge.registry import open_registry
from tests.helpers import Cli
from tests.s3server import S3Server, client, s3_server, upload

TRAIN = ["--target", "label", "--drop", "binary,value", "--model", "logistic"]


def keys(spec: str) -> list[str]:
    bucket = spec.removeprefix("s3://").split("/")[0]
    url = os.environ["AWS_ENDPOINT_URL"]
    listed = client(url).list_objects_v2(Bucket=bucket).get("Contents", [])
    return sorted(item["Key"] for item in listed)


def test_train_list_promote_rollback_predict_report_and_delete_on_s3(
    cli: Cli, data_dir: Path, s3_registry: str, tmp_path: Path
) -> None:
    data = str(data_dir / "mixed.csv")
    first = cli("train", data, *TRAIN, "--registry", s3_registry)
    assert first.exit_code == 0, first.stderr
    assert f"stored   {s3_registry}/mixed/1\n" in first.stdout
    assert cli("train", data, *TRAIN, "--registry", s3_registry, "-q").exit_code == 0
    layout = [k for k in keys(s3_registry) if "/mixed/1/" in k]
    assert layout == [f"models/mixed/1/{f}" for f in
                      (".claim", "evaluation.json", "manifest.json", "model.onnx")]  # fmt: skip

    def run(*args: str) -> str:
        done = cli(*args, "--registry", s3_registry)
        assert done.exit_code == 0, done.stderr
        return done.stdout

    assert [(m["name"], m["versions"]) for m in json.loads(run("models", "list", "--json"))] == [
        ("mixed", [1, 2])
    ]
    run("models", "promote", "mixed:1", "production", "-q")
    run("models", "promote", "mixed:2", "production", "-q")
    assert "mixed@production -> mixed:1" in run("models", "rollback", "mixed", "production")
    store = open_registry(s3_registry)
    assert [(e.action, e.version) for e in store.history("mixed")] == [
        ("promote", 1), ("promote", 2), ("rollback", 1)
    ]  # fmt: skip

    out = tmp_path / "scored.parquet"
    run("predict", "mixed@production", data, "-o", str(out), "-q")
    expected = tabforge.load("mixed:1", registry=s3_registry).predict(pl.read_csv(data))
    assert pl.read_parquet(out).equals(expected)
    page = json.loads(run("report", "mixed:1", "--json"))
    assert page["report"] == "version"
    assert page["evaluation"]  # evaluation.json read back from the store

    # A registry object answers from its last listing for s3.FRESH seconds (one watch look
    # lists once), so each check after a change made elsewhere looks with a new one.
    run("models", "delete", "mixed:2", "-q")
    assert open_registry(s3_registry).versions("mixed") == [1]
    assert [k for k in keys(s3_registry) if "/mixed/2/" in k] == ["models/mixed/2/.claim"]
    assert cli("train", data, *TRAIN, "--registry", s3_registry, "-q").exit_code == 0
    # a claimed number is never handed out again
    assert open_registry(s3_registry).versions("mixed") == [1, 3]


RACER = """
import os, sys, time
from tabforge.registry import open_registry
spec, go, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
store = open_registry(spec)
store.versions("race")  # connect before the start
while not os.path.exists(go):
    time.sleep(0.005)
got = [store.put("race", b"onnx", lambda v: b'{"version": %d}' % v) for _ in range(n)]
for version in got:
    store.promote(f"race:{version}", "staging")
print(" ".join(map(str, got)))
"""


def test_processes_writing_at_once_each_get_their_own_versions_and_lose_no_alias_event(
    s3_registry: str, tmp_path: Path
) -> None:
    go, racers, each = tmp_path / "go", 4, 3
    procs = [
        subprocess.Popen([sys.executable, "-c", RACER, s3_registry, str(go), str(each)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(racers)
    ]  # fmt: skip
    time.sleep(1.0)
    go.touch()
    got = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        got += [int(v) for v in out.split()]
    assert sorted(got) == list(range(1, racers * each + 1))  # exactly one winner per number
    store = open_registry(s3_registry)
    assert store.versions("race") == sorted(got)
    history = store.history("race")
    assert sorted(e.version or 0 for e in history if e.action == "promote") == sorted(got)
    assert [e.previous for e in history[1:]] == [e.version for e in history[:-1]]


def test_a_store_that_ignores_conditional_writes_is_refused_in_one_line(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with s3_server(tmp_path, ignore_conditions=True) as lax:
        spec = lax.use(tmp_path, monkeypatch)
        bucket = spec.removeprefix("s3://").split("/")[0]
        client(lax.url).put_object(Bucket=bucket, Key="models/m/1/manifest.json", Body=b"{}")
        refused = cli("models", "promote", "m:1", "staging", "--registry", spec)
        assert refused.exit_code == 2
        assert refused.stderr == (
            f"error: {spec} does not honour conditional writes (If-None-Match); "
            "tabforge needs them to keep versions and aliases safe\n"
        )
        with pytest.raises(ConfigError, match="does not honour conditional writes"):
            open_registry(spec).put("m", b"onnx", lambda v: b"{}")
        assert keys(spec) == ["models/m/1/manifest.json"]  # nothing written, probe removed


def test_model_bytes_are_fetched_once_then_read_from_the_local_cache_by_sha256(
    s3: S3Server, s3_registry: str, trained_registry: Path
) -> None:
    bucket = s3_registry.removeprefix("s3://").split("/")[0]
    upload(trained_registry, s3.url, bucket, "models")
    model_key = f"/{bucket}/models/mixed/1/model.onnx"
    first = tabforge.load("mixed:1", registry=s3_registry)
    assert s3.requests("GET", model_key) == 1
    again = tabforge.load("mixed:1", registry=s3_registry)  # a new registry object, as after
    assert s3.requests("GET", model_key) == 1  # a restart: the bytes come from the cache
    assert again.manifest == first.manifest
    cached = Path(os.environ["XDG_CACHE_HOME"], "tabforge", "models")
    entry = cached / f"{first.manifest.model_sha256}.onnx"
    entry.write_bytes(b"damaged")
    tabforge.load("mixed:1", registry=s3_registry)  # checked, dropped, fetched again
    assert s3.requests("GET", model_key) == 2
    assert entry.read_bytes() != b"damaged"


def test_store_failures_are_one_line_with_their_exit_code(
    cli: Cli, data_dir: Path, s3_registry: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = cli("models", "list", "--registry", "s3://no-such-bucket-here/models")
    assert missing.exit_code == 2
    assert missing.stderr.startswith("error: bucket no-such-bucket-here does not exist")
    assert missing.stderr.count("\n") == 1
    train = [
        "train",
        str(data_dir / "mixed.csv"),
        *TRAIN,
        "--registry",
        "s3://no-such-bucket-here/m",
    ]
    assert cli(*train).stderr == missing.stderr  # refused before training, not after

    with monkeypatch.context() as env:
        env.delenv("AWS_ACCESS_KEY_ID")
        env.delenv("AWS_SECRET_ACCESS_KEY")
        anonymous = cli("models", "list", "--registry", s3_registry)
    assert anonymous.exit_code == 2
    assert anonymous.stderr.startswith(f"error: no AWS credentials for {s3_registry}:")

    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens there
    unreachable = cli("models", "list", "--registry", s3_registry)
    assert unreachable.exit_code == 3
    assert unreachable.stderr.startswith(f"error: cannot list {s3_registry}:")
    assert unreachable.stderr.count("\n") == 1

"""The Rust engine (``tabforge serve --engine rust``) as a process: hot reload from the
registry, routing keys that land where the Python server lands them, a corrupt version
refused while the previous one keeps serving. (SIGTERM: test_process.py, both engines.)

The protocol suite (test_serve, test_corpus, test_tritonclient, test_properties) runs on
both engines; these are the behaviours that need a registry changing under the server.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import httpx

from tabforge.registry import FilesystemRegistry, ServingPolicy
from tests.e2e.server import BODY, Server, running, until, wait_for_log

RUST = ("--engine", "rust", "--watch-interval", "0.2")


def version_of(server: Server, key: str | None = None) -> str:
    headers = {"X-Routing-Key": key} if key else {}
    r = httpx.post(server.url + "/v1/models/mixed:predict", json=BODY, headers=headers)
    assert r.status_code == 200, r.text
    return r.headers["x-model-version"]


def test_new_versions_moved_aliases_and_routes_apply_without_a_restart(
    registry: Path, tmp_path: Path
) -> None:
    store = FilesystemRegistry(registry)
    with running(registry, tmp_path, *RUST) as server:
        wait_for_log(server, "ready: 1 model(s), 0 failed", 1)
        assert version_of(server) == "2"  # the latest: no production alias
        store.promote("mixed:1", "production")
        until(lambda: version_of(server) == "1", "the promotion was not followed")
        store.promote("mixed:2", "production")
        until(lambda: version_of(server) == "2", "the second promotion was not followed")
        store.rollback("mixed", "production")
        until(lambda: version_of(server) == "1", "the rollback was not followed")
        store.promote("mixed:2", "production")
        until(lambda: version_of(server) == "2", "the third promotion was not followed")
        shutil.copytree(registry / "mixed" / "1", tmp_path / "staged")
        manifest = json.loads((tmp_path / "staged" / "manifest.json").read_text())
        (tmp_path / "staged" / "manifest.json").write_text(json.dumps(manifest | {"version": 3}))
        (tmp_path / "staged").rename(registry / "mixed" / "3")  # as the registry adds one
        wait_for_log(server, "loaded mixed:3", 1)
        meta = httpx.get(server.url + "/v2/models/mixed").json()
        assert meta["versions"] == ["1", "2", "3"]
        assert version_of(server) == "2"  # production still says 2
        shutil.rmtree(registry / "mixed" / "3")
        until(
            lambda: httpx.get(server.url + "/v2/models/mixed").json()["versions"] == ["1", "2"],
            "a deleted version kept being served",
        )


def test_routing_keys_land_on_the_same_version_as_in_the_python_server(
    registry: Path, tmp_path: Path
) -> None:
    ServingPolicy(FilesystemRegistry(registry)).set_route("mixed", {"2": 30, "1": 70})
    keys = [f"customer-{k}" for k in range(80)]
    landed: dict[str, dict[str, str]] = {}
    for engine in ("python", "rust"):
        with running(registry, tmp_path, "--engine", engine) as server:
            wait_for_log(server, "route 2=30,1=70", 1)
            landed[engine] = {key: version_of(server, key) for key in keys}
            assert {version_of(server, keys[0]) for _ in range(5)} == {landed[engine][keys[0]]}
    assert landed["rust"] == landed["python"]
    assert set(landed["rust"].values()) == {"1", "2"}


def test_a_corrupt_version_is_refused_and_the_previous_one_keeps_serving(
    registry: Path, tmp_path: Path
) -> None:
    with running(registry, tmp_path, *RUST) as server:
        wait_for_log(server, "ready: 1 model(s)", 1)
        bad = tmp_path / "bad"
        shutil.copytree(registry / "mixed" / "2", bad)
        manifest = json.loads((bad / "manifest.json").read_text())
        (bad / "manifest.json").write_text(json.dumps(manifest | {"version": 3}))
        onnx = bytearray((bad / "model.onnx").read_bytes())
        onnx[len(onnx) // 2] ^= 0xFF
        (bad / "model.onnx").write_bytes(bytes(onnx))
        bad.rename(registry / "mixed" / "3")
        wait_for_log(server, "sha256 does not match the manifest", 1)
        assert version_of(server) == "2"
        metrics = httpx.get(server.url + "/metrics").text
        assert "tabforge_model_load_failures 1.0" in metrics
        assert httpx.get(server.url + "/v2/models/mixed").json()["versions"] == ["1", "2"]
        r = httpx.post(server.url + "/v2/models/mixed/versions/3/infer", json={"inputs": []})
        assert r.status_code == 404
        assert r.json() == {"error": "model 'mixed' has no version '3'"}


def test_both_engines_answer_every_task_alike(tmp_path: Path) -> None:
    """Regression and clustering too (the shared suite's model is a classifier): the same
    V1 and V2 bodies get the same answers, to the digit, from both engines."""
    from click.testing import CliRunner
    from sklearn.datasets import load_diabetes, load_iris

    from tabforge.cli import main

    registry = tmp_path / "models"
    diabetes = load_diabetes(as_frame=True).frame.head(200)
    iris = load_iris(as_frame=True).frame.drop(columns="target")
    diabetes.to_csv(tmp_path / "diabetes.csv", index=False)
    iris.to_csv(tmp_path / "iris.csv", index=False)
    for argv in (["diabetes.csv", "--target", "target", "--model", "ridge"],
                 ["iris.csv", "--model", "kmeans", "--param", "n_clusters=3"]):  # fmt: skip
        argv[0] = str(tmp_path / argv[0])
        run = CliRunner().invoke(main, ["train", *argv, "--registry", str(registry), "-q"])
        assert run.exit_code == 0, run.output
    bodies = {
        "diabetes": diabetes.drop(columns="target").head(7).to_dict("records"),
        "iris": iris.head(7).to_dict("records"),
    }
    answers: dict[str, list[object]] = {}
    for engine in ("python", "rust"):
        with running(registry, tmp_path, "--engine", engine) as server:
            got: list[object] = []
            for name, rows in bodies.items():
                v1 = httpx.post(f"{server.url}/v1/models/{name}:predict", json={"instances": rows})
                assert v1.status_code == 200, v1.text
                columns = list(rows[0])
                v2 = httpx.post(f"{server.url}/v2/models/{name}/infer", json={"inputs": [
                    {"name": "numeric", "shape": [len(rows), len(columns)], "datatype": "FP32",
                     "data": [[row[c] for c in columns] for row in rows]}]})  # fmt: skip
                assert v2.status_code == 200, v2.text
                got += [v1.json(), v2.json()["outputs"]]
            answers[engine] = got
    assert answers["rust"] == answers["python"]


def test_an_unreadable_route_keeps_the_route_served_and_its_failure_clears_when_mended(
    registry: Path, tmp_path: Path
) -> None:
    store = FilesystemRegistry(registry)
    store.promote("mixed:1", "production")
    ServingPolicy(store).set_route("mixed", {"2": 100})
    good = (registry / "mixed" / "routes.json").read_bytes()
    with running(registry, tmp_path, *RUST) as server:
        wait_for_log(server, "route 2=100", 1)
        (registry / "mixed" / "routes.json").write_text("{not json")
        wait_for_log(server, "not serving mixed route: unreadable routes.json", 1)
        assert {version_of(server) for _ in range(5)} == {"2"}  # the route still holds
        assert "tabforge_model_load_failures 1.0" in httpx.get(server.url + "/metrics").text
        (registry / "mixed" / "routes.json").write_bytes(good)
        until(
            lambda: "tabforge_model_load_failures 0.0" in httpx.get(server.url + "/metrics").text,
            "the mended route's failure was not cleared",
        )

"""Storage failures: the file system refuses a registry write.

They exit 3, not 2 (bad input), answer 507 over HTTP, and leave the registry as it was.
Every failure here is real, made with the file system rather than mocks: tests run as root,
where chmod stops nothing, so each test puts a directory where the registry writes a file,
or a file where it makes a directory. (A full disk and a read-only mount are in
test_registry.py; they need a private mount namespace.)
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tabforge.errors import StorageError
from tabforge.registry import FilesystemRegistry, ServingPolicy
from tests.e2e.server import running
from tests.helpers import Cli, snapshot

TRAIN = ("--target", "label", "--model", "logistic", "--drop", "binary,value", "--name", "m")


def leftovers(root: Path) -> list[str]:
    """Temporary entries a failed write may not leave behind."""
    return [str(p.relative_to(root)) for p in root.rglob(".tmp-*")]


def test_a_file_where_the_model_directory_goes_exits_3(
    cli: Cli, data_dir: Path, tmp_path: Path
) -> None:
    registry = tmp_path / "models"
    registry.mkdir()
    (registry / "m").write_text("not a model directory")
    run = cli("train", str(data_dir / "mixed.csv"), *TRAIN, "--registry", str(registry))
    assert run.exit_code == 3, run.stderr
    assert run.stderr == f"error: cannot create registry directory {registry / 'm'}: File exists\n"
    assert (registry / "m").read_text() == "not a model directory"


def test_a_registry_under_a_file_exits_3(cli: Cli, data_dir: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the registry's parent should be")
    run = cli("train", str(data_dir / "mixed.csv"), *TRAIN, "--registry", str(blocker / "models"))
    assert run.exit_code == 3, run.stderr
    assert run.stderr.startswith(f"error: cannot create registry directory {blocker / 'models'}")
    assert run.stderr.endswith(": Not a directory\n")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["models", "promote", "mixed:1", "production"], "update aliases of mixed in registry"),
        (["models", "route", "mixed", "1=50", "2=50"], "update the route of mixed in registry"),
        (["models", "shadow", "mixed", "mixed:2"], "update the shadow of mixed in registry"),
        (["models", "delete", "mixed:2"], "delete mixed:2"),
    ],
    ids=["promote", "route", "shadow", "delete"],
)
def test_a_write_the_file_system_refuses_exits_3_and_changes_nothing(
    registry: Path, cli: Cli, args: list[str], message: str
) -> None:
    # A directory where the model's lock file goes: opening it for writing fails (EISDIR).
    (registry / "mixed" / ".lock").unlink(missing_ok=True)
    (registry / "mixed" / ".lock").mkdir()
    before = snapshot(registry)
    run = cli(*args, "--registry", str(registry))
    assert run.exit_code == 3, run.stderr
    assert run.stderr.startswith(f"error: cannot {message}")
    assert run.stderr.endswith(": Is a directory\n")
    assert snapshot(registry) == before
    assert leftovers(registry) == []


def test_a_new_version_that_cannot_be_put_in_place_leaves_nothing(registry: Path) -> None:
    store = FilesystemRegistry(registry)
    (registry / "mixed" / "3").mkdir()  # not a version (no manifest), but it blocks the rename
    (registry / "mixed" / "3" / "notes.txt").write_text("someone's notes")
    before = snapshot(registry)
    with pytest.raises(StorageError, match=r"cannot write mixed to registry .*") as raised:
        store.put("mixed", b"onnx bytes", lambda version: b"{}")
    assert (raised.value.exit_code, raised.value.http_status) == (3, 507)
    assert snapshot(registry) == before
    assert leftovers(registry) == []
    assert store.versions("mixed") == [1, 2]


def test_a_route_the_file_system_refuses_answers_507(registry: Path, tmp_path: Path) -> None:
    token = "t0ken"
    with running(registry, tmp_path, env={"TABFORGE_ADMIN_TOKEN": token}) as server:
        (registry / "mixed" / "routes.json").mkdir()  # a directory where the route file goes
        answer = httpx.post(
            server.url + "/v2/repository/models/mixed/route",
            json={"weights": {"1": 50, "2": 50}},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert answer.status_code == 507, answer.text
        assert answer.json()["error"].startswith("cannot update the route of mixed in registry")
        assert str(registry) not in answer.text  # clients never see where the registry is
    (registry / "mixed" / "routes.json").rmdir()
    assert ServingPolicy(FilesystemRegistry(registry)).route("mixed") == {}

"""Shared fixtures: small deterministic data files and a CLI runner."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from tabforge.cli import main
from tests.helpers import Cli, Run, mixed_frame
from tests.s3server import S3Server, s3_server


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    """Run the CLI in-process; --registry defaults to a fresh directory under tmp_path."""

    def run(*args: str, registry: Path | None = None) -> Run:
        argv = list(args)
        if argv and argv[0] in ("train",) and "--registry" not in argv:
            argv += ["--registry", str(registry or tmp_path / "models")]
        result = CliRunner().invoke(main, argv, catch_exceptions=False)
        return Run(result.exit_code, result.stdout, result.stderr)

    return run


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("data")
    df = mixed_frame()
    df.write_csv(d / "mixed.csv")
    df.select("a", "b", "c", "binary", "value").write_parquet(d / "numeric.parquet")
    return d


@pytest.fixture(scope="session")
def trained_registry(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Path:
    """A registry with mixed:1 (lightgbm) and mixed:2 (logistic), trained once per session."""
    root = tmp_path_factory.mktemp("registry") / "models"
    for model in (["lightgbm", "-p", "n_estimators=20"], ["logistic"]):
        argv = ["train", str(data_dir / "mixed.csv"), "--target", "label", "--drop", "binary,value",
                "--model", *model, "--registry", str(root), "-q"]  # fmt: skip
        result = CliRunner().invoke(main, argv, catch_exceptions=False)
        assert result.exit_code == 0, result.stderr
    return root


@pytest.fixture
def registry(tmp_path: Path, trained_registry: Path) -> Path:
    """A private copy of the trained registry, free to change."""
    copy = tmp_path / "models"
    shutil.copytree(trained_registry, copy)
    return copy


from tests.browser import browsed, browser  # noqa: E402, F401  (fixtures for page tests)


@pytest.fixture(scope="session")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """One S3-compatible server (moto) for the session; each test takes its own bucket."""
    with s3_server(tmp_path_factory.mktemp("s3")) as server:
        yield server


@pytest.fixture
def s3_registry(s3: S3Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """``s3://<a new bucket>/models`` on the session's server, the AWS environment (and a
    private model cache) pointing there for this process and the processes it starts."""
    return s3.use(tmp_path, monkeypatch)

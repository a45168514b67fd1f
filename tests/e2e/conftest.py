from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.server import Server, running


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """The engine every server of a module runs: Python only, unless the module sets
    ``ENGINES = BOTH`` (the protocol suite, which both engines must pass alike)."""
    named = any("engine" in m.args[0] for m in metafunc.definition.iter_markers("parametrize"))
    if "engine" in metafunc.fixturenames and not named:
        engines = getattr(metafunc.module, "ENGINES", ("python",))
        metafunc.parametrize("engine", engines, scope="module")


@pytest.fixture(scope="module")
def server(
    trained_registry: Path, tmp_path_factory: pytest.TempPathFactory, engine: str
) -> Iterator[Server]:
    """One server per module over the session's trained registry (mixed:1 lightgbm, :2 logistic)."""
    tmp = tmp_path_factory.mktemp("server")
    args = ("--max-rows", "1000", "--max-body-mb", "1", "--engine", engine)
    with running(trained_registry, tmp, *args) as s:
        s.engine = engine
        yield s

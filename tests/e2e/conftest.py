from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.server import Server, running


@pytest.fixture(scope="module")
def server(trained_registry: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server per module over the session's trained registry (mixed:1 lightgbm, :2 logistic)."""
    tmp = tmp_path_factory.mktemp("server")
    with running(trained_registry, tmp, "--max-rows", "1000", "--max-body-mb", "1") as s:
        yield s

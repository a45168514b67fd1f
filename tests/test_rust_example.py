"""The README's "In a Rust backend" example is real: it is rust/tabforge/examples/score.rs,
it builds, and the compiled program answers `/score` (and V2) as the Python API predicts."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import numpy as np
from click.testing import CliRunner

import tabforge
from tabforge.cli import main
from tabforge.data.example import churn_frame
from tests.e2e.server import free_port, started
from tests.rust import ROOT, WORKSPACE, cargo_run

EXAMPLE = WORKSPACE / "tabforge" / "examples" / "score.rs"


def readme_example() -> str:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## In a Rust backend", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```rust\n(.*?)```", section, flags=re.S)
    assert blocks, "the README's Rust section has no rust code block"
    return str(blocks[0])


def test_the_readme_example_is_the_compiled_example_file() -> None:
    code = "".join(
        line for line in EXAMPLE.read_text().splitlines(keepends=True) if not line.startswith("//!")
    )
    assert readme_example() == code


def test_the_example_serves_score_and_v2_with_the_python_api_s_predictions(
    tmp_path: Path,
) -> None:
    data = tmp_path / "churn.csv"
    frame = churn_frame(600)
    frame.write_csv(data)
    argv = ["train", str(data), "--target", "churn", "--model", "logistic", "-q",
            "--registry", str(tmp_path / "models")]  # fmt: skip
    assert CliRunner().invoke(main, argv).exit_code == 0
    assert CliRunner().invoke(main, ["models", "promote", "churn:1", "production",
                                     "--registry", str(tmp_path / "models")]).exit_code == 0  # fmt: skip
    cargo_run("build", "--release", "--quiet", "--example", "score")
    port = free_port()
    exe = WORKSPACE / "target" / "release" / "examples" / "score"
    env = {"SCORE_ADDR": f"127.0.0.1:{port}", "PATH": "/usr/bin:/bin"}
    url = f"http://127.0.0.1:{port}"
    customers = frame.drop("customer_id", "churn").head(25)
    want = tabforge.load("churn", registry=tmp_path / "models").predict(customers)
    with started(
        [str(exe)], tmp_path / "score.log", url + "/v2/health/ready", env=env, cwd=tmp_path
    ):
        got = httpx.post(url + "/score", json=customers.to_dicts()).json()
        assert [p["label"] for p in got] == want["label"].to_list()
        for cls in ("no", "yes"):
            np.testing.assert_allclose(
                [p["probabilities"][cls] for p in got], want[f"proba_{cls}"].to_numpy(), atol=1e-6
            )
        bad = httpx.post(url + "/score", json=[{"tenure_months": "soon"}])
        assert bad.status_code == 422  # axum's Json extractor refuses the shape first
        v1 = httpx.post(url + "/v1/models/churn:predict", json={"instances": customers.to_dicts()})
        assert [p["label"] for p in v1.json()["predictions"]] == want["label"].to_list()

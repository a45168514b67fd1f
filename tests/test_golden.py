"""Golden vectors (tests/golden.py): every catalog model's records, feed and outputs, then the
Rust crate's own golden test run over them: the same records must give the same feed, bit
for bit, and the same outputs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, get_args

import pytest

from tabforge.contract import Task
from tabforge.train.catalog import names_for
from tests import golden
from tests.rust import cargo_run

OUTPUTS = {
    "classification": {"label", "probabilities"},
    "regression": {"prediction"},
    "clustering": {"label", "scores"},
}


def check_case(out: Path, case: dict[str, Any]) -> None:
    found = json.loads((out / "golden" / f"{case['name']}.json").read_text())
    name, version = found["ref"].split(":")
    manifest = json.loads((out / "registry" / name / version / "manifest.json").read_text())
    assert (out / "registry" / name / version / "model.onnx").is_file()
    assert found["task"] == case["task"] == manifest["task"]
    rows = len(found["records"])
    assert rows == case["rows"] > golden.HELD_OUT
    for tensor, columns in (("numeric", manifest["inputs"]["numeric"]),
                            ("categorical", manifest["inputs"]["categorical"])):  # fmt: skip
        if not columns:
            assert found[tensor] is None, f"{name}: {tensor}"
            continue
        assert len(found[tensor]) == rows, f"{name}: {tensor}"
        assert {len(row) for row in found[tensor]} == {len(columns)}, f"{name}: {tensor}"
    assert set(found["outputs"]) == OUTPUTS[found["task"]], name
    for output, values in found["outputs"].items():
        assert len(values) == rows, f"{name}: {output}"
    if found["task"] == "classification":
        classes = manifest["outputs"]["classes"]
        assert {len(p) for p in found["outputs"]["probabilities"]} == {len(classes)}
        assert set(found["outputs"]["label"]) <= set(classes), name


@pytest.mark.golden
def test_golden_vectors_cover_the_catalog_and_the_rust_crate_reproduces_them(
    tmp_path: Path,
) -> None:
    golden.write(tmp_path, log=lambda line: None)
    cases = json.loads((tmp_path / "golden" / "index.json").read_text())["cases"]
    for task in get_args(Task):
        trained = {c["estimator"] for c in cases if c["task"] == task}
        assert trained == set(names_for(task)), task
    for case in cases:
        check_case(tmp_path, case)

    output = cargo_run(
        "test",
        "--release",
        "-p",
        "tabforge",
        "--test",
        "golden",
        "--",
        "--nocapture",
        env={"TABFORGE_GOLDEN_DIR": str(tmp_path)},
    )
    assert f"{len(cases)} golden cases, 0 disagree" in output, output

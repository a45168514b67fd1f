"""schemathesis against the server's own /openapi.json: a bounded run (benchmarks/fuzz.py runs long)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tabforge.serve.openapi import openapi

ROOT = Path(__file__).resolve().parents[2]


def test_schemathesis_finds_no_5xx_and_no_response_off_schema(
    trained_registry: Path, tmp_path: Path
) -> None:
    out = tmp_path / "fuzz.json"
    argv = [sys.executable, str(ROOT / "benchmarks" / "fuzz.py"), "--registry", str(trained_registry),
            "--max-examples", "15", "--seed", "1", "--json", str(out)]  # fmt: skip
    run = subprocess.run(argv, capture_output=True, text=True, timeout=600, check=False)
    summary = json.loads(out.read_text())
    assert run.returncode == 0, summary["output_tail"]
    # Less one: schemathesis skips the operation it loaded the document from (/openapi.json).
    every_operation = sum(len(methods) for methods in openapi()["paths"].values()) - 1
    assert summary["operations"] == every_operation
    assert summary["generated"] >= 300
    assert summary["failures"] == 0
    assert summary["tracebacks_in_server_log"] == 0

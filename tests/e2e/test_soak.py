"""Soak: a 30-second run of benchmarks/soak.py, and proof that its answer checker can fail.

The short run trains its own four models (three kinds, one name with two versions) and keeps
every pass criterion of a long run, the 10% RSS limit included: its warm-up is the 10-second
minimum, and the server's RSS reaches its plateau within the first few seconds of load, so
20 seconds after warm-up still show a fast leak (a slow one needs
``benchmarks/soak.py --minutes N``).
"""

from __future__ import annotations

import json
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from benchmarks.soakbench.answers import KINDS, Answer, SoakRequest, check
from benchmarks.soakbench.criteria import RSS_LIMIT_PCT

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "soak.py"


@pytest.mark.slow
def test_a_short_soak_passes_with_every_kind_of_request(tmp_path: Path) -> None:
    out = tmp_path / "soak.json"
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--minutes", "0.5", "--json", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    summary = json.loads(out.read_text())
    assert summary["passed"], summary["failures"]
    assert summary["requests"] >= 1000
    assert set(summary["by_kind"]) == set(KINDS)
    assert all(n >= 100 for n in summary["by_kind"].values()), summary["by_kind"]
    assert set(summary["by_rows"]) == {"1", "10", "200"}
    assert all(n >= 100 for n in summary["by_rows"].values()), summary["by_rows"]
    refs = {"mixed", "mixed:1", "mixed:2", "value", "value:1", "binary", "binary:1"}
    assert set(summary["by_model"]) == refs
    assert all(n >= 50 for n in summary["by_model"].values()), summary["by_model"]
    assert summary["status"] == {"200": summary["requests"]}
    assert summary["http_5xx"] == summary["http_other_non_200"] == 0
    assert summary["transport_errors"] == summary["wrong_answers"] == 0
    assert summary["examples"] == []
    rss = summary["rss_mib"]
    assert rss["samples"] >= 25
    assert rss["growth_pct"] is not None
    assert rss["growth_pct"] < RSS_LIMIT_PCT
    assert summary["server_exit_code"] == 0


# -- the checker -------------------------------------------------------------------------

CLASSES = ("high", "low", "mid")
LABELS = ["mid", "high"]
PROBA = np.array([[0.25, 0.125, 0.625], [0.5, 0.25, 0.25]])
PREDICTION = np.array([12.5, -3.25])


def request(kind: str, task: str = "classification") -> SoakRequest:
    if task == "classification":
        want = Answer("2", labels=LABELS, probabilities=PROBA)
    else:
        want = Answer("2", prediction=PREDICTION)
    return SoakRequest(
        kind=kind, name="mixed", ref="mixed:2", rows=2, path="/", body=b"", headers={},
        task=task, classes=CLASSES if task == "classification" else (), expected={"2": want},
        request_id=None if kind == "v1-json" else "r1",
    )  # fmt: skip


def v2_body(
    outputs: dict[str, Any], binary: bool, version: str = "2", rid: str = "r1"
) -> tuple[bytes, dict[str, str]]:
    """A V2 response as the server would write it, JSON or with binary tensors."""
    encoded, blobs = [], []
    for name, values in outputs.items():
        arr = np.asarray(values)
        datatype = "BYTES" if arr.dtype.kind in "UO" else "FP32"
        entry: dict[str, Any] = {"name": name, "shape": list(arr.shape), "datatype": datatype}
        if not binary:
            entry["data"] = arr.reshape(-1).tolist()
        else:
            if datatype == "BYTES":
                blob = b"".join(struct.pack("<I", len(s.encode())) + s.encode() for s in values)
            else:
                blob = arr.astype("<f4").tobytes()
            entry["parameters"] = {"binary_data_size": len(blob)}
            blobs.append(blob)
        encoded.append(entry)
    head = json.dumps(
        {"model_name": "mixed", "model_version": version, "id": rid, "outputs": encoded}
    ).encode()
    headers = {"inference-header-content-length": str(len(head))} if binary else {}
    return head + b"".join(blobs), headers


def v1_body(labels: list[str], proba: np.ndarray) -> bytes:
    return json.dumps(
        {"predictions": [{"label": label, "probabilities": dict(zip(CLASSES, row.tolist(), strict=True))}
                         for label, row in zip(labels, proba, strict=True)]}
    ).encode()  # fmt: skip


def bumped(arr: np.ndarray, by: float) -> np.ndarray:
    out = arr.copy()
    out.flat[1] += by
    return out


@pytest.mark.parametrize("binary", [False, True], ids=["json", "binary"])
def test_checker_accepts_the_right_v2_answer_and_float32_noise(binary: bool) -> None:
    kind = "v2-binary" if binary else "v2-json"
    body, headers = v2_body({"label": LABELS, "probabilities": bumped(PROBA, 3e-7)}, binary)
    assert check(request(kind), 200, headers, body) is None
    body, headers = v2_body({"prediction": bumped(PREDICTION, 2e-5)}, binary)
    assert check(request(kind, "regression"), 200, headers, body) is None


@pytest.mark.parametrize("binary", [False, True], ids=["json", "binary"])
@pytest.mark.parametrize(
    ("task", "outputs", "problem"),
    [
        (
            "classification",
            {"label": ["mid", "low"], "probabilities": PROBA},
            "row 1: label 'low', expected 'high'",
        ),
        (
            "classification",
            {"label": LABELS, "probabilities": bumped(PROBA, 1e-3)},
            "row 0: probabilities[1]",
        ),
        ("classification", {"label": LABELS}, "no probabilities"),
        ("regression", {"prediction": bumped(PREDICTION, 1e-3)}, "row 1: prediction"),
        ("regression", {"prediction": PREDICTION[:1]}, "prediction: shape [1], expected [2]"),
    ],
    ids=["changed-label", "probability-off-1e-3", "missing-output", "prediction-off-1e-3", "short"],
)
def test_checker_flags_a_wrong_v2_answer(
    binary: bool, task: str, outputs: dict[str, Any], problem: str
) -> None:
    kind = "v2-binary" if binary else "v2-json"
    body, headers = v2_body(outputs, binary)
    found = check(request(kind, task), 200, headers, body)
    assert found is not None
    assert problem in found


def _problem(req: SoakRequest, headers: dict[str, str], body: bytes) -> str:
    """What the checker finds wrong with a 200 response; it must find something."""
    found = check(req, 200, headers, body)
    assert found is not None
    return found


def test_checker_flags_a_wrong_version_id_or_status() -> None:
    body, headers = v2_body({"label": LABELS, "probabilities": PROBA}, False, version="1")
    assert "answered by version 1, expected 2" in _problem(request("v2-json"), headers, body)
    body, headers = v2_body({"label": LABELS, "probabilities": PROBA}, False, rid="other")
    assert "id 'other', expected 'r1'" in _problem(request("v2-json"), headers, body)
    assert check(request("v2-json"), 500, {}, b'{"error": "internal server error"}')
    assert "undecodable" in _problem(request("v2-json"), {}, b"<html>")


def test_checker_on_v1_flags_a_changed_label_and_a_probability_off_by_1e_3() -> None:
    version = {"x-model-version": "2"}
    assert check(request("v1-json"), 200, version, v1_body(LABELS, PROBA)) is None
    changed = check(request("v1-json"), 200, version, v1_body(["low", "high"], PROBA))
    assert changed == "row 0: label 'low', expected 'mid'"
    off = check(request("v1-json"), 200, version, v1_body(LABELS, bumped(PROBA, 1e-3)))
    assert off is not None
    assert off.startswith("row 0: probabilities[1]")
    unversioned = check(request("v1-json"), 200, {}, v1_body(LABELS, PROBA))
    assert unversioned == "answered by version ?, expected 2"

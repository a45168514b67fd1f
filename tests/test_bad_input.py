"""Every bad input: one line on stderr, exit code 2, no traceback, nothing stored."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from tests.helpers import Cli


def _csv(path: Path, header: list[str], rows: list[list[object]]) -> Path:
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


@pytest.fixture
def bad_files(tmp_path: Path, data_dir: Path) -> dict[str, Path]:
    d = tmp_path / "bad"
    d.mkdir()
    (d / "empty.csv").write_bytes(b"")
    (d / "header.csv").write_text("a,b,y\n")
    (d / "corrupt.parquet").write_bytes(b"PAR1 this is not parquet")
    (d / "truncated.parquet").write_bytes((data_dir / "numeric.parquet").read_bytes()[:500])
    (d / "binary.csv").write_bytes(b"\x00\x01\x02\xff\xfe\x00")
    (d / "broken.ndjson").write_text('{"a": 1, "y": \n')
    (d / "table.xlsx").write_bytes(b"PK\x03\x04")
    _csv(d / "single.csv", ["a", "y"], [[i, "x"] for i in range(20)])
    _csv(d / "nulltarget.csv", ["a", "y"], [[i, ""] for i in range(20)])
    _csv(d / "nofeatures.csv", ["id", "k", "y"], [[f"id{i}", 1, i % 2] for i in range(30)])
    return {p.name: p for p in d.iterdir()}


MIXED = "mixed.csv"
# (case id, file, extra args, words the message must contain)
CASES = [
    ("missing file", "nope.csv", ["--target", "y"], "file not found"),
    ("corrupt parquet", "corrupt.parquet", ["--target", "y"], "cannot read corrupt.parquet"),
    ("truncated parquet", "truncated.parquet", ["--target", "y"], "cannot read truncated"),
    ("binary csv", "binary.csv", ["--target", "y"], "binary data"),
    ("broken ndjson", "broken.ndjson", ["--target", "y"], "cannot read broken.ndjson"),
    ("unknown file type", "table.xlsx", ["--target", "y"], "unknown file type"),
    ("empty file", "empty.csv", ["--target", "y"], "empty"),
    ("header only", "header.csv", ["--target", "y"], "no rows"),
    ("unknown target", MIXED, ["--target", "nope"], "unknown target column 'nope'"),
    ("single class", "single.csv", ["--target", "y"], "single class"),
    ("target all null", "nulltarget.csv", ["--target", "y"], "all missing"),
    ("no usable feature", "nofeatures.csv", ["--target", "y"], "no usable feature column"),
    ("unknown model", MIXED, ["--target", "label", "--model", "nope"], "unknown --model"),
    ("model not for task", MIXED, ["--target", "label", "--model", "svr"], "does not do"),
    ("not exportable", MIXED, ["--model", "dbscan"], "kmeans, minibatch_kmeans"),
    ("unknown param", MIXED, ["--target", "label", "--model", "lightgbm", "-p", "nope=1"],
     "unknown --param 'nope'"),
    ("bad param value", MIXED, ["--target", "label", "--model", "logistic", "-p", "C=-1"],
     "bad --param"),
    ("param not a number", MIXED,
     ["--target", "label", "--model", "lightgbm", "-p", "n_estimators=many"], "expected a number"),
    ("param malformed", MIXED, ["--target", "label", "-p", "C"], "expected key=value"),
    ("text regression target", MIXED, ["--target", "label", "--task", "regression"],
     "regression needs a numeric target"),
    ("column in two overrides", MIXED,
     ["--target", "label", "--categorical", "a", "--numeric", "a"], "both --categorical"),
    ("override unknown column", MIXED, ["--target", "label", "--drop", "zzz"], "unknown column"),
    ("numeric override on text", MIXED, ["--target", "label", "--numeric", "color"], "holds text"),
    ("invalid name", MIXED, ["--target", "label", "--name", "../evil"], "invalid model name"),
    ("bad test size", MIXED, ["--target", "label", "--test-size", "1.5"], "--test-size"),
    ("bad cv", MIXED, ["--target", "label", "--cv", "1"], "--cv"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("file", "extra", "words"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_bad_input_gets_one_line_and_exit_2(
    cli: Cli,
    tmp_path: Path,
    data_dir: Path,
    bad_files: dict[str, Path],
    file: str,
    extra: list[str],
    words: str,
) -> None:
    path = bad_files.get(file) or (
        data_dir / file if (data_dir / file).exists() else tmp_path / file
    )
    registry = tmp_path / "models"
    run = cli("train", str(path), *extra, "--registry", str(registry))
    assert run.exit_code == 2
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, run.stderr
    assert lines[0].startswith("error: ")
    assert words in lines[0]
    assert "Traceback" not in run.stderr + run.stdout
    assert not registry.exists() or not any(p.name.isdigit() for p in registry.rglob("*"))


def test_registry_that_cannot_be_written_is_refused_cleanly(
    cli: Cli, tmp_path: Path, data_dir: Path
) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the registry should be")
    run = cli(
        "train", str(data_dir / MIXED), "--target", "label", "--model", "logistic",
        "--drop", "value,binary", "--registry", str(blocker / "models"),
    )  # fmt: skip
    assert run.exit_code == 3  # a storage failure (tests/test_storage_errors.py)
    assert run.stderr.startswith("error: cannot create registry directory")
    assert len(run.stderr.strip().splitlines()) == 1


def test_parity_failure_stores_nothing(cli: Cli, tmp_path: Path, data_dir: Path) -> None:
    # An impossible tolerance makes the (real) parity check fail: nothing may be stored.
    registry = tmp_path / "models"
    run = cli(
        "train", str(data_dir / MIXED), "--target", "label", "--model", "logistic",
        "--tolerance", "1e-12", "--registry", str(registry),
    )  # fmt: skip
    assert run.exit_code == 2
    assert "nothing stored" in run.stderr
    assert not any(p.name.isdigit() for p in registry.rglob("*"))


@pytest.fixture
def breast_cancer(tmp_path: Path) -> Path:
    """scikit-learn's breast cancer data as a newcomer gets it: a space in the file name,
    the label in a column named 'Diagnosis?'."""
    from sklearn.datasets import load_breast_cancer

    cancer = load_breast_cancer(as_frame=True)
    frame = cancer.data.assign(
        **{"Diagnosis?": [str(cancer.target_names[t]) for t in cancer.target]}
    )
    path = tmp_path / "breast cancer.csv"
    frame.to_csv(path, index=False)
    return path


def test_an_unknown_column_suggests_the_one_spelled_differently(
    cli: Cli, breast_cancer: Path
) -> None:
    target = cli("train", str(breast_cancer), "--target", "diagnosis")
    assert target.exit_code == 2
    assert target.stderr.startswith(
        "error: unknown target column 'diagnosis' (did you mean 'Diagnosis?'?); columns are: "
    )
    assert len(target.stderr.strip().splitlines()) == 1
    dropped = cli("train", str(breast_cancer), "--target", "Diagnosis?", "--drop", "Mean_Radius")
    assert dropped.exit_code == 2
    assert "unknown column 'Mean_Radius' (did you mean 'mean radius'?)" in dropped.stderr


def test_a_stem_with_a_space_is_stored_slugified_and_references_suggest_that_name(
    cli: Cli, breast_cancer: Path, tmp_path: Path
) -> None:
    registry = ["--registry", str(tmp_path / "models")]
    run = cli(
        "train", str(breast_cancer), "--target", "Diagnosis?", "--model", "logistic", *registry
    )
    assert run.exit_code == 0, run.stderr
    assert (
        "note: model name 'breast-cancer', from the file's stem 'breast cancer' (names take "
        "a-z, 0-9, '_' and '-'; --name sets another)\n"
    ) in run.stderr
    out = str(tmp_path / "scores.parquet")
    refused = cli("predict", "breast cancer", str(breast_cancer), "-o", out, *registry)
    assert refused.exit_code == 2
    assert refused.stderr == (
        "error: malformed reference 'breast cancer' (did you mean 'breast-cancer'? that is the "
        "name training gives a file called 'breast cancer'): use name, name:VERSION or name@ALIAS\n"
    )
    shown = cli("models", "show", "Breast Cancer:1", *registry)
    assert "(did you mean 'breast-cancer'?" in shown.stderr
    assert cli("predict", "breast-cancer", str(breast_cancer), "-o", out, *registry).exit_code == 0

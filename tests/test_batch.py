"""tabforge predict: streamed, bounded, atomic output, rejects."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

import tabforge
from tests.helpers import Cli, mixed_frame, read_only, snapshot


@pytest.fixture
def big(tmp_path: Path) -> pl.DataFrame:
    """Several times --batch-rows, in a known order."""
    return pl.concat([mixed_frame(300, seed=s) for s in range(7)]).with_row_index("rid")


@pytest.mark.parametrize("fmt", ["csv", "parquet", "arrow", "ndjson"])
def test_streams_a_file_many_batches_long(
    cli: Cli, registry: Path, tmp_path: Path, big: pl.DataFrame, fmt: str
) -> None:
    source = tmp_path / f"in.{fmt}"
    writers: dict[str, Callable[[Path], object]] = {
        "csv": big.write_csv, "parquet": big.write_parquet, "arrow": big.write_ipc,
        "ndjson": big.write_ndjson,
    }  # fmt: skip
    writers[fmt](source)
    out = tmp_path / "out.parquet"
    run = cli("predict", "mixed:1", str(source), "-o", str(out), "--batch-rows", "256",
              "--keep", "rid,label", "--registry", str(registry))  # fmt: skip
    assert run.exit_code == 0, run.stderr
    assert f"scored {big.height:,} rows" in run.stdout
    result = pl.read_parquet(out)
    assert result.columns == ["rid", "label_input", "label", "proba_high", "proba_low", "proba_mid"]
    assert result["rid"].to_list() == list(range(big.height))  # order kept across batches
    expected = tabforge.load("mixed:1", registry=registry).predict(big)
    assert_frame_equal(result.drop("rid", "label_input"), expected, check_dtypes=False)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_csv_output(cli: Cli, registry: Path, tmp_path: Path, data_dir: Path) -> None:
    out = tmp_path / "scores.csv"
    run = cli("predict", "mixed", str(data_dir / "mixed.csv"), "-o", str(out), "--registry",
              str(registry), "-q")  # fmt: skip
    assert run.exit_code == 0
    assert run.stdout == ""
    result = pl.read_csv(out)
    assert result.height == 300
    assert result.columns == ["label", "proba_high", "proba_low", "proba_mid"]


def _with_bad_values(big: pl.DataFrame, path: Path) -> list[int]:
    rows = [5, 700, 1999]
    df = big.with_columns(pl.col("b").cast(pl.String))
    df = df.with_columns(
        pl.when(pl.col("rid").is_in(rows)).then(pl.lit("n/a?")).otherwise(pl.col("b")).alias("b")
    )
    df.write_csv(path)
    return rows


def test_a_bad_value_fails_naming_row_and_column_and_writes_nothing(
    cli: Cli, registry: Path, tmp_path: Path, big: pl.DataFrame
) -> None:
    source = tmp_path / "in.csv"
    _with_bad_values(big, source)
    out = tmp_path / "out.parquet"
    run = cli("predict", "mixed:1", str(source), "-o", str(out), "--batch-rows", "256",
              "--registry", str(registry))  # fmt: skip
    assert run.exit_code == 2
    assert run.stderr.strip() == "error: in.csv: row 6: column 'b' holds 'n/a?', not a number"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv", "models"]


def test_on_error_skip_writes_rejects_beside_the_output(
    cli: Cli, registry: Path, tmp_path: Path, big: pl.DataFrame
) -> None:
    source = tmp_path / "in.csv"
    bad = _with_bad_values(big, source)
    out = tmp_path / "out.parquet"
    run = cli("predict", "mixed:1", str(source), "-o", str(out), "--batch-rows", "256",
              "--keep", "rid", "--on-error", "skip", "--registry", str(registry))  # fmt: skip
    assert run.exit_code == 0, run.stderr
    assert "rejected 3 rows" in run.stderr
    result = pl.read_parquet(out)
    assert result.height == big.height - 3
    assert not set(bad) & set(result["rid"].to_list())
    rejects = pl.read_csv(tmp_path / "out.rejects.csv")
    assert rejects["row"].to_list() == [r + 1 for r in bad]
    assert rejects["error"].to_list() == ["not a number in b"] * 3
    assert rejects["b"].to_list() == ["n/a?"] * 3


def test_the_rejects_file_is_named_as_the_readme_and_the_help_say(
    cli: Cli, registry: Path, tmp_path: Path, big: pl.DataFrame
) -> None:
    source = tmp_path / "in.csv"
    _with_bad_values(big, source)
    run = cli("predict", "mixed:1", str(source), "-o", str(tmp_path / "scores.parquet"),
              "--on-error", "skip", "--registry", str(registry))  # fmt: skip
    assert run.exit_code == 0, run.stderr
    assert f"rejected 3 rows -> {tmp_path / 'scores.rejects.csv'}" in run.stderr
    assert (tmp_path / "scores.rejects.csv").is_file()
    readme = " ".join((Path(__file__).parents[1] / "README.md").read_text().split())
    assert (
        "goes to `<stem>.rejects.csv` beside the output (`scores.parquet` -> `scores.rejects.csv`"
        in readme
    )
    helped = " ".join(cli("predict", "--help").stdout.split())
    assert "<stem>.rejects.csv beside OUTPUT (scores.parquet: scores.rejects.csv" in helped


def test_a_run_that_fails_late_leaves_no_output(
    cli: Cli, registry: Path, tmp_path: Path, big: pl.DataFrame
) -> None:
    """Earlier batches were written to a temp file; the failure removes it."""
    source = tmp_path / "in.csv"
    df = big.with_columns(pl.col("a").cast(pl.String))
    df = df.with_columns(
        pl.when(pl.col("rid") == big.height - 1).then(pl.lit("x")).otherwise(pl.col("a")).alias("a")
    )
    df.write_csv(source)
    out = tmp_path / "out.csv"
    out.write_text("previous results\n")
    run = cli("predict", "mixed:1", str(source), "-o", str(out), "--batch-rows", "100",
              "--registry", str(registry))  # fmt: skip
    assert run.exit_code == 2
    assert f"row {big.height}" in run.stderr
    assert out.read_text() == "previous results\n"  # untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv", "models", "out.csv"]


BAD = [
    ("missing input", "nope.csv", "out.parquet", [], "file not found"),
    ("missing columns", "cols.csv", "out.parquet", [], "lacks required columns: 'shape'"),
    ("unknown keep", "ok.csv", "out.parquet", ["--keep", "zzz"], "--keep names columns"),
    ("output type", "ok.csv", "out.xlsx", [], "use a .parquet or .csv"),
    ("output dir missing", "ok.csv", "no/such/dir/out.csv", [], "does not exist"),
    ("output is input", "ok.csv", "ok.csv", [], "must not be the input"),
    ("batch rows", "ok.csv", "out.csv", ["--batch-rows", "0"], "--batch-rows"),
]  # fmt: skip


@pytest.mark.parametrize(("source", "output", "extra", "words"), [b[1:] for b in BAD],
                         ids=[b[0] for b in BAD])  # fmt: skip
def test_bad_predict_input(
    cli: Cli, registry: Path, tmp_path: Path, source: str, output: str, extra: list[str], words: str
) -> None:
    mixed_frame(50).write_csv(tmp_path / "ok.csv")
    mixed_frame(50).drop("shape").write_csv(tmp_path / "cols.csv")
    before = snapshot(registry)
    run = cli("predict", "mixed:1", str(tmp_path / source), "-o", str(tmp_path / output),
              *extra, "--registry", str(registry))  # fmt: skip
    assert run.exit_code == 2
    assert run.stderr.count("\n") == 1
    assert words in run.stderr
    assert snapshot(registry) == before
    assert not any(p.name.startswith(".") for p in tmp_path.iterdir())


def test_output_path_not_writable(cli: Cli, registry: Path, tmp_path: Path, data_dir: Path) -> None:
    outdir = tmp_path / "outdir"
    outdir.mkdir()
    import sys
    from pathlib import Path

    exe = str(Path(sys.executable).parent / "tabforge")
    done = read_only(outdir, [exe, "predict", "mixed:1", str(data_dir / "mixed.csv"), "-o",
                              str(outdir / "o.csv"), "--registry", str(registry)])  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip() == f"error: cannot write {outdir / 'o.csv'}: permission denied"
    assert np.array(list(outdir.iterdir())).size == 0

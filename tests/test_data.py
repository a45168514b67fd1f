"""Every supported format reads to the same table, schema and fingerprint."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from tabforge.data.fingerprint import fingerprint
from tabforge.data.load import read_table, scan_table
from tabforge.data.schema import infer_schema
from tests.helpers import mixed_frame


def test_formats_agree(tmp_path: Path) -> None:
    df = mixed_frame(120)
    df.write_csv(tmp_path / "t.csv")
    df.write_parquet(tmp_path / "t.parquet")
    df.write_ipc(tmp_path / "t.arrow")
    df.write_ipc(tmp_path / "t.feather")
    df.write_ndjson(tmp_path / "t.ndjson")
    df.write_csv(tmp_path / "t.tsv", separator="\t")
    prints = set()
    for name in ("t.csv", "t.parquet", "t.arrow", "t.feather", "t.ndjson", "t.tsv"):
        table = read_table(tmp_path / name)
        schema = infer_schema(table, target="label", drop=["binary", "value"])
        assert schema.numeric == ("a", "b", "c"), name
        assert schema.categorical == ("color", "shape"), name
        prints.add(fingerprint(table, schema))
    assert len(prints) == 1


def test_fingerprint_changes_with_any_value(tmp_path: Path) -> None:
    df = mixed_frame(50)
    schema = infer_schema(df, target="label", drop=["binary", "value"])
    base = fingerprint(df, schema)
    changed = df.with_columns(
        pl.when(pl.int_range(pl.len()) == 7).then(99.0).otherwise(pl.col("a")).alias("a")
    )
    assert fingerprint(changed, schema) != base
    renamed = df.with_columns(pl.col("color").replace("red", "rouge"))
    assert fingerprint(renamed, schema) != base
    # Column order in the file does not matter.
    assert fingerprint(df.select(reversed(df.columns)), schema) == base


def test_a_quoted_header_keeps_its_names_as_written(tmp_path: Path) -> None:
    """CSV escapes a quote in a header field by doubling it; polars alone keeps both."""
    path = tmp_path / "quoted.csv"
    pl.DataFrame({'size "cm"': [1.0, 2.0], "tab\there": ["a", "b"], "plain": [1, 2]}).write_csv(
        path
    )
    assert read_table(path).columns == ['size "cm"', "tab\there", "plain"]
    assert scan_table(path).collect_schema().names() == ['size "cm"', "tab\there", "plain"]


def test_csv_types_come_from_the_whole_file_not_its_first_rows(tmp_path: Path) -> None:
    # Past the rows types are first inferred from: a float after ints, values in a column
    # that was empty so far, text after numbers. Each must read as a whole-file read would.
    from tabforge.data.load import INFER_ROWS

    n = INFER_ROWS + 50
    path = tmp_path / "late.csv"
    lines = ["ints_then_float,empty_then_int,num_then_text,plain"]
    lines += [f"{i},,{i}.5,{i}" for i in range(n)]
    lines.append("1.5,7,oops,3")
    path.write_text("\n".join(lines) + "\n")
    df = read_table(path)
    assert df.schema == pl.Schema(
        {"ints_then_float": pl.Float64, "empty_then_int": pl.Int64,
         "num_then_text": pl.String, "plain": pl.Int64}
    )  # fmt: skip
    assert df.height == n + 1
    assert df.get_column("ints_then_float")[-1] == 1.5
    assert df.get_column("empty_then_int").drop_nulls().to_list() == [7]
    assert df.get_column("num_then_text")[-1] == "oops"

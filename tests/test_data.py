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

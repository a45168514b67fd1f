"""Schema inference: properties that hold for any table (hypothesis) and the named rules."""

from __future__ import annotations

import random
from typing import Any

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tabforge.data.schema import infer_schema
from tabforge.errors import SchemaError

numbers = st.one_of(st.none(), st.floats(-1e6, 1e6, allow_nan=False), st.integers(-1000, 1000))
words = st.one_of(st.none(), st.sampled_from(["a", "b", "c", "d", "éé", " "]))
column = st.one_of(
    st.lists(st.one_of(st.none(), st.floats(-1e6, 1e6, allow_nan=False)), min_size=8, max_size=8),
    st.lists(st.one_of(st.none(), st.integers(-5, 5)), min_size=8, max_size=8),
    st.lists(words, min_size=8, max_size=8),
    st.lists(st.one_of(st.none(), st.booleans()), min_size=8, max_size=8),
)


@st.composite
def tables(draw: st.DrawFn) -> pl.DataFrame:
    n_cols = draw(st.integers(1, 6))
    data: dict[str, list[Any]] = {f"c{i}": draw(column) for i in range(n_cols)}
    data["y"] = draw(st.lists(st.sampled_from(["p", "q"]), min_size=8, max_size=8).filter(
        lambda v: len(set(v)) == 2
    ))  # fmt: skip
    return pl.DataFrame(data, strict=False)


@settings(max_examples=150, deadline=None)
@given(tables())
def test_every_column_gets_exactly_one_role(df: pl.DataFrame) -> None:
    usable = [c for c in df.columns if c != "y" and df[c].drop_nulls().n_unique() > 1]
    if not usable:
        with pytest.raises(SchemaError, match="no usable feature column"):
            infer_schema(df, target="y")
        return
    schema = infer_schema(df, target="y")
    ignored = [c for c, _ in schema.ignored]
    roles = list(schema.numeric) + list(schema.categorical) + ignored
    assert sorted(roles) == sorted(c for c in df.columns if c != "y")
    assert schema.task == "classification"
    for name in schema.numeric:
        assert df[name].dtype.is_numeric()
    for name in schema.categorical:
        assert not df[name].dtype.is_numeric()
    for name, reason in schema.ignored:
        assert reason
        values = df[name].drop_nulls()
        assert values.n_unique() <= 1 or reason.startswith(("ID-like", "unsupported"))


@settings(max_examples=100, deadline=None)
@given(tables(), st.randoms(use_true_random=False))
def test_inference_does_not_depend_on_row_order(df: pl.DataFrame, rnd: random.Random) -> None:
    order = list(range(df.height))
    rnd.shuffle(order)
    try:
        a = infer_schema(df, target="y")
    except SchemaError:
        with pytest.raises(SchemaError):
            infer_schema(df[order], target="y")
        return
    assert infer_schema(df[order], target="y") == a


@settings(max_examples=100, deadline=None)
@given(tables(), st.data())
def test_overrides_are_obeyed(df: pl.DataFrame, data: st.DataObject) -> None:
    features = [c for c in df.columns if c != "y"]
    forced = data.draw(st.sampled_from(features))
    try:
        schema = infer_schema(df, target="y", categorical=[forced])
    except SchemaError:
        return
    assert forced in schema.categorical or forced in dict(schema.ignored)
    widened = df.with_columns(pl.Series("k2", [1.0, 2.0] * 4))  # always one usable column
    dropped = infer_schema(widened, target="y", drop=[forced])
    assert dict(dropped.ignored)[forced] == "dropped (--drop)"
    assert forced not in dropped.features


def test_named_rules() -> None:
    df = pl.DataFrame(
        {
            "id": [f"u{i}" for i in range(30)],
            "const": [7] * 30,
            "empty": [None] * 30,
            "flag": [True, False] * 15,
            "count": [(i * 7) % 30 for i in range(30)],  # unique but not in row order
            "city": ["x", "y", "z"] * 10,
            "y": [0, 1, 2] * 10,
        }
    )
    schema = infer_schema(df, target="y")
    assert schema.task == "classification"  # integer target with few values
    assert schema.numeric == ("count",)  # integers stay numeric unless told
    assert schema.categorical == ("flag", "city")  # booleans and strings
    assert dict(schema.ignored) == {
        "id": "ID-like: every value is unique",
        "const": "constant",
        "empty": "all values are missing",
    }
    told = infer_schema(df, target="y", categorical=["count"])
    assert "count" in told.categorical
    assert infer_schema(df, target="count").task == "regression"  # 30 distinct integers
    assert infer_schema(df.drop("y"), target=None).task == "clustering"

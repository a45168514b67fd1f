"""Schema inference: which column is numeric, categorical, ignored, or the target."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal, get_args

import polars as pl

from tabforge.errors import SchemaError

Task = Literal["classification", "regression", "clustering"]
TASKS: tuple[str, ...] = get_args(Task)

# An integer target with at most this many distinct values is taken as class labels.
MAX_INTEGER_CLASSES = 20
# A string column whose values are all distinct over at least this many rows is an identifier.
ID_MIN_ROWS = 20


@dataclass(frozen=True)
class Schema:
    """What each column of a table is used for; order within each group is the tensor order."""

    task: Task
    target: str | None
    numeric: tuple[str, ...]
    categorical: tuple[str, ...]
    ignored: tuple[tuple[str, str], ...] = field(default=())  # (column, reason)

    @property
    def features(self) -> tuple[str, ...]:
        return self.numeric + self.categorical


def _names(values: Iterable[str]) -> list[str]:
    return [v for v in values if v]


def _check_overrides(
    columns: Sequence[str],
    target: str | None,
    overrides: dict[str, Sequence[str]],
) -> None:
    seen: dict[str, str] = {}
    for flag, names in overrides.items():
        for name in names:
            if name not in columns:
                raise SchemaError(
                    f"--{flag} names unknown column {name!r}; columns are: {', '.join(columns)}"
                )
            if name == target:
                raise SchemaError(f"--{flag} names the target column {name!r}")
            if name in seen and seen[name] != flag:
                raise SchemaError(f"column {name!r} is named in both --{seen[name]} and --{flag}")
            seen[name] = flag


def _is_numeric(dtype: pl.DataType) -> bool:
    return dtype.is_numeric()


def _is_text(dtype: pl.DataType) -> bool:
    return isinstance(dtype, (pl.String, pl.Categorical, pl.Enum))


def _kind_of(name: str, s: pl.Series, forced: str | None) -> tuple[str, str]:
    """(kind, reason): kind is numeric, categorical or ignored."""
    non_null = s.len() - s.null_count()
    if non_null == 0:
        return "ignored", "all values are missing"
    if s.drop_nulls().n_unique() == 1:
        return "ignored", "constant"
    if forced == "categorical":
        return "categorical", ""
    if forced == "numeric":
        if _is_numeric(s.dtype):
            return "numeric", ""
        if isinstance(s.dtype, pl.Boolean):
            return "numeric", ""
        bad = (
            s.drop_nulls()
            .cast(pl.String)
            .filter(s.drop_nulls().cast(pl.String).cast(pl.Float64, strict=False).is_null())
        )
        if bad.len():
            raise SchemaError(f"--numeric column {name!r} holds text such as {bad[0]!r}")
        return "numeric", ""
    dtype = s.dtype
    if isinstance(dtype, pl.Boolean):
        return "categorical", ""
    if _is_numeric(dtype):
        return "numeric", ""
    if _is_text(dtype):
        if non_null >= ID_MIN_ROWS and s.drop_nulls().n_unique() == non_null:
            return "ignored", "ID-like: every value is unique"
        return "categorical", ""
    return "ignored", f"unsupported type {dtype} (cast it, or --drop it)"


def _infer_task(target: str, y: pl.Series) -> Task:
    if _is_text(y.dtype) or isinstance(y.dtype, pl.Boolean):
        return "classification"
    if _is_numeric(y.dtype):
        values = y.drop_nulls().cast(pl.Float64)
        integral = bool((values == values.round(0)).all())
        if integral and values.n_unique() <= MAX_INTEGER_CLASSES:
            return "classification"
        return "regression"
    raise SchemaError(f"target {target!r} has unsupported type {y.dtype}")


def infer_schema(
    df: pl.DataFrame,
    *,
    target: str | None,
    task: Task | None = None,
    categorical: Sequence[str] = (),
    numeric: Sequence[str] = (),
    drop: Sequence[str] = (),
) -> Schema:
    """Decide each column's role; raises SchemaError with one clear sentence otherwise."""
    columns = df.columns
    if target is not None and target not in columns:
        raise SchemaError(f"unknown target column {target!r}; columns are: {', '.join(columns)}")
    categorical, numeric, drop = _names(categorical), _names(numeric), _names(drop)
    _check_overrides(
        columns, target, {"categorical": categorical, "numeric": numeric, "drop": drop}
    )

    if target is None:
        if task not in (None, "clustering"):
            raise SchemaError(f"--task {task} needs --target")
        task = "clustering"
    else:
        y = df.get_column(target)
        if y.null_count() == y.len():
            raise SchemaError(f"target {target!r} has no values (all missing)")
        inferred = _infer_task(target, y)
        if task is None:
            task = inferred
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
        kind, reason = _kind_of(name, rows.get_column(name), forced.get(name))
        if kind == "ignored":
            ignored.append((name, reason))
        else:
            kinds[kind].append(name)
    if not kinds["numeric"] and not kinds["categorical"]:
        detail = "; ".join(f"{c}: {r}" for c, r in ignored) or "the file has only the target"
        raise SchemaError(f"no usable feature column ({detail})")
    return Schema(
        task=task,
        target=target,
        numeric=tuple(kinds["numeric"]),
        categorical=tuple(kinds["categorical"]),
        ignored=tuple(ignored),
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

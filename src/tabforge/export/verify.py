"""Parity: the exported graph, run by onnxruntime, against the native pipeline.

Rows checked: the hold-out, plus adversarial rows built from the graph itself: values
exactly at every learned float32 tree threshold and one float32 step either side, a
missing value in each column in turn, all columns missing, and an unseen category in
each categorical column. Labels must agree on every row; numbers within ``tolerance``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import onnx
import onnxruntime as ort
import polars as pl
from sklearn.pipeline import Pipeline

from tabforge.contract import (
    CATEGORICAL_INPUT,
    MISSING_TEXT,
    NUMERIC_INPUT,
    Inputs,
    Tensors,
    encode_strict,
)
from tabforge.data.schema import Schema
from tabforge.errors import ParityError
from tabforge.export.convert import tree_thresholds
from tabforge.export.wire import check_wire
from tabforge.train.metrics import full_proba, labels_from_proba
from tabforge.train.preprocess import as_float64, float64_numeric, tensors_to_frame

UNSEEN_CATEGORY = "__tabforge_unseen__"
MAX_THRESHOLD_VALUES = 4000  # threshold rows are sampled (seeded) beyond this many
WORST_ROWS = 5


@dataclass
class ParityReport:
    rows_checked: int
    holdout_rows: int
    adversarial_rows: int
    label_agreement: float | None
    max_abs_diff: dict[str, float]
    tolerance: float
    passed: bool
    failed_rows: int = 0
    worst: list[dict[str, Any]] = field(default_factory=list)
    # |onnx - native| / max(1, |native|) per row: the quantity the bound applies to.
    max_rel_diff: dict[str, float] = field(default_factory=dict)
    # How the checked rows reached the graph: the encoder, then each client wire path
    # decoded by the server's own decoders to the very same feed (export/wire.py).
    paths: list[str] = field(default_factory=list)

    @property
    def bound(self) -> str:
        return f"bound per row |diff| <= {self.tolerance:g} * max(1, |native|)"

    def diffs(self) -> str:
        """``max abs diff prediction 0.0078 (relative 4.1e-08)``, per numeric output."""
        each = ", ".join(
            f"{name} {self.max_abs_diff[name]:.3g} (relative {self.max_rel_diff.get(name, 0):.3g})"
            for name in self.max_abs_diff
        )
        return f"max abs diff {each or '-'}"

    def through(self) -> str:
        """`` as served (V2 JSON and binary, V1)`` once the wire paths are proven."""
        return " as served (V2 JSON and binary, V1)" if len(self.paths) > 1 else ""

    def describe(self) -> str:
        """One line that says first whether the graph passed, then by how much and the bound."""
        verdict = "OK" if self.passed else f"FAILED on {self.failed_rows} rows"
        agree = ""
        if self.label_agreement is not None:
            agree = f"labels agree {self.label_agreement:.2%}, "
        return (
            f"{verdict}: {self.rows_checked} rows ({self.holdout_rows} hold-out + "
            f"{self.adversarial_rows} adversarial){self.through()}: {agree}{self.diffs()}; "
            f"{self.bound}"
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "rows_checked": self.rows_checked,
            "holdout_rows": self.holdout_rows,
            "adversarial_rows": self.adversarial_rows,
            "label_agreement": self.label_agreement,
            "max_abs_diff": self.max_abs_diff,
            "max_rel_diff": self.max_rel_diff,
            "tolerance": self.tolerance,
            "passed": self.passed,
            "failed_rows": self.failed_rows,
            "paths": self.paths,
        }


def adversarial_rows(
    model: onnx.ModelProto, schema: Schema, base: Tensors, *, seed: int
) -> tuple[Tensors, list[str]]:
    """Rows built to catch float32 drift and missing/unknown handling; one kind per row."""
    n_base = len(next(iter(base.values())))
    k = len(schema.numeric)
    kinds: list[str] = []
    picks: list[int] = []
    edits: list[tuple[str, int, Any]] = []  # (input, column, value) per row

    def add(kind: str, edit: tuple[str, int, Any] | None) -> None:
        kinds.append(kind)
        picks.append(len(picks) % n_base)
        edits.append(edit or ("", -1, None))

    pairs = [(f, t) for f, ts in sorted(tree_thresholds(model).items()) if f < k for t in ts]
    if len(pairs) * 3 > MAX_THRESHOLD_VALUES:
        rng = np.random.default_rng(seed)
        chosen = rng.choice(len(pairs), MAX_THRESHOLD_VALUES // 3, replace=False)
        pairs = [pairs[i] for i in sorted(chosen)]
    for f, t in pairs:
        t32 = np.float32(t)
        for value, where in (
            (t32, "at"),
            (np.nextafter(t32, np.float32(np.inf)), "above"),
            (np.nextafter(t32, np.float32(-np.inf)), "below"),
        ):
            add(
                f"{where} threshold {float(t32)!r} of {schema.numeric[f]}",
                (NUMERIC_INPUT, f, value),
            )
    for j, name in enumerate(schema.numeric):
        add(f"{name} missing", (NUMERIC_INPUT, j, np.float32(np.nan)))
    for j, name in enumerate(schema.categorical):
        add(f"{name} missing", (CATEGORICAL_INPUT, j, MISSING_TEXT))
        add(f"{name} unseen category", (CATEGORICAL_INPUT, j, UNSEEN_CATEGORY))
    add("all columns missing", None)

    rows = {key: value[picks].copy() for key, value in base.items()}
    for i, (key, col, value) in enumerate(edits):
        if key:
            rows[key][i, col] = value
    last = len(kinds) - 1  # the all-missing row
    if NUMERIC_INPUT in rows:
        rows[NUMERIC_INPUT][last, :] = np.nan
    if CATEGORICAL_INPUT in rows:
        rows[CATEGORICAL_INPUT][last, :] = MISSING_TEXT
    return rows, kinds


def _native(
    pipeline: Pipeline, schema: Schema, tensors: Tensors, classes: list[Any] | None
) -> Tensors:
    X = tensors_to_frame(tensors, schema)
    if float64_numeric(pipeline.steps[-1][1], schema.task):
        X = as_float64(X, schema)
    if schema.task == "classification":
        proba = full_proba(pipeline, X, len(classes or []))
        labels = np.asarray(classes, dtype=object)[labels_from_proba(proba)]
        return {"label": labels, "probabilities": proba}
    if schema.task == "regression":
        return {"prediction": np.asarray(pipeline.predict(X), dtype=np.float64)}
    model = pipeline.steps[-1][1]
    scores = pipeline.predict_proba(X) if hasattr(model, "predict_proba") else pipeline.transform(X)
    return {"label": pipeline.predict(X), "scores": scores}


def run_onnx(model_bytes: bytes, tensors: Tensors) -> Tensors:
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(names, tensors), strict=True))


@dataclass
class _Comparison:
    bad: npt.NDArray[np.bool_]  # rows outside the bound (or with another label)
    row_diff: npt.NDArray[np.float64]  # each row's largest absolute difference
    agreement: float | None = None
    max_abs: dict[str, float] = field(default_factory=dict)
    max_rel: dict[str, float] = field(default_factory=dict)


def _compare(native: Tensors, got: Tensors, n: int, tolerance: float) -> _Comparison:
    """Row by row: labels must be equal, numbers within tolerance * max(1, |native|)."""
    out = _Comparison(np.zeros(n, dtype=bool), np.zeros(n))
    for name, expected in native.items():
        actual = got[name]
        if name == "label":
            same = np.asarray(actual).astype(object) == np.asarray(expected).astype(object)
            out.agreement = float(same.mean())
            out.bad |= ~same
            continue
        exp = np.asarray(expected, dtype=np.float64).reshape(len(actual), -1)
        act = np.asarray(actual, dtype=np.float64).reshape(len(actual), -1)
        diff = np.abs(exp - act)
        both_nan = np.isnan(exp) & np.isnan(act)
        diff[both_nan] = 0.0
        diff[np.isnan(diff)] = np.inf
        # float32 carries ~7 significant digits: beyond magnitude 1 the bound is relative.
        scale = np.maximum(1.0, np.abs(np.nan_to_num(exp)))
        rel = diff / scale
        out.bad |= (rel > tolerance).any(axis=1)
        worst = diff.max(axis=1)
        out.row_diff = np.maximum(out.row_diff, worst)
        out.max_abs[name] = float(worst.max()) if len(worst) else 0.0
        out.max_rel[name] = float(rel.max()) if rel.size else 0.0
    return out


def verify(
    model: onnx.ModelProto,
    pipeline: Pipeline,
    schema: Schema,
    *,
    inputs: Inputs,
    classes: list[Any] | None,
    holdout: pl.DataFrame,
    tolerance: float,
    seed: int,
) -> ParityReport:
    """Compare on hold-out + adversarial rows; raises ParityError (with the worst rows).

    The hold-out rows are encoded by the contract's encoder with the stored ``inputs``:
    the encoder serving, batch scoring and the API run, so the proof covers it.
    """
    holdout_feed = encode_strict(holdout, inputs)
    extra, extra_kinds = adversarial_rows(model, schema, holdout_feed, seed=seed)
    n_hold = holdout.height
    tensors = {key: np.concatenate([holdout_feed[key], extra[key]]) for key in holdout_feed}
    kinds = ["hold-out"] * n_hold + extra_kinds
    paths = check_wire(holdout, holdout_feed, extra, inputs)

    native = _native(pipeline, schema, tensors, classes)
    got = run_onnx(model.SerializeToString(), tensors)

    n = len(kinds)
    cmp = _compare(native, got, n, tolerance)

    report = ParityReport(
        rows_checked=n,
        holdout_rows=n_hold,
        adversarial_rows=n - n_hold,
        label_agreement=cmp.agreement,
        max_abs_diff=cmp.max_abs,
        tolerance=tolerance,
        passed=not cmp.bad.any(),
        failed_rows=int(cmp.bad.sum()),
        max_rel_diff=cmp.max_rel,
        paths=["encode", *paths],
    )
    if report.passed:
        return report
    raise _refusal(report, cmp, kinds, native, got)


def _refusal(
    report: ParityReport, cmp: _Comparison, kinds: list[str], native: Tensors, got: Tensors
) -> ParityError:
    """The error naming the worst rows; they are also kept on the report."""
    order = sorted(np.flatnonzero(cmp.bad), key=lambda i: -cmp.row_diff[i])[:WORST_ROWS]
    for i in order:
        row = {"row": int(i), "kind": kinds[i]}
        for name in native:
            row[f"native {name}"] = _show(native[name][i])
            row[f"onnx {name}"] = _show(got[name][i])
        report.worst.append(row)
    worst_text = "; ".join(
        f"row {r['row']} ({r['kind']}): "
        + ", ".join(f"{k}={v}" for k, v in r.items() if k not in ("row", "kind"))
        for r in report.worst
    )
    agreement = cmp.agreement
    labels = "" if agreement is None else f"label agreement {agreement:.4%}, "
    return ParityError(
        f"ONNX predictions differ from the native model on {report.failed_rows} of "
        f"{report.rows_checked} rows: {labels}{report.diffs()}; {report.bound}; nothing "
        f"stored. Worst rows: {worst_text}"
    )


def _show(value: Any) -> str:
    arr = np.asarray(value)
    if arr.dtype.kind == "f":
        return np.array2string(arr, precision=6, separator=" ")
    return str(value)

"""Portability: does the stored model run, and agree, under a runtime other than ours?

onnxruntime is the reference (the server runs it, and every figure of the evaluation
came from it). tract (sonos/tract, a second, independent ONNX engine in Rust) is asked
to load, type and run the same bytes on the same rows; its answers are held to the
parity bound, ``|diff| <= tolerance * max(1, |onnxruntime|)``. tract's Python bindings
take numbers only, and it lacks some ``ai.onnx.ml`` operators: whatever it says becomes
one line in the answer, never an exception, since training must not depend on it.
"""

from __future__ import annotations

import re
import tempfile
from typing import Any

import numpy as np
import onnxruntime as ort

from tabforge.contract import Tensors
from tabforge.contract.evaluation import Portability
from tabforge.evaluate.importance import Run

MAX_ROWS = 200
TOLERANCE = 1e-4
_UNIMPLEMENTED = re.compile(r"Unimplemented\((\w+)\)|unimplemented operator:?\s*\"?(\w+)", re.I)


def session_runner(model: bytes) -> Run:
    """One onnxruntime session for many calls (importance runs the graph once a column)."""
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]

    def run(feed: Tensors) -> Tensors:
        return dict(zip(names, session.run(names, feed), strict=True))

    return run


def portability(model: bytes, feed: Tensors, run: Run) -> list[Portability]:
    """onnxruntime's answer (the reference) and tract's, on up to MAX_ROWS rows of feed."""
    rows = {name: tensor[:MAX_ROWS] for name, tensor in feed.items()}
    n = len(next(iter(rows.values())))
    expected = run(rows)
    reference = Portability(
        runtime="onnxruntime", version=ort.__version__, runs=True, agrees=True,
        max_abs_diff=0.0, rows=n,
    )  # fmt: skip
    return [reference, tract_portability(model, rows, expected)]


def tract_portability(model: bytes, feed: Tensors, expected: Tensors) -> Portability:
    """tract's verdict; any failure, however it surfaces, is a ``runs=False`` line."""
    version = None
    try:
        import tract

        version = str(tract.version())
        got = _tract_run(tract, model, feed)
    except Exception as exc:  # a foreign runtime: whatever it raises is its answer
        text = one_line(exc)
        return Portability(
            runtime="tract", version=version, runs=False, agrees=None, max_abs_diff=None,
            rows=0, missing_operators=missing_operators(text), error=text,
        )  # fmt: skip
    diff, agrees = compare(expected, got)
    n = len(next(iter(feed.values())))
    return Portability(
        runtime="tract", version=version, runs=True, agrees=agrees, max_abs_diff=diff, rows=n
    )


class StringInputError(Exception):
    """tract's Python bindings pass numpy numbers only; a BYTES tensor cannot reach it."""


def _tract_run(tract: Any, model: bytes, feed: Tensors) -> Tensors:
    """Load (tract reads files only), type the inputs with these rows' shapes, run."""
    with tempfile.NamedTemporaryFile(suffix=".onnx") as file:
        file.write(model)
        file.flush()
        loaded = tract.onnx().load(file.name)
    names = [loaded.input_name(i) for i in range(loaded.input_count())]
    for i, name in enumerate(names):
        tensor = feed[name]
        kind = "string" if tensor.dtype == object else str(np.dtype(tensor.dtype))
        kind = {"float32": "f32", "float64": "f64", "int64": "i64"}.get(kind, kind)
        loaded.set_input_fact(i, ",".join([*map(str, tensor.shape), kind]))
    outputs = [loaded.output_name(i) for i in range(loaded.output_count())]
    typed = loaded.into_model()  # consumes ``loaded``; typing may rename outputs
    # String outputs (text class labels) cannot come back through the bindings either.
    numeric = [
        (i, name) for i, name in enumerate(outputs) if "String" not in str(typed.output_fact(i))
    ]
    runnable = typed.into_runnable()  # consumes ``typed``
    strings = [name for name in names if feed[name].dtype == object]
    if strings:
        raise StringInputError(
            f"tract loads the model but its Python bindings cannot pass string tensors "
            f"(input {', '.join(strings)} holds the categorical columns)"
        )
    answers = runnable.run([feed[name] for name in names])
    return {name: answers[i].to_numpy() for i, name in numeric}


def compare(expected: Tensors, got: Tensors) -> tuple[float | None, bool | None]:
    """The largest absolute difference over the numeric outputs both gave, and whether
    every value is within the parity bound (labels equal, NaN where onnxruntime says NaN);
    None for agreement when no output could be compared."""
    worst: float | None = None
    agrees: bool | None = None
    for name, want in expected.items():
        if name not in got:
            continue
        have = np.asarray(got[name]).reshape(want.shape)
        if want.dtype == object or name == "label":
            same = bool(np.array_equal(have.astype(want.dtype), want))
        else:
            a, b = want.astype(np.float64), have.astype(np.float64)
            diff = np.abs(a - b)
            both_nan = np.isnan(a) & np.isnan(b)
            worst = max(worst or 0.0, float(np.where(both_nan, 0.0, diff).max(initial=0.0)))
            same = bool(np.all(both_nan | (diff <= TOLERANCE * np.maximum(1.0, np.abs(a)))))
        agrees = same if agrees is None else agrees and same
    return worst, agrees


def one_line(exc: BaseException) -> str:
    """tract's error (a chain with a Rust backtrace) as one line: the chain, no trace."""
    text = str(exc).split("Stack backtrace")[0]
    parts = [re.sub(r"^\d+:\s*", "", line.strip()) for line in text.splitlines()]
    kept = [p for p in parts if p and p != "Caused by:"]
    return ("; ".join(kept) or type(exc).__name__)[:300]


def missing_operators(text: str) -> list[str]:
    """Operators tract names as unimplemented, in order, once each."""
    found = [a or b for a, b in _UNIMPLEMENTED.findall(text)]
    return list(dict.fromkeys(found))

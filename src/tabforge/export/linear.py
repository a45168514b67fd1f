"""Linear regressors computed in float64, natively and in the graph.

Found on real data (diamonds, price ~4e3): every linear regressor was refused at parity.
scikit-learn keeps float32 coefficients for float32 input and ONNX's LinearRegressor sums in
float32, so around a large intercept both sides lose the digits of a row predicted near
zero, each differently. The bound is relative to the row's prediction, so the fix is the
arithmetic, not the bound: the native model is fitted on float64 columns (see
preprocess.float64_numeric), and the graph's numeric branch and the linear sum are rewritten
in double: Cast (exact), Where(IsNaN) with the imputer's float64 medians, Sub and Div with the
scaler's float64 mean and scale, then MatMul and Add with the float64 coefficients. The
one-hot block is taken from the converter's own output (0/1: exact in any type). onnxruntime
has no double Imputer, which is why the converter cannot simply be given double inputs.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from tabforge.contract import NUMERIC_INPUT

_OP = "LinearRegressor"


def _numeric_steps(pipeline: Any, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """(medians, means, scales) of the numeric branch as float64, or None if not as expected."""
    preprocess = pipeline.named_steps["preprocess"]
    branch = preprocess.named_transformers_.get("numeric")
    if branch is None:
        return None
    imputer = branch.named_steps["impute"]
    medians = np.asarray(imputer.statistics_, dtype=np.float64)
    means, scales = np.zeros(k), np.ones(k)
    scaler = branch.named_steps.get("scale")
    if scaler is not None:
        if scaler.mean_ is not None:
            means = np.asarray(scaler.mean_, dtype=np.float64)
        if scaler.scale_ is not None:
            scales = np.asarray(scaler.scale_, dtype=np.float64)
    if not (len(medians) == len(means) == len(scales) == k):
        return None  # a column all missing in training was dropped: leave the graph as is
    return medians, means, scales


def _const(graph: onnx.GraphProto, name: str, values: Any) -> str:
    graph.initializer.append(numpy_helper.from_array(np.asarray(values, np.float64), name))
    return name


def linear_in_float64(model: onnx.ModelProto, pipeline: Any, numeric: int) -> None:
    """Rewrite the LinearRegressor (and the numeric branch feeding it) in double, in place."""
    graph = model.graph
    found = [i for i, node in enumerate(graph.node) if node.op_type == _OP]
    estimator = pipeline.steps[-1][1]
    coef = np.asarray(estimator.coef_, dtype=np.float64).reshape(-1)
    if len(found) != 1 or np.ndim(estimator.intercept_) > 0:
        return
    at = found[0]
    node = graph.node[at]
    features, output = node.input[0], node.output[0]
    nodes: list[onnx.NodeProto] = []
    parts: list[str] = []
    if numeric:
        steps = _numeric_steps(pipeline, numeric)
        if steps is None:
            return
        medians, means, scales = steps
        nodes += [
            helper.make_node("Cast", [NUMERIC_INPUT], ["lin_x"], to=TensorProto.DOUBLE),
            helper.make_node("IsNaN", ["lin_x"], ["lin_nan"]),
            helper.make_node(
                "Where", ["lin_nan", _const(graph, "lin_median", medians), "lin_x"], ["lin_filled"]
            ),
            helper.make_node("Sub", ["lin_filled", _const(graph, "lin_mean", means)], ["lin_c"]),
            helper.make_node("Div", ["lin_c", _const(graph, "lin_scale", scales)], ["lin_num"]),
        ]
        parts.append("lin_num")
    if numeric < len(coef):
        starts = _const_int(graph, "lin_start", [numeric])
        ends = _const_int(graph, "lin_end", [len(coef)])
        axes = _const_int(graph, "lin_axis", [1])
        nodes += [
            helper.make_node("Slice", [features, starts, ends, axes], ["lin_onehot32"]),
            helper.make_node("Cast", ["lin_onehot32"], ["lin_onehot"], to=TensorProto.DOUBLE),
        ]
        parts.append("lin_onehot")
    nodes += [
        helper.make_node("Concat", parts, ["lin_features"], axis=1),
        helper.make_node(
            "MatMul", ["lin_features", _const(graph, "lin_coef", coef[:, None])], ["lin_dot"]
        ),
        helper.make_node(
            "Add", ["lin_dot", _const(graph, "lin_intercept", [estimator.intercept_])], [output]
        ),
    ]
    del graph.node[at]
    for offset, added in enumerate(nodes):
        graph.node.insert(at + offset, added)


def _const_int(graph: onnx.GraphProto, name: str, values: list[int]) -> str:
    graph.initializer.append(numpy_helper.from_array(np.asarray(values, np.int64), name))
    return name

"""Regression tree ensembles summed in the graph the way the native library sums them.

The converters write every leaf value as float32, and ai.onnx.ml's TreeEnsembleRegressor sums
float32 leaves in float32 from zero, adding the base value last. Around a large base value
(house prices near 1e5) that drops the low digits: a row predicted near 180 came out 0.15 off,
far beyond the parity bound for 180, though the native model was right. The bound is relative
to the row's prediction, so the fix is where rounding happens, not a looser bound:

- scikit-learn trees and forests, HistGradientBoosting and LightGBM keep float64 leaves and sum
  in float64. The tree op gets their exact float64 leaves and base values and a float64 input
  (a Cast from float32: exact), so onnxruntime sums in float64 and rounds once, at its float32
  output. Thresholds stay the float32 values the converters wrote: a float32 input compares the
  same against them in float64, so every row takes the same branches as before.
- XGBoost sums in float32 itself: base value first, then tree after tree in order. Each tree
  writes its leaf to an output column of its own (one addition to zero: exact) and a CumSum
  along the trees adds them in XGBoost's order, so the graph rounds as XGBoost does, bit for bit.

Anything else (or a converter whose output no longer matches what is expected here) keeps the
converter's float32 op; parity still decides whether it may be stored.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import onnx
from onnx import TensorProto, helper, numpy_helper

F64 = npt.NDArray[np.float64]
Leaves = tuple[F64, F64]  # leaf weights in the converter's order, base values
TREES_PER_SUM = 128  # XGBoost: [rows, trees] float32 per op, so batches of 65k rows stay small
_OP = "TreeEnsembleRegressor"


def sum_like_native(model: onnx.ModelProto, estimator: Any) -> None:
    """Rewrite a regressor's tree op in place to sum as ``estimator`` does natively."""
    graph = model.graph
    ops = [i for i, node in enumerate(graph.node) if node.op_type == _OP]
    if len(ops) != 1:
        return
    node = graph.node[ops[0]]
    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    if attrs.get("n_targets", 1) != 1 or attrs.get("aggregate_function", b"SUM") != b"SUM":
        return
    if type(estimator).__module__.startswith("xgboost"):
        new = _xgboost_order(graph, node, attrs)
    else:
        leaves = _float64_leaves(estimator)
        if leaves is None or not _same_as_written(attrs, leaves):
            return
        new = _in_float64(node, attrs, leaves)
        _require_ml_opset(model, 3)  # the *_as_tensor attributes came with ai.onnx.ml 3
    if new:
        del graph.node[ops[0]]
        for offset, added in enumerate(new):
            graph.node.insert(ops[0] + offset, added)


def _require_ml_opset(model: onnx.ModelProto, version: int) -> None:
    for opset in model.opset_import:
        if opset.domain == "ai.onnx.ml":
            opset.version = max(opset.version, version)


def _float64_leaves(estimator: Any) -> Leaves | None:
    """The native float64 leaf values, in the order the converter lists them."""
    import lightgbm
    from sklearn.ensemble import (
        ExtraTreesRegressor,
        HistGradientBoostingRegressor,
        RandomForestRegressor,
    )
    from sklearn.tree import BaseDecisionTree

    none = np.zeros(0)
    if isinstance(estimator, lightgbm.LGBMRegressor):
        return _lightgbm_leaves(estimator.booster_.dump_model()), none
    if isinstance(estimator, HistGradientBoostingRegressor):
        # skl2onnx reads the same private attributes: there is no public route to them.
        values = [
            node["value"]
            for (predictor,) in estimator._predictors
            for node in predictor.nodes
            if node["is_leaf"]
        ]
        base = np.ravel(estimator._baseline_prediction).astype(np.float64)
        return np.array(values, dtype=np.float64), base
    if isinstance(estimator, BaseDecisionTree):
        trees, weight = [estimator.tree_], 1.0
    elif isinstance(estimator, (RandomForestRegressor, ExtraTreesRegressor)):
        trees = [e.tree_ for e in estimator.estimators_]
        weight = 1.0 / len(trees)  # skl2onnx's average: each leaf times 1/n, then a sum
    else:
        return None
    if any(t.n_outputs != 1 for t in trees):
        return None
    parts = []
    for tree in trees:
        index = np.arange(tree.node_count)
        # skl2onnx's leaf test, mirrored so the order is the converter's.
        leaf = ~((tree.children_left > index) | (tree.children_right > index))
        parts.append(tree.value[leaf, 0, 0] * weight)
    return np.concatenate(parts).astype(np.float64), none


def _lightgbm_leaves(dump: dict[str, Any]) -> F64:
    """Leaves depth first, left before right: the order onnxmltools writes them in."""
    values: list[float] = []
    for info in dump["tree_info"]:
        stack = [info["tree_structure"]]
        while stack:
            node = stack.pop()
            if "left_child" in node and "right_child" in node:
                stack += [node["right_child"], node["left_child"]]
            else:
                values.append(float(node["leaf_value"]))
    return np.array(values, dtype=np.float64)


def _same_as_written(attrs: dict[str, Any], leaves: Leaves) -> bool:
    """The exact values round to the converter's float32 ones: same leaves, same order."""
    weights, base = leaves
    written = np.array(attrs.get("target_weights", []), dtype=np.float32)
    written_base = np.array(attrs.get("base_values", []), dtype=np.float32)
    return (
        written.shape == weights.shape
        and written_base.shape == base.shape
        and bool(np.array_equal(written, weights.astype(np.float32)))
        and bool(np.array_equal(written_base, base.astype(np.float32)))
    )


def _in_float64(
    node: onnx.NodeProto, attrs: dict[str, Any], leaves: Leaves
) -> list[onnx.NodeProto]:
    weights, base = leaves
    x64 = f"tabforge_{node.name or 'trees'}_input_f64"
    cast = helper.make_node("Cast", [node.input[0]], [x64], to=TensorProto.DOUBLE, name=x64)
    kept = {k: v for k, v in attrs.items() if k not in ("target_weights", "base_values")}
    tensors = {"target_weights_as_tensor": numpy_helper.from_array(weights)}
    if len(base):
        tensors["base_values_as_tensor"] = numpy_helper.from_array(base)
    tree = helper.make_node(
        _OP, [x64, *node.input[1:]], list(node.output), name=node.name,
        domain=node.domain, **kept, **tensors,
    )  # fmt: skip
    return [cast, tree]


def _xgboost_order(
    graph: onnx.GraphProto, node: onnx.NodeProto, attrs: dict[str, Any]
) -> list[onnx.NodeProto]:
    """Trees in groups of TREES_PER_SUM, one column per tree, added up in tree order."""
    base = list(attrs.get("base_values", []))
    # XGBoost's log-link objectives arrive without a base value (the converter multiplies
    # it in after Exp), which is not XGBoost's order: leave those as converted.
    if attrs.get("post_transform", b"NONE") != b"NONE" or len(base) != 1:
        return []
    trees = sorted(set(attrs["target_treeids"]))
    groups = [trees[i : i + TREES_PER_SUM] for i in range(0, len(trees), TREES_PER_SUM)]
    prefix = f"tabforge_{node.name or 'trees'}"
    axis, axes, start, end = (f"{prefix}_{s}" for s in ("axis", "axes", "last", "end"))
    graph.initializer.extend([
        numpy_helper.from_array(np.array(0, dtype=np.int64), axis),  # CumSum: a scalar
        numpy_helper.from_array(np.array([0], dtype=np.int64), axes),  # Slice: a list
        numpy_helper.from_array(np.array([-1], dtype=np.int64), start),
        numpy_helper.from_array(np.array([np.iinfo(np.int64).max], dtype=np.int64), end),
    ])  # fmt: skip
    nodes: list[onnx.NodeProto] = []
    running = ""  # the sum so far, [1, rows]
    for k, group in enumerate(groups):
        name = f"{prefix}_group{k}"
        # base_values go with the first tree's column: float32(leaf + base) is XGBoost's
        # first step, as addition commutes.
        nodes.append(_tree_group(node, attrs, group, name, base if k == 0 else []))
        # [trees, rows]: CumSum runs along contiguous rows, 2-3x faster than along columns.
        nodes.append(helper.make_node("Transpose", [name], [f"{name}_t"], perm=[1, 0]))
        columns = f"{name}_t"
        if running:
            nodes.append(helper.make_node("Concat", [running, columns], [f"{name}_in"], axis=0))
            columns = f"{name}_in"
        nodes.append(helper.make_node("CumSum", [columns, axis], [f"{name}_cumsum"]))
        running = f"{name}_sum"
        nodes.append(helper.make_node("Slice", [f"{name}_cumsum", start, end, axes], [running]))
    nodes.append(helper.make_node("Transpose", [running], [node.output[0]], perm=[1, 0]))
    return nodes


def _tree_group(
    node: onnx.NodeProto, attrs: dict[str, Any], group: list[int], name: str, base: list[float]
) -> onnx.NodeProto:
    """The trees in ``group`` renumbered 0..n-1, each writing to its own output column."""
    column = {tree: i for i, tree in enumerate(group)}
    nodes_in = [t in column for t in attrs["nodes_treeids"]]
    leaves_in = [t in column for t in attrs["target_treeids"]]
    picked: dict[str, Any] = {}
    for key, value in attrs.items():
        if key.startswith("nodes_"):
            picked[key] = [v for v, keep in zip(value, nodes_in, strict=True) if keep]
        elif key.startswith("target_"):
            picked[key] = [v for v, keep in zip(value, leaves_in, strict=True) if keep]
    picked["nodes_treeids"] = [column[t] for t in picked["nodes_treeids"]]
    picked["target_treeids"] = [column[t] for t in picked["target_treeids"]]
    picked["target_ids"] = picked["target_treeids"]
    if base:
        picked["base_values"] = base + [0.0] * (len(group) - 1)
    return helper.make_node(
        _OP, list(node.input), [name], name=name, domain=node.domain,
        n_targets=len(group), post_transform="NONE", aggregate_function="SUM", **picked,
    )  # fmt: skip

"""Fitted pipeline -> ONNX ModelProto with tabforge's fixed inputs and outputs.

Inputs: ``numeric`` float32 [N, k] and/or ``categorical`` string [N, m].
Outputs: ``label`` + ``probabilities`` (classification), ``prediction`` (regression),
``label`` + ``scores`` (clustering). ZipMap is off everywhere.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from sklearn.pipeline import Pipeline

from tabforge.contract import CATEGORICAL_INPUT, NUMERIC_INPUT, Datatype, Outputs, Task
from tabforge.data.schema import Schema
from tabforge.errors import ExportError
from tabforge.export.linear import linear_in_float64
from tabforge.export.precision import sum_like_native
from tabforge.train.metrics import TIE_EPS
from tabforge.train.preprocess import float64_numeric

OPSET = {"": 17, "ai.onnx.ml": 3}
ONNX_TYPES: dict[Datatype, int] = {
    "FP32": TensorProto.FLOAT, "FP64": TensorProto.DOUBLE, "INT64": TensorProto.INT64,
    "INT32": TensorProto.INT32, "BOOL": TensorProto.BOOL, "BYTES": TensorProto.STRING,
}  # fmt: skip
_registered = False


def _fixed_hgb_tree(
    attr_pairs: dict[str, Any],
    is_classifier: bool,
    tree: Any,
    tree_id: int,
    tree_weight: float,
    weight_id_bias: int,
    leaf_weights_are_counts: bool,
    adjust_threshold_for_sklearn: bool = False,
    dtype: Any = None,
) -> None:
    """skl2onnx 1.20's HistGradientBoosting tree writer, fixed for scikit-learn 1.9.

    Two defects upstream: (1) node ids and feature indices arrive as numpy uint32, which
    onnx.helper.make_attribute refuses ("Unable to create node 'TreeEnsembleClassifier'"),
    so every HGB model failed to convert; (2) thresholds were written without the
    float32 adjustment used for the other sklearn trees, so a float32 input equal to a
    rounded threshold could take the other branch. Both are fixed here; parity checks
    the result on rows placed exactly at every threshold. The threshold must stay a
    numpy float64: skl2onnx's ``np.float32(t) == t`` compares in float32 when ``t`` is
    a Python float (NumPy 2 promotion rules) and then skips the rounding.
    """
    from skl2onnx.common.tree_ensemble import add_node

    for i, node in enumerate(tree.nodes):
        if node["is_leaf"]:
            add_node(
                attr_pairs, is_classifier, tree_id, tree_weight, i, 0, "LEAF", 0.0, 0, 0,
                node["value"], weight_id_bias, leaf_weights_are_counts, False, dtype, 0,
            )  # fmt: skip
        else:
            add_node(
                attr_pairs, is_classifier, tree_id, tree_weight, i, int(node["feature_idx"]),
                "BRANCH_LEQ", np.float64(node["num_threshold"]), int(node["left"]),
                int(node["right"]), node["value"], weight_id_bias, leaf_weights_are_counts,
                True, dtype, int(node["missing_go_to_left"]),
            )  # fmt: skip


def _round_down_f32(values: np.ndarray) -> np.ndarray:
    """The largest float32 <= each float64 value (as float64)."""
    f32 = values.astype(np.float32)
    up = f32.astype(np.float64) > values
    f32[up] = np.nextafter(f32[up], np.float32(-np.inf))
    return f32.astype(np.float64)


# LightGBM reads any input with |x| <= 1e-35f as exactly zero (its dense-row reader drops
# near-zero values), and places splits next to zero at +-1e-35f.
_LGBM_ZERO = float(np.float32(1e-35))


def _lightgbm_thresholds_f32(values: np.ndarray) -> np.ndarray:
    """float32 thresholds t' with (x <= t') == (lightgbm_zeroed(x) <= t) for every float32 x.

    Away from zero that is t rounded down to float32. For 0 <= t < 1e-35 every x in
    [-1e-35, 1e-35] reads as 0 <= t, so t' = 1e-35; for -1e-35 <= t < 0 those same x read
    as 0 > t, so t' is the float32 just below -1e-35.
    """
    out = _round_down_f32(values)
    out[(values >= 0) & (values < _LGBM_ZERO)] = _LGBM_ZERO
    below = float(np.nextafter(np.float32(-_LGBM_ZERO), np.float32(-np.inf)))
    out[(values >= -_LGBM_ZERO) & (values < 0)] = below
    return out


def _lightgbm_for_export(estimator: Any) -> Any:
    """A copy of a fitted LightGBM model whose split thresholds are float32-exact.

    LightGBM compares float64 thresholds; the ONNX tree op compares float32 ones, and the
    converter rounds to nearest, so an input equal to a threshold rounded *up* took the
    other branch (caught by the parity rows placed at thresholds). Rewriting each
    threshold as above keeps every float32 input (all the graph can receive) on the same
    branch as the native model, so the exported trees decide exactly as LightGBM does.
    """
    import copy

    import lightgbm

    # tree_sizes= indexes the text by byte length, which the rewrite changes; without it
    # LightGBM reads the trees sequentially.
    lines = [
        line
        for line in estimator.booster_.model_to_string().split("\n")
        if not line.startswith("tree_sizes=")
    ]
    for i, line in enumerate(lines):
        if line.startswith("threshold="):
            values = np.array(line[len("threshold=") :].split(), dtype=np.float64)
            exact = _lightgbm_thresholds_f32(values)
            lines[i] = "threshold=" + " ".join(repr(float(v)) for v in exact)
    clone = copy.copy(estimator)
    clone._Booster = lightgbm.Booster(model_str="\n".join(lines))
    return clone


def register_converters() -> None:
    """Register XGBoost and LightGBM converters and the HGB fix, once per process."""
    global _registered
    if _registered:
        return
    import lightgbm
    import skl2onnx.operator_converters.random_forest as rf_converters
    import xgboost
    from onnxmltools.convert.lightgbm.operator_converters.LightGbm import convert_lightgbm
    from onnxmltools.convert.xgboost.operator_converters.XGBoost import convert_xgboost
    from skl2onnx import update_registered_converter
    from skl2onnx.common.shape_calculator import (
        calculate_linear_classifier_output_shapes,
        calculate_linear_regressor_output_shapes,
    )

    classifier_options = {"nocl": [True, False], "zipmap": [True, False, "columns"]}
    update_registered_converter(
        xgboost.XGBClassifier, "XGBoostXGBClassifier",
        calculate_linear_classifier_output_shapes, convert_xgboost, options=classifier_options,
    )  # fmt: skip
    update_registered_converter(
        xgboost.XGBRegressor, "XGBoostXGBRegressor",
        calculate_linear_regressor_output_shapes, convert_xgboost,
    )  # fmt: skip
    update_registered_converter(
        lightgbm.LGBMClassifier, "LightGbmLGBMClassifier",
        calculate_linear_classifier_output_shapes, convert_lightgbm, options=classifier_options,
    )  # fmt: skip
    update_registered_converter(
        lightgbm.LGBMRegressor, "LightGbmLGBMRegressor",
        calculate_linear_regressor_output_shapes, convert_lightgbm, options={"split": None},
    )  # fmt: skip
    # The HGB converters call this module-level name; replacing it is the narrowest fix.
    rf_converters.add_tree_to_attribute_pairs_hist_gradient_boosting = _fixed_hgb_tree
    _registered = True


def initial_types(schema: Schema) -> list[tuple[str, Any]]:
    from skl2onnx.common.data_types import FloatTensorType, StringTensorType

    types: list[tuple[str, Any]] = []
    if schema.numeric:
        types.append((NUMERIC_INPUT, FloatTensorType([None, len(schema.numeric)])))
    if schema.categorical:
        types.append((CATEGORICAL_INPUT, StringTensorType([None, len(schema.categorical)])))
    return types


def to_onnx(pipeline: Pipeline, schema: Schema, *, outputs: Outputs, name: str) -> onnx.ModelProto:
    """Convert, then give the graph exactly the contract's ``outputs``; raises ExportError
    with the converter's reason."""
    register_converters()
    from skl2onnx import convert_sklearn

    estimator = native = pipeline.steps[-1][1]
    if type(estimator).__module__.startswith("lightgbm"):
        from sklearn.pipeline import Pipeline

        estimator = _lightgbm_for_export(estimator)
        pipeline = Pipeline([*pipeline.steps[:-1], (pipeline.steps[-1][0], estimator)])
    options = {id(estimator): {"zipmap": False}} if schema.task == "classification" else None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # converter deprecation chatter, not user news
            model = convert_sklearn(
                pipeline,
                name=name,
                initial_types=initial_types(schema),
                target_opset=OPSET,
                options=options,
            )
    except (RuntimeError, ValueError, TypeError, NotImplementedError, KeyError) as exc:
        reason = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else repr(exc)
        raise ExportError(f"cannot export {type(estimator).__name__} to ONNX: {reason}") from exc
    if schema.task == "regression":
        # float32 sums around a large base value lose a small prediction's digits.
        if float64_numeric(native, schema.task):
            linear_in_float64(model, pipeline, len(schema.numeric))
        else:
            sum_like_native(model, native)
    _normalise_outputs(model, schema.task, outputs)
    model.producer_name = "tabforge"
    # Canonical order: the converter builds opset imports from a set, whose order
    # changes with Python's hash seed, and so did the model bytes.
    opsets = sorted(model.opset_import, key=lambda o: o.domain)
    del model.opset_import[:]
    model.opset_import.extend(opsets)
    _set_metadata(model, schema, outputs.classes)
    onnx.checker.check_model(model)
    result: onnx.ModelProto = model
    return result


def _rename(graph: onnx.GraphProto, old: str, new: str) -> None:
    for node in graph.node:
        node.input[:] = [new if x == old else x for x in node.input]
        node.output[:] = [new if x == old else x for x in node.output]


def _normalise_outputs(model: onnx.ModelProto, task: Task, spec: Outputs) -> None:
    """Give every model the output names, types and shapes of the contract's spec.

    Classification: the label is computed from the probabilities by the same rule as the
    native side (metrics.labels_from_proba: first class within TIE_EPS of the highest),
    then a Gather from a constant turns the index into the original label (string or
    int64), so any ONNX runtime reads real labels.
    """
    graph = model.graph
    raw = [o.name for o in graph.output]
    for name in raw:
        _rename(graph, name, f"raw_{name}")
    raw = [f"raw_{name}" for name in raw]
    del graph.output[:]
    nodes: list[onnx.NodeProto] = []
    flat = numpy_helper.from_array(np.array([-1], dtype=np.int64), "flat_shape")
    graph.initializer.append(flat)

    if task == "classification":
        values = np.array(spec.classes)
        label_type = ONNX_TYPES[spec.tensors[0].datatype]  # the spec decides: INT64 or BYTES
        const = (
            values.astype(np.int64) if label_type == TensorProto.INT64 else values.astype(object)
        )
        graph.initializer.append(numpy_helper.from_array(const, "class_labels"))
        graph.initializer.append(
            numpy_helper.from_array(np.array(TIE_EPS, dtype=np.float32), "tie_eps")
        )
        nodes += [
            helper.make_node("Cast", [raw[1]], ["probabilities"], to=TensorProto.FLOAT),
            helper.make_node("ReduceMax", ["probabilities"], ["top"], axes=[1], keepdims=1),
            helper.make_node("Sub", ["top", "tie_eps"], ["near_top"]),
            helper.make_node("GreaterOrEqual", ["probabilities", "near_top"], ["is_top"]),
            helper.make_node("Cast", ["is_top"], ["is_top_f"], to=TensorProto.FLOAT),
            helper.make_node("ArgMax", ["is_top_f"], ["label_index"], axis=1, keepdims=0),
            helper.make_node("Gather", ["class_labels", "label_index"], ["label"], axis=0),
        ]
    elif task == "regression":
        nodes.append(helper.make_node("Reshape", [raw[0], "flat_shape"], ["prediction_any"]))
        nodes.append(helper.make_node("Cast", ["prediction_any"], ["prediction"], to=1))
    else:
        nodes.append(helper.make_node("Reshape", [raw[0], "flat_shape"], ["label_any"]))
        nodes.append(helper.make_node("Cast", ["label_any"], ["label"], to=TensorProto.INT64))
        nodes.append(helper.make_node("Cast", [raw[1]], ["scores"], to=TensorProto.FLOAT))
    graph.node.extend(nodes)
    graph.output.extend(
        helper.make_tensor_value_info(
            t.name, ONNX_TYPES[t.datatype], [None if d < 0 else d for d in t.shape]
        )
        for t in spec.tensors
    )
    _prune(graph)


def _prune(graph: onnx.GraphProto) -> None:
    """Drop nodes and initializers no output depends on (the converter's own label path)."""
    needed = {o.name for o in graph.output}
    keep: list[onnx.NodeProto] = []
    for node in reversed(graph.node):
        if any(out in needed for out in node.output):
            keep.append(node)
            needed.update(node.input)
    keep.reverse()
    del graph.node[:]
    graph.node.extend(keep)
    inits = [init for init in graph.initializer if init.name in needed]
    del graph.initializer[:]
    graph.initializer.extend(inits)


def _set_metadata(model: onnx.ModelProto, schema: Schema, classes: Sequence[Any] | None) -> None:
    """Column order and labels inside the file too, for runtimes that never see the manifest."""
    meta = {
        "tabforge.task": schema.task,
        "tabforge.numeric_columns": json.dumps(list(schema.numeric)),
        "tabforge.categorical_columns": json.dumps(list(schema.categorical)),
    }
    if classes is not None:
        meta["tabforge.classes"] = json.dumps([_plain(c) for c in classes])
    del model.metadata_props[:]
    for key, value in meta.items():
        model.metadata_props.append(onnx.StringStringEntryProto(key=key, value=value))


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def tree_thresholds(model: onnx.ModelProto) -> dict[int, np.ndarray]:
    """Float32 split thresholds per input feature index, read from the graph's tree ops."""
    found: dict[int, set[float]] = {}
    for node in model.graph.node:
        if not node.op_type.startswith("TreeEnsemble"):
            continue
        attrs = {a.name: a for a in node.attribute}
        if "nodes_values" not in attrs:
            continue
        modes = list(attrs["nodes_modes"].strings)
        features = list(attrs["nodes_featureids"].ints)
        values = list(attrs["nodes_values"].floats)
        for mode, feature, value in zip(modes, features, values, strict=True):
            if mode != b"LEAF":
                found.setdefault(int(feature), set()).add(value)
    return {f: np.array(sorted(v), dtype=np.float32) for f, v in found.items()}

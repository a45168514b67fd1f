"""The parity check can fail: it catches a model that drifts at thresholds or anywhere."""

from __future__ import annotations

import numpy as np
import pytest

from tabforge.data.schema import infer_schema
from tabforge.errors import ParityError
from tabforge.export.convert import register_converters, to_onnx
from tabforge.export.verify import adversarial_rows, run_onnx, verify
from tabforge.train.fit import Trainer, TrainOptions, prepare
from tabforge.train.preprocess import to_tensors
from tests.conftest import mixed_frame


def _fitted(model: str, target: str = "label", **params):
    df = mixed_frame().drop("binary", "value" if target == "label" else "label")
    schema = infer_schema(df, target=target)
    data = prepare(df, schema, test_size=0.25, seed=0)
    result = Trainer(data, TrainOptions(target=target, model=model, params=params)).run()
    holdout = to_tensors(data.frame[data.test_idx], schema)
    return result.pipeline, schema, data.classes, holdout


def test_adversarial_rows_sit_on_every_threshold_and_either_side():
    pipe, schema, classes, holdout = _fitted("decision_tree", max_depth=3)
    model = to_onnx(pipe, schema, classes=classes, name="t")
    rows, kinds = adversarial_rows(model, schema, holdout, seed=0)
    at = [k for k in kinds if k.startswith("at threshold")]
    assert at
    assert len([k for k in kinds if k.startswith("above")]) == len(at)
    assert any(k.endswith("unseen category") for k in kinds)
    assert kinds[-1] == "all columns missing"
    assert np.isnan(rows["numeric"][-1]).all()
    assert (rows["categorical"][-1] == "").all()


def test_verify_refuses_a_graph_that_drifts_from_the_native_model():
    pipe, schema, classes, holdout = _fitted("logistic")
    model = to_onnx(pipe, schema, classes=classes, name="t")
    # Nudge the scaler's offsets as a float64->float32 slip would.
    for node in model.graph.node:
        if node.op_type == "Scaler":
            for attr in node.attribute:
                if attr.name == "offset":
                    attr.floats[:] = [v + 0.5 for v in attr.floats]
    with pytest.raises(ParityError, match="differ from the native model") as err:
        verify(model, pipe, schema, classes=classes, holdout=holdout, tolerance=1e-4, seed=0)
    assert "Worst rows" in str(err.value)
    # The bound is stated as what it is: relative to each row's native value beyond 1.
    assert "bound per row |diff| <= 0.0001 * max(1, |native|)" in str(err.value)


def test_unfixed_lightgbm_thresholds_are_caught_at_the_threshold_rows():
    """onnxmltools rounds LightGBM's float64 thresholds to nearest; rows at them drift."""
    from onnxmltools.convert.lightgbm.operator_converters.LightGbm import convert_lightgbm  # noqa: F401
    from skl2onnx import convert_sklearn

    from tabforge.export.convert import OPSET, initial_types

    pipe, schema, classes, holdout = _fitted("lightgbm", n_estimators=30)
    register_converters()
    raw = convert_sklearn(
        pipe, initial_types=initial_types(schema), target_opset=OPSET,
        options={id(pipe.steps[-1][1]): {"zipmap": False}},
    )  # fmt: skip
    fixed = to_onnx(pipe, schema, classes=classes, name="t")
    # The fixed export passes on the same rows that the raw export fails on.
    verify(fixed, pipe, schema, classes=classes, holdout=holdout, tolerance=1e-4, seed=0)
    from tabforge.export.convert import _normalise_outputs

    _normalise_outputs(raw, "classification", classes)
    with pytest.raises(ParityError, match="threshold"):
        verify(raw, pipe, schema, classes=classes, holdout=holdout, tolerance=1e-4, seed=0)


def test_class_labels_come_out_of_the_graph_as_the_original_strings():
    pipe, schema, classes, holdout = _fitted("random_forest", n_estimators=10)
    model = to_onnx(pipe, schema, classes=classes, name="t")
    out = run_onnx(model.SerializeToString(), holdout)
    assert classes == ["high", "low", "mid"]
    assert set(out["label"].tolist()) <= set(classes)
    assert out["label"].dtype == object
    assert out["probabilities"].dtype == np.float32

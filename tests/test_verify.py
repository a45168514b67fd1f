"""The parity check can fail: it catches a model that drifts at thresholds or anywhere."""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import polars as pl
import pytest
from sklearn.pipeline import Pipeline

from tabforge.contract import Inputs, Outputs, Tensors, encode_strict
from tabforge.data.schema import Schema, infer_schema
from tabforge.errors import ParityError
from tabforge.export.convert import register_converters, to_onnx
from tabforge.export.record import input_spec, output_spec
from tabforge.export.verify import adversarial_rows, run_onnx, verify
from tabforge.train.fit import Trainer, TrainOptions, prepare
from tests.helpers import mixed_frame


class Spec(NamedTuple):
    inputs: Inputs
    outputs: Outputs
    holdout: pl.DataFrame

    def feed(self) -> Tensors:
        return encode_strict(self.holdout, self.inputs)

    def verify(self, model: Any, pipe: Pipeline, schema: Schema, classes: list[Any] | None) -> Any:
        """The parity check as training runs it, on this model's hold-out rows."""
        return verify(
            model, pipe, schema, inputs=self.inputs, classes=classes, holdout=self.holdout,
            tolerance=1e-4, seed=0,
        )  # fmt: skip


def _fitted(
    model: str, target: str = "label", **params: Any
) -> tuple[Pipeline, Schema, list[Any] | None, Spec]:
    df = mixed_frame().drop("binary", "value" if target == "label" else "label")
    schema = infer_schema(df, target=target)
    data = prepare(df, schema, test_size=0.25, seed=0)
    result = Trainer(data, TrainOptions(target=target, model=model, params=params)).run()
    spec = Spec(input_spec(data, result), output_spec(data, result), data.frame[data.test_idx])
    return result.pipeline, schema, data.classes, spec


def test_adversarial_rows_sit_on_every_threshold_and_either_side() -> None:
    pipe, schema, _classes, spec = _fitted("decision_tree", max_depth=3)
    model = to_onnx(pipe, schema, outputs=spec.outputs, name="t")
    rows, kinds = adversarial_rows(model, schema, spec.feed(), seed=0)
    at = [k for k in kinds if k.startswith("at threshold")]
    assert at
    assert len([k for k in kinds if k.startswith("above")]) == len(at)
    assert any(k.endswith("unseen category") for k in kinds)
    assert kinds[-1] == "all columns missing"
    assert np.isnan(rows["numeric"][-1]).all()
    assert (rows["categorical"][-1] == "").all()


def test_verify_refuses_a_graph_that_drifts_from_the_native_model() -> None:
    pipe, schema, classes, spec = _fitted("logistic")
    model = to_onnx(pipe, schema, outputs=spec.outputs, name="t")
    # Nudge the scaler's offsets as a float64->float32 slip would.
    for node in model.graph.node:
        if node.op_type == "Scaler":
            for attr in node.attribute:
                if attr.name == "offset":
                    attr.floats[:] = [v + 0.5 for v in attr.floats]
    with pytest.raises(ParityError, match="differ from the native model") as err:
        spec.verify(model, pipe, schema, classes)
    assert "Worst rows" in str(err.value)
    # The bound is stated as what it is: relative to each row's native value beyond 1.
    assert "bound per row |diff| <= 0.0001 * max(1, |native|)" in str(err.value)


def test_unfixed_lightgbm_thresholds_are_caught_at_the_threshold_rows() -> None:
    """onnxmltools rounds LightGBM's float64 thresholds to nearest; rows at them drift."""
    from onnxmltools.convert.lightgbm.operator_converters.LightGbm import convert_lightgbm  # noqa: F401
    from skl2onnx import convert_sklearn

    from tabforge.export.convert import OPSET, initial_types

    pipe, schema, classes, spec = _fitted("lightgbm", n_estimators=30)
    register_converters()
    raw = convert_sklearn(
        pipe, initial_types=initial_types(schema), target_opset=OPSET,
        options={id(pipe.steps[-1][1]): {"zipmap": False}},
    )  # fmt: skip
    fixed = to_onnx(pipe, schema, outputs=spec.outputs, name="t")
    # The fixed export passes on the same rows that the raw export fails on.
    spec.verify(fixed, pipe, schema, classes)
    from tabforge.export.convert import _normalise_outputs

    _normalise_outputs(raw, "classification", spec.outputs)
    with pytest.raises(ParityError, match="threshold"):
        spec.verify(raw, pipe, schema, classes)


def test_class_labels_come_out_of_the_graph_as_the_original_strings() -> None:
    pipe, schema, classes, spec = _fitted("random_forest", n_estimators=10)
    model = to_onnx(pipe, schema, outputs=spec.outputs, name="t")
    out = run_onnx(model.SerializeToString(), spec.feed())
    assert classes == ["high", "low", "mid"]
    assert set(out["label"].tolist()) <= set(classes)
    assert out["label"].dtype == object
    assert out["probabilities"].dtype == np.float32

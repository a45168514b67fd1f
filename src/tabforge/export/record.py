"""What a stored version records about itself: the manifest, built from one run's facts.

The tensor specs come from the contract (the same ones the graph's outputs were given at
export), so the manifest cannot restate them differently.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tabforge import contract
from tabforge.contract import manifest as mf
from tabforge.data.fingerprint import fingerprint
from tabforge.data.profile import profile
from tabforge.export.verify import ParityReport
from tabforge.train import metrics
from tabforge.train.fit import FitResult, Prepared, TrainOptions
from tabforge.train.preprocess import categories_seen

SCORES_MEANING = {
    "kmeans": "euclidean distance to each cluster centre (in the scaled feature space)",
    "minibatch_kmeans": "euclidean distance to each cluster centre (in the scaled feature space)",
    "gaussian_mixture": "probability of membership in each component",
}
LIBRARIES = (
    "tabforge", "numpy", "polars", "scikit-learn", "xgboost-cpu", "lightgbm",
    "onnx", "skl2onnx", "onnxmltools", "onnxruntime",
)  # fmt: skip


def input_spec(data: Prepared, result: FitResult) -> mf.Inputs:
    """The inputs with the categories the fitted encoder knows (parity encodes with these)."""
    schema = data.schema
    seen = categories_seen(result.pipeline, schema)
    return contract.inputs(schema.numeric, schema.categorical, seen)


def output_spec(data: Prepared, result: FitResult) -> mf.Outputs:
    """What the exported graph must return for this task and estimator."""
    estimator = result.pipeline.steps[-1][1]
    clusters = getattr(estimator, "n_clusters", None) or getattr(estimator, "n_components", None)
    return contract.outputs(
        data.schema.task,
        classes=data.classes,
        clusters=int(clusters) if clusters else None,
        scores=SCORES_MEANING.get(result.entry.name),
    )


@dataclass(frozen=True)
class Facts:
    """Everything a run knows once parity has passed; the version comes from the store."""

    name: str
    created: str
    source: Path
    data: Prepared
    result: FitResult
    inputs: mf.Inputs
    outputs: mf.Outputs
    parity: ParityReport
    options: TrainOptions
    sha: str
    notes: list[str]
    reference: contract.Reference | None = (
        None  # monitoring: bins and thresholds (tabforge.monitor)
    )


def build_manifest(facts: Facts, version: int) -> mf.Manifest:
    schema, result, options = facts.data.schema, facts.result, facts.options
    estimator = result.pipeline.steps[-1][1]
    config = asdict(options) | {"params": dict(options.params), "name": facts.name}
    return mf.Manifest(
        name=facts.name,
        version=version,
        created_at=facts.created,
        task=schema.task,
        estimator=mf.Estimator(
            name=result.entry.name,
            class_name=type(estimator).__name__,
            params=_jsonable(estimator.get_params(deep=False)),
        ),
        inputs=facts.inputs,
        outputs=facts.outputs,
        metrics=_jsonable(_metrics(schema.task, result, options)),
        parity=facts.parity.as_dict(),
        data=_data_info(facts),
        seed=options.seed,
        config=_jsonable(config),
        versions=library_versions(),
        model_sha256=facts.sha,
        reference=facts.reference,
    )


def _metrics(task: mf.Task, result: FitResult, options: TrainOptions) -> dict[str, Any]:
    block: dict[str, Any] = {
        "primary": metrics.PRIMARY[task][0],
        "holdout": result.holdout,
        "cv": result.cv,
        "cv_folds": options.cv or None,
    }
    if result.leaderboard is not None:
        block["leaderboard"] = result.leaderboard
    if result.search is not None:
        block["search"] = result.search
    return block


def _data_info(facts: Facts) -> mf.DataInfo:
    data, schema = facts.data, facts.data.schema
    return mf.DataInfo(
        source=facts.source.name,
        rows=data.frame.height,
        train_rows=len(data.train_idx),
        test_rows=len(data.test_idx),
        fingerprint=fingerprint(data.frame, schema),
        target=schema.target,
        ignored=dict(schema.ignored),
        profile=profile(data.frame, schema),
        leaks=[leak.as_dict() for leak in facts.result.leaks],
        notes=list(facts.notes),
    )


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return repr(value)


def library_versions() -> dict[str, str]:
    import platform
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for dist in LIBRARIES:
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            continue
    out["python"] = platform.python_version()
    return out

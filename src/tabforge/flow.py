"""The one flow: file -> schema -> fitted pipeline -> ONNX -> parity -> registry version."""

from __future__ import annotations

import datetime as dt
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tabforge.config import registry_root
from tabforge.data.fingerprint import fingerprint
from tabforge.data.load import read_table
from tabforge.data.profile import profile
from tabforge.data.schema import Schema, infer_schema
from tabforge.errors import ConfigError
from tabforge.export import manifest as mf
from tabforge.export.convert import to_onnx
from tabforge.export.verify import ParityReport, verify
from tabforge.progress import Reporter, SilentReporter
from tabforge.registry.refs import validate_name
from tabforge.registry.store import FilesystemRegistry, sha256_bytes, slugify
from tabforge.train import metrics
from tabforge.train.catalog import lookup
from tabforge.train.fit import FitResult, Prepared, Trainer, TrainOptions, prepare
from tabforge.train.preprocess import (
    CATEGORICAL_INPUT,
    MISSING_TEXT,
    NUMERIC_INPUT,
    categories_seen,
    to_tensors,
)

SCORES_MEANING = {
    "kmeans": "euclidean distance to each cluster centre (in the scaled feature space)",
    "minibatch_kmeans": "euclidean distance to each cluster centre (in the scaled feature space)",
    "gaussian_mixture": "probability of membership in each component",
}


@dataclass
class TrainOutcome:
    name: str
    version: int
    registry: Path
    schema: Schema
    fit: FitResult
    parity: ParityReport
    manifest: mf.Manifest
    model_sha256: str
    notes: list[str]

    @property
    def ref(self) -> str:
        return f"{self.name}:{self.version}"

    def summary(self) -> dict[str, Any]:
        return {
            "ref": self.ref,
            "name": self.name,
            "version": self.version,
            "registry": str(self.registry),
            "task": self.schema.task,
            "model": self.fit.entry.name,
            "metrics": self.manifest.metrics,
            "parity": self.parity.as_dict(),
            "model_sha256": self.model_sha256,
            "ignored_columns": dict(self.schema.ignored),
            "leaks": [leak.as_dict() for leak in self.fit.leaks],
            "notes": self.notes,
        }


def train(
    path: str | os.PathLike[str],
    options: TrainOptions,
    *,
    name: str | None = None,
    registry: str | os.PathLike[str] | None = None,
    reporter: Reporter | None = None,
    started: float | None = None,
) -> TrainOutcome:
    """Train, export, verify and store; nothing is stored unless every step succeeds.

    ``started`` (time.monotonic()) is when --time-budget starts counting: the CLI passes its
    process start, so imports count too; the default is now.
    """
    started = time.monotonic() if started is None else started
    reporter = reporter or SilentReporter()
    source = Path(path)
    model_name = validate_name(name) if name else slugify(source.stem)
    if options.cv and options.cv < 2:  # before any work: --cv 1 is never valid
        raise ConfigError(f"--cv must be at least 2, got {options.cv}")
    if options.model != "auto":
        lookup(options.model, options.task)  # refuse unknown models before reading data
    data = _read_and_prepare(source, options, reporter)
    schema = data.schema
    result = Trainer(data, options, reporter, started=started).run()

    with reporter.step("Exporting to ONNX"):
        model = to_onnx(result.pipeline, schema, classes=data.classes, name=model_name)
    holdout = to_tensors(data.frame[data.test_idx], schema)
    with reporter.step("Verifying ONNX against the native model"):
        report = verify(
            model,
            result.pipeline,
            schema,
            classes=data.classes,
            holdout=holdout,
            tolerance=options.tolerance,
            seed=options.seed,
        )
    model_bytes = model.SerializeToString()
    sha = sha256_bytes(model_bytes)
    root = registry_root(registry)
    store = FilesystemRegistry(root)
    created = dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")

    def render(version: int) -> bytes:
        manifest = build_manifest(
            model_name, version, created, source, data, result, report, options, sha,
            notes=reporter.notes,
        )  # fmt: skip
        return mf.encode(manifest)

    version = store.put(model_name, model_bytes, render)
    manifest = mf.decode(render(version))
    notes = list(reporter.notes)
    return TrainOutcome(model_name, version, root, schema, result, report, manifest, sha, notes)


def _read_and_prepare(source: Path, options: TrainOptions, reporter: Reporter) -> Prepared:
    """Read the file, decide each column's role and split it, saying what was left out."""
    with reporter.step(f"Reading {source.name}"):
        df = read_table(source)
    schema = infer_schema(
        df,
        target=options.target,
        task=options.task,
        categorical=options.categorical,
        numeric=options.numeric,
        drop=options.drop,
        max_categories=options.max_categories,
    )
    for column, reason in schema.ignored:
        if column not in options.drop:  # the user knows what they dropped
            reporter.note(f"ignoring column {column!r}: {reason}")
    if schema.task_reason:
        reporter.note(f"task {schema.task}: {schema.task_reason}")
    data = prepare(df, schema, test_size=options.test_size, seed=options.seed)
    dropped = df.height - data.frame.height
    if schema.target is not None and dropped:
        reporter.note(f"dropped {dropped} rows whose target {schema.target!r} is missing")
    return data


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


def _data_info(source: Path, data: Prepared, result: FitResult, notes: list[str]) -> mf.DataInfo:
    schema = data.schema
    return mf.DataInfo(
        source=source.name,
        rows=data.frame.height,
        train_rows=len(data.train_idx),
        test_rows=len(data.test_idx),
        fingerprint=fingerprint(data.frame, schema),
        target=schema.target,
        ignored=dict(schema.ignored),
        profile=profile(data.frame, schema),
        leaks=[leak.as_dict() for leak in result.leaks],
        notes=list(notes),
    )


def _tensor_specs(schema: Schema, data: Prepared, result: FitResult) -> mf.Outputs:
    if schema.task == "classification":
        classes = data.classes or []
        label_type = "INT64" if isinstance(classes[0], int) else "BYTES"
        return mf.Outputs(
            tensors=[
                mf.TensorSpec("label", label_type, [-1]),
                mf.TensorSpec("probabilities", "FP32", [-1, len(classes)]),
            ],
            classes=classes,
        )
    if schema.task == "regression":
        return mf.Outputs(tensors=[mf.TensorSpec("prediction", "FP32", [-1])])
    estimator = result.pipeline.steps[-1][1]
    k = getattr(estimator, "n_clusters", None) or getattr(estimator, "n_components", None)
    return mf.Outputs(
        tensors=[
            mf.TensorSpec("label", "INT64", [-1]),
            mf.TensorSpec("scores", "FP32", [-1, int(k) if k else -1]),
        ],
        scores=SCORES_MEANING.get(result.entry.name),
    )


def build_manifest(
    name: str,
    version: int,
    created: str,
    source: Path,
    data: Prepared,
    result: FitResult,
    report: ParityReport,
    options: TrainOptions,
    sha: str,
    *,
    notes: list[str],
) -> mf.Manifest:
    schema = data.schema
    tensors = []
    if schema.numeric:
        tensors.append(mf.TensorSpec(NUMERIC_INPUT, "FP32", [-1, len(schema.numeric)]))
    if schema.categorical:
        tensors.append(mf.TensorSpec(CATEGORICAL_INPUT, "BYTES", [-1, len(schema.categorical)]))
    estimator = result.pipeline.steps[-1][1]
    metric_block: dict[str, Any] = {
        "primary": metrics.PRIMARY[schema.task][0],
        "holdout": result.holdout,
        "cv": result.cv,
        "cv_folds": options.cv or None,
    }
    if result.leaderboard is not None:
        metric_block["leaderboard"] = result.leaderboard
    if result.search is not None:
        metric_block["search"] = result.search
    config = asdict(options) | {"params": dict(options.params), "name": name}
    return mf.Manifest(
        name=name,
        version=version,
        created_at=created,
        task=schema.task,
        estimator=mf.Estimator(
            name=result.entry.name,
            class_name=type(estimator).__name__,
            params=_jsonable(estimator.get_params(deep=False)),
        ),
        inputs=mf.Inputs(
            numeric=list(schema.numeric),
            categorical=list(schema.categorical),
            categories=categories_seen(result.pipeline, schema),
            tensors=tensors,
            missing_text=MISSING_TEXT,
        ),
        outputs=_tensor_specs(schema, data, result),
        metrics=_jsonable(metric_block),
        parity=report.as_dict(),
        data=_data_info(source, data, result, notes),
        seed=options.seed,
        config=_jsonable(config),
        versions=mf.library_versions(),
        model_sha256=sha,
    )

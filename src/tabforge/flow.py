"""The one flow: file -> schema -> fitted pipeline -> ONNX -> parity -> registry version."""

from __future__ import annotations

import datetime as dt
import os
import time
import warnings
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import msgspec

from tabforge.contract import manifest as mf
from tabforge.contract import sha256_bytes
from tabforge.contract.evaluation import EVALUATION_FILE, Evaluation, evaluation_to_json
from tabforge.data.load import read_table
from tabforge.data.schema import Schema, infer_schema
from tabforge.errors import ConfigError, TabforgeError
from tabforge.evaluate import evaluate_model
from tabforge.export.convert import to_onnx
from tabforge.export.record import Facts, build_manifest, input_spec, output_spec
from tabforge.export.verify import ParityReport, run_onnx, verify
from tabforge.monitor.build import build_reference
from tabforge.progress import Reporter, SilentReporter
from tabforge.registry.backends import open_registry
from tabforge.registry.base import Registry
from tabforge.registry.refs import slugify, validate_name
from tabforge.train.catalog import lookup
from tabforge.train.fit import FitResult, Prepared, Trainer, TrainOptions, prepare


@dataclass
class TrainOutcome:
    name: str
    version: int
    registry: str  # where it is stored: a directory or s3://bucket/prefix
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
            "registry": self.registry,
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
    backend: str | None = None,
) -> TrainOutcome:
    """Train, export, verify and store; nothing is stored unless every step succeeds.

    ``started`` (time.monotonic()) is when --time-budget starts counting: the CLI passes its
    process start, so imports count too; the default is now. ``backend`` is the joblib
    backend the folds of --cv, --search and auto run on ("dask": the current distributed
    Client's cluster); the default runs them here, one after another.
    """
    started = time.monotonic() if started is None else started
    reporter = reporter or SilentReporter()
    source = Path(path)
    model_name = validate_name(name) if name else slugify(source.stem)
    _refuse_bad_options(options)
    store = open_registry(registry)
    store.check_writable()  # a missing bucket is found before the training, not after
    data = _read_and_prepare(source, options, reporter, named=model_name if not name else None)
    schema = data.schema
    result = Trainer(data, options, reporter, started=started, backend=backend).run()

    inputs, outputs = input_spec(data, result), output_spec(data, result)
    model_bytes, report = _export(data, result, inputs, outputs, model_name, options, reporter)
    evaluation = _evaluate(model_bytes, data, inputs, outputs, options, reporter)
    with reporter.step("Recording the monitoring reference"):
        reference = build_reference(
            data.frame[data.train_idx],
            data.frame[data.test_idx],
            inputs=inputs,
            outputs=outputs,
            run=partial(run_onnx, model_bytes),
            seed=options.seed,
        )
    facts = Facts(
        name=model_name,
        created=dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        source=source,
        data=data,
        result=result,
        inputs=inputs,
        outputs=outputs,
        parity=report,
        options=options,
        sha=sha256_bytes(model_bytes),
        notes=list(reporter.notes),
        reference=reference,
    )
    version, manifest = _store(store, facts, model_bytes, evaluation)
    return TrainOutcome(
        model_name, version, store.location, schema, result, report, manifest, facts.sha,
        facts.notes,
    )  # fmt: skip


def _refuse_bad_options(options: TrainOptions) -> None:
    """Before any work: --cv 1 is never valid, and an unknown model is refused before the
    data is read."""
    if options.cv and options.cv < 2:
        raise ConfigError(f"--cv must be at least 2, got {options.cv}")
    if options.model != "auto":
        lookup(options.model, options.task)


def _export(
    data: Prepared,
    result: FitResult,
    inputs: mf.Inputs,
    outputs: mf.Outputs,
    name: str,
    options: TrainOptions,
    reporter: Reporter,
) -> tuple[bytes, ParityReport]:
    """The fitted pipeline as ONNX bytes, proven against the native model on the hold-out."""
    with reporter.step("Exporting to ONNX"):
        model = to_onnx(result.pipeline, data.schema, outputs=outputs, name=name)
    with reporter.step("Verifying ONNX against the native model"):
        report = verify(
            model,
            result.pipeline,
            data.schema,
            inputs=inputs,
            classes=data.classes,
            holdout=data.frame[data.test_idx],
            tolerance=options.tolerance,
            seed=options.seed,
        )
    return model.SerializeToString(), report


def _evaluate(
    model: bytes,
    data: Prepared,
    inputs: mf.Inputs,
    outputs: mf.Outputs,
    options: TrainOptions,
    reporter: Reporter,
) -> Evaluation | None:
    """The hold-out's evaluation through the exported graph, or None with a note.

    The model is already proven; a figure that cannot be drawn must not cost the user
    their training. An unexpected failure is a defect, so it is also warned about: the
    test suite turns warnings into errors and sees it.
    """
    with reporter.step("Evaluating through the ONNX model"):
        try:
            return evaluate_model(
                model,
                data.frame[data.test_idx],
                None if data.y is None else data.y[data.test_idx],
                task=data.schema.task,
                inputs=inputs,
                classes=outputs.classes,
                source="holdout",
                seed=options.seed,
            )
        except TabforgeError as exc:
            reporter.note(f"no evaluation stored: {exc}")
        except Exception as exc:  # a defect in evaluation, not in the model
            reporter.note(f"no evaluation stored: {type(exc).__name__}: {exc}")
            warnings.warn(f"evaluation failed: {exc!r}", RuntimeWarning, stacklevel=2)
    return None


def _store(
    store: Registry, facts: Facts, model: bytes, evaluation: Evaluation | None
) -> tuple[int, mf.Manifest]:
    """A new version: the store picks the number, the manifest is rendered for it once."""
    built: list[mf.Manifest] = []
    # The slow part (the data's profile and fingerprint) before the store takes its lock;
    # under it, only the number the store picked is filled in.
    draft = build_manifest(facts, 0)

    def render(version: int) -> bytes:
        built.append(msgspec.structs.replace(draft, version=version))
        return mf.to_json(built[-1])

    extras = {EVALUATION_FILE: evaluation_to_json(evaluation)} if evaluation else None
    version = store.put(facts.name, model, render, extras=extras)
    return version, built[-1]


def _read_and_prepare(
    source: Path, options: TrainOptions, reporter: Reporter, *, named: str | None
) -> Prepared:
    """Read the file, decide each column's role and split it, saying what was left out
    (and, ``named`` after the file, under which name the model will be stored)."""
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
    if named is not None and named != source.stem:
        reporter.note(
            f"model name {named!r}, from the file's stem {source.stem!r} (names take a-z, "
            "0-9, '_' and '-'; --name sets another)"
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

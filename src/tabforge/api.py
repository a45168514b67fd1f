"""The in-process Python API: ``tabforge.load("churn@production").predict(rows)``."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import polars as pl

from tabforge.contract import Manifest, to_frame
from tabforge.registry.backends import open_registry
from tabforge.registry.refs import ModelRef
from tabforge.runtime.predictor import Predictor


@dataclass(frozen=True)
class ModelSchema:
    """What the model takes and gives, in tensor order."""

    task: str
    numeric: tuple[str, ...]
    categorical: tuple[str, ...]
    categories: dict[str, list[str]]
    classes: list[Any] | None

    @property
    def columns(self) -> tuple[str, ...]:
        return self.numeric + self.categorical


class Model:
    """One stored version, loaded once; ``predict`` is safe to call from many threads."""

    def __init__(self, ref: ModelRef, predictor: Predictor) -> None:
        self.ref = ref
        self._predictor = predictor
        m = predictor.manifest
        self.schema = ModelSchema(
            task=m.task,
            numeric=tuple(m.inputs.numeric),
            categorical=tuple(m.inputs.categorical),
            categories=m.inputs.categories,
            classes=m.outputs.classes,
        )

    @property
    def manifest(self) -> Manifest:
        return self._predictor.manifest

    @property
    def predictor(self) -> Predictor:
        """The onnxruntime session over the contract, for batch scoring and servers."""
        return self._predictor

    def predict(self, data: Any) -> pl.DataFrame:
        """Predictions for a polars/pandas DataFrame, pyarrow Table, dict of columns or records.

        Returns a polars DataFrame: ``label`` and ``proba_<class>`` columns
        (classification), ``prediction`` (regression), or ``label`` and ``scores``
        (clustering). Extra input columns are ignored; missing ones are an error. No rows
        give an empty frame with the same columns and types.
        """
        return self._predictor.predict(to_frame(data))

    def __repr__(self) -> str:
        return f"<tabforge.Model {self.ref} ({self.schema.task})>"


def load(ref: str | ModelRef, *, registry: str | os.PathLike[str] | None = None) -> Model:
    """Load ``name``, ``name:3`` or ``name@alias`` (sha256-checked; never unpickles)."""
    store = open_registry(registry)
    resolved, model, manifest = store.load(ref)
    return Model(resolved, Predictor(model, manifest))

"""A Predictor: one onnxruntime session for one stored version, and codecs to and from frames."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import onnxruntime as ort
import polars as pl

from tabforge.errors import DataError, RegistryError
from tabforge.export import manifest as mf
from tabforge.registry.store import MANIFEST_FILE, MODEL_FILE, sha256_bytes

NUMERIC_INPUT = "numeric"
CATEGORICAL_INPUT = "categorical"


class Predictor:
    """Created once per version; ``session.run`` is thread-safe, so share it."""

    def __init__(self, model: bytes, manifest: mf.Manifest, *, threads: int = 0) -> None:
        if sha256_bytes(model) != manifest.model_sha256:
            raise RegistryError(
                f"{manifest.name}:{manifest.version}: {MODEL_FILE} does not match the sha256 "
                "recorded in its manifest"
            )
        options = ort.SessionOptions()
        options.log_severity_level = 3
        options.intra_op_num_threads = threads
        self.manifest = manifest
        self.session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
        self.output_names = [o.name for o in self.session.get_outputs()]

    @classmethod
    def from_dir(cls, path: Path) -> Predictor:
        model_path, manifest_path = path / MODEL_FILE, path / MANIFEST_FILE
        try:
            manifest = mf.decode(manifest_path.read_bytes())
            model = model_path.read_bytes()
        except FileNotFoundError as exc:
            raise RegistryError(f"missing file {Path(exc.filename).name} in {path}") from exc
        except (ValueError, msgspec.DecodeError) as exc:
            raise RegistryError(f"unreadable {MANIFEST_FILE} in {path}: {exc}") from exc
        return cls(model, manifest)

    def tensors(self, df: pl.DataFrame) -> dict[str, np.ndarray]:
        inputs = self.manifest.inputs
        missing = [c for c in (*inputs.numeric, *inputs.categorical) if c not in df.columns]
        if missing:
            raise DataError(f"missing input columns: {', '.join(missing)}")
        feed: dict[str, np.ndarray] = {}
        try:
            if inputs.numeric:
                num = df.select(pl.col(c).cast(pl.Float32) for c in inputs.numeric)
                feed[NUMERIC_INPUT] = np.ascontiguousarray(num.to_numpy(), dtype=np.float32)
        except pl.exceptions.InvalidOperationError as exc:
            raise DataError(f"a numeric column holds text: {str(exc).splitlines()[0]}") from exc
        if inputs.categorical:
            cat = df.select(
                pl.col(c).cast(pl.String).fill_null(inputs.missing_text) for c in inputs.categorical
            )
            feed[CATEGORICAL_INPUT] = cat.to_numpy().astype(object)
        return feed

    def run(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return dict(zip(self.output_names, self.session.run(self.output_names, feed), strict=True))

    def predict(self, df: pl.DataFrame) -> pl.DataFrame:
        out = self.run(self.tensors(df))
        task = self.manifest.task
        if task == "classification":
            classes = self.manifest.outputs.classes or []
            cols: dict[str, Any] = {"label": out["label"].tolist()}
            for i, c in enumerate(classes):
                cols[f"proba_{c}"] = out["probabilities"][:, i]
            return pl.DataFrame(cols)
        if task == "regression":
            return pl.DataFrame({"prediction": out["prediction"]})
        return pl.DataFrame({"label": out["label"], "scores": out["scores"].tolist()})

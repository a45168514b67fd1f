"""A Predictor: one onnxruntime session for one stored version, shared by every caller."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import polars as pl

from tabforge.errors import RegistryError
from tabforge.export import manifest as mf
from tabforge.registry.store import sha256_bytes
from tabforge.runtime.codec import encode_strict, outputs_frame


class Predictor:
    """Created once per version; ``session.run`` is thread-safe, so share it."""

    def __init__(
        self, model: bytes, manifest: mf.Manifest, *, threads: int = 0, spin: bool = True
    ) -> None:
        if sha256_bytes(model) != manifest.model_sha256:
            raise RegistryError(
                f"{manifest.name}:{manifest.version}: model.onnx does not match the sha256 "
                "recorded in its manifest"
            )
        options = ort.SessionOptions()
        options.log_severity_level = 3
        options.intra_op_num_threads = threads
        if not spin:
            # A server's calls are short and its event loop needs the CPU: idle pool
            # threads must sleep, not spin-wait for the next call.
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.manifest = manifest
        try:
            self.session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own untyped errors on bad graphs
            raise RegistryError(
                f"{manifest.name}:{manifest.version}: onnxruntime cannot load model.onnx: "
                f"{str(exc).splitlines()[0][:200]}"
            ) from exc
        self.output_names = [o.name for o in self.session.get_outputs()]

    def run(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return dict(zip(self.output_names, self.session.run(self.output_names, feed), strict=True))

    def frame(self, outputs: dict[str, np.ndarray]) -> pl.DataFrame:
        """Outputs as columns: label + proba_<class>, prediction, or label + scores."""
        return outputs_frame(self.manifest.task, self.manifest.outputs.classes, outputs)

    def predict(self, df: pl.DataFrame) -> pl.DataFrame:
        if df.height == 0:
            return self.frame(self.run(self.empty_feed()))
        return self.frame(self.run(encode_strict(df, self.manifest.inputs)))

    def empty_feed(self) -> dict[str, np.ndarray]:
        inputs = self.manifest.inputs
        feed: dict[str, np.ndarray] = {}
        if inputs.numeric:
            feed["numeric"] = np.zeros((0, len(inputs.numeric)), dtype=np.float32)
        if inputs.categorical:
            feed["categorical"] = np.zeros((0, len(inputs.categorical)), dtype=object)
        return feed

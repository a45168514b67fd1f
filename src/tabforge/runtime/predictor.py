"""A Predictor: one onnxruntime session for one stored version, shared by every caller."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import polars as pl

from tabforge.contract import (
    empty_outputs,
    encode_strict,
    outputs_frame,
    probe_feed,
    sha256_bytes,
)
from tabforge.contract import manifest as mf
from tabforge.errors import RegistryError


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
        self._trailing: dict[str, tuple[int, ...]] | None = None

    def run(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        if len(next(iter(feed.values()))) == 0:
            return self.empty_outputs()  # never run a graph on zero rows: k-NN fails on them
        return dict(zip(self.output_names, self.session.run(self.output_names, feed), strict=True))

    def frame(self, outputs: dict[str, np.ndarray]) -> pl.DataFrame:
        """Outputs as columns: label + proba_<class>, prediction, or label + scores."""
        return outputs_frame(self.manifest.task, self.manifest.outputs.classes, outputs)

    def predict(self, df: pl.DataFrame) -> pl.DataFrame:
        if df.width == 0:
            return self.frame(self.empty_outputs())  # no columns, so no rows: e.g. []
        return self.frame(self.run(encode_strict(df, self.manifest.inputs)))

    def warm_up(self) -> dict[str, np.ndarray]:
        """One row of missing values through the graph: proves it runs, and learns the
        output widths the manifest leaves open (clustering scores are [-1, -1])."""
        outputs = self.run(probe_feed(self.manifest.inputs))
        self._trailing = {name: arr.shape[1:] for name, arr in outputs.items()}
        return outputs

    def empty_outputs(self) -> dict[str, np.ndarray]:
        """Outputs for zero rows, built from the manifest's output specs."""
        specs = self.manifest.outputs.tensors
        if self._trailing is None and any(d < 0 for t in specs for d in t.shape[1:]):
            self.warm_up()
        return empty_outputs(specs, self._trailing or {})

"""``--data FILE``: a labelled file through the stored artifact, and its drift.

The metrics and figures are recomputed by ``tabforge.evaluate`` through the ONNX model,
exactly as at training; the drift is ``tabforge drift``'s own computation
(``monitor.offline.drift_file`` against the version's reference), not a second one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tabforge.contract.evaluation import Evaluation
from tabforge.contract.manifest import Manifest
from tabforge.data.load import read_table
from tabforge.errors import DataError
from tabforge.evaluate import evaluate_frame
from tabforge.monitor.offline import drift_file
from tabforge.monitor.profile import reference_of
from tabforge.runtime.predictor import Predictor


def evaluate_file(model: bytes, manifest: Manifest, path: str | Path) -> Evaluation:
    """The evaluation of ``path``'s rows; DataError (naming the file) when it is unreadable,
    lacks the target or holds a class the model does not know."""
    source = Path(path)
    frame = read_table(source)
    try:
        return evaluate_frame(model, manifest, frame, source=str(source), seed=manifest.seed)
    except DataError as exc:
        raise DataError(f"{source.name}: {exc}") from exc


def drift_of_file(model: bytes, manifest: Manifest, path: str | Path) -> dict[str, Any] | None:
    """The file as one drift window; None when the version has no reference to judge by."""
    reference = reference_of(manifest)
    if reference is None:
        return None
    run = drift_file(Predictor(model, manifest), reference, path)
    return run.windows[0]

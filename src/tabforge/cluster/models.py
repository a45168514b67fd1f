"""The cluster's one door to the registry, and the models each worker process has loaded.

Only strings travel to a worker: the registry, the resolved reference and the sha256 the run
started with. Each worker process loads the model from the registry itself, once, and keeps
the session for the partitions that follow: an onnxruntime session cannot be pickled, and
shipping the model's bytes with every partition would cost more than reading them once.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path

from tabforge.config import registry_spec as spec_of
from tabforge.contract import Manifest
from tabforge.errors import ClusterError
from tabforge.registry.backends import is_remote, open_registry
from tabforge.registry.refs import ModelRef
from tabforge.runtime.predictor import Predictor

# Sessions kept per worker process; a run scores with one model, a long-lived worker may see
# a few. The one piece of process-wide state here: a worker is a process that outlives a task.
KEPT_MODELS = 4
_loaded: OrderedDict[tuple[str, str, str], Predictor] = OrderedDict()
_lock = threading.Lock()


def registry_spec(registry: str | None) -> str:
    """The registry as every worker can open it: an s3:// address as given, a directory made
    absolute (a relative path means nothing on a worker)."""
    text = spec_of(registry)
    return text if is_remote(text) else str(Path(text).resolve())


def fetch(registry: str, ref: str | ModelRef) -> tuple[ModelRef, bytes, Manifest]:
    """The resolved reference, model bytes and manifest, the bytes checked against the
    manifest's sha256 by the store."""
    return open_registry(registry).load(ref)


def predictor(registry: str, ref: str, sha256: str) -> Predictor:
    """This process's session for ``ref``, loaded on first use; refused if the stored model is
    not the one the run started with."""
    key = (registry, ref, sha256)
    with _lock:
        found = _loaded.get(key)
        if found is not None:
            _loaded.move_to_end(key)
            return found
        _, model, manifest = fetch(registry, ref)
        if manifest.model_sha256 != sha256:
            raise ClusterError(f"{ref} in {registry} is not the model this run started with")
        # onnxruntime's default thread count, as local predict: its tree ensembles add up
        # trees in an order that depends on the thread count, so fewer threads would change
        # the last bits of some scores. Idle threads sleep rather than spin: a worker shares
        # the machine with the others.
        loaded = Predictor(model, manifest, spin=False)
        _loaded[key] = loaded
        while len(_loaded) > KEPT_MODELS:
            _loaded.popitem(last=False)
        return loaded

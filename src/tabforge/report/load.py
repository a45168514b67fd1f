"""Reading what a report shows from the registry: manifest, evaluation, aliases, --data."""

from __future__ import annotations

from pathlib import Path

from tabforge.contract.evaluation import Evaluation
from tabforge.errors import RegistryError
from tabforge.registry.base import Registry
from tabforge.registry.refs import ModelRef
from tabforge.report.data import drift_of_file, evaluate_file
from tabforge.report.subject import Subject


def load_subject(
    store: Registry, ref: str | ModelRef, *, data: str | Path | None = None
) -> Subject:
    """A version as its report shows it; with ``data``, also evaluated on that file."""
    resolved, model, manifest = store.load(ref)
    aliases = sorted(a for a, v in store.aliases(resolved.name).items() if v == manifest.version)
    on_data, drift = None, None
    if data is not None:
        on_data = evaluate_file(model, manifest, data)
        drift = drift_of_file(model, manifest, data)
    evaluation, unreadable = stored_evaluation(store, resolved)
    return Subject(manifest, evaluation, tuple(aliases), on_data, drift, unreadable)


def stored_evaluation(store: Registry, ref: str | ModelRef) -> tuple[Evaluation | None, str]:
    """The version's stored evaluation, or None and why it could not be read: a damaged
    ``evaluation.json`` costs the page its figures, not the page."""
    try:
        return store.evaluation(ref), ""
    except RegistryError as exc:
        return None, str(exc)

"""The live dashboard's data: one snapshot of what the server serves and how it runs.

``GET /dashboard.json`` answers with cumulative numbers only, as /metrics has them and
summed over every worker (the same collectors, read as values, not as text): requests by
status, latency and batch-size histogram buckets, cache lookups, shadow runs. The page keeps
the snapshot before and computes rates and p50/p99 from the difference, so the server keeps
no history per viewer and a refresh costs one scrape plus each served version's monitor
window. Aliases come from the watcher's last look at the registry (``Aliases``): a snapshot
reads no registry. The page and its files are in pages.py.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, Literal

import msgspec
from prometheus_client.metrics_core import Metric

from tabforge import __version__
from tabforge.errors import TabforgeError
from tabforge.registry.base import Registry
from tabforge.runtime.predictor import Predictor
from tabforge.serve.metrics import (
    DIFF_BUCKETS,
    LATENCY_BUCKETS,
    REQUESTS_BUCKETS,
    ROWS_BUCKETS,
)
from tabforge.serve.monitoring import Live
from tabforge.serve.repository import ServedModel

if TYPE_CHECKING:
    from tabforge.serve.service import ModelService

Labels = dict[str, str]


class Histogram(msgspec.Struct):
    """Cumulative, as Prometheus keeps it: ``counts[i]`` observations were at most
    ``bounds[i]``; the one count more at the end is all of them."""

    bounds: list[float]
    counts: list[int]
    sum: float


class ColumnDrift(msgspec.Struct):
    """One feature or output over the window (monitoring's item without its bins)."""

    name: str
    kind: str
    psi: float | None  # None: no rows in the window
    js: float | None
    threshold: dict[str, float] | None  # psi and js alert limits; None: too few rows yet
    alert: bool
    reason: str | None
    missing_rate: float | None
    out_of_range_rate: float | None  # numeric columns
    unseen_rate: float | None  # categorical columns


class Drift(msgspec.Struct):
    """A version's /monitor report over the window, condensed."""

    window: str
    rows: int
    drift: Literal["on", "no reference"]
    drift_rows: int
    alert: bool
    features: list[ColumnDrift]
    outputs: list[ColumnDrift]
    live: Live


class VersionView(msgspec.Struct):
    version: int
    task: str
    estimator: str
    created_at: str
    aliases: list[str]  # the registry's aliases pointing here
    default: bool  # what an unversioned request gets without a route
    report: str  # path of the version's HTML report
    requests: dict[str, int]  # by status code, every protocol
    rows: int  # rows predicted
    inference: Histogram  # seconds per onnxruntime call
    queue: Histogram  # seconds a request waited for its batch
    batch_rows: Histogram  # rows per onnxruntime call
    batch_requests: Histogram  # requests per onnxruntime call
    cache: dict[str, int]  # lookups by result: hit, miss
    drift: Drift | None  # None: the server runs with --no-monitor


class RouteShare(msgspec.Struct):
    version: int
    weight: int


class Shadow(msgspec.Struct):
    version: int
    sample: float  # fraction of unversioned requests mirrored
    runs: dict[str, int]  # by result: ran, dropped, failed
    rows: dict[str, int]  # by label agreement with the primary: yes, no
    diff: Histogram  # largest absolute difference from the primary per request


class ModelView(msgspec.Struct):
    name: str
    default: int
    aliases: dict[str, int]
    route: list[RouteShare]  # the weighted split of unversioned traffic; []: all to default
    shadow: Shadow | None
    requests: dict[str, int]  # by status code, every version (and none yet known)
    feedback: dict[str, int]  # feedback ids by result: joined, unknown
    versions: list[VersionView]


class ServerView(msgspec.Struct):
    name: str
    version: str
    time: float  # the server's clock (seconds since the epoch): rates divide by its steps
    ready: bool
    workers: int
    monitor: bool
    window: str  # of the drift and live quality figures
    cache_entries: int  # per version; 0: the response cache is off
    max_batch_rows: int
    max_delay_us: int
    requests: dict[str, int]  # by status code, every model and protocol
    latency: Histogram  # whole request seconds, every protocol
    in_progress: int
    models_loaded: int
    load_failures: int
    failures: dict[str, str]  # what is not served, and why


class Snapshot(msgspec.Struct):
    """GET /dashboard.json."""

    server: ServerView
    models: list[ModelView]


class Aliases:
    """The registry's aliases of the served models, as the watcher last read them: set
    after each look at the registry, read by snapshots and reports."""

    def __init__(self) -> None:
        self._of: dict[str, dict[str, int]] = {}

    def refresh(self, store: Registry, names: Iterable[str]) -> None:
        found = {}
        for name in names:
            try:
                found[name] = store.aliases(name)
            except TabforgeError:  # unreadable now: keep what was read before
                found[name] = self._of.get(name, {})
        self._of = found  # one assignment: readers see the old table or the new one

    def of(self, name: str) -> dict[str, int]:
        return self._of.get(name, {})

    def pointing_at(self, name: str, version: int) -> list[str]:
        return sorted(alias for alias, v in self.of(name).items() if v == version)


class Samples:
    """One scrape's sample values, looked up by name and summed over unnamed labels."""

    def __init__(self, families: Iterable[Metric]) -> None:
        # sample name -> (model, version) -> [(labels, value)]
        self._index: dict[str, dict[tuple[str, str], list[tuple[Labels, float]]]] = {}
        for family in families:
            for sample in family.samples:
                key = (sample.labels.get("model", ""), sample.labels.get("version", ""))
                by_key = self._index.setdefault(sample.name, {})
                by_key.setdefault(key, []).append((sample.labels, sample.value))

    def _matching(
        self, name: str, model: str | None, version: str | None
    ) -> Iterable[tuple[Labels, float]]:
        for (m, v), values in self._index.get(name, {}).items():
            if (model is None or m == model) and (version is None or v == version):
                yield from values

    def total(self, name: str, *, model: str | None = None, version: str | None = None) -> float:
        return sum(value for _, value in self._matching(name, model, version))

    def by(
        self, name: str, label: str, *, model: str | None = None, version: str | None = None
    ) -> dict[str, int]:
        """Counts summed per value of ``label``."""
        sums: dict[str, float] = {}
        for labels, value in self._matching(name, model, version):
            sums[labels.get(label, "")] = sums.get(labels.get(label, ""), 0.0) + value
        return {key: round(value) for key, value in sorted(sums.items())}

    def histogram(
        self,
        name: str,
        bounds: Sequence[float],
        *,
        model: str | None = None,
        version: str | None = None,
    ) -> Histogram:
        buckets: dict[float, float] = {}
        for labels, value in self._matching(f"{name}_bucket", model, version):
            le = float(labels["le"])
            buckets[le] = buckets.get(le, 0.0) + value
        counts = [round(buckets.get(float(b), 0.0)) for b in (*bounds, math.inf)]
        total = self.total(f"{name}_sum", model=model, version=version)
        return Histogram([float(b) for b in bounds], counts, total)


def snapshot(service: ModelService, window: str) -> Snapshot:
    """Everything the page shows (in a thread: it reads every worker's files)."""
    samples = Samples(service.metrics.collect())
    models = sorted(service.repo.models.values(), key=lambda m: m.name)
    return Snapshot(
        server=_server(service, samples, window),
        models=[_model(service, served, samples, window) for served in models],
    )


def _server(service: ModelService, samples: Samples, window: str) -> ServerView:
    settings = service.settings
    return ServerView(
        name="tabforge",
        version=__version__,
        time=time.time(),
        ready=service.repo.ready,
        workers=service.state.workers,
        monitor=service.monitor.enabled,
        window=window,
        cache_entries=settings.cache_entries,
        max_batch_rows=settings.max_batch_rows,
        max_delay_us=settings.max_delay_us,
        requests=samples.by("tabforge_requests_total", "code"),
        latency=samples.histogram("tabforge_request_duration_seconds", LATENCY_BUCKETS),
        in_progress=round(samples.total("tabforge_requests_in_progress")),
        models_loaded=round(samples.total("tabforge_models_loaded")),
        load_failures=round(samples.total("tabforge_model_load_failures")),
        failures=dict(sorted(service.repo.failures.items())),
    )


def _model(service: ModelService, served: ServedModel, samples: Samples, window: str) -> ModelView:
    name = served.name
    shares, before = [], 0
    for version, upto in served.route:  # cumulative weights back to weights
        shares.append(RouteShare(version, upto - before))
        before = upto
    return ModelView(
        name=name,
        default=served.default,
        aliases=service.aliases.of(name),
        route=shares,
        shadow=_shadow(served, samples),
        requests=samples.by("tabforge_requests_total", "code", model=name),
        feedback=samples.by("tabforge_feedback_total", "result", model=name),
        versions=[
            _version(service, served, number, predictor, samples, window)
            for number, predictor in sorted(served.versions.items())
        ],
    )


def _version(
    service: ModelService,
    served: ServedModel,
    number: int,
    predictor: Predictor,
    samples: Samples,
    window: str,
) -> VersionView:
    manifest, name = predictor.manifest, served.name
    of = {"model": name, "version": str(number)}
    return VersionView(
        version=number,
        task=manifest.task,
        estimator=manifest.estimator.name,
        created_at=manifest.created_at,
        aliases=service.aliases.pointing_at(name, number),
        default=number == served.default,
        report=f"/v2/models/{name}/versions/{number}/report",
        requests=samples.by("tabforge_requests_total", "code", **of),
        rows=round(samples.total("tabforge_rows_predicted_total", **of)),
        inference=samples.histogram("tabforge_inference_duration_seconds", LATENCY_BUCKETS, **of),
        queue=samples.histogram("tabforge_queue_duration_seconds", LATENCY_BUCKETS, **of),
        batch_rows=samples.histogram("tabforge_batch_rows", ROWS_BUCKETS, **of),
        batch_requests=samples.histogram("tabforge_batch_requests", REQUESTS_BUCKETS, **of),
        cache=samples.by("tabforge_cache_total", "result", **of),
        drift=_drift(service, name, number, predictor, window),
    )


def _shadow(served: ServedModel, samples: Samples) -> Shadow | None:
    if served.shadow is None:
        return None
    version, sample = served.shadow
    of = {"model": served.name, "version": str(version)}
    return Shadow(
        version=version,
        sample=sample,
        runs=samples.by("tabforge_shadow_requests_total", "result", **of),
        rows=samples.by("tabforge_shadow_rows_total", "agree", **of),
        diff=samples.histogram("tabforge_shadow_abs_diff", DIFF_BUCKETS, **of),
    )


def _drift(
    service: ModelService, name: str, number: int, predictor: Predictor, window: str
) -> Drift | None:
    if not service.monitor.enabled:
        return None
    report = service.monitor.of(name, number, predictor).report(window)
    return Drift(
        window=window,
        rows=report.rows,
        drift=report.drift,
        drift_rows=report.drift_rows,
        alert=report.alert,
        features=[_column(item) for item in report.features],
        outputs=[_column(item) for item in report.outputs],
        live=report.live,
    )


def _column(item: dict[str, Any]) -> ColumnDrift:
    return ColumnDrift(
        name=item["name"],
        kind=item["kind"],
        psi=item["psi"],
        js=item["js"],
        threshold=item["threshold"],
        alert=item["alert"],
        reason=item["reason"],
        missing_rate=item["missing_rate"],
        out_of_range_rate=item["out_of_range_rate"],
        unseen_rate=item["unseen_rate"],
    )

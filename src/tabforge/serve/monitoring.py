"""Online monitoring: drift counts per served version, live quality, and their reports.

Every batch a version infers is counted in the inference thread after its requests have
their answers (so neither the event loop nor the client waits for it): rows, the summed top
class probability (for the label-free expected accuracy) and the version's drift bins
(``tabforge.monitor.Binner``). Counts go to this worker's slots file (slots.py); a report or
a scrape sums every worker's. Versions without a reference (``reference_of`` is None)
count rows and quality but no bins, and say ``"drift": "no reference"``.

What it costs is kept small (a ``Binner`` call costs ~20-30 us whatever the rows, then
~0.25 us a row of 30 features; a request ~200 us and ~8 ms of server CPU with one row and
with 1,000) by binning few rows, many at a time (sampling.py):

- batches up to ``WHOLE_ROWS`` rows (what dynamic batching makes by default) are binned
  whole: every row, each standing for itself;
- of a larger batch one row in ``SAMPLE_EVERY`` is binned, at a random place in each block
  of ``SAMPLE_EVERY`` rows, standing for ``SAMPLE_EVERY`` rows (so counts stay unbiased);
  the drift statistics then stand for the binned rows' effective number (Kish: (sum w)^2 /
  sum w^2, from ``ROWS`` and ``WEIGHT_SQ``), which the report gives as ``drift_rows``
  (equal to ``rows`` when nothing was sampled);
- both kinds wait, in two lists, and each list is binned in one call once ``FLUSH_ROWS``
  rows wait in it (by the inference thread that adds the last) or ``FLUSH_SECONDS`` passed
  (a flusher thread; a report or a scrape flushes its own worker first). A batch added
  from the event loop (``bin_now=False``) is left to the flusher, unless ``MAX_WAITING``
  rows wait: memory stays bounded. Rows are counted in ``ROWS`` when they are binned.

Per inferred batch that is ~2-4 us of CPU for one row, ~10 us for 16 and ~17-36 us for
1,000 (``benchmarks/monitor_bench.py``; 63-120 us when each large batch was binned alone).
Loaded side by side with a ``--no-monitor`` server, a monitoring server answers ~2-3%
fewer requests (``benchmarks/monitor_overhead.py``).
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import msgspec
import numpy as np
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from tabforge.contract import Manifest
from tabforge.monitor import Binner, reference_of, report
from tabforge.runtime.predictor import Predictor
from tabforge.serve.repository import Repository
from tabforge.serve.sampling import BlockSample, Feed, Waiting, joined
from tabforge.serve.slots import (
    CONFIDENCE,
    FIXED,
    LABELS,
    QUALITY_A,
    QUALITY_B,
    ROWS,
    SUFFIX,
    WEIGHT_SQ,
    WINDOWS,
    SlotFile,
    SlotReader,
    Vector,
)

log = logging.getLogger("tabforge.serve")

DEFAULT_WINDOW = "1h"
WHOLE_ROWS = 256  # batches up to this many rows are binned whole
SAMPLE_EVERY = 64  # of a larger batch, one row in 64
FLUSH_ROWS = 256  # rows waiting in a list are binned together once this many wait ...
FLUSH_SECONDS = 0.25  # ... or this long
MAX_WAITING = 4096  # ... or, from the event loop, once this many wait
STATISTICS = ("psi", "js", "missing_rate", "out_of_range_rate", "unseen_rate")


class Live(msgspec.Struct, omit_defaults=True):
    """Realized quality from feedback in the window, and what needs no labels."""

    labels: int  # feedback rows joined in the window
    accuracy: float | None = None  # classification
    log_loss: float | None = None
    mae: float | None = None  # regression
    rmse: float | None = None
    # Mean top class probability of the window's predictions: the accuracy a calibrated
    # model would have on them (no labels needed).
    expected_accuracy_estimate: float | None = None
    # The same metrics on the training hold-out (the manifest's), for comparison.
    holdout: dict[str, float | None] = msgspec.field(default_factory=dict)


class MonitorReport(msgspec.Struct):
    """GET /v2/models/{name}[/versions/{version}]/monitor."""

    model: str
    version: str
    window: str
    rows: int  # rows predicted in the window, every worker's
    drift: Literal["on", "no reference"]
    drift_rows: int  # the rows the drift statistics stand for (see the module docstring)
    alert: bool  # a feature or an output drifted (needs the reference's min_rows)
    features: list[dict[str, Any]]
    outputs: list[dict[str, Any]]
    live: Live


def _finite(value: float) -> float | None:
    value = float(value)  # numpy's floats don't encode
    return value if math.isfinite(value) else None


def drift_rows(sums: Vector) -> int:
    """The effective number of rows binned (all of them when nothing was sampled)."""
    if sums[WEIGHT_SQ] <= 0:
        return 0
    return round(float(sums[ROWS]) ** 2 / float(sums[WEIGHT_SQ]))


class VersionMonitor:
    """One served version in this worker: its binner, its slots file, everyone's reader."""

    def __init__(self, root: Path, name: str, version: int, manifest: Manifest, pid: int) -> None:
        self.name, self.version, self.manifest = name, version, manifest
        self.reference = reference_of(manifest)
        self.binner = Binner(self.reference) if self.reference is not None else None
        self.width = FIXED + (self.binner.size if self.binner is not None else 0)
        directory = root / name / str(version)
        self._path = directory / f"{pid}{SUFFIX}"
        self.reader = SlotReader(directory, self.width)
        self._slots: SlotFile | None = None
        self._lock = threading.Lock()
        self.failed = False  # the slots file could not be made: counting is off here
        self._whole = Waiting(1)  # small batches, every row binned
        self._sampled = Waiting(SAMPLE_EVERY)  # the rows sampled from large ones
        self._sample = BlockSample(SAMPLE_EVERY)

    def slots(self) -> SlotFile | None:
        if self._slots is None and not self.failed:
            with self._lock:
                if self._slots is None and not self.failed:
                    try:
                        self._slots = SlotFile(self._path, self.width)
                    except OSError as exc:
                        self.failed = True
                        log.error("monitoring of %s:%s is off: %s", self.name, self.version, exc)
        return self._slots

    def observe(self, feed: Feed, outputs: Feed, *, bin_now: bool = True) -> None:
        """Count one inferred batch (in the inference thread, after its answers); without
        ``bin_now`` (an answer from the cache, on the event loop) the flusher bins it."""
        rows = len(next(iter(outputs.values())))
        if rows <= WHOLE_ROWS:
            waiting, binned = self._whole, rows
        else:  # its sample waits instead
            with self._lock:
                pick = self._sample.pick(rows)
            waiting, binned = self._sampled, len(pick)
            feed = {k: v.take(pick, axis=0) for k, v in feed.items()}
            outputs = {k: v.take(pick, axis=0) for k, v in outputs.items()}
        with self._lock:
            if waiting.add(feed, outputs, binned, rows) < (FLUSH_ROWS if bin_now else MAX_WAITING):
                return
            batches, rows = waiting.take()
        self._count(*joined(batches), rows, waiting.weight)

    def flush(self) -> None:
        """Bin every row still waiting."""
        for waiting in (self._whole, self._sampled):
            with self._lock:
                batches, rows = waiting.take()
            if batches:
                self._count(*joined(batches), rows, waiting.weight)

    def _count(self, feed: Feed, outputs: Feed, rows: int, weight: int) -> None:
        """Add ``rows`` predicted rows, binned as ``feed``/``outputs`` (each binned row
        standing for ``weight`` rows)."""
        slots = self.slots()
        if slots is None:
            return
        vector = np.zeros(self.width)
        vector[ROWS] = rows
        vector[WEIGHT_SQ] = len(next(iter(outputs.values()))) * weight * weight
        proba = outputs.get("probabilities")
        if proba is not None and self.manifest.task == "classification":
            vector[CONFIDENCE] = weight * float(proba.max(axis=1).sum())
        if self.binner is not None:
            counts = self.binner.count(feed, outputs)
            vector[FIXED:] = counts if weight == 1 else counts * weight
        slots.add(vector)

    def add_quality(self, labels: int, a: float, b: float) -> None:
        """Count joined feedback: rows, and the task's two sums (see ``live``)."""
        slots = self.slots()
        if slots is not None:
            vector = np.zeros(self.width)
            vector[LABELS], vector[QUALITY_A], vector[QUALITY_B] = labels, a, b
            slots.add(vector)

    def live(self, sums: Vector) -> Live:
        """Quality of a window's sums: classification QUALITY_A counts correct labels and
        QUALITY_B sums -log p(true class); regression they sum |error| and error²."""
        labels, rows = int(sums[LABELS]), sums[ROWS]
        live = Live(labels, holdout=self._holdout())
        if self.manifest.task == "classification":
            if rows:
                live.expected_accuracy_estimate = _finite(sums[CONFIDENCE] / rows)
            if labels:
                live.accuracy = _finite(sums[QUALITY_A] / labels)
                live.log_loss = _finite(sums[QUALITY_B] / labels)
        elif self.manifest.task == "regression" and labels:
            live.mae = _finite(sums[QUALITY_A] / labels)
            live.rmse = _finite(math.sqrt(sums[QUALITY_B] / labels))
        return live

    def _holdout(self) -> dict[str, float | None]:
        names = {"classification": ("accuracy", "log_loss"), "regression": ("mae", "rmse")}
        found = self.manifest.metrics.get("holdout")
        if not isinstance(found, dict):
            return {}
        return {
            name: float(found[name]) if isinstance(found.get(name), int | float) else None
            for name in names.get(self.manifest.task, ())
        }

    def drift(self, sums: Vector) -> dict[str, Any] | None:
        if self.reference is None:
            return None
        bins = np.rint(sums[FIXED:]).astype(np.int64)  # weighted: whole when nothing sampled
        return report(self.reference, bins, drift_rows(sums))

    def report(self, window: str) -> MonitorReport:
        self.flush()
        sums = self.reader.window(window)
        drift = self.drift(sums)
        return MonitorReport(
            model=self.name,
            version=str(self.version),
            window=window,
            rows=int(sums[ROWS]),
            drift="on" if drift is not None else "no reference",
            drift_rows=drift_rows(sums),
            alert=bool(drift and drift["alert"]),
            features=drift["features"] if drift else [],
            outputs=drift["outputs"] if drift else [],
            live=self.live(sums),
        )


class Monitor:
    """Every served version's monitor in this worker (none when monitoring is off)."""

    def __init__(self, root: Path, *, enabled: bool, pid: int) -> None:
        self.root, self.enabled, self.pid = root, enabled, pid
        self.versions: dict[tuple[str, int], VersionMonitor] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._flusher: threading.Thread | None = None

    def start(self) -> None:
        """Bin waiting batches every FLUSH_SECONDS, so quiet traffic is counted too."""
        if self.enabled and self._flusher is None:
            self._flusher = threading.Thread(target=self._flush, name="tabforge-monitor",
                                             daemon=True)  # fmt: skip
            self._flusher.start()

    def stop(self) -> None:
        self._stop.set()
        self.flush()

    def flush(self) -> None:
        for vm in list(self.versions.values()):
            vm.flush()

    def _flush(self) -> None:
        while not self._stop.wait(FLUSH_SECONDS):
            try:
                self.flush()
            except Exception:  # counting must never stop: log it, count again later
                log.exception("monitoring flush failed")

    def of(self, name: str, version: int, predictor: Predictor) -> VersionMonitor:
        """The version's monitor (a stored version never changes: one per number)."""
        key = (name, version)
        found = self.versions.get(key)
        if found is None:
            with self._lock:
                found = self.versions.get(key)
                if found is None:
                    found = VersionMonitor(self.root, name, version, predictor.manifest, self.pid)
                    self.versions[key] = found
        return found

    def sync(self, repo: Repository) -> None:
        """Monitors for every served version (built here, off the request path), and none
        for versions that left."""
        if not self.enabled:
            return
        served = set()
        for model in list(repo.models.values()):
            for version, predictor in model.versions.items():
                served.add((model.name, version))
                self.of(model.name, version, predictor)
        with self._lock:  # its file stays: counted rows happened, and it may come back
            for key in [k for k in self.versions if k not in served]:
                self.versions.pop(key).flush()

    def collector(self) -> MonitorCollector:
        return MonitorCollector(self)


class MonitorCollector:
    """Drift and live quality as Prometheus metrics, computed from every worker's counts
    at scrape time."""

    def __init__(self, monitor: Monitor) -> None:
        self.monitor = monitor

    def collect(self) -> Iterator[Metric]:
        version_labels = ["model", "version"]
        drift = GaugeMetricFamily(
            "tabforge_drift", "Drift of a feature or output against the version's reference.",
            labels=[*version_labels, "feature", "statistic", "window"],
        )  # fmt: skip
        alert = GaugeMetricFamily(
            "tabforge_drift_alert", "1 when a feature or output drifted past its threshold.",
            labels=[*version_labels, "feature", "window"],
        )  # fmt: skip
        counters = {
            kind: CounterMetricFamily(
                f"tabforge_feature_{kind}",
                f"Values {kind.replace('_', ' ')} per feature.",
                labels=[*version_labels, "feature"],
            )
            for kind in ("missing", "out_of_range", "unseen")
        }
        live = GaugeMetricFamily(
            "tabforge_live_quality", "Realized quality from feedback, and expected accuracy.",
            labels=[*version_labels, "metric", "window"],
        )  # fmt: skip
        self.monitor.flush()
        for vm in list(self.monitor.versions.values()):
            labels = [vm.name, str(vm.version)]
            for window in WINDOWS:
                sums = vm.reader.window(window)
                for item in _items(vm.drift(sums)):
                    for statistic in STATISTICS:
                        if item[statistic] is not None:
                            drift.add_metric([*labels, item["name"], statistic, window],
                                             item[statistic])  # fmt: skip
                    alert.add_metric([*labels, item["name"], window], float(item["alert"]))
                quality = msgspec.structs.asdict(vm.live(sums))
                for metric, value in quality.items():
                    if metric not in ("labels", "holdout") and value is not None:
                        live.add_metric([*labels, metric, window], value)
            for item in _items(vm.drift(vm.reader.window("total"))):
                for kind, value in _bad_values(item).items():
                    counters[kind].add_metric([*labels, item["name"]], value)
        yield from (drift, alert, *counters.values(), live)


def _items(drift: dict[str, Any] | None) -> list[dict[str, Any]]:
    return [] if drift is None else [*drift["features"], *drift["outputs"]]


def _bad_values(item: dict[str, Any]) -> dict[str, int]:
    """Missing, out-of-range (numeric) and unseen (categorical) counts from a column's bins
    (reference.py's layout: numeric ``below, ..., above, missing``; categorical ``..., other,
    unseen, missing``)."""
    bins = item["bins"]
    if item["kind"] == "numeric":
        return {"missing": bins[-1], "out_of_range": bins[0] + bins[-2]}
    return {"missing": bins[-1], "unseen": bins[-2]}

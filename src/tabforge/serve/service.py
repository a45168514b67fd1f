"""The model service: what the server knows and runs, with no HTTP in sight.

It owns the repository (kept in step with the registry by a watcher thread), one batcher
and one response cache per served version, the shadow runs, the metrics, and monitoring
(drift counts, remembered answers, feedback). What the server's workers share (metrics,
counts, readiness) lives in the state directory (state.py), so any worker answers for the
whole server. The HTTP edge (app.py) parses and routes; handlers (endpoints.py) call in
here with arrays.
"""

from __future__ import annotations

import asyncio
import logging
import random
import threading
from collections.abc import Callable
from typing import Any

import numpy as np

from tabforge.contract import Manifest
from tabforge.errors import DataError, NotFoundError
from tabforge.runtime.predictor import Predictor
from tabforge.serve import admin, feedback
from tabforge.serve.batching import (
    Batcher,
    BatchPolicy,
    BatchStats,
    Deliver,
    InferenceThreads,
    to_future,
)
from tabforge.serve.cache import MAX_CACHED_ROWS, ResponseCache
from tabforge.serve.cache import key as cache_key
from tabforge.serve.dashboard import Aliases
from tabforge.serve.metrics import ServerMetrics
from tabforge.serve.monitoring import Monitor, MonitorReport
from tabforge.serve.pages import Reports
from tabforge.serve.repository import Repository, ServedModel
from tabforge.serve.settings import ServeSettings
from tabforge.serve.state import SharedState

log = logging.getLogger("tabforge.serve")

Feed = dict[str, np.ndarray]


class ModelService:
    def __init__(self, settings: ServeSettings) -> None:
        self.settings = settings
        self.repo = Repository(settings)
        self.state = state = SharedState(settings.state_dir, settings.workers)
        # One worker's registry is the server's; several sum their files on each scrape.
        self.metrics = ServerMetrics(state.metrics if state.workers > 1 else None)
        self.monitor = Monitor(state.monitor, enabled=settings.monitor, pid=state.pid)
        self.recorder = feedback.Recorder(state.feedback, state.pid)
        self.finder = feedback.Finder(state.feedback)
        # Single-row calls gain nothing from intra-op threads, so a worker runs several
        # one-thread calls at once instead (workers x calls x threads = cores).
        self.threads = settings.concurrent_calls()
        self.pool = InferenceThreads(self.threads)
        self.batchers: dict[tuple[str, int], Batcher] = {}
        self.caches: dict[tuple[str, int], ResponseCache] = {}
        self._shadow_tasks: set[asyncio.Task[None]] = set()
        self._stop = threading.Event()
        self.aliases = Aliases()  # the registry's, read with each look at it (dashboard)
        self.reports = Reports(self.repo.store)

    # -- life cycle --------------------------------------------------------------------

    def start(self) -> None:
        """Load in the background: /v2/health/live answers at once, ready when done."""
        threading.Thread(target=self._load, name="tabforge-registry", daemon=True).start()
        self.monitor.start()

    def stop(self) -> None:
        self._stop.set()
        self.pool.shutdown()
        self.monitor.stop()  # after the last batch: what waits is counted
        self.state.close()

    def _load(self) -> None:
        self.repo.load()
        self._read_aliases()  # before readiness: a ready server's dashboard has them
        self._after_refresh()
        log.info("ready: %d model(s), %d failed", len(self.repo.models), len(self.repo.failures))
        if self.settings.watch:
            self._watch()

    def _watch(self) -> None:
        """Poll the registry until shutdown (workers never talk to each other)."""
        while not self._stop.wait(self.settings.watch_interval):
            try:
                self.repo.refresh()
                self._read_aliases()
                self._after_refresh()
            except Exception:  # a defect must not end the watch: log it, look again later
                log.exception("registry refresh failed")

    def _after_refresh(self) -> None:
        served = {(m.name, v) for m in self.repo.models.values() for v in m.versions}
        for key in [k for k in self.batchers if k not in served]:
            self.batchers.pop(key, None)  # requests still inside keep their batcher
        for key in [k for k in self.caches if k not in served]:
            self.caches.pop(key, None)
        self.metrics.models_loaded.set(len(served))
        self.metrics.load_failures.set(len(self.repo.failures))
        self.monitor.sync(self.repo)
        if self.repo.ready:
            models = {m.name: sorted(m.versions) for m in self.repo.models.values()}
            self.state.mark_ready(models)

    def _read_aliases(self) -> None:
        """Aliases of the served models, for the dashboard (in the watcher's thread)."""
        self.aliases.refresh(self.repo.store, list(self.repo.models))

    async def admin_action(self, name: str, verb: str, body: bytes) -> Any:
        """One admin action (it may touch the registry: off the event loop)."""

        def act() -> Any:
            result = admin.action(self.repo, name, verb, body)
            self._read_aliases()
            return result

        result = await asyncio.to_thread(act)
        self._after_refresh()
        return result

    # -- inference ---------------------------------------------------------------------

    async def infer(self, name: str, version: int, predictor: Predictor, feed: Feed) -> Feed:
        """Outputs for ``feed``: from the cache, else through the version's batcher."""
        future: asyncio.Future[Feed] = asyncio.get_running_loop().create_future()
        self.infer_soon(name, version, predictor, feed, to_future(future))
        return await future

    def infer_soon(
        self, name: str, version: int, predictor: Predictor, feed: Feed, deliver: Deliver
    ) -> None:
        """``deliver(outputs or error)`` on the loop: at once from the cache (or for no
        rows), else once the version's batcher ran it."""
        rows = len(next(iter(feed.values())))
        if rows == 0:
            deliver(_run_now(predictor, feed))  # nothing to batch or wait for
            return
        if self.settings.cache_entries and rows <= MAX_CACHED_ROWS:
            cache = self.caches.get((name, version))
            if cache is None:
                cache = self.caches[(name, version)] = ResponseCache(self.settings.cache_entries)
            k = cache_key(feed)
            found = cache.get(k)
            self.metrics.cache.labels(name, str(version), "hit" if found else "miss").inc()
            if found is not None:
                if self.monitor.enabled:  # served rows count, wherever the answer came from
                    self.monitor.of(name, version, predictor).observe(feed, found, bin_now=False)
                deliver(found)
                return
            deliver = _caching(cache, k, deliver)
        batcher = self.batchers.get((name, version))
        if batcher is None:
            batcher = self._batcher(name, version, predictor)
        batcher.enqueue(feed, deliver)

    def _batcher(self, name: str, version: int, predictor: Predictor) -> Batcher:
        max_rows, delay = self.settings.batch_policy(name)
        # Off (0 rows): every request is its own call, as many in flight as slots.
        inline = self.settings.inline_rows
        policy = BatchPolicy(max(0, max_rows), delay, slots=self.threads, inline_rows=inline)
        m = self.metrics
        labels = (name, str(version))

        batch_rows = m.batch_rows.labels(*labels)
        batch_requests = m.batch_requests.labels(*labels)
        inference = m.inference_seconds.labels(*labels)
        queue = m.queue_seconds.labels(*labels)
        predicted = m.rows.labels(*labels)

        def observe(stats: BatchStats) -> None:
            predicted.inc(stats.predicted_rows)
            batch_rows.observe(stats.rows)
            batch_requests.observe(stats.requests)
            inference.observe(stats.run_seconds)
            for seconds in stats.queue_seconds:
                queue.observe(seconds)

        watch = self.monitor.of(name, version, predictor).observe if self.monitor.enabled else None
        batcher = Batcher(predictor.run, self.pool, policy, observe, watch)
        self.batchers[(name, version)] = batcher
        return batcher

    # -- monitoring --------------------------------------------------------------------

    def render_metrics(self) -> bytes:
        """The Prometheus text: the server's metrics, drift and live quality."""
        return self.metrics.render([self.monitor.collector()] if self.monitor.enabled else [])

    def monitored(self, name: str) -> ServedModel:
        served = self.repo.served(name)  # unknown model: 404 first
        if not self.monitor.enabled:
            raise NotFoundError("monitoring is off: the server runs with --no-monitor")
        return served

    def remember(
        self, name: str, version: int, request_id: str | None, outputs: Feed, manifest: Manifest
    ) -> None:
        """Keep a V2 request's answer for the feedback that may follow (requests with an id)."""
        if request_id is not None and self.monitor.enabled:
            self.recorder.record(name, version, request_id, outputs, manifest)

    async def monitor_report(self, name: str, version: str | None, window: str) -> MonitorReport:
        """Drift and live quality of a version over a window, every worker's counts summed."""
        self.monitored(name)
        number, predictor = self.repo.get(name, version)
        vm = self.monitor.of(name, number, predictor)
        return await asyncio.to_thread(vm.report, window)

    async def join_feedback(self, name: str, body: bytes) -> feedback.FeedbackResult:
        """Join labels to remembered answers and count realized quality (off the loop)."""
        served = self.monitored(name)
        items = feedback.decode(body)
        result = await asyncio.to_thread(self._join, served, items)
        for outcome, count in (("joined", result.joined), ("unknown", result.unknown)):
            if count:
                self.metrics.feedback.labels(name, outcome).inc(count)
        return result

    def _join(
        self, served: ServedModel, items: list[feedback.FeedbackItem]
    ) -> feedback.FeedbackResult:
        kinds = {}
        for version, predictor in served.versions.items():
            kind = feedback.row_type(predictor.manifest)
            if kind is not None:
                kinds[version] = kind
        if not kinds:
            raise DataError(f"model {served.name!r} takes no feedback: it has no labels or values")
        found = self.finder.find(served.name, [item.id for item in items], kinds)
        sums: dict[int, np.ndarray] = {}  # version -> (rows, a, b)
        for item, hit in zip(items, found, strict=True):
            if hit is not None:  # every item is checked before anything is counted
                scored = feedback.score(item, hit, served.versions[hit.version].manifest)
                sums[hit.version] = sums.get(hit.version, np.zeros(3)) + scored
        for version, (rows, a, b) in sums.items():
            vm = self.monitor.of(served.name, version, served.versions[version])
            vm.add_quality(int(rows), float(a), float(b))
        joined = sum(1 for hit in found if hit is not None)
        return feedback.FeedbackResult(joined=joined, unknown=len(items) - joined)

    # -- shadow ------------------------------------------------------------------------

    def shadow_for(
        self, served: ServedModel, feed: Feed, outputs: Feed
    ) -> Callable[[], None] | None:
        """The shadow run to start after responding, if this request is sampled for one
        (unversioned requests only: the callers decide that); else None."""
        if served.shadow is None:
            return None
        version, sample = served.shadow
        if random.random() >= sample:
            return None
        return lambda: self._mirror(served.name, version, feed, outputs)

    def _mirror(self, name: str, version: int, feed: Feed, primary: Feed) -> None:
        """Run the shadow in the background; at most one at a time, the rest are dropped."""
        if self._shadow_tasks:
            self.metrics.shadow.labels(name, str(version), "dropped").inc()
            return
        task = asyncio.get_running_loop().create_task(self._shadow(name, version, feed, primary))
        self._shadow_tasks.add(task)
        task.add_done_callback(self._shadow_tasks.discard)

    async def _shadow(self, name: str, version: int, feed: Feed, primary: Feed) -> None:
        m, labels = self.metrics, (name, str(version))
        served = self.repo.models.get(name)
        if served is None or version not in served.versions:
            m.shadow.labels(*labels, "dropped").inc()
            return
        try:
            outputs = await self.infer(name, version, served.versions[version], feed)
        except Exception:  # a shadow must never hurt: count it and move on
            m.shadow.labels(*labels, "failed").inc()
            return
        m.shadow.labels(*labels, "ran").inc()
        if "label" in outputs and "label" in primary:
            same = int(np.count_nonzero(outputs["label"] == primary["label"]))
            m.shadow_rows.labels(*labels, "yes").inc(same)
            m.shadow_rows.labels(*labels, "no").inc(len(primary["label"]) - same)
        diffs = [
            float(np.max(np.abs(outputs[k] - primary[k])))
            for k in ("probabilities", "prediction", "scores")
            if k in outputs
            and k in primary
            and outputs[k].shape == primary[k].shape
            and outputs[k].size
        ]
        if diffs:
            m.shadow_diff.labels(*labels).observe(max(diffs))


def _run_now(predictor: Predictor, feed: Feed) -> Feed | BaseException:
    try:
        return predictor.run(feed)
    except Exception as exc:  # handed to the request, as a batch run's would be
        return exc


def _caching(cache: ResponseCache, key: bytes, deliver: Deliver) -> Deliver:
    """``deliver``, keeping good outputs in the cache first."""

    def put_then_deliver(result: Feed | BaseException) -> None:
        if not isinstance(result, BaseException):
            cache.put(key, result)
        deliver(result)

    return put_then_deliver

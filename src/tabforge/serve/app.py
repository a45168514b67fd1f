"""The ASGI application: Open Inference Protocol V2 and KServe V1 over one set of models.

A plain ASGI callable (no framework on the hot path). Requests are decoded and validated
on the event loop, onnxruntime runs in worker threads (it releases the GIL), and every
error leaves through one handler as ``{"error": ...}`` with the error's own status.
"""

from __future__ import annotations

import asyncio
import logging
import random
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import msgspec
import numpy as np

from tabforge import __version__
from tabforge.errors import (
    DataError,
    MethodNotAllowed,
    NotFoundError,
    NotReady,
    PayloadTooLarge,
    TabforgeError,
    UnsupportedMediaType,
)
from tabforge.runtime.predictor import Predictor
from tabforge.serve import admin, v1, v2
from tabforge.serve.batching import Batcher, BatchPolicy, BatchStats, InferenceThreads
from tabforge.serve.cache import MAX_CACHED_ROWS, ResponseCache
from tabforge.serve.cache import key as cache_key
from tabforge.serve.metrics import Metrics
from tabforge.serve.openapi import openapi
from tabforge.serve.repository import Repository, ServedModel
from tabforge.serve.settings import ServeSettings

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

log = logging.getLogger("tabforge.serve")
JSON = [(b"content-type", b"application/json")]
JSON_TYPES = ("", "application/json")
BINARY_TYPES = ("", "application/json", "application/octet-stream")
BINARY_HEADER = b"inference-header-content-length"
ROUTING_HEADER = b"x-routing-key"


class ClientGone(Exception):
    """The client disconnected before its request body arrived."""


class Context:
    """What a request turned out to be, for metrics."""

    __slots__ = ("extra_headers", "model", "protocol", "shadow", "version")

    def __init__(self) -> None:
        self.model = ""
        self.version = ""
        self.protocol = "other"
        self.extra_headers: list[tuple[bytes, bytes]] = []
        # (model, shadow version, feed, primary outputs) to mirror after responding
        self.shadow: tuple[str, int, dict[str, np.ndarray], dict[str, np.ndarray]] | None = None


class App:
    def __init__(self, settings: ServeSettings) -> None:
        self.settings = settings
        self.repo = Repository(settings)
        self.metrics = Metrics()
        # Single-row calls gain nothing from intra-op threads, so a worker runs several
        # one-thread calls at once instead (workers x calls x threads = cores).
        self.threads = settings.concurrent_calls()
        self.pool = InferenceThreads(self.threads)
        self.openapi = msgspec.json.encode(openapi())
        self.batchers: dict[tuple[str, int], Batcher] = {}
        self.caches: dict[tuple[str, int], ResponseCache] = {}
        self._shadow_tasks: set[asyncio.Task[None]] = set()
        self._stop = threading.Event()
        self.credentials = admin.Credentials.from_env()

    # -- ASGI --------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        started = time.perf_counter()
        ctx = Context()
        counted = scope["path"].startswith(("/v1/", "/v2/"))
        if counted:
            self.metrics.in_progress.inc()
        try:
            status, body, content_type = await self._route(scope, receive, ctx)
        except ClientGone:
            if counted:
                self.metrics.in_progress.dec()
            return
        except TabforgeError as exc:
            status, body, content_type = exc.http_status, _error(str(exc)), JSON
            ctx.extra_headers = list(exc.http_headers)
        except Exception:  # a defect: log the traceback, tell the client nothing of it
            log.exception("unhandled error on %s %s", scope.get("method"), scope.get("path"))
            status, body, content_type = 500, _error("internal server error"), JSON
        headers = [*content_type, *ctx.extra_headers]
        try:
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": body})
        finally:
            if counted:
                self.metrics.in_progress.dec()
        if ctx.shadow is not None:
            self._mirror(*ctx.shadow)  # after the response: the client never waits for it
        if ctx.protocol != "other":
            seconds = time.perf_counter() - started
            self.metrics.request_done(ctx.model, ctx.version, ctx.protocol, status, seconds)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                # Load in the background: /v2/health/live answers at once, ready when done.
                threading.Thread(target=self._load, name="tabforge-registry", daemon=True).start()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self._stop.set()
                self.pool.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    def _load(self) -> None:
        self.repo.load()
        self._after_refresh()
        log.info("ready: %d model(s), %d failed", len(self.repo.models), len(self.repo.failures))
        if self.settings.watch:
            self._watch()

    def _watch(self) -> None:
        """Poll the registry until shutdown (workers never talk to each other)."""
        while not self._stop.wait(self.settings.watch_interval):
            try:
                self.repo.refresh()
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

    # -- routing -----------------------------------------------------------------------

    async def _route(
        self, scope: Scope, receive: Receive, ctx: Context
    ) -> tuple[int, bytes, list[Any]]:
        method = scope["method"]
        parts = scope["path"].strip("/").split("/")
        if parts[0] == "v2":
            ctx.protocol = "v2"
            return await self._v2(method, parts[1:], scope, receive, ctx)
        if parts[0] == "v1" and len(parts) == 3 and parts[1] == "models":
            ctx.protocol = "v1"
            return await self._v1(method, parts[2], scope, receive, ctx)
        if parts == ["metrics"]:
            _only(method, "GET")
            return 200, self.metrics.render(), [(b"content-type", b"text/plain; version=0.0.4")]
        if parts == ["openapi.json"]:
            _only(method, "GET")
            return 200, self.openapi, JSON
        raise NotFoundError(f"no such endpoint: {scope['path']}")

    async def _v2(
        self, method: str, parts: list[str], scope: Scope, receive: Receive, ctx: Context
    ) -> tuple[int, bytes, list[Any]]:
        if parts == [""] or parts == []:
            _only(method, "GET")
            meta = {
                "name": "tabforge",
                "version": __version__,
                "extensions": ["binary_tensor_data"],
            }
            return 200, _json(meta), JSON
        if parts[0] == "health" and len(parts) == 2 and parts[1] in ("live", "ready"):
            _only(method, "GET")
            if parts[1] == "ready" and not self.repo.ready:
                raise NotReady("models are still loading")
            return 200, _json({parts[1]: True}), JSON
        if parts[0] == "repository":
            return await self._admin(method, parts[1:], scope, receive)
        if parts[0] != "models" or len(parts) < 2:
            raise NotFoundError(f"no such endpoint: {scope['path']}")
        self.credentials.check_inference(_headers(scope))
        name, rest, version = parts[1], parts[2:], None
        ctx.model = name
        if rest[:1] == ["versions"]:
            if len(rest) < 2:
                raise NotFoundError(f"no such endpoint: {scope['path']}")
            version, rest = rest[1], rest[2:]
        if rest == ["infer"]:
            _only(method, "POST")
            return await self._v2_infer(name, version, scope, receive, ctx)
        if rest == ["ready"]:
            _only(method, "GET")
            number, _ = self.repo.get(name, version)
            ctx.version = str(number)
            return 200, _json({"name": name, "ready": True}), JSON
        if rest == []:
            _only(method, "GET")
            number, predictor = self.repo.get(name, version)
            ctx.version = str(number)
            versions = sorted(self.repo.models[name].versions)
            return 200, _json(v2.metadata(name, versions, predictor.manifest)), JSON
        raise NotFoundError(f"no such endpoint: {scope['path']}")

    async def _v2_infer(
        self, name: str, version: str | None, scope: Scope, receive: Receive, ctx: Context
    ) -> tuple[int, bytes, list[Any]]:
        served = self.repo.served(name)  # unknown model: 404 before reading the body
        if version is not None:
            ctx.version = str(served.choose(version)[0])
        header_length = _header(scope, BINARY_HEADER)
        _check_content_type(scope, BINARY_TYPES if header_length else JSON_TYPES)
        body = await self._body(scope, receive)
        binary = None
        if header_length:
            if not header_length.isdigit() or int(header_length) > len(body):
                raise DataError(
                    f"Inference-Header-Content-Length {header_length!r} does not fit a body "
                    f"of {len(body)} bytes"
                )
            split = int(header_length)
            request = v2.decode_request(body[:split])
            binary = v2.binary_inputs(request, memoryview(body)[split:])
        else:
            request = v2.decode_request(body)
        key = _header(scope, ROUTING_HEADER) or (request.parameters or {}).get("routing_key")
        number, predictor = served.choose(version, None if key is None else str(key))
        ctx.version = str(number)
        manifest = predictor.manifest
        feed = v2.assemble(request, manifest, max_rows=self.settings.max_rows, binary=binary)
        outputs = await self._infer(name, number, predictor, feed)
        if version is None:
            ctx.shadow = _shadow_for(served, name, feed, outputs)
        encoded, json_length = v2.response(request, name, number, outputs, manifest)
        if json_length is None:
            return 200, encoded, JSON
        ctx.extra_headers.append((BINARY_HEADER, str(json_length).encode()))
        return 200, encoded, [(b"content-type", b"application/octet-stream")]

    async def _v1(
        self, method: str, part: str, scope: Scope, receive: Receive, ctx: Context
    ) -> tuple[int, bytes, list[Any]]:
        self.credentials.check_inference(_headers(scope))
        name, colon, verb = part.partition(":")
        ctx.model = name
        if not colon:
            _only(method, "GET")
            number, _ = self.repo.get(name, None)
            ctx.version = str(number)
            return 200, _json({"name": name, "ready": True}), JSON
        if verb != "predict":
            raise NotFoundError(f"no such endpoint: {scope['path']}")
        _only(method, "POST")
        served = self.repo.served(name)
        number, predictor = served.choose(None, _header(scope, ROUTING_HEADER) or None)
        ctx.version = str(number)
        ctx.extra_headers.append((b"x-model-version", str(number).encode()))
        _check_content_type(scope, JSON_TYPES)
        body = await self._body(scope, receive)
        feed = v1.assemble(body, predictor.manifest, max_rows=self.settings.max_rows)
        outputs = await self._infer(name, number, predictor, feed)
        ctx.shadow = _shadow_for(served, name, feed, outputs)
        return 200, _json({"predictions": v1.predictions(outputs, predictor.manifest)}), JSON

    def _mirror(
        self, name: str, version: int, feed: dict[str, np.ndarray], primary: dict[str, np.ndarray]
    ) -> None:
        """Run the shadow in the background; at most one at a time, the rest are dropped."""
        if self._shadow_tasks:
            self.metrics.shadow.labels(name, str(version), "dropped").inc()
            return
        task = asyncio.get_running_loop().create_task(self._shadow(name, version, feed, primary))
        self._shadow_tasks.add(task)
        task.add_done_callback(self._shadow_tasks.discard)

    async def _shadow(
        self, name: str, version: int, feed: dict[str, np.ndarray], primary: dict[str, np.ndarray]
    ) -> None:
        m, labels = self.metrics, (name, str(version))
        served = self.repo.models.get(name)
        if served is None or version not in served.versions:
            m.shadow.labels(*labels, "dropped").inc()
            return
        try:
            outputs = await self._infer(name, version, served.versions[version], feed)
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

    async def _admin(
        self, method: str, parts: list[str], scope: Scope, receive: Receive
    ) -> tuple[int, bytes, list[Any]]:
        """POST /v2/repository/index, /v2/repository/models/{name}/{load,unload,promote,route}."""
        self.credentials.check_admin(_headers(scope))
        _only(method, "POST")
        body = await self._body(scope, receive)
        if parts == ["index"]:
            return 200, _json(admin.index(self.repo)), JSON
        if len(parts) == 3 and parts[0] == "models":
            if not self.repo.ready:
                raise NotReady("models are still loading")
            result = await asyncio.to_thread(admin.action, self.repo, parts[1], parts[2], body)
            self._after_refresh()
            return 200, _json(result), JSON
        raise NotFoundError(f"no such endpoint: {scope['path']}")

    # -- helpers -----------------------------------------------------------------------

    async def _body(self, scope: Scope, receive: Receive) -> bytes:
        limit = self.settings.max_body_bytes
        declared = _header(scope, b"content-length")
        if declared.isdigit() and int(declared) > limit:
            raise PayloadTooLarge(
                f"request body of {int(declared)} bytes is over the limit of {limit}"
            )
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise ClientGone
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise PayloadTooLarge(f"request body is over the limit of {limit} bytes")
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    async def _infer(
        self,
        name: str,
        version: int,
        predictor: Predictor,
        feed: dict[str, np.ndarray],
    ) -> dict[str, np.ndarray]:
        rows = len(next(iter(feed.values())))
        if rows == 0:
            return predictor.run(feed)  # nothing to batch or wait for
        cache, k = None, b""
        if self.settings.cache_entries and rows <= MAX_CACHED_ROWS:
            cache = self.caches.get((name, version))
            if cache is None:
                cache = self.caches[(name, version)] = ResponseCache(self.settings.cache_entries)
            k = cache_key(feed)
            found = cache.get(k)
            self.metrics.cache.labels(name, str(version), "hit" if found else "miss").inc()
            if found is not None:
                return found
        batcher = self.batchers.get((name, version))
        if batcher is None:
            batcher = self._batcher(name, version, predictor)
        outputs = await batcher.submit(feed)
        if cache is not None:
            cache.put(k, outputs)
        return outputs

    def _batcher(self, name: str, version: int, predictor: Predictor) -> Batcher:
        max_rows, delay = self.settings.batch_policy(name)
        # Off (0 rows): every request is its own call, as many in flight as slots.
        policy = BatchPolicy(max(0, max_rows), delay, slots=self.threads)
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

        batcher = Batcher(predictor.run, self.pool, policy, observe)
        self.batchers[(name, version)] = batcher
        return batcher


def _shadow_for(
    served: ServedModel, name: str, feed: dict[str, np.ndarray], outputs: dict[str, np.ndarray]
) -> tuple[str, int, dict[str, np.ndarray], dict[str, np.ndarray]] | None:
    """Mirror this request to the model's shadow? (a sampled, unversioned request only)"""
    if served.shadow is None:
        return None
    version, sample = served.shadow
    if random.random() >= sample:
        return None
    return name, version, feed, outputs


def _json(value: Any) -> bytes:
    return msgspec.json.encode(value)


def _error(message: str) -> bytes:
    return msgspec.json.encode({"error": message})


def _only(method: str, allowed: str) -> None:
    if method != allowed and not (allowed == "GET" and method == "HEAD"):
        allow = "GET, HEAD" if allowed == "GET" else allowed
        raise MethodNotAllowed(f"method {method} not allowed here; use {allowed}", allow=allow)


def _headers(scope: Scope) -> dict[bytes, bytes]:
    return dict(scope.get("headers", ()))


def _header(scope: Scope, name: bytes) -> str:
    for key, value in scope.get("headers", ()):
        if key == name:
            return str(value.decode("latin-1"))
    return ""


def _check_content_type(scope: Scope, allowed: tuple[str, ...]) -> None:
    content_type = _header(scope, b"content-type").split(";")[0].strip().lower()
    if content_type not in allowed:
        raise UnsupportedMediaType(
            f"content type {content_type!r} is not supported; send application/json"
        )


def create_app(settings: ServeSettings | None = None) -> App:
    """The ASGI application; runs under any ASGI server."""
    return App(settings or ServeSettings())


def configure_logging() -> None:
    """INFO lines from tabforge on stderr, as uvicorn's own (once per process)."""
    if not log.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(levelname)s:     %(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        log.propagate = False


def app_from_env() -> App:
    """Factory for server workers: settings come from TABFORGE_SERVE_* variables."""
    configure_logging()  # each worker process logs its own loads and swaps
    return create_app(ServeSettings.from_env())

"""The server's Prometheus metrics, one registry per app (training metrics: train/metrics)."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class ServerMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "tabforge_requests", "Requests by model, version, protocol and status code.",
            ["model", "version", "protocol", "code"], registry=r,
        )  # fmt: skip
        self.request_seconds = Histogram(
            "tabforge_request_duration_seconds", "Whole request latency.",
            ["protocol"], buckets=LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.inference_seconds = Histogram(
            "tabforge_inference_duration_seconds", "onnxruntime run time.",
            ["model", "version"], buckets=LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.queue_seconds = Histogram(
            "tabforge_queue_duration_seconds", "Wait between decoding and inference start.",
            ["model", "version"], buckets=LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.batch_rows = Histogram(
            "tabforge_batch_rows", "Rows per onnxruntime call.", ["model", "version"],
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096, 16384), registry=r,
        )  # fmt: skip
        self.batch_requests = Histogram(
            "tabforge_batch_requests", "Requests per onnxruntime call.", ["model", "version"],
            buckets=(1, 2, 4, 8, 16, 32, 64, 128), registry=r,
        )  # fmt: skip
        self.rows = Counter(
            "tabforge_rows_predicted", "Rows predicted.", ["model", "version"], registry=r
        )
        self.cache = Counter(
            "tabforge_cache", "Response cache lookups by result (hit or miss).",
            ["model", "version", "result"], registry=r,
        )  # fmt: skip
        self.shadow = Counter(
            "tabforge_shadow_requests", "Shadow runs by result (ran, dropped, failed).",
            ["model", "version", "result"], registry=r,
        )  # fmt: skip
        self.shadow_rows = Counter(
            "tabforge_shadow_rows", "Shadow rows by label agreement with the primary.",
            ["model", "version", "agree"], registry=r,
        )  # fmt: skip
        self.shadow_diff = Histogram(
            "tabforge_shadow_abs_diff", "Largest absolute difference from the primary per request.",
            ["model", "version"], registry=r,
            buckets=(1e-6, 1e-4, 1e-3, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0),
        )  # fmt: skip
        self.in_progress = Gauge(
            "tabforge_requests_in_progress", "V1/V2 requests being handled now.", registry=r
        )
        self.models_loaded = Gauge(
            "tabforge_models_loaded", "Model versions loaded and served.", registry=r
        )
        self.load_failures = Gauge(
            "tabforge_model_load_failures", "Models or versions that failed to load (not served).",
            registry=r,
        )  # fmt: skip
        # labels() hashes and locks on every call; the children are looked up once here.
        self._children: dict[tuple[str, ...], tuple[Any, Any]] = {}

    def request_done(
        self, model: str, version: str, protocol: str, status: int, seconds: float
    ) -> None:
        key = (model, version, protocol, str(status))
        children = self._children.get(key)
        if children is None:
            children = (self.requests.labels(*key), self.request_seconds.labels(protocol))
            self._children[key] = children
        children[0].inc()
        children[1].observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)

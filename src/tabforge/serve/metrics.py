"""The server's Prometheus metrics (training metrics: train/metrics).

With one worker they live in the app's own registry. With several, every value is kept in
a file of this worker's in the server's shared directory (prometheus_client's multiprocess
layout, without its environment variable: the directory comes with the settings), and a
scrape of any worker sums every worker's files: counters and histograms add up, requests
in progress add up over live workers, models loaded is the least any live worker serves
and load failures the most. Collectors given to ``render`` (drift, live quality) are asked
on each scrape.
"""

from __future__ import annotations

import errno
import mmap
import os
import struct
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    values,
)
from prometheus_client.metrics_core import Metric
from prometheus_client.mmap_dict import mmap_key
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from tabforge.serve.state import alive, pid_of

LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
ROWS_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096, 16384)
REQUESTS_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128)
DIFF_BUCKETS = (1e-6, 1e-4, 1e-3, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0)


class ServerMetrics:
    def __init__(self, shared: Path | None = None) -> None:
        """``shared``: the directory every worker's values go to (several workers); None:
        this app's registry alone."""
        self.shared = shared
        if shared is not None:
            use_files(shared)
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
            buckets=ROWS_BUCKETS, registry=r,
        )  # fmt: skip
        self.batch_requests = Histogram(
            "tabforge_batch_requests", "Requests per onnxruntime call.", ["model", "version"],
            buckets=REQUESTS_BUCKETS, registry=r,
        )  # fmt: skip
        self.rows = Counter(
            "tabforge_rows_predicted", "Rows predicted.", ["model", "version"], registry=r
        )
        self._others(r)
        # labels() hashes and locks on every call; the children are looked up once here.
        self._children: dict[tuple[str, ...], tuple[Any, Any]] = {}

    def _others(self, r: CollectorRegistry) -> None:
        """Cache, shadow, feedback and the gauges of what is served."""
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
            buckets=DIFF_BUCKETS,
        )  # fmt: skip
        self.feedback = Counter(
            "tabforge_feedback", "Feedback ids by result (joined, unknown).",
            ["model", "result"], registry=r,
        )  # fmt: skip
        self.in_progress = Gauge(
            "tabforge_requests_in_progress", "V1/V2 requests being handled now.", registry=r,
            multiprocess_mode="livesum",
        )  # fmt: skip
        self.models_loaded = Gauge(
            "tabforge_models_loaded", "Model versions loaded and served (by every worker).",
            registry=r, multiprocess_mode="livemin",
        )  # fmt: skip
        self.load_failures = Gauge(
            "tabforge_model_load_failures", "Models or versions that failed to load (not served).",
            registry=r, multiprocess_mode="livemax",
        )  # fmt: skip

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

    def render(self, collectors: Iterable[Collector] = ()) -> bytes:
        """The exposition text: this worker's registry, or every worker's files summed."""
        return generate_latest(self._scrape(collectors))

    def collect(self) -> list[Metric]:
        """The server's metrics as ``render`` reads them (every worker's, summed), as
        families: for the dashboard's numbers, with no text format in between."""
        return list(self._scrape().collect())

    def _scrape(self, collectors: Iterable[Collector] = ()) -> CollectorRegistry:
        scrape = CollectorRegistry()  # one per scrape: scrapes may run at once
        if self.shared is None:
            scrape.register(self.registry)
        else:
            forget_dead_gauges(self.shared)
            MultiProcessCollector(scrape, path=str(self.shared))  # type: ignore[no-untyped-call]
        for collector in collectors:
            scrape.register(collector)
        return scrape


def use_files(directory: Path) -> None:
    """From now on this process keeps every new Prometheus value in ``directory``.

    prometheus_client picks its value class once, from an environment variable, at import;
    a worker learns its directory later, from its settings, so the class is swapped here,
    before the worker makes its first metric. One directory per process (a worker).
    """
    current = values.ValueClass
    if getattr(current, "directory", None) != directory:
        values.ValueClass = file_values(directory)


class _ValueFile:
    """One worker's values of one kind, in prometheus_client's multiprocess file layout
    (``mmap_dict.py``: the bytes used, then per value its key's length, the key padded to
    8 bytes, the value and a timestamp as doubles), which ``MultiProcessCollector`` reads.

    Written here rather than through ``MmapedDict`` so that a value is a slot of a double
    view: an update is one aligned 8-byte store (~0.1 us, against ~0.8 us for
    ``MmapedDict.write_value``). A value keeps the view it was made with; growing the file
    maps it anew, and the older maps stay valid for the values that live in them.
    """

    def __init__(self, path: Path) -> None:
        self._path = str(path)
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
        self._capacity = 0
        self._grow(1 << 16)
        self._used = 8
        self._map[0:4] = struct.pack("i", self._used)

    def _grow(self, capacity: int) -> None:
        # Written, not just truncated: a full disk fails here, not later as SIGBUS.
        if os.pwrite(self._fd, bytes(capacity - self._capacity), self._capacity) != (
            capacity - self._capacity
        ):
            raise OSError(errno.ENOSPC, "no space left for metrics", self._path)
        self._capacity = capacity
        self._map = mmap.mmap(self._fd, capacity)
        self._doubles = memoryview(self._map).cast("d")

    def slot(self, key: str) -> tuple[memoryview[float], int]:
        """A new value's place: the view to write it through and its index (value 0)."""
        encoded = key.encode("utf-8")
        padded = encoded + b" " * (8 - (len(encoded) + 4) % 8)  # the reader's padding rule
        entry = struct.pack(f"i{len(padded)}sdd", len(encoded), padded, 0.0, 0.0)
        while self._used + len(entry) > self._capacity:
            self._grow(self._capacity * 2)
        self._map[self._used : self._used + len(entry)] = entry
        self._used += len(entry)
        self._map[0:4] = struct.pack("i", self._used)  # after the entry: never half read
        return self._doubles, (self._used - 16) // 8


def file_values(directory: Path) -> type:
    """A value class keeping values in this worker's files in ``directory``:
    ``<type>[_<gauge mode>]_<pid>.db``, the names ``MultiProcessCollector`` expects.

    prometheus_client's own (``MultiProcessValue``) checks the process id on every write
    and finds the directory in the environment; a worker is spawned, never forked, and is
    handed its directory, so this one does neither.
    """
    pid = os.getpid()
    files: dict[str, _ValueFile] = {}
    lock = threading.Lock()  # a value's read-add-store, and a file's growth

    class FileValue:
        _multiprocess = True

        def __init__(
            self, typ: str, metric_name: str, name: str, labelnames: Any, labelvalues: Any,
            help_text: str, multiprocess_mode: str = "", **kwargs: Any,
        ) -> None:  # fmt: skip
            prefix = f"{typ}_{multiprocess_mode}" if typ == "gauge" else typ
            key = mmap_key(metric_name, name, labelnames, labelvalues, help_text)
            with lock:
                file = files.get(prefix)
                if file is None:
                    file = files[prefix] = _ValueFile(directory / f"{prefix}_{pid}.db")
                self._doubles, self._at = file.slot(key)
            self._value = 0.0

        def inc(self, amount: float) -> None:
            with lock:
                self._value += amount
                self._doubles[self._at] = self._value

        def set(self, value: float, timestamp: float | None = None) -> None:
            with lock:
                self._value = value
                self._doubles[self._at] = value

        def set_exemplar(self, exemplar: Any) -> None:
            return  # not kept in files (prometheus_client's multiprocess mode neither)

        def get(self) -> float:
            return self._value

        def get_exemplar(self) -> None:
            return None

    FileValue.directory = directory  # type: ignore[attr-defined]
    return FileValue


def forget_dead_gauges(directory: Path) -> None:
    """Drop the live gauges (in progress, loaded) of workers that died; counters stay."""
    for path in directory.glob("gauge_live*.db"):
        pid = pid_of(path)
        if pid is not None and not alive(pid):
            path.unlink(missing_ok=True)

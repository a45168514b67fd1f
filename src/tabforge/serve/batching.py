"""Row-based dynamic batching: concurrent requests share one onnxruntime call.

Per model version, requests queue their rows. A batch goes out as soon as an execution
slot is free, taking queued requests until ``max_batch_rows`` rows (rows, not requests);
with ``max_delay_us`` > 0 a batch that is not full waits up to that long for more rows.
So an idle server adds no latency, and a busy one answers many requests per call. A
request larger than ``max_batch_rows`` runs on its own. Outputs are split back in order
(views, no copies). If a batch run fails, its requests are retried one by one, so a bad
request never fails its batch-mates.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field

import numpy as np

Feed = dict[str, np.ndarray]
Outputs = dict[str, np.ndarray]
Run = Callable[[Feed], Outputs]


@dataclass(frozen=True)
class BatchPolicy:
    max_batch_rows: int = 256  # 0 turns batching off
    max_delay_us: int = 0
    slots: int = 2  # onnxruntime calls in flight at once for one version

    @property
    def enabled(self) -> bool:
        return self.max_batch_rows > 0


@dataclass
class _Item:
    feed: Feed
    rows: int
    future: asyncio.Future[tuple[Outputs, float]]
    queued: float = field(default_factory=time.perf_counter)


@dataclass
class BatchStats:
    """Per-call figures handed to the metrics hook."""

    rows: int
    requests: int
    queue_seconds: list[float]
    run_seconds: float


class Batcher:
    def __init__(
        self,
        run: Run,
        executor: Executor,
        policy: BatchPolicy,
        on_batch: Callable[[BatchStats], None] | None = None,
    ) -> None:
        self._run = run
        self._executor = executor
        self.policy = policy
        self._on_batch = on_batch
        self._pending: deque[_Item] = deque()
        self._pending_rows = 0
        self._busy = 0
        self._timer: asyncio.TimerHandle | None = None

    async def submit(self, feed: Feed) -> Outputs:
        """Outputs for this request's rows only; raises what its own run raised."""
        loop = asyncio.get_running_loop()
        rows = len(next(iter(feed.values())))
        item = _Item(feed, rows, loop.create_future())
        self._pending.append(item)
        self._pending_rows += rows
        self._kick()
        outputs, _ = await item.future
        return outputs

    def _kick(self) -> None:
        policy = self.policy
        while self._pending and self._busy < policy.slots:
            if policy.max_delay_us and self._pending_rows < policy.max_batch_rows:
                waited = time.perf_counter() - self._pending[0].queued
                remaining = policy.max_delay_us / 1e6 - waited
                if remaining > 0:
                    if self._timer is None:
                        loop = asyncio.get_running_loop()
                        self._timer = loop.call_later(remaining, self._timer_fired)
                    return
            self._dispatch(self._take())

    def _timer_fired(self) -> None:
        self._timer = None
        self._kick()

    def _take(self) -> list[_Item]:
        first = self._pending.popleft()
        batch, rows = [first], first.rows
        limit = max(self.policy.max_batch_rows, 1)
        while self._pending and rows + self._pending[0].rows <= limit:
            item = self._pending.popleft()
            batch.append(item)
            rows += item.rows
        self._pending_rows -= rows
        return batch

    def _dispatch(self, batch: list[_Item]) -> None:
        self._busy += 1
        loop = asyncio.get_running_loop()
        task = loop.run_in_executor(self._executor, self._execute, batch)
        task.add_done_callback(lambda done: self._finish(batch, done))

    def _execute(self, batch: list[_Item]) -> list[tuple[Outputs, float] | BaseException]:
        """Runs in a worker thread: one call for the batch, split back per request."""
        started = time.perf_counter()
        if len(batch) == 1:
            try:
                result: list[tuple[Outputs, float] | BaseException] = [
                    (self._run(batch[0].feed), started)
                ]
            except Exception as exc:  # handed to its request
                result = [exc]
            self._report(batch, started)
            return result
        names = batch[0].feed.keys()
        feed = {name: np.concatenate([item.feed[name] for item in batch]) for name in names}
        try:
            outputs = self._run(feed)
        except Exception:
            # Somebody in the batch broke the run: retry alone, so only they fail.
            alone: list[tuple[Outputs, float] | BaseException] = []
            for item in batch:
                try:
                    alone.append((self._run(item.feed), started))
                except Exception as exc:
                    alone.append(exc)
            self._report(batch, started)
            return alone
        split: list[tuple[Outputs, float] | BaseException] = []
        offset = 0
        for item in batch:
            end = offset + item.rows
            split.append(({k: v[offset:end] for k, v in outputs.items()}, started))
            offset = end
        self._report(batch, started)
        return split

    def _report(self, batch: list[_Item], started: float) -> None:
        if self._on_batch is not None:
            self._on_batch(
                BatchStats(
                    rows=sum(i.rows for i in batch),
                    requests=len(batch),
                    queue_seconds=[started - i.queued for i in batch],
                    run_seconds=time.perf_counter() - started,
                )
            )

    def _finish(
        self, batch: list[_Item], done: asyncio.Future[list[tuple[Outputs, float] | BaseException]]
    ) -> None:
        self._busy -= 1
        try:
            results = done.result()
        except BaseException as exc:  # the executor itself failed (shutting down)
            results = [exc] * len(batch)
        for item, result in zip(batch, results, strict=True):
            if item.future.done():
                continue  # the client went away
            if isinstance(result, BaseException):
                item.future.set_exception(result)
            else:
                item.future.set_result(result)
        self._kick()

"""Row-based dynamic batching: concurrent requests share one onnxruntime call.

Per model version, requests queue their rows. A batch goes out once the event loop has
taken in what arrived with it (one loop turn) and an execution slot is free, taking
queued requests until ``max_batch_rows`` rows (rows, not requests); with ``max_delay_us``
> 0 a batch that is not full waits up to that long for more rows. So an idle server adds
no latency, and a busy one answers many requests per call. A request larger than
``max_batch_rows`` runs on its own. Outputs are split back in order (views, no copies). If
a batch run fails, its requests are retried one by one, so a bad request never fails its
batch-mates.

Where a batch runs: a small one (up to ``inline_rows`` rows) whose recent runs took under
``inline_seconds`` runs on the event loop itself, so its requests pay no hand-off to a
thread and back (74-115 us a round trip here, more than the run); anything larger or
slower runs on an inference thread, so it never stalls the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

Feed = dict[str, np.ndarray]
Outputs = dict[str, np.ndarray]
Run = Callable[[Feed], Outputs]

log = logging.getLogger("tabforge.serve")


class InferenceThreads:
    """Worker threads for onnxruntime calls, fed by a queue.

    Cheaper than ``loop.run_in_executor`` (74-115 vs 97-236 us per round trip here; rerun
    with benchmarks/serve_profile.py): one queue put to start, one ``call_soon_threadsafe``
    to come back.
    """

    def __init__(self, count: int, *, name: str = "tabforge-infer") -> None:
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._threads = [
            threading.Thread(target=self._work, name=f"{name}-{i}", daemon=True)
            for i in range(max(1, count))
        ]
        for thread in self._threads:
            thread.start()

    def submit(
        self,
        loop: asyncio.AbstractEventLoop,
        fn: Callable[[Any], Any],
        arg: Any,
        done: Callable[[Any], None],
        after: Callable[[Any], None] | None = None,
    ) -> None:
        """Run ``fn(arg)`` in a worker; ``done(result or exception)`` runs on ``loop``;
        then ``after(result)`` runs in the worker (work nobody waits for)."""
        self._queue.put((loop, fn, arg, done, after))

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            loop, fn, arg, done, after = item
            try:
                result = fn(arg)
            except BaseException as exc:  # handed back to the loop, raised there
                result = exc
            with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits any more
                loop.call_soon_threadsafe(done, result)
            if after is not None and not isinstance(result, BaseException):
                try:
                    after(result)
                except Exception:  # monitoring must never stop inference: log, go on
                    log.exception("after-batch work failed")

    def shutdown(self) -> None:
        for _ in self._threads:
            self._queue.put(None)
        for thread in self._threads:
            thread.join(timeout=10)


@dataclass(frozen=True)
class BatchPolicy:
    max_batch_rows: int = 256  # 0 turns batching off
    max_delay_us: int = 0
    slots: int = 2  # onnxruntime calls in flight at once for one version
    inline_rows: int = 64  # batches up to this many rows may run on the event loop ...
    inline_seconds: float = 0.001  # ... while its recent runs took less than this (EMA)

    @property
    def enabled(self) -> bool:
        return self.max_batch_rows > 0


class OnRows(Protocol):
    """What to do with a run's rows once answered (count them for monitoring): in the
    inference thread, or ``bin_now=False`` on the loop (leave the heavy part for later)."""

    def __call__(self, feed: Feed, outputs: Outputs, *, bin_now: bool = True) -> None: ...


Result = Outputs | BaseException  # what one request of a batch gets
Deliver = Callable[[Result], None]


@dataclass
class _Item:
    feed: Feed
    rows: int
    deliver: Deliver  # called once, on the loop, with the outputs or the run's error
    queued: float = field(default_factory=time.perf_counter)


def to_future(future: asyncio.Future[Outputs]) -> Deliver:
    def deliver(result: Outputs | BaseException) -> None:
        if future.done():
            return  # the client went away
        if isinstance(result, BaseException):
            future.set_exception(result)
        else:
            future.set_result(result)

    return deliver


@dataclass
class _Ran:
    """What one execution gave: each request's result, and the rows that ran with their
    outputs (the whole batch in one piece, or each request that ran alone)."""

    results: list[Result]
    ran: list[tuple[Feed, Outputs]]


@dataclass
class BatchStats:
    """Per-call figures handed to the metrics hook."""

    rows: int
    requests: int
    queue_seconds: list[float]
    run_seconds: float
    predicted_rows: int  # rows of the requests that got outputs


class Batcher:
    def __init__(
        self,
        run: Run,
        threads: InferenceThreads,
        policy: BatchPolicy,
        on_batch: Callable[[BatchStats], None] | None = None,
        on_rows: OnRows | None = None,
    ) -> None:
        """``on_batch`` gets each call's figures before its requests are answered;
        ``on_rows`` each call's feed and outputs after its requests have their answers."""
        self._run = run
        self._threads = threads
        self.policy = policy
        self._on_batch = on_batch
        self._on_rows = on_rows
        self._pending: deque[_Item] = deque()
        self._pending_rows = 0
        self._busy = 0
        self._timer: asyncio.TimerHandle | None = None
        self._turn = False  # a _kick is scheduled for the next loop turn
        self._inline_ema = 0.0  # seconds per recent small batch (optimistic at first)

    async def submit(self, feed: Feed) -> Outputs:
        """Outputs for this request's rows only; raises what its own run raised."""
        future: asyncio.Future[Outputs] = asyncio.get_running_loop().create_future()
        self.enqueue(feed, to_future(future))
        return await future

    def enqueue(self, feed: Feed, deliver: Deliver) -> None:
        """Queue a request (on the loop); ``deliver`` gets its outputs or its error."""
        rows = len(next(iter(feed.values())))
        self._pending.append(_Item(feed, rows, deliver))
        self._pending_rows += rows
        if not self._turn:  # let what arrived in this loop turn join the batch
            self._turn = True
            asyncio.get_running_loop().call_soon(self._next_turn)

    def _next_turn(self) -> None:
        self._turn = False
        self._kick()

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
        rows = sum(item.rows for item in batch)
        if rows <= self.policy.inline_rows and self._inline_ema < self.policy.inline_seconds:
            ran = self._execute(batch)  # on the loop: cheaper than any hand-off
            self._finish(batch, ran, kick=False)  # _kick's own loop takes the next batch
            if self._on_rows is not None:
                for feed, outputs in ran.ran:  # counted by the monitor's own thread
                    self._on_rows(feed, outputs, bin_now=False)
            return
        loop = asyncio.get_running_loop()
        after = None if self._on_rows is None else self._after
        self._threads.submit(
            loop, self._execute, batch, lambda ran: self._finish(batch, ran), after
        )

    def _execute(self, batch: list[_Item]) -> _Ran:
        """Runs in a worker thread: one call for the batch, split back per request."""
        started = time.perf_counter()
        if len(batch) == 1:
            feed = batch[0].feed
            try:
                outputs = self._run(feed)
            except Exception as exc:  # handed to its request
                return self._report(batch, started, _Ran([exc], []))
            return self._report(batch, started, _Ran([outputs], [(feed, outputs)]))
        names = batch[0].feed.keys()
        feed = {name: np.concatenate([item.feed[name] for item in batch]) for name in names}
        try:
            outputs = self._run(feed)
        except Exception:
            # Somebody in the batch broke the run: retry alone, so only they fail.
            alone = _Ran([], [])
            for item in batch:
                try:
                    answer = self._run(item.feed)
                except Exception as exc:
                    alone.results.append(exc)
                    continue
                alone.results.append(answer)
                alone.ran.append((item.feed, answer))
            return self._report(batch, started, alone)
        split: list[Result] = []
        offset = 0
        for item in batch:
            end = offset + item.rows
            split.append({k: v[offset:end] for k, v in outputs.items()})
            offset = end
        return self._report(batch, started, _Ran(split, [(feed, outputs)]))

    def _after(self, ran: _Ran) -> None:
        """In the inference thread, once the batch's requests have their answers."""
        assert self._on_rows is not None
        for feed, outputs in ran.ran:
            self._on_rows(feed, outputs)

    def _report(self, batch: list[_Item], started: float, ran: _Ran) -> _Ran:
        results = ran.results
        rows = sum(i.rows for i in batch)
        if rows <= self.policy.inline_rows:  # a race between threads only blurs the estimate
            seconds = time.perf_counter() - started
            self._inline_ema += 0.2 * (seconds - self._inline_ema)
        if self._on_batch is not None:
            ok = sum(
                i.rows
                for i, r in zip(batch, results, strict=True)
                if not isinstance(r, BaseException)
            )
            self._on_batch(
                BatchStats(
                    rows=sum(i.rows for i in batch),
                    requests=len(batch),
                    queue_seconds=[started - i.queued for i in batch],
                    run_seconds=time.perf_counter() - started,
                    predicted_rows=ok,
                )
            )
        return ran

    def _finish(self, batch: list[_Item], outcome: _Ran | BaseException, kick: bool = True) -> None:
        self._busy -= 1
        results = [outcome] * len(batch) if isinstance(outcome, BaseException) else outcome.results
        for item, result in zip(batch, results, strict=True):
            item.deliver(result)
        if kick:
            self._kick()

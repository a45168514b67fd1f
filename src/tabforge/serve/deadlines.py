"""uvicorn's httptools protocol with deadlines for each request's head and body.

uvicorn times out idle keep-alive connections, but a client that sends its request line and
headers a byte at a time holds its connection (and a file descriptor) for as long as it likes:
any data cancels the keep-alive timer. And once the headers are in, nothing bounds how long the
body may take. Here a request head must be complete ``header_timeout`` seconds after the
connection opened or after the previous response, and its body ``body_timeout`` seconds after
the head; otherwise the connection is closed (a late body gets a 408 first).

A timer per request costs microseconds on the hot path, so each connection only notes its
deadline (a float) and one sweep per second per worker closes the connections past theirs:
a deadline is met to within a second. The same sweep closes idle keep-alive connections
(``timeout_keep_alive`` seconds after a response, at most ``header_timeout``), in place of
the timer uvicorn sets and cancels around every response.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

import msgspec
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

SWEEP_SECONDS = 1.0


def _timeout_response(seconds: float) -> bytes:
    body = msgspec.json.encode({"error": f"the request body did not arrive within {seconds:g} s"})
    head = (
        "HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\n"
        f"connection: close\r\ncontent-length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


class DeadlineProtocol(HttpToolsProtocol):
    def __init__(
        self, *args: Any, header_timeout: float, body_timeout: float, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.header_timeout, self.body_timeout = header_timeout, body_timeout
        self.deadline: float | None = None
        # After a response: the next head's deadline, once its first byte comes (until
        # then ``deadline`` is the keep-alive one).
        self.head_deadline: float | None = None
        self.in_body = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.deadline = self.loop.time() + self.header_timeout
        state: Any = self.server_state
        if not getattr(state, "tabforge_sweeping", False):
            state.tabforge_sweeping = True  # one sweep per worker
            self.loop.call_later(SWEEP_SECONDS, _sweep, self.loop, self.connections)

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        self.deadline = self.loop.time() + self.body_timeout
        self.in_body = True

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self.deadline = None  # the app has the whole request: no client-side deadline
        self.in_body = False

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self.head_deadline is not None:  # no longer idle: the head's own deadline
            self.deadline, self.head_deadline = self.head_deadline, None

    def on_response_complete(self) -> None:
        """uvicorn's, except for its keep-alive timer (a timer set and cancelled for every
        response): an idle connection is closed by the sweep once its deadline passes."""
        self.server_state.total_requests += 1
        if self.transport.is_closing():
            return
        self.flow.resume_reading()
        now = self.loop.time()
        if self.pipeline:  # the next request already has its head in
            cycle, app = self.pipeline.pop()
            self._start_asgi_task(cycle, app)
            if not self.pipeline:
                self.deadline = now + self.header_timeout
            return
        self.head_deadline = now + self.header_timeout
        self.deadline = now + min(self.timeout_keep_alive, self.header_timeout)

    def expire(self) -> None:
        self.deadline = None
        if self.transport.is_closing():
            return
        cycle = self.cycle
        if self.in_body and cycle is not None and not cycle.response_started:
            self.transport.write(_timeout_response(self.body_timeout))
        self.transport.close()


def _sweep(loop: asyncio.AbstractEventLoop, connections: Iterable[Any]) -> None:
    now = loop.time()
    for conn in list(connections):
        deadline = getattr(conn, "deadline", None)
        if deadline is not None and now > deadline:
            conn.expire()
    loop.call_later(SWEEP_SECONDS, _sweep, loop, connections)

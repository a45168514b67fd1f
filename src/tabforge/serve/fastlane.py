"""The fast lane: small V2 inference requests answered from the HTTP protocol itself.

Under uvicorn every request becomes an ASGI task: a scope, a request-response cycle with
its event, receive and send messages, and a chunked response. For a single-row request
that machinery costs more than decoding, running and encoding it (benchmarks/RESULTS.md,
"Serving, round 2"). So the protocol answers ``POST /v2/models/{name}[/versions/{v}]/infer``
itself when the request is plain: HTTP/1.1, a ``Content-Length`` of at most
``FAST_BODY_BYTES`` (and the server's body limit), no ``Expect``, no request of the same
connection still being answered. It runs the handler's own three steps (endpoints.py:
``v2_target``, ``v2_job``, ``v2_answer``) with the same credentials, errors, metrics,
shadow and feedback as the ASGI route; only the waiting differs: a callback from the
batcher instead of an awaited future, and the response written straight to the
transport, with a ``Content-Length``. Everything else (other routes, larger or streamed
bodies, pipelined requests behind a busy one) takes uvicorn's ASGI path unchanged, and the
deadlines of deadlines.py hold on both.
"""

from __future__ import annotations

import time
import urllib.parse
from typing import TYPE_CHECKING, Any, NamedTuple

import httptools
from uvicorn.protocols.http.httptools_impl import STATUS_LINE

from tabforge.serve.deadlines import DeadlineProtocol
from tabforge.serve.endpoints import V2Job, v2_answer, v2_infer, v2_job, v2_target
from tabforge.serve.http import Request, Response
from tabforge.serve.routing import Route

if TYPE_CHECKING:
    from tabforge.serve.app import App

FAST_BODY_BYTES = 64 * 1024  # larger bodies take the ASGI path (they stream, off the loop)
SEEN_URLS = 1024  # request lines whose target the lane keeps


class _NoEvent:
    def set(self) -> None:
        return None


class FastCycle:
    """Stands where uvicorn keeps a request's cycle while the lane answers it, so that
    a pipelined request waits, a shutdown lets it finish, and a lost client is noted."""

    message_event = _NoEvent()

    def __init__(self, keep_alive: bool) -> None:
        self.keep_alive = keep_alive
        self.response_started = False
        self.response_complete = False
        self.disconnected = False


class _Target(NamedTuple):
    method: str
    path: str
    query: bytes
    route: Route
    params: dict[str, str]


_UNSEEN = object()


class _Taken:
    """A request the lane took: until its body is in, then until it is answered."""

    __slots__ = ("chunks", "cycle", "lane", "request", "route")

    def __init__(self, lane: FastLane, request: Request, route: Route, cycle: FastCycle) -> None:
        self.lane, self.request, self.route, self.cycle = lane, request, route, cycle
        self.chunks: list[bytes] = []


class FastLane:
    """One worker's lane: the app it answers for, and what it answers."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.service = app.service
        self.limit = min(FAST_BODY_BYTES, app.max_body_bytes)
        self._seen: dict[tuple[bytes, bytes], _Target | None] = {}

    def target(self, method: bytes, url: bytes) -> _Target | None:
        """What a request line asks of the lane (method, path, query, route, path
        parameters), or None: the ASGI path answers it. Kept for the last URLs seen."""
        key = (method, url)
        found = self._seen.get(key, _UNSEEN)
        if found is _UNSEEN:
            if len(self._seen) >= SEEN_URLS:  # anyone can send any URL: stay bounded
                self._seen.clear()
            found = self._seen[key] = self._target(method, url)
        return found  # type: ignore[return-value]

    def _target(self, method: bytes, url: bytes) -> _Target | None:
        parsed = httptools.parse_url(url)
        path = parsed.path.decode("ascii")
        if "%" in path:
            path = urllib.parse.unquote(path)
        verb = method.decode("ascii")
        try:
            route, params, allowed = self.app.router.match(verb, path)
        except Exception:  # a 404 and its message are the ASGI path's to give
            return None
        if not allowed or route.handler is not v2_infer:
            return None
        return _Target(verb, path, parsed.query or b"", route, params)

    def answer(self, conn: FastProtocol, taken: _Taken, body: bytes) -> None:
        """Decode and queue the request; the response is written when its batch ran."""
        started = time.perf_counter()
        request, route = taken.request, taken.route
        self.service.metrics.in_progress.inc()
        try:
            self.app.check_credentials(route, request)
            served = v2_target(self.service, request)
            job = v2_job(self.service, request, served, body)
        except Exception as exc:
            self._reply(conn, taken, self.app.failure(request, exc), started)
            return

        def ran(result: dict[str, Any] | BaseException) -> None:
            self._ran(conn, taken, job, result, started)

        self.service.infer_soon(served.name, job.number, job.predictor, job.feed, ran)

    def _ran(
        self,
        conn: FastProtocol,
        taken: _Taken,
        job: V2Job,
        result: dict[str, Any] | BaseException,
        started: float,
    ) -> None:
        request = taken.request
        try:
            if isinstance(result, BaseException):
                raise result
            response = v2_answer(self.service, request, job, result)
        except Exception as exc:
            response = self.app.failure(request, exc)
        self._reply(conn, taken, response, started)

    def _reply(self, conn: FastProtocol, taken: _Taken, response: Response, t: float) -> None:
        self.service.metrics.in_progress.dec()
        conn.reply(taken.cycle, response)
        self.app.sent(taken.request, response, t, "v2")


def find_app(loaded: Any) -> App | None:
    """Our App inside whatever uvicorn wrapped it in (its proxy-headers middleware)."""
    from tabforge.serve.app import App

    for _ in range(8):
        if isinstance(loaded, App):
            return loaded
        loaded = getattr(loaded, "app", None)
    return None


class FastProtocol(DeadlineProtocol):
    """uvicorn's httptools protocol with deadlines, and the fast lane for small V2 infers."""

    fast: _Taken | None = None  # the lane's request whose body is coming in

    def _lane(self) -> FastLane | None:
        state: Any = self.server_state
        lane = getattr(state, "tabforge_lane", None)
        if lane is None:
            app = find_app(self.app)
            lane = FastLane(app) if app is not None and app.settings.fast_lane else False
            state.tabforge_lane = lane
        return lane if isinstance(lane, FastLane) else None

    def on_headers_complete(self) -> None:
        taken = self._take()
        if taken is None:
            super().on_headers_complete()
            return
        self.fast = taken
        self.cycle = taken.cycle  # type: ignore[assignment]
        self.deadline = self.loop.time() + self.body_timeout
        self.in_body = True

    def _take(self) -> _Taken | None:
        """The lane, the request and its route when the lane answers it."""
        cycle = self.cycle
        if (cycle is not None and not cycle.response_complete) or self.pipeline:
            return None
        if self.expect_100_continue or self.parser.get_http_version() != "1.1":
            return None
        lane = self._lane()
        if lane is None or self.parser.should_upgrade():
            return None
        length = -1
        for name, value in self.headers:
            if name == b"content-length":
                length = int(value) if value.isdigit() and length < 0 else lane.limit + 1
            elif name == b"transfer-encoding":
                return None
        if not 0 <= length <= lane.limit:
            return None
        target = lane.target(self.parser.get_method(), self.url)
        if target is None:
            return None
        scope: Any = self.scope
        scope["method"], scope["path"], scope["query_string"] = target[:3]
        request = Request(scope, _no_receive, max_body_bytes=lane.app.max_body_bytes)
        request.params = dict(target.params)
        return _Taken(lane, request, target.route, FastCycle(self.parser.should_keep_alive()))

    def on_body(self, body: bytes) -> None:
        if self.fast is None:
            super().on_body(body)
        else:
            self.fast.chunks.append(body)  # at most FAST_BODY_BYTES: the parser keeps to the length

    def on_message_complete(self) -> None:
        fast = self.fast
        if fast is None:
            super().on_message_complete()
            return
        self.fast = None
        self.deadline = None  # the lane has the whole request: no client-side deadline
        self.in_body = False
        fast.lane.answer(self, fast, b"".join(fast.chunks))

    def reply(self, cycle: FastCycle, response: Response) -> None:
        """Write a response of the lane and finish its cycle as uvicorn's would (a
        pipelined request may have taken ``self.cycle`` meanwhile: it waits for this)."""
        if cycle.disconnected or self.transport.is_closing():
            cycle.response_complete = True
            return
        head = [STATUS_LINE[response.status]]
        for name, value in (*self.server_state.default_headers, *response.headers):
            head += [name, b": ", value, b"\r\n"]
        head += [b"content-length: ", str(len(response.body)).encode(), b"\r\n"]
        if not cycle.keep_alive:
            head.append(b"connection: close\r\n")
        head += [b"\r\n", response.body]
        self.transport.write(b"".join(head))
        cycle.response_started = cycle.response_complete = True
        if not cycle.keep_alive:
            self.transport.close()
        self.on_response_complete()


async def _no_receive() -> Any:  # the lane's requests come with their whole body
    raise RuntimeError("the fast lane reads no body")

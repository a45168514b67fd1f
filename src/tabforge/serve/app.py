"""The ASGI application: the HTTP edge of Open Inference Protocol V2 and KServe V1.

A plain ASGI callable (no framework on the hot path). It routes through the one table in
routes.py, checks credentials, calls the route's handler and turns every error into
``{"error": ...}`` with the error's own status, here and nowhere else. What is served and
how (repository, batchers, cache, shadow, metrics) is the ``ModelService``'s business.
"""

from __future__ import annotations

import logging
import time

from tabforge.errors import TabforgeError
from tabforge.serve import admin
from tabforge.serve.http import (
    JSON,
    ClientGone,
    Receive,
    Request,
    Response,
    Scope,
    Send,
    error_body,
)
from tabforge.serve.routes import ROUTER
from tabforge.serve.routing import Route, Router
from tabforge.serve.service import ModelService
from tabforge.serve.settings import ServeSettings

log = logging.getLogger("tabforge.serve")


class App:
    def __init__(self, settings: ServeSettings, *, router: Router = ROUTER) -> None:
        self.settings = settings
        self.service = ModelService(settings)
        self.router = router
        self.credentials = admin.Credentials.of(settings)
        self.max_body_bytes = settings.max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http":
            await self._http(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.service.start()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self.service.stop()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        request = Request(scope, receive, max_body_bytes=self.max_body_bytes)
        counted = request.path.startswith(("/v1/", "/v2/"))
        if counted:
            self.service.metrics.in_progress.inc()
        try:
            response = await self._answer(request)
        except ClientGone:
            if counted:
                self.service.metrics.in_progress.dec()
            return
        try:
            length = (b"content-length", str(len(response.body)).encode())
            headers = [*response.headers, length]  # not chunked: one write
            await send(
                {"type": "http.response.start", "status": response.status, "headers": headers}
            )
            await send({"type": "http.response.body", "body": response.body})
        finally:
            if counted:
                self.service.metrics.in_progress.dec()
        self.sent(request, response, started)

    def sent(
        self, request: Request, response: Response, started: float, protocol: str | None = ""
    ) -> None:
        """After a response went out: the work that follows it, and the request metrics
        (``protocol``: the metrics label when known, else found from the path)."""
        if request.after is not None:
            request.after()  # after the response: the client never waits for it
        if protocol == "":
            protocol = _protocol(request.path)
        if protocol is not None:
            seconds = time.perf_counter() - started
            labels = (request.model, request.version, protocol)
            self.service.metrics.request_done(*labels, response.status, seconds)

    async def _answer(self, request: Request) -> Response:
        """The handler's response, or the error's; ClientGone leaves as it came."""
        try:
            route, request.params, allowed = self.router.match(request.method, request.path)
            self.check_credentials(route, request)  # before 405: say nothing to strangers
            if not allowed:
                raise self.router.refuse(request.method, route)
            return await route.handler(self.service, request)
        except ClientGone:
            raise
        except Exception as exc:
            return self.failure(request, exc)

    def failure(self, request: Request, exc: Exception) -> Response:
        """The response for an error: its own status for ours, 500 (logged) for a defect."""
        if isinstance(exc, TabforgeError):
            return Response(exc.http_status, error_body(str(exc)), (*JSON, *exc.http_headers))
        # a defect: log the traceback, tell the client nothing of it
        log.error("unhandled error on %s %s", request.method, request.path, exc_info=exc)
        return Response(500, error_body("internal server error"), JSON)

    def check_credentials(self, route: Route, request: Request) -> None:
        if route.guard == "inference":
            if self.credentials.api_keys:  # else nothing to check: no dict of headers
                self.credentials.check_inference(request.headers())
        elif route.guard == "admin":
            self.credentials.check_admin(request.headers())


def _protocol(path: str) -> str | None:
    """The protocol label of a request's metrics; None: not counted (/metrics, ...)."""
    parts = path.strip("/").split("/")
    if parts[0] == "v2":
        return "v2"
    if parts[0] == "v1" and len(parts) == 3 and parts[1] == "models":
        return "v1"
    return None


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

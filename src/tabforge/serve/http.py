"""HTTP primitives for the edge: ASGI types, one request, one response.

Plain ASGI, no framework on the hot path: a ``Request`` reads headers and a bounded body
from the ASGI scope, a ``Response`` is status, body and headers. Handlers take the one and
return the other; errors leave as ``TabforgeError`` and become ``{"error": ...}`` in app.py.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, NamedTuple
from urllib.parse import parse_qs

import msgspec

from tabforge.errors import DataError, PayloadTooLarge, UnsupportedMediaType

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Header = tuple[bytes, bytes]

JSON: tuple[Header, ...] = ((b"content-type", b"application/json"),)
BINARY: tuple[Header, ...] = ((b"content-type", b"application/octet-stream"),)
PROMETHEUS: tuple[Header, ...] = ((b"content-type", b"text/plain; version=0.0.4"),)
JSON_TYPES = ("", "application/json")
BINARY_TYPES = ("", "application/json", "application/octet-stream")
BINARY_HEADER = b"inference-header-content-length"
ROUTING_HEADER = b"x-routing-key"

_encoder = msgspec.json.Encoder()


class ClientGone(Exception):
    """The client disconnected before its request body arrived."""


class Response(NamedTuple):
    status: int
    body: bytes
    headers: tuple[Header, ...] = JSON


def json_response(value: Any, *headers: Header) -> Response:
    """A 200 with ``value`` as JSON (msgspec Structs, dicts, lists)."""
    return Response(200, _encoder.encode(value), (*JSON, *headers))


class ErrorBody(msgspec.Struct):
    """Every 4xx and 5xx answer: ``{"error": "what went wrong"}``."""

    error: str


def error_body(message: str) -> bytes:
    return _encoder.encode(ErrorBody(message))


class Request:
    """One HTTP request as a handler sees it, plus what it turned out to be (for metrics)."""

    __slots__ = (
        "after", "max_body_bytes", "method", "model", "params", "path", "receive", "scope",
        "version",
    )  # fmt: skip

    def __init__(self, scope: Scope, receive: Receive, *, max_body_bytes: int) -> None:
        self.scope = scope
        self.receive = receive
        self.method: str = scope["method"]
        self.path: str = scope["path"]
        self.max_body_bytes = max_body_bytes
        self.params: dict[str, str] = {}  # path parameters of the matched route
        self.model = ""  # metric labels, filled in as the handler learns them
        self.version = ""
        # Work to start once the response is sent (a shadow run): the client never waits.
        self.after: Callable[[], None] | None = None

    def header(self, name: bytes) -> str:
        for key, value in self.scope.get("headers", ()):
            if key == name:
                return str(value.decode("latin-1"))
        return ""

    def query(self, name: str, default: str) -> str:
        """A query parameter given at most once (400 if repeated), else ``default``."""
        raw = self.scope.get("query_string", b"").decode("latin-1")
        values = parse_qs(raw, keep_blank_values=True).get(name, [])
        if len(values) > 1:
            raise DataError(f"query parameter {name!r} is given {len(values)} times; give it once")
        return values[0] if values else default

    def headers(self) -> dict[bytes, bytes]:
        return dict(self.scope.get("headers", ()))

    def require_content_type(self, allowed: tuple[str, ...]) -> None:
        content_type = self.header(b"content-type").split(";")[0].strip().lower()
        if content_type not in allowed:
            raise UnsupportedMediaType(
                f"content type {content_type!r} is not supported; send application/json"
            )

    async def body(self) -> bytes:
        """The whole body, refused (413) as soon as it is known to be over the limit."""
        limit = self.max_body_bytes
        declared = self.header(b"content-length")
        if declared.isdigit() and int(declared) > limit:
            raise PayloadTooLarge(
                f"request body of {int(declared)} bytes is over the limit of {limit}"
            )
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await self.receive()
            if message["type"] == "http.disconnect":
                raise ClientGone
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise PayloadTooLarge(f"request body is over the limit of {limit} bytes")
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

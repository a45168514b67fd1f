"""Routes and the router: method + path pattern -> handler, and nothing else decides.

Dispatch, 404, 405 with ``Allow`` and the OpenAPI document (openapi.py) all come from the
one table in routes.py, so a path cannot answer without being documented or the reverse.
A pattern is a literal path with ``{name}`` segments; a parameter matches one path segment
without ``/`` or ``:`` (KServe V1 puts the verb after a colon: ``/v1/models/{name}:predict``).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from tabforge.errors import MethodNotAllowed, NotFoundError
from tabforge.serve.http import Request, Response

if TYPE_CHECKING:
    from tabforge.serve.service import ModelService

Handler = Callable[["ModelService", Request], Awaitable[Response]]
#: Who may call a route: anyone, holders of an API key (when keys are set), the admin.
Guard = Literal["public", "inference", "admin"]

_PARAM = re.compile(r"\{([a-z_]+)\}")
SEEN_PATHS = 1024  # paths whose match the router keeps


@dataclass(frozen=True)
class Route:
    method: Literal["GET", "POST"]  # a GET route answers HEAD too
    path: str
    handler: Handler
    summary: str
    #: msgspec type of the 200 body (str: plain text); the OpenAPI schema comes from it.
    response: Any
    #: msgspec type of the request body, if the route reads one.
    body: Any = None
    body_required: bool = True
    #: Error statuses besides 200 the route can answer, for the document.
    errors: tuple[int, ...] = ()
    guard: Guard = "public"
    #: Query parameters the route reads: (name, JSON schema), all optional.
    query: tuple[tuple[str, dict[str, Any]], ...] = ()
    pattern: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        pieces = _PARAM.split(self.path)  # literal, parameter, literal, ...
        regex = "".join(
            f"(?P<{piece}>[^/:]+)" if i % 2 else re.escape(piece) for i, piece in enumerate(pieces)
        )
        object.__setattr__(self, "pattern", re.compile(regex + r"\Z"))

    @property
    def params(self) -> list[str]:
        return _PARAM.findall(self.path)

    def answers(self, method: str) -> bool:
        return method == self.method or (self.method == "GET" and method == "HEAD")

    @property
    def allow(self) -> str:
        return "GET, HEAD" if self.method == "GET" else self.method


class Router:
    def __init__(self, routes: Sequence[Route]) -> None:
        self.routes = tuple(routes)
        # Only routes with the path's first segment and length can match: try just those.
        self._buckets: dict[tuple[str, int], list[Route]] = {}
        for route in self.routes:
            self._buckets.setdefault(_bucket(route.path), []).append(route)
        # Requests repeat a few paths: the answers for the last ones seen (bounded, since
        # anyone can send any path; 404s are not kept).
        self._seen: dict[tuple[str, str], tuple[Route, dict[str, str], bool]] = {}

    def match(self, method: str, path: str) -> tuple[Route, dict[str, str], bool]:
        """The route for ``path`` (the one answering ``method`` if any), its parameters,
        and whether it answers ``method``. No route for the path: 404."""
        seen = self._seen.get((method, path))
        if seen is None:
            if len(self._seen) >= SEEN_PATHS:
                self._seen.clear()
            seen = self._seen[(method, path)] = self._match(method, path)
        return seen[0], dict(seen[1]), seen[2]

    def _match(self, method: str, path: str) -> tuple[Route, dict[str, str], bool]:
        normal = "/" + path.strip("/")  # /v2/ is /v2, as it always was
        found: tuple[Route, dict[str, str]] | None = None
        for route in self._buckets.get(_bucket(normal), ()):
            m = route.pattern.match(normal)
            if m is None:
                continue
            if route.answers(method):
                return route, m.groupdict(), True
            found = found or (route, m.groupdict())
        if found is None:
            raise NotFoundError(f"no such endpoint: {path}")
        return found[0], found[1], False

    def refuse(self, method: str, route: Route) -> MethodNotAllowed:
        """The 405 for ``method`` on ``route``'s path, with every method the path takes."""
        same_path = [r for r in self.routes if r.path == route.path]
        allow = ", ".join(dict.fromkeys(m for r in same_path for m in r.allow.split(", ")))
        use = " or ".join(r.method for r in same_path)
        return MethodNotAllowed(f"method {method} not allowed here; use {use}", allow=allow)


def _bucket(path: str) -> tuple[str, int]:
    parts = path.strip("/").split("/")
    return parts[0], len(parts)

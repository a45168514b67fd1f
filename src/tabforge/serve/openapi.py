"""The OpenAPI document served at /openapi.json, generated from the route table.

Paths, methods, parameters, error codes and security come from routes.py; request and
response schemas from the msgspec types the handlers decode and encode with
(``msgspec.json.schema_components``), so the document cannot drift from the code.
OpenAPI 3.1, whose schemas are JSON Schema 2020-12, as msgspec writes them.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import msgspec

from tabforge import __version__
from tabforge.serve.http import ErrorBody
from tabforge.serve.pages import MEDIA
from tabforge.serve.routes import ROUTES
from tabforge.serve.routing import Route

REF = "#/components/schemas/{name}"
ERROR = {"$ref": "#/components/responses/Error"}
JSON = ("application/json",)


def openapi(routes: Sequence[Route] = ROUTES) -> dict[str, Any]:
    """The document for ``routes`` (the server's own table unless told otherwise)."""
    types = [ErrorBody, *(r.response for r in routes), *(r.body for r in routes if r.body)]
    refs, schemas = msgspec.json.schema_components(types, ref_template=REF)
    schema_of = dict(zip(map(_key, types), refs, strict=True))
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(route, schema_of)
    return {
        "openapi": "3.1.0",
        "info": {"title": "tabforge inference server", "version": __version__},
        "paths": paths,
        "components": {
            "securitySchemes": {"admin": {"type": "http", "scheme": "bearer"}},
            "responses": {
                "Error": {"description": "Error", "content": _json(schema_of[_key(ErrorBody)])}
            },
            "schemas": schemas,
        },
    }


@functools.cache
def encoded() -> bytes:
    """The server's document as JSON, built once per process."""
    return msgspec.json.encode(openapi())


def _operation(route: Route, schema_of: dict[str, Any]) -> dict[str, Any]:
    schema = schema_of[_key(route.response)]
    media = MEDIA.get(route.response, ("text/plain",) if route.response is str else JSON)
    operation: dict[str, Any] = {
        "summary": route.summary,
        "parameters": [
            *(
                {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
                for name in route.params
            ),
            *(
                {"name": name, "in": "query", "required": False, "schema": schema}
                for name, schema in route.query
            ),
        ],
        "responses": {
            "200": {"description": "OK", "content": {kind: {"schema": schema} for kind in media}},
            **{str(code): ERROR for code in route.errors},
        },
    }
    if route.body is not None:
        operation["requestBody"] = {
            "required": route.body_required,
            "content": _json(schema_of[_key(route.body)]),
        }
    if route.guard == "admin":
        operation["security"] = [{"admin": []}]
    return operation


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _key(kind: Any) -> str:
    # Generic aliases (list[X], dict[str, bool]) are not always hashable alike: key by repr.
    return repr(kind)

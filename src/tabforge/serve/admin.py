"""Credentials and the admin API (the V2 repository extension, plus promote and route).

Admin endpoints need ``Authorization: Bearer <TABFORGE_ADMIN_TOKEN>`` and answer 403 when
no token is configured. Inference endpoints need one of ``TABFORGE_API_KEYS`` (comma
separated; as a bearer token or an ``X-API-Key`` header) when that setting is given.
Comparisons are constant-time, every key is compared, and no message says which keys exist.
Admin writes go to the registry, so every worker (which all watch it) follows.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Sequence
from typing import Annotated, Any, Literal

import msgspec

from tabforge.errors import DataError, Forbidden, TabforgeError, Unauthorized
from tabforge.registry.base import Incompatible
from tabforge.registry.policy import ServingPolicy
from tabforge.serve.repository import Repository
from tabforge.serve.settings import ServeSettings


class Credentials:
    def __init__(self, admin_token: str | None, api_keys: Sequence[str]) -> None:
        self.admin_token = admin_token or None
        self.api_keys = [k.strip() for k in api_keys if k.strip()]

    @classmethod
    def of(cls, settings: ServeSettings) -> Credentials:
        return cls(settings.admin_token, settings.api_keys)

    @staticmethod
    def _presented(headers: dict[bytes, bytes]) -> str | None:
        auth = headers.get(b"authorization", b"").decode("latin-1").strip()
        if auth.lower().startswith("bearer "):
            return auth[7:].strip()
        key = headers.get(b"x-api-key", b"").decode("latin-1").strip()
        return key or None

    @staticmethod
    def _matches(presented: str, secrets: list[str]) -> bool:
        ok = False
        for secret in secrets:  # no early exit: the time taken does not depend on which matched
            ok |= hmac.compare_digest(presented.encode(), secret.encode())
        return ok

    def check_admin(self, headers: dict[bytes, bytes]) -> None:
        if self.admin_token is None:
            raise Forbidden("the admin API is disabled (set TABFORGE_ADMIN_TOKEN to enable it)")
        presented = self._presented(headers)
        if presented is None:
            raise Unauthorized("admin endpoints need an Authorization: Bearer token")
        if not self._matches(presented, [self.admin_token]):
            raise Forbidden("invalid credentials")

    def check_inference(self, headers: dict[bytes, bytes]) -> None:
        if not self.api_keys:
            return
        presented = self._presented(headers)
        if presented is None:
            raise Unauthorized("an API key is required (Authorization: Bearer <key> or X-API-Key)")
        if not self._matches(presented, self.api_keys):
            raise Forbidden("invalid credentials")


class PromoteRequest(msgspec.Struct):
    version: int
    alias: str = "production"
    force: bool = False


class RouteRequest(msgspec.Struct):
    weights: dict[str, Annotated[int, msgspec.Meta(extra_json_schema={"minimum": 0})]] = (
        msgspec.field(default_factory=dict)
    )


class IndexEntry(msgspec.Struct):
    name: str
    version: str
    state: Literal["READY", "UNAVAILABLE", "UNLOADED"]
    reason: str


class Loaded(msgspec.Struct):
    name: str
    state: Literal["READY"]
    versions: list[int]


class Unloaded(msgspec.Struct):
    name: str
    state: Literal["UNLOADED"]


class Promoted(msgspec.Struct):
    name: str
    alias: str
    version: int | None  # a ModelRef's version: always set once promoted


class Routed(msgspec.Struct):
    name: str
    route: dict[str, int]


Result = Loaded | Unloaded | Promoted | Routed


def _decode(body: bytes, kind: type[Any]) -> Any:
    try:
        return msgspec.json.decode(body or b"{}", type=kind)
    except (msgspec.DecodeError, msgspec.ValidationError, RecursionError) as exc:
        raise DataError(f"invalid admin request: {exc}") from exc


def index(repo: Repository) -> list[IndexEntry]:
    """Every model version this worker knows of, with its state."""
    rows = []
    for name, served in sorted(repo.models.items()):
        for number in sorted(served.versions):
            rows.append(IndexEntry(name, str(number), "READY", ""))
    for key, reason in sorted(repo.failures.items()):
        name, _, label = key.partition(":")
        rows.append(IndexEntry(name, label, "UNAVAILABLE", _masked(reason, repo)))
    for name in sorted(repo.unloaded):
        rows.append(IndexEntry(name, "", "UNLOADED", "unloaded"))
    return rows


def action(repo: Repository, name: str, verb: str, body: bytes) -> Result:
    """Run one admin action; registry errors reach the client without file system paths."""
    try:
        return _action(repo, name, verb, body)
    except TabforgeError as exc:
        exc.message = _masked(exc.message, repo)
        raise


def _masked(text: str, repo: Repository) -> str:
    """Clients see where a file sits in the registry, never where the registry is."""
    root = str(repo.settings.registry).rstrip(os.sep)
    return text.replace(root + os.sep, "<registry>" + os.sep).replace(root, "<registry>")


def _action(repo: Repository, name: str, verb: str, body: bytes) -> Result:
    store = repo.store
    if verb == "load":
        repo.reload(name)
        if name not in repo.models:
            # The reason (in the server log) can hold file system paths; clients get the name.
            raise TabforgeError(f"model {name!r} could not be loaded; the server log says why")
        return Loaded(name, "READY", sorted(repo.models[name].versions))
    if verb == "unload":
        repo.unload(name)
        return Unloaded(name, "UNLOADED")
    if verb == "promote":
        promote = _decode(body, PromoteRequest)
        try:
            done = store.promote(f"{name}:{promote.version}", promote.alias, force=promote.force)
        except Incompatible as exc:
            exc.message = exc.saying('send "force": true to promote anyway')
            raise
        repo.refresh()
        return Promoted(name, promote.alias, done.version)
    if verb == "route":
        route = _decode(body, RouteRequest)
        weights = ServingPolicy(store).set_route(name, route.weights)
        repo.refresh()
        return Routed(name, weights)
    raise DataError(f"unknown repository action {verb!r}")

"""Per-model aliases and their history, one small JSON file replaced atomically.

The history is an append-only list of events; the alias table is derived from it by
replay, so the two can never disagree. ``promote`` pushes a target for an alias and
``rollback`` pops it, so rolling back twice walks back two promotions.
"""

from __future__ import annotations

import datetime as dt
import getpass
import socket
from typing import Literal

import msgspec

from tabforge.config import user as configured_user

Action = Literal["promote", "rollback", "remove"]


class AliasEvent(msgspec.Struct, frozen=True):
    alias: str
    action: Action
    version: int | None  # the target after the event (None once removed)
    previous: int | None
    at: str
    by: str


class AliasFile(msgspec.Struct):
    history: list[AliasEvent] = msgspec.field(default_factory=list)


def who() -> str:
    """Who a change is recorded as: TABFORGE_USER, else the login and host."""
    user = configured_user()
    if user:
        return user
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


def now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def stacks(history: list[AliasEvent]) -> dict[str, list[int]]:
    """Replay: each alias's stack of targets, current target last."""
    out: dict[str, list[int]] = {}
    for event in history:
        stack = out.setdefault(event.alias, [])
        if event.action == "promote" and event.version is not None:
            stack.append(event.version)
        elif event.action == "rollback" and stack:
            stack.pop()
        elif event.action == "remove":
            stack.clear()
    return {alias: stack for alias, stack in out.items() if stack}


def current(history: list[AliasEvent]) -> dict[str, int]:
    return {alias: stack[-1] for alias, stack in stacks(history).items()}


def encode(data: AliasFile) -> bytes:
    return msgspec.json.format(msgspec.json.encode(data), indent=2) + b"\n"


def decode(raw: bytes) -> AliasFile:
    return msgspec.json.decode(raw, type=AliasFile)

"""Model references: ``name``, ``name:3``, ``name@staging``."""

from __future__ import annotations

import re
from dataclasses import dataclass

from tabforge.errors import RegistryError

NAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
ALIAS_PATTERN = re.compile(r"[a-z][a-z0-9-]{0,63}")
DEFAULT_ALIAS = "production"


def validate_name(name: str) -> str:
    if not NAME_PATTERN.fullmatch(name):
        raise RegistryError(
            f"invalid model name {name!r}{_as_named(name)}: use 1-64 characters of a-z, 0-9, "
            "'_' and '-', starting with a letter or digit"
        )
    return name


def slugify(text: str) -> str:
    """A valid model name from a file stem ('Churn Data 2024' -> 'churn-data-2024')."""
    slug = re.sub(r"[^a-z0-9_-]+", "-", text.lower()).strip("-_")[:64]
    return slug or "model"


def _as_named(text: str) -> str:
    """The name training gives a file stem like ``text``, as a hint ('' if it is no help)."""
    slug = slugify(text)
    if slug in (text, "model") or "/" in text or "\\" in text:
        return ""
    return f" (did you mean {slug!r}? that is the name training gives a file called {text!r})"


def validate_alias(alias: str) -> str:
    if not ALIAS_PATTERN.fullmatch(alias):
        raise RegistryError(
            f"invalid alias {alias!r}: use a-z, 0-9 and '-', starting with a letter"
        )
    return alias


@dataclass(frozen=True)
class ModelRef:
    name: str
    version: int | None = None
    alias: str | None = None

    @classmethod
    def parse(cls, text: str) -> ModelRef:
        raw = text.strip()
        name, sep, rest = raw.partition(":")
        if sep:
            if not rest.isdigit() or int(rest) < 1:
                raise RegistryError(f"malformed reference {text!r}: version must be 1, 2, ...")
            return cls(validate_name(name), version=int(rest))
        name, sep, alias = raw.partition("@")
        if sep:
            return cls(validate_name(name), alias=validate_alias(alias))
        if not NAME_PATTERN.fullmatch(raw):
            raise RegistryError(
                f"malformed reference {text!r}{_as_named(raw)}: "
                "use name, name:VERSION or name@ALIAS"
            )
        return cls(raw)

    def __str__(self) -> str:
        if self.version is not None:
            return f"{self.name}:{self.version}"
        if self.alias is not None:
            return f"{self.name}@{self.alias}"
        return self.name

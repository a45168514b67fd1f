"""Settings in one place: the one reader of the environment, and how a setting is declared.

Every ``TABFORGE_*`` variable is read here and nowhere else, so a variable's name, its
parsing and its deprecation live in one module. A settings type (``ServeSettings``) declares
each field with :func:`setting`: its help, environment variable, command-line option and
bounds are data, from which validation, environment parsing and the CLI options all come.
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tabforge.errors import ConfigError

PREFIX = "TABFORGE_"
DEFAULT_REGISTRY = "models"
REGISTRY_HELP = (
    "Registry: a directory or s3://bucket/prefix (default: $TABFORGE_REGISTRY, then ./models)."
)
# Old variable -> its replacement (both without the prefix); read only while the new one is unset.
DEPRECATED = {"SERVE_REGISTRY": "REGISTRY"}


def environment(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The ``TABFORGE_*`` variables, prefix removed: tabforge's only read of the environment.

    ``env`` replaces ``os.environ`` (a worker's settings, a test). A deprecated name is
    honoured, with a warning, only when its replacement is not set.
    """
    source = os.environ if env is None else env
    found = {key[len(PREFIX) :]: value for key, value in source.items() if key.startswith(PREFIX)}
    for old, new in DEPRECATED.items():
        if old in found:
            value = found.pop(old)
            warnings.warn(
                f"{PREFIX}{old} is deprecated and will be ignored in a later release: "
                f"set {PREFIX}{new} instead",
                FutureWarning,
                stacklevel=2,
            )
            found.setdefault(new, value)
    return found


def registry_spec(
    explicit: str | os.PathLike[str] | None = None, *, env: Mapping[str, str] | None = None
) -> str:
    """Where the registry is (a directory or s3://bucket/prefix): the explicit option, then
    TABFORGE_REGISTRY, then ./models."""
    if explicit:
        return os.fspath(explicit)
    return environment(env).get("REGISTRY") or DEFAULT_REGISTRY


def cache_home(env: Mapping[str, str] | None = None) -> Path:
    """Where per-user caches go: $XDG_CACHE_HOME, else ~/.cache."""
    source = os.environ if env is None else env
    return Path(source.get("XDG_CACHE_HOME") or Path.home() / ".cache")


def user(env: Mapping[str, str] | None = None) -> str | None:
    """TABFORGE_USER: who registry changes are recorded as (else the login and host)."""
    return environment(env).get("USER") or None


# -- declared settings -------------------------------------------------------------------


@dataclass(frozen=True)
class Setting:
    """One field of a settings type, resolved: how it is documented, read, checked, shown."""

    name: str
    default: Any
    help: str
    #: Environment variable without the prefix: the type's group + NAME unless declared.
    env: str
    #: Command-line option, ``--field-name``; None for secrets (process lists show options).
    option: str | None
    low: float | None  # value >= low
    above: float | None  # value > above
    high: float | None  # value <= high
    #: What to say when the value is out of bounds (default: the bound itself).
    hint: str | None
    secret: bool

    @property
    def variable(self) -> str:
        return PREFIX + self.env

    @property
    def label(self) -> str:
        """How messages name the setting: its option, else its environment variable."""
        return self.option or self.variable


def setting(
    default: Any,
    help: str,
    *,
    env: str | None = None,
    low: float | None = None,
    above: float | None = None,
    high: float | None = None,
    hint: str | None = None,
    secret: bool = False,
) -> Any:
    """A dataclass field declared as a setting (typed ``Any`` as ``dataclasses.field`` is)."""
    declared = {"help": help, "env": env, "low": low, "above": above, "high": high}
    declared |= {"hint": hint, "secret": secret}
    return dataclasses.field(default=default, metadata={"setting": declared}, repr=not secret)


def settings_of(cls: type[Any]) -> tuple[Setting, ...]:
    """The declared fields of a settings dataclass; ``cls.ENV_GROUP`` prefixes their variables."""
    group: str = getattr(cls, "ENV_GROUP", "")
    out = []
    for field in dataclasses.fields(cls):
        if "setting" not in field.metadata:
            continue  # internal state the type carries (no option, no documented variable)
        declared = dict(field.metadata["setting"])
        env = declared.pop("env") or group + field.name.upper()
        option = None if declared["secret"] else "--" + field.name.replace("_", "-")
        out.append(Setting(field.name, field.default, env=env, option=option, **declared))
    return tuple(out)


def check_bounds(settings: Any) -> None:
    """Refuse a numeric field outside its declared bounds, naming the option and the value."""
    for declared in settings_of(type(settings)):
        value = getattr(settings, declared.name)
        if isinstance(value, bool) or not isinstance(value, int | float):
            continue
        if declared.low is not None and value < declared.low:
            bound = f"must be at least {declared.low:g}"
        elif declared.above is not None and value <= declared.above:
            bound = f"must be above {declared.above:g}"
        elif declared.high is not None and value > declared.high:
            bound = f"must be at most {declared.high:g}"
        else:
            continue
        shown = f"{value:g}" if isinstance(value, float) else str(value)
        raise ConfigError(f"{declared.label} {shown} is out of range: {declared.hint or bound}")


def parse(declared: Setting, raw: str) -> Any:
    """A setting's value from its text form (environment variable, worker hand-off)."""
    default, name = declared.default, declared.variable
    if isinstance(default, tuple):
        return tuple(part.strip() for part in raw.split(",") if part.strip())
    if isinstance(default, Path):
        return Path(raw)
    if isinstance(default, bool):
        words = {"1": True, "true": True, "yes": True, "0": False, "false": False, "no": False}
        if raw.strip().lower() not in words:
            raise ConfigError(f"{name}={raw!r}: expected true or false")
        return words[raw.strip().lower()]
    try:
        if isinstance(default, int):
            return int(raw)
        if isinstance(default, float):
            return float(raw)
    except ValueError as exc:
        kind = "an integer" if isinstance(default, int) else "a number"
        raise ConfigError(f"{name}={raw!r}: expected {kind}") from exc
    return raw


def text(value: Any) -> str:
    """A field's text form, the inverse of :func:`parse`."""
    if isinstance(value, tuple):
        return ",".join(value)
    return repr(value) if isinstance(value, float) else str(value)

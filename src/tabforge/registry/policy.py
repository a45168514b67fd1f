"""Serving policy over a registry: traffic routes and shadow traffic, per model.

The store keeps versions and aliases; how a server spreads unversioned requests over them
is policy, kept beside them in small per-model files (``routes.json``, ``shadow.json``)
replaced atomically by the registry's backend (under the model's lock on disk, by
compare-and-swap on S3), so every server worker watching the registry follows the same
policy.
"""

from __future__ import annotations

from typing import Any

import msgspec

from tabforge.errors import RegistryError
from tabforge.registry.base import Registry
from tabforge.registry.refs import ModelRef

ROUTES_FILE = "routes.json"
SHADOW_FILE = "shadow.json"


class ServingPolicy:
    """Routes and shadows of the models in one registry."""

    def __init__(self, store: Registry) -> None:
        self.store = store

    def route(self, name: str) -> dict[str, int]:
        """The traffic route of ``name``: target (alias or version number) -> weight; {} if none."""
        weights: dict[str, int] = self._read(name, ROUTES_FILE, dict[str, int])
        return weights

    def set_route(self, name: str, weights: dict[str, int]) -> dict[str, int]:
        """Split unversioned traffic of ``name`` over aliases or versions; {} clears it."""
        if not self.store.versions(name):
            raise self.store.unknown([name])
        for target, weight in weights.items():
            if weight < 0:
                raise RegistryError(f"route weight for {target!r} must be 0 or more, got {weight}")
            self.store.resolve(f"{name}:{target}" if target.isdigit() else f"{name}@{target}")
        if weights and sum(weights.values()) <= 0:
            raise RegistryError("route weights must add up to more than 0")
        self._replace(name, ROUTES_FILE, weights, "route")
        return weights

    def shadow(self, name: str) -> dict[str, Any]:
        """The shadow of ``name``: {"target": alias or version, "sample": fraction}; {} if none."""
        doc: dict[str, Any] = self._read(name, SHADOW_FILE, dict[str, Any])
        return doc

    def set_shadow(
        self, name: str, ref: ModelRef | str | None, sample: float = 0.1
    ) -> dict[str, Any]:
        """Mirror a sample of ``name``'s unversioned traffic to ``ref``; None clears it."""
        doc: dict[str, Any] = {}
        if ref is not None:
            ref = ModelRef.parse(ref) if isinstance(ref, str) else ref
            if ref.name != name:
                raise RegistryError(f"the shadow of {name} must be a version of {name}, not {ref}")
            if not 0.0 < sample <= 1.0:
                raise RegistryError(f"--sample must be in (0, 1], got {sample}")
            if ref.version is None and ref.alias is None:
                raise RegistryError("name the shadow as NAME:VERSION or NAME@ALIAS")
            self.store.resolve(ref)
            target = str(ref.version) if ref.version is not None else str(ref.alias)
            doc = {"target": target, "sample": sample}
        elif not self.store.versions(name):
            raise self.store.unknown([name])
        self._replace(name, SHADOW_FILE, doc, "shadow")
        return doc

    def _read(self, name: str, filename: str, kind: Any) -> Any:
        """A per-model policy file, strictly decoded; {} when there is none."""
        try:
            raw = self.store.read_model_file(name, filename)
            return {} if raw is None else msgspec.json.decode(raw, type=kind)
        except (OSError, msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise RegistryError(f"unreadable {filename} for model {name}: {exc}") from exc

    def _replace(self, name: str, filename: str, doc: dict[str, Any], what: str) -> None:
        """Write a per-model policy file; {} removes it."""
        action = f"update the {what} of {name} in registry {self.store.location}"
        data = msgspec.json.encode(doc) + b"\n" if doc else None
        self.store.update_model_file(name, filename, lambda _: data, action)

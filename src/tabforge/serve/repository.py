"""The models a server holds: every version of every served model, loaded once."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from tabforge.errors import NotFoundError, NotReady, TabforgeError
from tabforge.registry.refs import DEFAULT_ALIAS, NAME_PATTERN
from tabforge.registry.store import FilesystemRegistry
from tabforge.runtime.predictor import Predictor
from tabforge.serve.settings import ServeSettings

log = logging.getLogger("tabforge.serve")


@dataclass
class ServedModel:
    name: str
    versions: dict[int, Predictor] = field(default_factory=dict)
    default: int = 0  # the version an unversioned request gets


class Repository:
    def __init__(self, settings: ServeSettings) -> None:
        self.settings = settings
        self.models: dict[str, ServedModel] = {}
        self.failures: dict[str, str] = {}
        self.ready = False

    def load(self) -> None:
        """Load every requested model; a model that fails is reported and left out."""
        store = FilesystemRegistry(self.settings.registry)
        try:
            names = list(self.settings.models) or store.names()
        except TabforgeError as exc:
            log.error("cannot read registry: %s", exc)
            names = []
        threads = self.settings.session_threads()
        for name in names:
            try:
                served = ServedModel(name)
                for version in store.versions(name):
                    _, model, manifest = store.load(f"{name}:{version}")
                    served.versions[version] = Predictor(
                        model, manifest, threads=threads, spin=False
                    )
                if not served.versions:
                    raise NotFoundError(f"unknown model {name!r} in registry {store.root}")
                default = store.resolve(name)
                served.default = default.version or max(served.versions)
                self.models[name] = served
                log.info(
                    "loaded %s versions %s (default %s%s)",
                    name,
                    sorted(served.versions),
                    served.default,
                    f", {DEFAULT_ALIAS}" if default.alias else "",
                )
            except TabforgeError as exc:
                self.failures[name] = str(exc)
                log.error("not serving %s: %s", name, exc)
        self.ready = True

    def get(self, name: str, version: str | None) -> tuple[int, Predictor]:
        if not self.ready:
            raise NotReady("models are still loading")
        served = self.models.get(name) if NAME_PATTERN.fullmatch(name) else None
        if served is None:
            raise NotFoundError(f"unknown model {name!r}")
        if version is None:
            return served.default, served.versions[served.default]
        if not version.isdigit() or int(version) not in served.versions:
            raise NotFoundError(f"model {name!r} has no version {version!r}")
        return int(version), served.versions[int(version)]

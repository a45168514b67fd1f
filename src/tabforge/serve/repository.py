"""The models a server holds, kept in step with the registry.

Every version of every served model is loaded once (sha256-checked, then warmed up with
one all-missing row). ``refresh`` compares the registry with what is loaded and applies
the difference: new versions are loaded in the background and swapped in atomically (one
dict assignment), a moved alias changes the default version, deleted versions leave. A
request keeps the session it started with; an old session is released when the last
request holding it finishes. A version that fails to load is reported once and skipped,
and whatever served before keeps serving.
"""

from __future__ import annotations

import hashlib
import logging
import random
import threading
from dataclasses import dataclass, field

from tabforge.errors import NotFoundError, NotReady, TabforgeError
from tabforge.registry.backends import open_registry
from tabforge.registry.base import Registry
from tabforge.registry.policy import ServingPolicy
from tabforge.registry.refs import DEFAULT_ALIAS, NAME_PATTERN
from tabforge.runtime.predictor import Predictor
from tabforge.serve.settings import ServeSettings

log = logging.getLogger("tabforge.serve")


@dataclass(frozen=True)
class ServedModel:
    name: str
    versions: dict[int, Predictor] = field(default_factory=dict)
    default: int = 0  # the version an unversioned request gets without a route
    # Traffic route: (version, cumulative weight) pairs; empty means everything to default.
    route: tuple[tuple[int, int], ...] = ()
    # Shadow: (version, fraction of unversioned requests mirrored to it), if any.
    shadow: tuple[int, float] | None = None

    def choose(self, version: str | None, routing_key: str | None = None) -> tuple[int, Predictor]:
        """An explicit version; else the route's pick (sticky per key); else the default."""
        if version is not None:
            if not version.isdigit() or int(version) not in self.versions:
                raise NotFoundError(f"model {self.name!r} has no version {version!r}")
            return int(version), self.versions[int(version)]
        number = self.pick(routing_key) if self.route else self.default
        return number, self.versions[number]

    def pick(self, routing_key: str | None) -> int:
        total = self.route[-1][1]
        if routing_key is None:
            point = random.randrange(total)
        else:
            # A stable hash: the same key lands on the same version in every worker.
            digest = hashlib.blake2b(routing_key.encode(), digest_size=8).digest()
            point = int.from_bytes(digest, "big") % total
        return next(version for version, upto in self.route if point < upto)


class Repository:
    def __init__(self, settings: ServeSettings) -> None:
        self.settings = settings
        # One per worker: an S3 registry keeps its client, listings and small files.
        self.store = open_registry(settings.registry)
        self.models: dict[str, ServedModel] = {}
        self.failures: dict[str, str] = {}  # "name" or "name:version" -> why it is not served
        self.ready = False
        self.unloaded: set[str] = set()  # models an admin unloaded from this worker
        self._lock = threading.Lock()  # one refresh at a time

    def load(self) -> None:
        """The first load; the server is ready when it returns."""
        self.refresh()
        self.ready = True

    def refresh(self) -> bool:
        """Apply registry changes; True if anything served changed."""
        with self._lock:
            store = self.store
            try:
                names = list(self.settings.models) or store.names()
            except TabforgeError as exc:
                self._fail("registry", f"cannot read registry: {exc}")
                return False
            changed = False
            for name in names:
                if name not in self.unloaded:
                    changed |= self._refresh_model(store, name)
            return changed

    def _refresh_model(self, store: Registry, name: str) -> bool:
        current = self.models.get(name)
        try:
            on_disk = store.versions(name)
            target = store.resolve(name) if on_disk else None
        except TabforgeError as exc:
            self._fail(name, str(exc))
            return False
        if not on_disk:
            if current is not None:
                del self.models[name]
                log.info("%s left the registry; no longer served", name)
                return True
            self._fail(name, f"unknown model {name!r} in registry {store.location}")
            return False
        versions = self._load_versions(store, name, on_disk, current)
        if not versions:
            return False
        route = self._route(store, name, versions, current)
        shadow = self._shadow(store, name, versions)
        wanted = target.version if target is not None else None
        if wanted in versions:
            default = wanted
        elif current is not None and current.default in versions:
            default = current.default  # the new target failed to load: keep serving the old
        else:
            default = max(versions)
        if (
            current is not None
            and current.default == default
            and current.versions == versions
            and current.route == route
            and current.shadow == shadow
        ):
            return False
        self.models[name] = ServedModel(name, versions, default, route, shadow)  # the atomic swap
        self.failures.pop(name, None)
        aliased = target is not None and target.alias and wanted == default
        log.info(
            "serving %s versions %s (default %s%s)%s",  # tests and operators read this line
            name,
            sorted(versions),
            default,
            f", {DEFAULT_ALIAS}" if aliased else "",
            (f" route {_show_route(route)}" if route else "")
            + (f" shadow {shadow[0]}" if shadow else ""),
        )
        return True

    def _load_versions(
        self, store: Registry, name: str, on_disk: list[int], current: ServedModel | None
    ) -> dict[int, Predictor]:
        """The versions on disk that run: kept from ``current``, else loaded and warmed up."""
        loaded = dict(current.versions) if current else {}
        versions = {v: loaded[v] for v in on_disk if v in loaded}
        threads = self.settings.session_threads()
        for version in on_disk:
            key = f"{name}:{version}"
            if version in versions or key in self.failures:
                continue  # loaded already, or known bad: don't retry the same bytes
            try:
                _, model, manifest = store.load(key)
                predictor = Predictor(model, manifest, threads=threads, spin=False)
                predictor.warm_up()  # one row of missing values must run
            except TabforgeError as exc:
                self._fail(key, str(exc))
                continue
            except Exception as exc:  # onnxruntime's own errors on a graph that won't run
                self._fail(key, f"warm-up inference failed: {str(exc).splitlines()[0][:200]}")
                continue
            versions[version] = predictor
            log.info("loaded %s", key)
        return versions

    def _route(
        self,
        store: Registry,
        name: str,
        versions: dict[int, Predictor],
        current: ServedModel | None,
    ) -> tuple[tuple[int, int], ...]:
        """The registry route resolved to loaded versions, as cumulative weights."""
        try:
            weights = ServingPolicy(store).route(name)
            aliases = store.aliases(name) if weights else {}
        except TabforgeError as exc:
            self._fail(f"{name} route", str(exc))
            return current.route if current is not None else ()
        self.failures.pop(f"{name} route", None)
        pairs: list[tuple[int, int]] = []
        total = 0
        for target, weight in weights.items():
            version = int(target) if target.isdigit() else aliases.get(target)
            if version is None or version not in versions or weight <= 0:
                if weight > 0:
                    log.warning("route of %s: %r is not a served version; skipped", name, target)
                continue
            total += weight
            pairs.append((version, total))
        return tuple(pairs)

    def _shadow(
        self, store: Registry, name: str, versions: dict[int, Predictor]
    ) -> tuple[int, float] | None:
        try:
            doc = ServingPolicy(store).shadow(name)
            if not doc:
                return None
            target = str(doc["target"])
            version = int(target) if target.isdigit() else store.aliases(name).get(target)
            sample = float(doc["sample"])
        except (TabforgeError, KeyError, TypeError, ValueError) as exc:
            self._fail(f"{name} shadow", f"unusable shadow setting: {exc}")
            return None
        if version not in versions:
            return None
        return version, sample

    def _fail(self, key: str, reason: str) -> None:
        if self.failures.get(key) != reason:
            log.error("not serving %s: %s", key, reason)
        self.failures[key] = reason

    def unload(self, name: str) -> None:
        """Stop serving ``name`` in this worker until an admin loads it again."""
        self.served(name)  # 404 for a model this worker does not serve
        with self._lock:  # never in the middle of a refresh that would serve it again
            self.unloaded.add(name)
            self.models.pop(name, None)

    def reload(self, name: str) -> None:
        """Serve ``name`` again (after an unload), looking at the registry now."""
        with self._lock:
            self.unloaded.discard(name)
        self.refresh()

    def served(self, name: str) -> ServedModel:
        """The model as served right now (one consistent snapshot)."""
        if not self.ready:
            raise NotReady("models are still loading")
        served = self.models.get(name) if NAME_PATTERN.fullmatch(name) else None
        if served is None:
            raise NotFoundError(f"unknown model {name!r}")
        return served

    def get(self, name: str, version: str | None) -> tuple[int, Predictor]:
        """An explicit version, or the default (metadata and readiness are not routed)."""
        served = self.served(name)
        if version is None:
            return served.default, served.versions[served.default]
        return served.choose(version)


def _show_route(route: tuple[tuple[int, int], ...]) -> str:
    shares, before = [], 0
    for version, upto in route:
        shares.append(f"{version}={upto - before}")
        before = upto
    return ",".join(shares)

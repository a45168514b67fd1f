"""What a registry is, whatever holds it: versions, aliases and their history, resolving.

Every rule (what a reference resolves to, when a promotion to production is refused, what
a rollback returns to, which files a version may hold) lives here once. A backend supplies
only storage: list versions, read a file, add a version whole, change one small per-model
file atomically (read, change, replace without losing a concurrent change), take a
version away. ``FilesystemRegistry`` does that with a lock and renames, ``S3Registry``
with conditional writes.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from typing import TypeVar

import msgspec

from tabforge.contract import manifest as mf
from tabforge.contract import sha256_bytes
from tabforge.contract.evaluation import EVALUATION_FILE, Evaluation, evaluation_from_json
from tabforge.errors import NotFoundError, RegistryError
from tabforge.registry import aliases as al
from tabforge.registry.compat import incompatibilities
from tabforge.registry.layout import ELSEWHERE, MANIFEST_FILE, MODEL_FILE, holdings
from tabforge.registry.refs import DEFAULT_ALIAS, ModelRef, validate_alias, validate_name

ALIASES_FILE = "aliases.json"
EXTRA_FILE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")  # a plain name, not hidden
T = TypeVar("T")
# A change to a per-model file: its bytes now (None: absent) -> its new bytes (None: remove).
FileChange = Callable[[bytes | None], bytes | None]


class Incompatible(RegistryError):
    """A promotion to production refused: the candidate would break production's clients."""

    #: How a caller overrides the refusal, as the message says it (the CLI's by default).
    FORCE = "use --force to promote anyway"

    def __init__(self, candidate: str, current: int, problems: list[str]) -> None:
        self.candidate, self.current, self.problems = candidate, current, problems
        super().__init__(self.saying(self.FORCE))

    def saying(self, force: str) -> str:
        """The message, with ``force`` as the way to promote anyway."""
        name = self.candidate.partition(":")[0]
        return (
            f"{self.candidate} is incompatible with production ({name}:{self.current}): "
            f"{'; '.join(self.problems)} ({force})"
        )


class Registry(ABC):
    """Versions, aliases and their history; subclasses say where they are kept."""

    #: Where the registry is, as messages show it (a directory, or s3://bucket/prefix).
    location: str

    # -- storage, per backend ----------------------------------------------------------

    @abstractmethod
    def names(self) -> list[str]:
        """Models with at least one complete version; foreign entries are ignored."""

    @abstractmethod
    def versions(self, name: str) -> list[int]:
        """Complete versions of ``name``, ascending; [] for an unknown model."""

    @abstractmethod
    def where(self, name: str, *parts: str) -> str:
        """Where a model's file or folder is, as messages show it."""

    @abstractmethod
    def read_model_file(self, name: str, filename: str) -> bytes | None:
        """A per-model file (aliases, routes, shadow); None when absent. OSError if unreadable."""

    @abstractmethod
    def update_model_file(self, name: str, filename: str, change: FileChange, action: str) -> None:
        """Apply ``change`` to a per-model file atomically; no concurrent change is lost.

        ``action`` completes "cannot ..." in the error a failed write becomes.
        """

    @abstractmethod
    def _require_root(self) -> None:
        """NotFoundError unless the registry itself exists."""

    @abstractmethod
    def _read_version_file(self, name: str, version: int, filename: str) -> bytes | None:
        """A file of a complete version; None when absent. OSError if unreadable."""

    @abstractmethod
    def _add_version(self, name: str, files_for: Callable[[int], dict[str, bytes]]) -> int:
        """Store a new version whole (visible with all its files, or not at all); its number."""

    @abstractmethod
    def _remove_version(self, name: str, version: int, action: str) -> None:
        """Make a version disappear at once, then delete its files."""

    def check_writable(self) -> None:
        """Refuse now what a write would refuse later, where asking is cheap (a remote store:
        its bucket, credentials and conditional writes); a directory is checked when written."""
        return None

    def _model_bytes(self, name: str, version: int, sha256: str) -> bytes | None:
        """A version's model bytes (a backend may answer from a cache by ``sha256``)."""
        return self._read_version_file(name, version, MODEL_FILE)

    # -- reading -----------------------------------------------------------------------

    def unknown(self, names: Iterable[str]) -> NotFoundError:
        """The one error for missing models: where we looked, what is there, where else."""
        missing = list(names)
        what = "model" if len(missing) == 1 else "models"
        listed = ", ".join(map(repr, missing))
        there = holdings(self.names())
        return NotFoundError(
            f"unknown {what} {listed} in registry {self.location} ({there}; {ELSEWHERE})"
        )

    def require(self, names: Iterable[str]) -> None:
        """Refuse unless every name is a model here; NotFoundError names all that are not."""
        wanted = [validate_name(name) for name in names]
        self._require_root()
        missing = [name for name in wanted if not self.versions(name)]
        if missing:
            raise self.unknown(missing)

    def history(self, name: str) -> list[al.AliasEvent]:
        try:
            raw = self.read_model_file(validate_name(name), ALIASES_FILE)
        except OSError as exc:
            raise RegistryError(f"unreadable {ALIASES_FILE} for model {name}: {exc}") from exc
        return [] if raw is None else _history(name, raw)

    def aliases(self, name: str) -> dict[str, int]:
        return al.current(self.history(name))

    def resolve(self, ref: ModelRef | str) -> ModelRef:
        """The same reference with its version filled in; NotFoundError names what is missing."""
        ref = ModelRef.parse(ref) if isinstance(ref, str) else ref
        self._require_root()
        versions = self.versions(ref.name)
        if not versions:
            raise self.unknown([ref.name])
        if ref.version is not None:
            if ref.version not in versions:
                raise NotFoundError(
                    f"model {ref.name} has no version {ref.version} "
                    f"(versions: {', '.join(map(str, versions))})"
                )
            return ref
        table = self.aliases(ref.name)
        if ref.alias is not None:
            if ref.alias not in table:
                known = ", ".join(sorted(table)) or "none"
                raise NotFoundError(
                    f"model {ref.name} has no alias {ref.alias!r} (aliases: {known})"
                )
            return ModelRef(ref.name, table[ref.alias], ref.alias)
        if DEFAULT_ALIAS in table:
            return ModelRef(ref.name, table[DEFAULT_ALIAS], DEFAULT_ALIAS)
        return ModelRef(ref.name, versions[-1])

    def _resolved(self, ref: ModelRef | str) -> tuple[ModelRef, int]:
        resolved = self.resolve(ref)
        if resolved.version is None:  # resolve() always fills it
            raise RegistryError(f"{resolved} did not resolve to a version")
        return resolved, resolved.version

    def _decoded(
        self, ref: ModelRef | str, filename: str, decode: Callable[[bytes], T]
    ) -> T | None:
        """A version's file decoded; None when it is absent, RegistryError when unreadable."""
        resolved, version = self._resolved(ref)
        where = self.where(resolved.name, str(version), filename)
        try:
            raw = self._read_version_file(resolved.name, version, filename)
            return None if raw is None else decode(raw)
        except (OSError, msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise RegistryError(f"{where} is unreadable: {exc}") from exc

    def manifest(self, ref: ModelRef | str) -> mf.Manifest:
        manifest = self._decoded(ref, MANIFEST_FILE, mf.from_json)
        if manifest is None:
            resolved, version = self._resolved(ref)
            where = self.where(resolved.name, str(version), MANIFEST_FILE)
            raise RegistryError(f"{where} is missing")
        return manifest

    def evaluation(self, ref: ModelRef | str) -> Evaluation | None:
        """The evaluation stored with the version; None for versions stored before
        evaluations existed (or whose training could not compute one)."""
        return self._decoded(ref, EVALUATION_FILE, evaluation_from_json)

    def load(self, ref: ModelRef | str) -> tuple[ModelRef, bytes, mf.Manifest]:
        """Model bytes and manifest, the bytes checked against the manifest's sha256."""
        resolved, version = self._resolved(ref)
        manifest = self.manifest(resolved)
        where = self.where(resolved.name, str(version), MODEL_FILE)
        try:
            model = self._model_bytes(resolved.name, version, manifest.model_sha256)
        except OSError as exc:
            raise RegistryError(f"{where} is unreadable: {exc.strerror}") from exc
        if model is None:
            raise RegistryError(f"{where} is missing")
        if sha256_bytes(model) != manifest.model_sha256:
            raise RegistryError(f"{where} is corrupt: its sha256 does not match the manifest")
        return resolved, model, manifest

    # -- writing -----------------------------------------------------------------------

    def put(
        self,
        name: str,
        model: bytes,
        manifest_for: Callable[[int], bytes],
        *,
        extras: dict[str, bytes] | None = None,
    ) -> int:
        """Store a new version; ``manifest_for(version)`` renders its manifest. Returns it.

        ``extras`` are further files of the version (``evaluation.json``), written in the
        same atomic step: a reader sees the version with all of them or not at all.
        """
        validate_name(name)
        files = dict(extras or {})
        for file in files:
            if file in (MODEL_FILE, MANIFEST_FILE) or not EXTRA_FILE.fullmatch(file):
                raise RegistryError(f"a version cannot hold an extra file named {file!r}")

        def files_for(version: int) -> dict[str, bytes]:
            return files | {MODEL_FILE: model, MANIFEST_FILE: manifest_for(version)}

        return self._add_version(name, files_for)

    def _append(self, name: str, make: Callable[[list[al.AliasEvent]], al.AliasEvent]) -> None:
        """Extend the alias history by one event, atomically (no concurrent event is lost)."""

        def change(raw: bytes | None) -> bytes:
            history = [] if raw is None else _history(name, raw)
            history.append(make(history))
            return al.encode(al.AliasFile(history))

        action = f"update aliases of {name} in registry {self.location}"
        self.update_model_file(name, ALIASES_FILE, change, action)

    def promote(self, ref: ModelRef | str, alias: str, *, force: bool = False) -> ModelRef:
        """Point ``alias`` at the version ``ref`` resolves to; checks production compatibility."""
        resolved, version = self._resolved(ref)
        validate_alias(alias)
        if alias == DEFAULT_ALIAS and not force:
            current = self.aliases(resolved.name).get(DEFAULT_ALIAS)
            if current is not None and current != version:
                problems = incompatibilities(
                    self.manifest(ModelRef(resolved.name, current)), self.manifest(resolved)
                )
                if problems:
                    raise Incompatible(f"{resolved.name}:{version}", current, problems)

        def event(history: list[al.AliasEvent]) -> al.AliasEvent:
            if version not in self.versions(resolved.name):  # deleted meanwhile
                raise NotFoundError(f"model {resolved.name} has no version {version}")
            previous = al.current(history).get(alias)
            return al.AliasEvent(alias, "promote", version, previous, al.now(), al.who())

        self._append(resolved.name, event)
        return ModelRef(resolved.name, version, alias)

    def rollback(self, name: str, alias: str) -> ModelRef:
        """Return ``alias`` to the target it had before its latest promotion."""
        validate_name(name)
        validate_alias(alias)
        if not self.versions(name):
            raise self.unknown([name])
        result: list[int] = []

        def event(history: list[al.AliasEvent]) -> al.AliasEvent:
            stack = al.stacks(history).get(alias, [])
            if len(stack) < 2:
                raise RegistryError(
                    f"alias {alias!r} of {name} has no earlier target to roll back to"
                )
            result[:] = [stack[-2]]  # a retried change sees the history anew
            return al.AliasEvent(alias, "rollback", stack[-2], stack[-1], al.now(), al.who())

        self._append(name, event)
        return ModelRef(name, result[0], alias)

    def delete(self, ref: ModelRef | str, *, force: bool = False) -> ModelRef:
        """Remove one version; refused while an alias points at it unless ``force``."""
        ref = ModelRef.parse(ref) if isinstance(ref, str) else ref
        if ref.version is None:
            raise RegistryError(f"delete needs an explicit version: {ref.name}:VERSION")
        resolved = self.resolve(ref)
        version = ref.version
        pointing = sorted(a for a, v in self.aliases(resolved.name).items() if v == version)
        if pointing and not force:
            raise RegistryError(
                f"{resolved} is the target of alias {', '.join(pointing)} (use --force to delete)"
            )
        for alias in pointing:

            def removal(history: list[al.AliasEvent], alias: str = alias) -> al.AliasEvent:
                return al.AliasEvent(alias, "remove", None, version, al.now(), al.who())

            self._append(resolved.name, removal)
        self._remove_version(resolved.name, version, f"delete {resolved}")
        return resolved


def _history(name: str, raw: bytes) -> list[al.AliasEvent]:
    try:
        return al.decode(raw).history
    except msgspec.DecodeError as exc:
        raise RegistryError(f"unreadable {ALIASES_FILE} for model {name}: {exc}") from exc

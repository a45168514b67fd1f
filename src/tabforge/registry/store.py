"""Filesystem registry: ``<root>/<name>/<version>/{model.onnx, manifest.json}``, and
``evaluation.json`` for versions stored since evaluations exist.

A version is written into a temporary directory beside its final place, flushed to disk,
then renamed: readers see a whole version or none, and a crash leaves only a temp
directory that no reader looks at (``registry.atomic`` is the one place that does this).
Versions never change once written. Aliases live in ``<root>/<name>/aliases.json``, replaced
atomically under the model's file lock. Routes and shadows are serving policy:
``registry.policy``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TypeVar

import msgspec

from tabforge.contract import manifest as mf
from tabforge.contract import sha256_bytes
from tabforge.contract.evaluation import EVALUATION_FILE, Evaluation, evaluation_from_json
from tabforge.errors import NotFoundError, RegistryError, StorageError
from tabforge.registry import aliases as al
from tabforge.registry.atomic import changing
from tabforge.registry.compat import incompatibilities
from tabforge.registry.layout import (
    ELSEWHERE,
    MANIFEST_FILE,
    MODEL_FILE,
    holdings,
    model_names,
    version_numbers,
)
from tabforge.registry.refs import DEFAULT_ALIAS, ModelRef, validate_alias, validate_name

__all__ = ["MANIFEST_FILE", "MODEL_FILE", "FilesystemRegistry", "sha256_bytes", "slugify"]

ALIASES_FILE = "aliases.json"
EXTRA_FILE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")  # a plain name, not hidden
T = TypeVar("T")


def slugify(text: str) -> str:
    """A valid model name from a file stem ('Churn Data 2024' -> 'churn-data-2024')."""
    slug = re.sub(r"[^a-z0-9_-]+", "-", text.lower()).strip("-_")[:64]
    return slug or "model"


class FilesystemRegistry:
    """The registry on a local (or mounted) file system; every method is process-safe."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        # Absolute, so every message says exactly which directory was looked at.
        self.root = Path(root).absolute()

    # -- reading -----------------------------------------------------------------------

    def _require_root(self) -> None:
        if self.root.is_dir():
            return
        state = "is not a directory" if self.root.exists() else "does not exist"
        raise NotFoundError(f"registry directory {self.root} {state} ({ELSEWHERE})")

    def model_dir(self, name: str) -> Path:
        return self.root / validate_name(name)

    def names(self) -> list[str]:
        """Models with at least one complete version; foreign entries are ignored."""
        self._require_root()
        return model_names(self.root)

    def versions(self, name: str) -> list[int]:
        """Complete versions of ``name``, ascending; [] for an unknown model."""
        return version_numbers(self.model_dir(name))

    def unknown(self, names: Iterable[str]) -> NotFoundError:
        """The one error for missing models: where we looked, what is there, where else."""
        missing = list(names)
        what = "model" if len(missing) == 1 else "models"
        listed = ", ".join(map(repr, missing))
        there = holdings(self.names())
        return NotFoundError(
            f"unknown {what} {listed} in registry {self.root} ({there}; {ELSEWHERE})"
        )

    def require(self, names: Iterable[str]) -> None:
        """Refuse unless every name is a model here; NotFoundError names all that are not."""
        wanted = [validate_name(name) for name in names]
        self._require_root()
        missing = [name for name in wanted if not self.versions(name)]
        if missing:
            raise self.unknown(missing)

    def _history(self, name: str) -> list[al.AliasEvent]:
        path = self.model_dir(name) / ALIASES_FILE
        try:
            return al.decode(path.read_bytes()).history
        except FileNotFoundError:
            return []
        except (OSError, msgspec.DecodeError) as exc:
            raise RegistryError(f"unreadable {ALIASES_FILE} for model {name}: {exc}") from exc

    def aliases(self, name: str) -> dict[str, int]:
        return al.current(self._history(name))

    def history(self, name: str) -> list[al.AliasEvent]:
        return self._history(name)

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

    def version_dir(self, ref: ModelRef | str) -> Path:
        resolved = self.resolve(ref)
        return self.model_dir(resolved.name) / str(resolved.version)

    def manifest(self, ref: ModelRef | str) -> mf.Manifest:
        path = self.version_dir(ref) / MANIFEST_FILE
        manifest = _decoded(path, mf.from_json)
        if manifest is None:
            raise RegistryError(f"{path} is missing")
        return manifest

    def evaluation(self, ref: ModelRef | str) -> Evaluation | None:
        """The evaluation stored with the version; None for versions stored before
        evaluations existed (or whose training could not compute one)."""
        return _decoded(self.version_dir(ref) / EVALUATION_FILE, evaluation_from_json)

    def load(self, ref: ModelRef | str) -> tuple[ModelRef, bytes, mf.Manifest]:
        """Model bytes and manifest, the bytes checked against the manifest's sha256."""
        resolved = self.resolve(ref)
        manifest = self.manifest(resolved)
        path = self.model_dir(resolved.name) / str(resolved.version) / MODEL_FILE
        try:
            model = path.read_bytes()
        except FileNotFoundError as exc:
            raise RegistryError(f"{path} is missing") from exc
        except OSError as exc:
            raise RegistryError(f"{path} is unreadable: {exc.strerror}") from exc
        if sha256_bytes(model) != manifest.model_sha256:
            raise RegistryError(f"{path} is corrupt: its sha256 does not match the manifest")
        return resolved, model, manifest

    # -- writing -----------------------------------------------------------------------

    def writable_model_dir(self, name: str) -> Path:
        """The folder of model ``name``, created if need be; StorageError if it cannot be."""
        model_dir = self.model_dir(name)
        try:
            model_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(
                f"cannot create registry directory {model_dir}: {exc.strerror}"
            ) from exc
        if not os.access(model_dir, os.W_OK):
            raise StorageError(f"registry directory {self.root} is not writable")
        return model_dir

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
        files = dict(extras or {})
        for file in files:
            if file in (MODEL_FILE, MANIFEST_FILE) or not EXTRA_FILE.fullmatch(file):
                raise RegistryError(f"a version cannot hold an extra file named {file!r}")
        model_dir = self.writable_model_dir(name)
        with changing(model_dir, f"write {name} to registry {self.root}") as change:
            version = max(self.versions(name), default=0) + 1
            files |= {MODEL_FILE: model, MANIFEST_FILE: manifest_for(version)}
            change.add_dir(str(version), files)
        return version

    def _append(self, name: str, make: Callable[[list[al.AliasEvent]], al.AliasEvent]) -> None:
        """Read, extend and atomically replace the alias file, all under the model's lock."""
        model_dir = self.writable_model_dir(name)
        with changing(model_dir, f"update aliases of {name} in registry {self.root}") as change:
            history = self._history(name)
            history.append(make(history))
            change.replace_file(ALIASES_FILE, al.encode(al.AliasFile(history)))

    def promote(self, ref: ModelRef | str, alias: str, *, force: bool = False) -> ModelRef:
        """Point ``alias`` at the version ``ref`` resolves to; checks production compatibility."""
        resolved = self.resolve(ref)
        validate_alias(alias)
        assert resolved.version is not None  # resolve() always fills it
        version = resolved.version
        if alias == DEFAULT_ALIAS and not force:
            current = self.aliases(resolved.name).get(DEFAULT_ALIAS)
            if current is not None and current != version:
                problems = incompatibilities(
                    self.manifest(ModelRef(resolved.name, current)), self.manifest(resolved)
                )
                if problems:
                    raise RegistryError(
                        f"{resolved.name}:{version} is incompatible with production "
                        f"({resolved.name}:{current}): {'; '.join(problems)} "
                        "(use --force to promote anyway)"
                    )

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
            result.append(stack[-2])
            return al.AliasEvent(alias, "rollback", stack[-2], stack[-1], al.now(), al.who())

        self._append(name, event)
        return ModelRef(name, result[0], alias)

    def delete(self, ref: ModelRef | str, *, force: bool = False) -> ModelRef:
        """Remove one version; refused while an alias points at it unless ``force``."""
        ref = ModelRef.parse(ref) if isinstance(ref, str) else ref
        if ref.version is None:
            raise RegistryError(f"delete needs an explicit version: {ref.name}:VERSION")
        resolved = self.resolve(ref)
        model_dir = self.model_dir(resolved.name)
        pointing = sorted(a for a, v in self.aliases(resolved.name).items() if v == ref.version)
        if pointing and not force:
            raise RegistryError(
                f"{resolved} is the target of alias {', '.join(pointing)} (use --force to delete)"
            )
        for alias in pointing:

            def removal(history: list[al.AliasEvent], alias: str = alias) -> al.AliasEvent:
                return al.AliasEvent(alias, "remove", None, ref.version, al.now(), al.who())

            self._append(resolved.name, removal)
        with changing(model_dir, f"delete {resolved}") as change:
            change.remove_dir(str(ref.version))  # disappears atomically
        return resolved


def _decoded(path: Path, decode: Callable[[bytes], T]) -> T | None:
    """A version's file decoded; None when it is absent, RegistryError when unreadable."""
    try:
        return decode(path.read_bytes())
    except FileNotFoundError:
        return None
    except (OSError, msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise RegistryError(f"{path} is unreadable: {exc}") from exc

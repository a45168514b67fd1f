"""The registry on an S3-compatible object store: ``s3://bucket/prefix``.

Same layout as on disk: ``<prefix>/<name>/<version>/{model.onnx, manifest.json,
evaluation.json}`` and ``<prefix>/<name>/{aliases.json, routes.json, shadow.json}``. An
object store has no lock and no rename, so the two atomic steps are conditional writes:

- A new version's number is claimed by creating ``<name>/<version>/.claim`` with
  ``If-None-Match: *``; exactly one writer succeeds, the others try the next number. The
  files follow, the manifest last: listing counts manifests, so a version is visible only
  once complete. A claimed number is never reused, even after a delete.
- A per-model file is read with its ETag and replaced with ``If-Match`` (or created with
  ``If-None-Match: *``); when another writer got there first the change is applied again
  to what is there now, after a short random wait, a bounded number of times.

Both depend on the store honouring those headers, so the first write probes it, and a
store that ignores them is refused. Listings are remembered for a moment and small files
by ETag, so a watching server costs one listing per look; model bytes are fetched once and
kept on local disk by sha256 (``registry.cache``).
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tabforge.config import cache_home
from tabforge.errors import ConfigError, NotFoundError, StorageError
from tabforge.registry.base import FileChange, Registry
from tabforge.registry.cache import ModelCache
from tabforge.registry.layout import ELSEWHERE, MANIFEST_FILE, MODEL_FILE, VERSION_PATTERN
from tabforge.registry.objects import Bucket, Conflict
from tabforge.registry.refs import NAME_PATTERN, validate_name

SCHEME = "s3://"
CLAIM_FILE = ".claim"
PROBE_DIR = ".tabforge-probe"
CLAIM_ATTEMPTS = 32  # numbers tried before giving up on a new version
UPDATE_ATTEMPTS = 20  # compare-and-swap rounds before giving up on a change
FRESH = 0.5  # seconds a listing answers for the store (a watcher looks once per interval)
NO_ETAG = '"00000000000000000000000000000000"'  # matches no object


def parse_spec(spec: str) -> tuple[str, str]:
    """``s3://bucket/prefix`` -> (bucket, prefix without slashes at either end)."""
    bucket, _, prefix = spec[len(SCHEME) :].partition("/")
    if not bucket:
        raise ConfigError(f"registry {spec!r} names no bucket: use s3://BUCKET/PREFIX")
    return bucket, prefix.strip("/")


class S3Registry(Registry):
    """The registry under one prefix of one bucket; safe across processes and machines."""

    def __init__(self, spec: str, *, client: Any = None, cache: Path | None = None) -> None:
        bucket, prefix = parse_spec(spec)
        self.location = f"{SCHEME}{bucket}/{prefix}" if prefix else f"{SCHEME}{bucket}"
        self.bucket = Bucket(bucket, prefix, self.location, client)
        self.cache = ModelCache(cache or cache_home() / "tabforge" / "models")
        # key -> (ETag, bytes) of the small per-model files last read or written
        self._small: dict[str, tuple[str, bytes]] = {}
        # model -> (when listed, its keys relative to the model -> ETag)
        self._listed: dict[str, tuple[float, dict[str, str]]] = {}
        self._lock = threading.Lock()
        self._root_seen = False
        self._probed = False

    # -- reading -----------------------------------------------------------------------

    def where(self, name: str, *parts: str) -> str:
        return f"{SCHEME}{self.bucket.bucket}/{self.bucket.key(validate_name(name), *parts)}"

    def _require_root(self) -> None:
        if not self._root_seen:
            self._root_seen = self.bucket.exists()

    def _listing(self, name: str | None) -> dict[str, str]:
        """The keys under a model (or, for None, the whole registry, remembered per model)."""
        listed = self.bucket.list(validate_name(name)) if name else self.bucket.list()
        now = time.monotonic()
        if name:
            self._listed[name] = (now, listed)
            return listed
        per_model: dict[str, dict[str, str]] = {}
        for key, etag in listed.items():
            model, sep, rest = key.partition("/")
            if sep and NAME_PATTERN.fullmatch(model):
                per_model.setdefault(model, {})[rest] = etag
        self._listed = {model: (now, keys) for model, keys in per_model.items()}
        return listed

    def _fresh(self, name: str) -> dict[str, str] | None:
        when, keys = self._listed.get(name, (0.0, {}))
        return keys if time.monotonic() - when < FRESH else None

    def names(self) -> list[str]:
        self._listing(None)
        self._root_seen = True
        return sorted(name for name in self._listed if self.versions(name))

    def versions(self, name: str) -> list[int]:
        keys = self._fresh(validate_name(name))
        if keys is None:
            keys = self._listing(name)
        return sorted(
            int(version)
            for version, _, file in (key.partition("/") for key in keys)
            if file == MANIFEST_FILE and VERSION_PATTERN.fullmatch(version)
        )

    def read_model_file(self, name: str, filename: str) -> bytes | None:
        key = self.bucket.key(validate_name(name), filename)
        listed = self._fresh(name)
        kept = self._small.get(key)
        if listed is not None:
            if filename not in listed:
                return None
            if kept is not None and kept[0] == listed[filename]:
                return kept[1]  # unchanged since read: no request
        found = self.bucket.get(key)
        if found is None:
            return None
        data, etag = found
        self._small[key] = (etag, data)
        return data

    def _read_version_file(self, name: str, version: int, filename: str) -> bytes | None:
        found = self.bucket.get(self.bucket.key(name, str(version), filename))
        return None if found is None else found[0]

    def _model_bytes(self, name: str, version: int, sha256: str) -> bytes | None:
        cached = self.cache.get(sha256)
        if cached is not None:
            return cached
        model = self._read_version_file(name, version, MODEL_FILE)
        if model is not None:
            self.cache.put(sha256, model)  # damaged bytes are cached under another name
        return model

    # -- writing -----------------------------------------------------------------------

    def check_writable(self) -> None:
        self._probe()

    def _probe(self) -> None:
        """Refuse a store that ignores conditional writes (once per registry object)."""
        with self._lock:
            if self._probed:
                return
            self._require_root()
            key = self.bucket.key(PROBE_DIR, uuid.uuid4().hex)
            self.bucket.put(key, b"probe", if_absent=True)
            try:
                ignored = self._ignores(key)
            finally:
                self.bucket.delete(key)
            if ignored:
                raise ConfigError(
                    f"{self.location} does not honour conditional writes ({ignored}); "
                    "tabforge needs them to keep versions and aliases safe"
                )
            self._probed = True

    def _ignores(self, key: str) -> str | None:
        """The conditional header the store ignored on an existing key, if any."""
        for header, condition in (
            ("If-None-Match", {"if_absent": True}),
            ("If-Match", {"if_match": NO_ETAG}),
        ):
            try:
                self.bucket.put(key, b"probe", **condition)
            except Conflict:
                continue
            return header
        return None

    def _add_version(self, name: str, files_for: Callable[[int], dict[str, bytes]]) -> int:
        self._probe()
        version = self._claim(name)
        files = files_for(version)
        manifest = files.pop(MANIFEST_FILE)
        for filename, data in files.items():
            self.bucket.put(self.bucket.key(name, str(version), filename), data)
        key = self.bucket.key(name, str(version), MANIFEST_FILE)
        self.bucket.put(key, manifest, if_absent=True)  # last: now the version exists
        self._listed.pop(name, None)
        return version

    def _claim(self, name: str) -> int:
        """A version number no other writer has, or will ever get."""
        taken = [key.partition("/")[0] for key in self._listing(name)]
        version = max((int(v) for v in taken if VERSION_PATTERN.fullmatch(v)), default=0)
        for _ in range(CLAIM_ATTEMPTS):
            version += 1
            try:
                claim = self.bucket.key(name, str(version), CLAIM_FILE)
                self.bucket.put(claim, b"", if_absent=True)
                return version
            except Conflict:
                continue  # another writer holds this number: the next one
        raise StorageError(
            f"cannot write {name} to registry {self.location}: "
            f"{CLAIM_ATTEMPTS} version numbers were claimed concurrently; try again"
        )

    def update_model_file(self, name: str, filename: str, change: FileChange, action: str) -> None:
        """Read with the ETag, change, write with If-Match; on a lost race, again."""
        self._probe()
        key = self.bucket.key(validate_name(name), filename)
        for attempt in range(UPDATE_ATTEMPTS):
            found = self.bucket.get(key)
            etag = found[1] if found else None
            data = change(found[0] if found else None)
            try:
                if data is None:
                    if etag is not None:
                        self.bucket.delete(key, if_match=etag)
                    self._small.pop(key, None)
                elif etag is None:
                    self._small[key] = (self.bucket.put(key, data, if_absent=True), data)
                else:
                    self._small[key] = (self.bucket.put(key, data, if_match=etag), data)
            except Conflict:
                time.sleep(random.uniform(0, min(1.0, 0.02 * 2**attempt)))
                continue
            self._listed.pop(name, None)
            return
        raise StorageError(
            f"cannot {action}: it changed {UPDATE_ATTEMPTS} times while being written; try again"
        )

    def _remove_version(self, name: str, version: int, action: str) -> None:
        """The manifest first (the version disappears), then its other files; the claim
        stays, so the number is never handed out again."""
        self._probe()
        keys = [k for k in self.bucket.list(name, str(version)) if k != CLAIM_FILE]
        if MANIFEST_FILE not in keys:
            raise NotFoundError(f"model {name} has no version {version} ({ELSEWHERE})")
        keys.sort(key=lambda k: k != MANIFEST_FILE)
        for key in keys:
            self.bucket.delete(self.bucket.key(name, str(version), key))
        self._listed.pop(name, None)

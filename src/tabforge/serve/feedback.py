"""Labels after the fact: remember what V2 requests with an ``id`` were answered, join the
labels that ``POST /v2/models/{name}/feedback`` brings later, count realized quality.

Each worker keeps, per model, a ring of the last ``IDS`` request ids it answered and, per
version, a ring of the rows it predicted for them (class probabilities, or the regression
prediction), in files in the server's shared directory:

- ``feedback/<model>/<pid>.ids``: one record per request id (hash of the id, sequence
  number, version, first row, rows, time), ``IDS`` records;
- ``feedback/<model>/<version>/<pid>.rows``: one record per predicted row (the sequence
  number of its request, then its values), at most ``MAX_ROWS`` rows or ``ROW_BYTES``.

A worker writes only its own files (``os.pwrite``: a full disk is an error there, never a
signal), rows before the id's record, and every record carries its request's sequence
number, so a reader that races a write, or finds rows already overwritten by newer ones,
sees a mismatch and counts the id as unknown rather than join the wrong rows. Feedback may
reach any worker: it looks the ids up in every worker's ring (one vectorised search per
file, off the event loop). The latest prediction made for an id wins. Feedback for a
request of several rows gives one label (or value) per row, as a list in row order.
Realized quality is counted in the slots of the version that predicted, at the time the
feedback arrives, in the worker that received it; sent twice, feedback counts twice.
"""

from __future__ import annotations

import hashlib
import logging
import mmap
import os
import struct
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import numpy.typing as npt

from tabforge.contract import Manifest
from tabforge.errors import DataError

log = logging.getLogger("tabforge.serve")

IDS = 100_000  # request ids remembered per model and worker
MAX_ROWS = 1_000_000  # predicted rows remembered per version and worker ...
ROW_BYTES = 64 * 2**20  # ... and at most this many bytes of them
ID_RECORD = np.dtype([("hash", "<u8"), ("seq", "<i8"), ("version", "<i8"), ("start", "<i8"),
                      ("rows", "<i8"), ("time", "<f8")])  # fmt: skip
_ID = struct.Struct("<Qqqqqd")  # an ID_RECORD, packed without numpy
_SEQ = struct.Struct("<q")
# The label is the first class within this of the top probability (train/metrics.py's
# TIE_EPS: the rule the exported graph applies too).
TIE_EPS = 1e-5
LOG_LOSS_EPS = 1e-15  # probabilities are clipped here before the log, as scikit-learn does

Label = str | int | float | bool


class FeedbackItem(msgspec.Struct, forbid_unknown_fields=True):
    """The truth for one earlier V2 request: ``label`` (classification) or ``value``
    (regression); a list of them, in row order, for a request of several rows."""

    id: str
    label: Label | list[Label] | None = None
    value: float | list[float] | None = None


class FeedbackResult(msgspec.Struct):
    joined: int  # ids found and counted
    unknown: int  # ids this server does not remember (never seen, or forgotten)


_decoder = msgspec.json.Decoder(FeedbackItem | list[FeedbackItem])


def decode(body: bytes) -> list[FeedbackItem]:
    try:
        decoded = _decoder.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError, RecursionError) as exc:
        raise DataError(f"invalid feedback: {exc}") from exc
    return decoded if isinstance(decoded, list) else [decoded]


def hash_id(request_id: str) -> int:
    digest = hashlib.blake2b(request_id.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "little")


def row_type(manifest: Manifest) -> np.dtype[Any] | None:
    """A remembered row: its request's sequence number, then what the version answered."""
    if manifest.task == "classification":
        width = len(manifest.outputs.classes or [])
    elif manifest.task == "regression":
        width = 1
    else:
        return None  # clustering has no truth to compare with
    return np.dtype([("seq", "<i8"), ("values", "<f4", (width,))])


def _create(path: Path, size: int) -> int:
    """A new file of ``size`` bytes (sparse), in place only once whole; its descriptor."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.ftruncate(fd, size)
        os.replace(tmp, path)
    except OSError:
        os.close(fd)
        raise
    return fd


class _Ring:
    """One worker's ring of fixed-size records, appended with pwrite."""

    def __init__(self, path: Path, dtype: np.dtype[Any], capacity: int) -> None:
        self.dtype, self.capacity = dtype, capacity
        self.fd = _create(path, dtype.itemsize * capacity)
        self.next = 0  # records written so far

    def append(self, records: bytes, count: int) -> int:
        """Write ``count`` records at the ring's end (wrapping); where they start."""
        start, size = self.next, self.dtype.itemsize
        at = start % self.capacity
        first = min(count, self.capacity - at)
        os.pwrite(self.fd, records[: first * size], at * size)
        if first < count:
            os.pwrite(self.fd, records[first * size :], 0)
        self.next += count
        return start


class Recorder:
    """This worker's memory of the predictions it made for V2 requests with an id."""

    def __init__(self, root: Path, pid: int) -> None:
        self.root, self.pid = root, pid
        self._ids: dict[str, _Ring] = {}
        self._rows: dict[tuple[str, int], _Ring] = {}
        self._broken: set[str] = set()  # models whose files could not be written

    def record(self, name: str, version: int, request_id: str, outputs: dict[str, Any],
               manifest: Manifest) -> None:  # fmt: skip
        """Remember one answered request (on the event loop: two pwrites)."""
        values = outputs.get("probabilities" if manifest.task == "classification" else "prediction")
        if values is None or name in self._broken:
            return  # clustering (no truth to compare with), or this model's files failed
        try:
            self._record(name, version, request_id, values, manifest)
        except OSError as exc:
            self._broken.add(name)
            log.error("feedback for %s is off in this worker: %s", name, exc)

    def _record(self, name: str, version: int, request_id: str, values: npt.NDArray[Any],
                manifest: Manifest) -> None:  # fmt: skip
        ids = self._ids.get(name)
        if ids is None:
            ids = self._ids[name] = _Ring(self.root / name / f"{self.pid}.ids", ID_RECORD, IDS)
        rows = self._rows.get((name, version))
        if rows is None:
            kind = row_type(manifest)
            assert kind is not None  # classification or regression: they have the outputs
            capacity = max(1, min(MAX_ROWS, ROW_BYTES // kind.itemsize))
            path = self.root / name / str(version) / f"{self.pid}.rows"
            rows = self._rows[(name, version)] = _Ring(path, kind, capacity)
        n = len(values)
        if n > rows.capacity:
            return  # more rows than the ring holds: not remembered
        seq = ids.next + 1  # 0 marks an empty record
        values = np.asarray(values, dtype="<f4").reshape(n, -1)
        if n == 1:  # the common case, without building a record array
            payload = _SEQ.pack(seq) + values.tobytes()
        else:
            table = np.empty(n, rows.dtype)
            table["seq"], table["values"] = seq, values
            payload = table.tobytes()
        start = rows.append(payload, n)
        ids.append(_ID.pack(hash_id(request_id), seq, version, start, n, time.time()), 1)


@dataclass
class Found:
    """The remembered answer to one request id."""

    version: int
    values: npt.NDArray[np.float32]  # [rows, width]: probabilities, or the prediction


class Finder:
    """Looks ids up in every worker's rings (read-only maps, kept open)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._maps: dict[Path, npt.NDArray[Any]] = {}

    def _map(self, path: Path, dtype: np.dtype[Any]) -> npt.NDArray[Any] | None:
        """A read-only array over the file (files never change size once in place)."""
        mapped = self._maps.get(path)
        if mapped is None or mapped.dtype != dtype:
            try:
                with open(path, "rb") as f:
                    whole = mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ)
            except (OSError, ValueError):
                return None
            count = len(whole) // dtype.itemsize
            mapped = self._maps[path] = np.frombuffer(whole, dtype, count)
        return mapped

    def find(
        self, name: str, request_ids: list[str], kinds: dict[int, np.dtype[Any]]
    ) -> list[Found | None]:
        """Each id's latest remembered answer by a version in ``kinds`` (the served ones,
        with their row types), or None."""
        hashes = np.array([hash_id(i) for i in request_ids], dtype=np.uint64)
        wanted = set(hashes.tolist())
        latest: dict[int, tuple[float, int, Any]] = {}  # hash -> (time, pid, record)
        for path in (self.root / name).glob("*.ids"):
            ring = self._map(path, ID_RECORD)
            if ring is None or not path.stem.isdigit():
                continue
            hits = np.flatnonzero(np.isin(ring["hash"], hashes))  # ~0.3-10 ms per 100k
            for record in ring[hits].copy():  # a copy: it cannot change while it is read
                if record["seq"] <= 0 or int(record["hash"]) not in wanted:
                    continue  # empty, or rewritten between the search and the copy
                key = int(record["hash"])
                if key not in latest or record["time"] > latest[key][0]:
                    latest[key] = (float(record["time"]), int(path.stem), record)
        return [self._rows(name, latest.get(int(h)), kinds) for h in hashes]

    def _rows(
        self, name: str, hit: tuple[float, int, Any] | None, kinds: dict[int, np.dtype[Any]]
    ) -> Found | None:
        if hit is None:
            return None
        _, pid, record = hit
        version = int(record["version"])
        if version not in kinds:
            return None  # no longer served: nothing to count it for
        mapped = self._map(self.root / name / str(version) / f"{pid}.rows", kinds[version])
        if mapped is None:
            return None
        at = (int(record["start"]) + np.arange(int(record["rows"]))) % len(mapped)
        picked = mapped[at]  # fancy indexing copies
        if not (picked["seq"] == record["seq"]).all():
            return None  # overwritten since (or being written): forgotten
        return Found(version, picked["values"])


def _truths(item: FeedbackItem, rows: int, what: str) -> list[Any]:
    given = item.label if what == "label" else item.value
    if given is None:
        other = "value" if what == "label" else "label"
        raise DataError(f"feedback for id {item.id!r}: give a {what!r} (not {other!r})")
    truths = given if isinstance(given, list) else [given]
    if len(truths) != rows:
        raise DataError(
            f"feedback for id {item.id!r}: {len(truths)} {what}(s) for a request of {rows} "
            f"row(s); give one per row, as a list in row order"
        )
    return truths


def score(item: FeedbackItem, found: Found, manifest: Manifest) -> tuple[int, float, float]:
    """(rows, a, b) to count for one joined id: classification a = correct labels, b = the
    summed log loss; regression a = summed |error|, b = summed squared error."""
    values = found.values.astype(np.float64)
    rows = len(values)
    if manifest.task == "regression":
        truths = _truths(item, rows, "value")
        error = values[:, 0] - np.asarray(truths, dtype=np.float64)
        return rows, float(np.abs(error).sum()), float((error**2).sum())
    classes = list(manifest.outputs.classes or [])
    lookup: dict[Any, int] = {str(c): i for i, c in enumerate(classes)}
    lookup |= {c: i for i, c in enumerate(classes)}
    index = []
    for truth in _truths(item, rows, "label"):
        # By value (1 and 1.0 are class 1), else by text ("1" is class 1; true is "True").
        at = lookup.get(str(truth)) if isinstance(truth, bool) else lookup.get(truth)
        at = lookup.get(str(truth)) if at is None else at
        if at is None:
            raise DataError(
                f"feedback for id {item.id!r}: label {truth!r} is not a class of the model "
                f"({', '.join(map(repr, classes))})"
            )
        index.append(at)
    truth_at = np.asarray(index, dtype=np.int64)
    top = values.max(axis=1, keepdims=True)
    predicted = (values >= top - TIE_EPS).argmax(axis=1)
    p_true = np.clip(values[np.arange(rows), truth_at], LOG_LOSS_EPS, 1.0)
    return rows, float((predicted == truth_at).sum()), float(-np.log(p_true).sum())

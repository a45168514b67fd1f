"""Counts in time slots, one file per worker and version, summed over workers on read.

A slots file is a float64 memory map of ``SLOTS`` rows: 60 one-minute slots (a ring on the
minute number), 24 one-hour slots (a ring on the hour number) and one cumulative row. Each
row starts with its stamp (the minute or hour number it counts; -1 unused), then the same
columns in every row: rows predicted, the sum of the squared weights of the rows binned
(monitoring.py samples large batches), their weighted top probability, feedback rows
joined, two quality sums, then the version's weighted drift bins (``Binner`` order).
Adding counts adds one vector to the current minute's row, hour's row and the total, after
zeroing a slot whose stamp is from an earlier lap of the ring.

Only the worker that owns a file writes it (under a lock: its inference threads and its
feedback thread); any worker reads every file of a version and sums the slots whose stamps
fall in the window: ``5m`` and ``1h`` the last 5 and 60 minute slots (the current minute
included), ``24h`` the last 24 hour slots, ``total`` everything since the server started.
Reads take no lock, so a read racing a write may see a batch half added, or a slot just
zeroed for its new minute: a monitoring figure may be off by one batch for an instant,
never corrupted on disk. Files are fully allocated when created, and appear under their
final name only then (renamed into place), so readers never see a short one.
"""

from __future__ import annotations

import errno
import mmap
import os
import threading
import time
from pathlib import Path

import numpy as np
import numpy.typing as npt

MINUTES, HOURS = 60, 24
TOTAL = MINUTES + HOURS  # the cumulative row
SLOTS = TOTAL + 1
# Columns of a slot row (the vector a batch adds has 0 in STAMP).
STAMP, ROWS, WEIGHT_SQ, CONFIDENCE, LABELS, QUALITY_A, QUALITY_B = range(7)
FIXED = 7  # drift bins start here
#: window -> (slot kind, how many of them)
WINDOWS: dict[str, tuple[str, int]] = {"5m": ("minute", 5), "1h": ("minute", 60),
                                       "24h": ("hour", 24)}  # fmt: skip
SUFFIX = ".slots"

Vector = npt.NDArray[np.float64]


def create(path: Path, width: int) -> tuple[mmap.mmap, Vector]:
    """This worker's slots file at ``path`` (kept if there, when a version comes back;
    else new, all slots unused), mapped for writing: the map and a plain array over it
    (``np.memmap``'s own arrays cost ~20 us an add, this one ~1 us)."""
    size = SLOTS * width * 8
    if path.is_file() and path.stat().st_size == size:
        with open(path, "r+b") as f:
            mapped = mmap.mmap(f.fileno(), size)
        return mapped, np.frombuffer(mapped, dtype=np.float64).reshape(SLOTS, width)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        start = np.zeros((SLOTS, width))
        start[:, STAMP] = -1
        start[TOTAL, STAMP] = 0
        # Every byte written now: a full disk fails here, not later as SIGBUS on the map.
        if os.pwrite(fd, start.tobytes(), 0) != size:
            raise OSError(errno.ENOSPC, "no space left for the slots file", str(path))
        mapped = mmap.mmap(fd, size)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    return mapped, np.frombuffer(mapped, dtype=np.float64).reshape(SLOTS, width)


class SlotFile:
    """One worker's slots for one version."""

    def __init__(self, path: Path, width: int) -> None:
        self._map, self.data = create(path, width)
        self.lock = threading.Lock()
        self._minute = -1
        self._rows = (0, 0)  # the current minute's and hour's rows

    def add(self, vector: Vector, now: float | None = None) -> None:
        """Count ``vector`` (STAMP 0) in the current minute, hour and total."""
        minute = int((time.time() if now is None else now) // 60)
        with self.lock:
            if minute != self._minute:
                self._turn(minute)
            data = self.data
            data[self._rows[0]] += vector
            data[self._rows[1]] += vector
            data[TOTAL] += vector

    def _turn(self, minute: int) -> None:
        hour = minute // 60
        self._rows = (minute % MINUTES, MINUTES + hour % HOURS)
        for row, stamp in zip(self._rows, (minute, hour), strict=True):
            if self.data[row, STAMP] != stamp:
                self.data[row, 1:] = 0  # the counts first: a reader never sees old ones
                self.data[row, STAMP] = stamp  # under the new stamp
        self._minute = minute


class SlotReader:
    """Every worker's slots files of one version, summed per window."""

    def __init__(self, directory: Path, width: int) -> None:
        self.directory = directory
        self.width = width
        self._maps: dict[Path, np.memmap] = {}

    def _files(self) -> list[np.memmap]:
        found = []
        expected = SLOTS * self.width * 8
        for path in self.directory.glob("*" + SUFFIX):
            mapped = self._maps.get(path)
            if mapped is None:
                try:
                    if path.stat().st_size != expected:
                        continue  # not this version's layout: not ours to read
                    mapped = np.memmap(path, np.float64, "r", shape=(SLOTS, self.width))
                except (OSError, ValueError):
                    continue
                self._maps[path] = mapped
            found.append(mapped)
        return found

    def window(self, window: str, now: float | None = None) -> Vector:
        """The window's sums over every worker (``window`` in WINDOWS, or "total")."""
        minute = int((time.time() if now is None else now) // 60)
        total = np.zeros(self.width)
        for mapped in self._files():
            data = np.array(mapped)  # one copy, then consistent for this read
            if window == "total":
                total += data[TOTAL]
                continue
            kind, span = WINDOWS[window]
            if kind == "minute":
                rows, last = data[:MINUTES], minute
            else:
                rows, last = data[MINUTES:TOTAL], minute // 60
            stamps = rows[:, STAMP]
            total += rows[(stamps > last - span) & (stamps <= last)].sum(axis=0)
        total[STAMP] = 0
        return total

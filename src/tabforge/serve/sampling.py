"""Which served rows the monitor bins, and the rows waiting to be binned together.

Binning has a fixed cost per call (~20-30 us, whatever the rows), so the monitor bins rows
in lots of a few hundred rather than batch by batch: batches wait in a ``Waiting`` list.
Of a large batch only a sample is binned (``BlockSample``): one row from each block of
``every`` consecutive rows, at a uniformly random place in its block (a final short block
of ``r`` rows gives a row with probability ``r / every``). Every row is then binned with
probability exactly ``1 / every``, so with each binned row standing for ``every`` rows the
counts are unbiased; and unlike every ``every``-th row from one random start, rows that
repeat with the block's period (a client sending groups of 64 sorted rows) cannot make
the sample lopsided.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

Feed = dict[str, np.ndarray]
Batch = tuple[Feed, Feed]  # a batch's feed and outputs
Indices = npt.NDArray[np.int64]
POOL = 8192  # random offsets drawn at a time (one numpy call costs as much as thousands)


class BlockSample:
    """Picks the rows of a batch to bin; not thread-safe (the monitor calls it locked)."""

    def __init__(self, every: int, *, seed: int | None = None) -> None:
        self.every = every
        self._random = np.random.default_rng(seed)
        self._offsets: Indices = np.empty(0, dtype=np.int64)
        self._used = 0
        self._starts = np.arange(0, 1024 * every, every, dtype=np.int64)

    def pick(self, rows: int) -> Indices:
        """Ascending indices of the rows of a ``rows``-row batch to bin."""
        blocks = -(-rows // self.every)
        if blocks == 0:
            return np.empty(0, dtype=np.int64)
        if self._used + blocks > len(self._offsets):
            self._offsets = self._random.integers(0, self.every, max(POOL, blocks))
            self._used = 0
        offsets = self._offsets[self._used : self._used + blocks]
        self._used += blocks
        starts = self._starts
        if blocks > len(starts):
            starts = self._starts = np.arange(0, blocks * self.every, self.every, dtype=np.int64)
        picked = starts[:blocks] + offsets
        return picked if picked[-1] < rows else picked[:-1]  # the short block gave none


class Waiting:
    """Batches waiting to be binned together, each binned row standing for ``weight``."""

    def __init__(self, weight: int) -> None:
        self.weight = weight
        self.batches: list[Batch] = []
        self.binned = 0  # rows waiting to be binned
        self.rows = 0  # the predicted rows they stand for

    def add(self, feed: Feed, outputs: Feed, binned: int, rows: int) -> int:
        """Add a batch (``binned`` rows to bin, standing for ``rows``): the rows waiting."""
        self.batches.append((feed, outputs))
        self.binned += binned
        self.rows += rows
        return self.binned

    def take(self) -> tuple[list[Batch], int]:
        """The waiting batches and the rows they stand for; none wait after."""
        taken = self.batches, self.rows
        self.batches, self.binned, self.rows = [], 0, 0
        return taken


def joined(batches: list[Batch]) -> Batch:
    """Batches as one: each tensor concatenated."""
    if len(batches) == 1:
        return batches[0]
    first_feed, first_outputs = batches[0]
    feed = {k: np.concatenate([f[k] for f, _ in batches]) for k in first_feed}
    outputs = {k: np.concatenate([o[k] for _, o in batches]) for k in first_outputs}
    return feed, outputs

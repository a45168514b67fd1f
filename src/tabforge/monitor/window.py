"""A window: counts summed over the batches it saw, judged against the reference."""

from __future__ import annotations

from typing import Any

import numpy as np

from tabforge.contract import Reference, Tensors
from tabforge.monitor.binner import Binner
from tabforge.monitor.stats import report


class Window:
    """Sums a ``Binner``'s counts over batches; ``report()`` gives the window's drift.

    Callable as ``window(feed, outputs)``, so it can observe batch scoring directly.
    """

    def __init__(self, reference: Reference, binner: Binner | None = None) -> None:
        self.reference = reference
        self.binner = binner or Binner(reference)
        self.counts = np.zeros(self.binner.size, dtype=np.int64)
        self.rows = 0

    def __call__(self, feed: Tensors, outputs: Tensors) -> None:
        self.counts += self.binner.count(feed, outputs)
        self.rows += len(next(iter(feed.values())))

    def report(self) -> dict[str, Any]:
        return report(self.reference, self.counts, self.rows)

"""The monitoring reference a version stores: each feature's and output's bins, the training
rows per bin, and the alert thresholds per window size.

Part of the manifest (an optional field, so manifests written before monitoring still
decode), because the server, ``tabforge drift`` and ``predict --monitor`` must all bin and
judge a window exactly the same way. Building, counting and the statistics live in
``tabforge.monitor``; this module only owns the stored shape and the bin layout.

Bin layout, in counts-vector order:

- numeric: ``below`` (< the training minimum), one bin per ``edges[i]`` (``[edges[i],
  edges[i+1])``, the last one ``[edges[-1], high]``), ``above`` (> the training maximum,
  +inf too), ``missing`` (NaN).
- categorical: one bin per ``top`` category, ``other`` (seen in training, not in the top),
  ``unseen`` (not seen in training), ``missing`` (the missing-text marker).
"""

from __future__ import annotations

from typing import Literal

import msgspec

Kind = Literal["numeric", "categorical"]
# numeric: the numeric input, a probabilities column, the regression prediction;
# categorical: the categorical input, the predicted label or cluster.
TensorName = Literal["numeric", "categorical", "label", "probabilities", "prediction"]
Source = Literal["training", "profile"]


class ColumnReference(msgspec.Struct, frozen=True, kw_only=True):
    """One feature or output: where its values are, its bins, training rows per bin."""

    name: str
    kind: Kind
    tensor: TensorName
    index: int  # column within a 2-D tensor; -1 for a 1-D one (label, prediction)
    counts: list[int]  # reference rows per bin, in layout order
    psi: list[float]  # alert threshold per Reference.window_rows
    js: list[float]
    edges: list[float] = msgspec.field(default_factory=list)  # numeric, float32 values
    high: float = 0.0  # numeric: the training maximum (inside the last in-range bin)
    top: list[str] = msgspec.field(default_factory=list)  # categorical: a bin each
    others: list[str] = msgspec.field(default_factory=list)  # categorical: the "other" bin

    @property
    def size(self) -> int:
        """Bins in this column's slice of the counts vector."""
        return len(self.edges) + 3 if self.kind == "numeric" else len(self.top) + 3


class Reference(msgspec.Struct, frozen=True, kw_only=True):
    """Bins and thresholds for every feature and output of one version.

    ``source`` says where it came from: ``training`` (the training split, thresholds
    bootstrapped from the hold-out) or ``profile`` (rebuilt from an older manifest's data
    profile: approximate bins, thresholds simulated, no outputs).
    """

    source: Source
    rows: int  # training rows the counts come from
    threshold_rows: int  # hold-out rows the thresholds were bootstrapped from (0: simulated)
    window_rows: list[int]  # the window sizes thresholds are given for, ascending
    min_rows: int  # below this many rows in a window no alert is raised
    features: list[ColumnReference]
    outputs: list[ColumnReference] = msgspec.field(default_factory=list)

    @property
    def columns(self) -> list[ColumnReference]:
        """Features then outputs: the counts vector's order."""
        return [*self.features, *self.outputs]

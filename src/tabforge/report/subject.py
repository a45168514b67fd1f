"""What a report is about: one stored version and everything known of it.

The server and the CLI both build a ``Subject`` (the manifest, the evaluation stored at
training if any, the aliases, and for ``--data`` an evaluation and a drift report on a
labelled file); every section reads only this, never the registry, so rendering does no
file I/O and needs no scikit-learn.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

import msgspec

from tabforge.contract.evaluation import EVALUATION_FILE, Evaluation, Importance, Portability
from tabforge.contract.manifest import Manifest

MAX_LISTED = 200  # importance rows, profile columns, drift rows kept in the page's data


@dataclass(frozen=True)
class Subject:
    manifest: Manifest
    evaluation: Evaluation | None = None  # stored at training, on the hold-out
    aliases: tuple[str, ...] = ()
    on_data: Evaluation | None = None  # recomputed on a labelled file (--data)
    drift: dict[str, Any] | None = None  # that file's drift window (monitor.offline)
    unreadable: str = ""  # why the stored evaluation could not be read (the page goes on)

    @property
    def ref(self) -> str:
        return f"{self.manifest.name}:{self.manifest.version}"

    @property
    def data_name(self) -> str:
        return PurePath(self.on_data.source).name if self.on_data else ""

    def runs(self) -> list[tuple[str, Evaluation]]:
        """The evaluations to draw, named for legends: the hold-out, then the file."""
        named = [("hold-out", self.evaluation), (self.data_name, self.on_data)]
        return [(name, ev) for name, ev in named if ev is not None]

    def importance(self) -> tuple[list[Importance], str]:
        """Importance on the file when computed there, else on the hold-out."""
        for ev in (self.on_data, self.evaluation):
            if ev is not None and ev.importance:
                return ev.importance, ev.importance_metric or "the metric"
        return [], ""

    def portability(self) -> list[Portability]:
        for ev in (self.evaluation, self.on_data):
            if ev is not None and ev.portability:
                return ev.portability
        return []

    def not_stored(self, what: str) -> str:
        """Why a part is missing, and how to get it."""
        if self.unreadable:
            return (
                f"{what}: not shown ({self.unreadable}). `tabforge report {self.ref} --data "
                "FILE` computes it on a labelled file."
            )
        release = self.manifest.versions.get("tabforge")
        trained = f"tabforge {release}" if release else "an earlier tabforge"
        return (
            f"{what}: not stored for this version (no {EVALUATION_FILE}; trained with "
            f"{trained}). `tabforge report {self.ref} --data FILE` computes it on a "
            "labelled file."
        )


def trimmed(evaluation: Evaluation | None) -> Evaluation | None:
    """The evaluation as the page's data carries it: long lists capped for wide data."""
    if evaluation is None:
        return None
    clustering = evaluation.clustering
    if clustering is not None:
        clusters = [
            msgspec.structs.replace(
                c,
                means=dict(list(c.means.items())[:MAX_LISTED]),
                modes=dict(list(c.modes.items())[:MAX_LISTED]),
            )
            for c in clustering.clusters
        ]
        clustering = msgspec.structs.replace(clustering, clusters=clusters)
    top = sorted(evaluation.importance, key=lambda i: -i.mean)[:MAX_LISTED]
    return msgspec.structs.replace(evaluation, importance=top, clustering=clustering)

"""The reference written with every new version: bins from the training split, counts of
the training rows, alert thresholds bootstrapped from the hold-out.

Features are binned as served (the contract's encoder, float32) and outputs as the stored
ONNX graph answers, so the server's counts are comparable bin for bin.

Thresholds: ``tabforge.monitor.thresholds``, chunks drawn from the hold-out's counts.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence

import msgspec
import numpy as np
import numpy.typing as npt
import polars as pl

from tabforge.contract import (
    MISSING_TEXT,
    ColumnReference,
    Inputs,
    Outputs,
    Reference,
    Tensors,
    encode_strict,
)
from tabforge.contract.reference import TensorName
from tabforge.monitor.binner import Binner
from tabforge.monitor.thresholds import WINDOW_ROWS, thresholds

MIN_ROWS = 100
NUMERIC_BINS = 20
TOP_CATEGORIES = 20
MAX_OTHERS = 1000  # categories kept for the "other" bin; beyond them a value reads as unseen
SAMPLE_ROWS = 10_000  # training and hold-out rows used at most (seeded sample)


def short(value: float) -> float:
    """A float32 value as the shortest float that reads back as the same float32."""
    return float(str(np.float32(value)))


def numeric_layout(
    name: str, tensor: TensorName, index: int, values: npt.NDArray[np.float32]
) -> ColumnReference:
    """~NUMERIC_BINS quantile bins of the finite values (bins collapse where values tie)."""
    finite = values[np.isfinite(values)]
    edges, high = [0.0], 0.0
    if finite.size:
        cuts = np.quantile(finite, np.linspace(0, 1, NUMERIC_BINS + 1)[:-1], method="inverted_cdf")
        edges = [short(e) for e in np.unique(cuts.astype(np.float32))]
        high = short(finite.max())
    return ColumnReference(
        name=name, kind="numeric", tensor=tensor, index=index, counts=[], psi=[], js=[],
        edges=edges, high=high,
    )  # fmt: skip


def categorical_layout(
    name: str, tensor: TensorName, index: int, values: Sequence[object], known: Sequence[str] = ()
) -> ColumnReference:
    """The most frequent categories a bin each; the rest seen (or ``known``) are "other"."""
    seen = Counter(str(v) for v in values if v is not None and v != MISSING_TEXT)
    ranked = sorted(seen, key=lambda v: (-seen[v], v))
    top = ranked[:TOP_CATEGORIES]
    rest = dict.fromkeys([*ranked[TOP_CATEGORIES:], *(str(k) for k in known)])
    others = [v for v in rest if v not in set(top)][:MAX_OTHERS]
    return ColumnReference(
        name=name, kind="categorical", tensor=tensor, index=index, counts=[], psi=[], js=[],
        top=top, others=others,
    )  # fmt: skip


def layout(
    inputs: Inputs, outputs: Outputs, feed: Tensors, answers: Tensors
) -> tuple[list[ColumnReference], list[ColumnReference]]:
    """Features and outputs, bins from the rows given (counts and thresholds left empty)."""
    features = [
        numeric_layout(name, "numeric", j, feed["numeric"][:, j])
        for j, name in enumerate(inputs.numeric)
    ] + [
        categorical_layout(
            name,
            "categorical",
            j,
            feed["categorical"][:, j].tolist(),
            inputs.categories.get(name, []),
        )
        for j, name in enumerate(inputs.categorical)
    ]
    names = {t.name for t in outputs.tensors}
    out: list[ColumnReference] = []
    if "label" in names:
        clusters = answers["scores"].shape[1] if "scores" in answers else 0
        known = [str(c) for c in outputs.classes or range(clusters)]
        out.append(categorical_layout("label", "label", -1, answers["label"].tolist(), known))
    if "probabilities" in names:
        for i, c in enumerate(outputs.classes or []):
            column = answers["probabilities"][:, i]
            out.append(numeric_layout(f"proba_{c}", "probabilities", i, column))
    if "prediction" in names:
        out.append(numeric_layout("prediction", "prediction", -1, answers["prediction"]))
    return features, out


def build_reference(
    train: pl.DataFrame,
    holdout: pl.DataFrame,
    *,
    inputs: Inputs,
    outputs: Outputs,
    run: Callable[[Tensors], Tensors],
    seed: int,
) -> Reference:
    """The reference for a version: ``run`` is the exported graph (feed -> outputs)."""
    rng = np.random.default_rng(seed)
    train, holdout = _sample(train, rng), _sample(holdout, rng)
    feed_train, feed_hold = encode_strict(train, inputs), encode_strict(holdout, inputs)
    answers = run({k: np.concatenate([v, feed_hold[k]]) for k, v in feed_train.items()})
    n = train.height
    out_train = {k: v[:n] for k, v in answers.items()}
    out_hold = {k: v[n:] for k, v in answers.items()}
    features, out = layout(inputs, outputs, feed_train, out_train)
    draft = Reference(source="training", rows=n, threshold_rows=holdout.height,
                      window_rows=list(WINDOW_ROWS), min_rows=MIN_ROWS,
                      features=features, outputs=out)  # fmt: skip
    binner = Binner(draft)
    counts, held = binner.count(feed_train, out_train), binner.count(feed_hold, out_hold)
    limits = thresholds([counts[at] for at in binner.slices],
                        [held[at] for at in binner.slices], rng)  # fmt: skip
    done = [
        msgspec.structs.replace(column, counts=counts[at].tolist(), psi=psi, js=js)
        for column, at, (psi, js) in zip(draft.columns, binner.slices, limits, strict=True)
    ]
    return msgspec.structs.replace(
        draft, features=done[: len(features)], outputs=done[len(features) :]
    )


def _sample(frame: pl.DataFrame, rng: np.random.Generator) -> pl.DataFrame:
    if frame.height <= SAMPLE_ROWS:
        return frame
    rows = np.sort(rng.choice(frame.height, SAMPLE_ROWS, replace=False))
    return frame.select(pl.all().gather(rows))

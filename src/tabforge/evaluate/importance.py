"""Permutation importance per original column, through the stored graph.

Shuffling happens in the encoded feed, where the categorical tensor holds one column per
original categorical column: a category is moved whole, so its one-hot parts are never
split and the answer names the columns a user knows. The graph that is served is the
one explained, whatever preprocessing it holds.

Cost is bounded: at most MAX_ROWS rows, fewer when there are many columns (ROW_BUDGET
rows through the graph in all), and one graph call per column with every repeat stacked.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from tabforge.contract import CATEGORICAL_INPUT, NUMERIC_INPUT, Inputs, Tensors
from tabforge.contract.evaluation import Importance

Run = Callable[[Tensors], Tensors]  # a feed through the graph: its outputs by name
Score = Callable[[Tensors], float]  # outputs for the rows scored -> the metric

REPEATS = 5
MAX_ROWS = 2000
ROW_BUDGET = 200_000  # rows run through the graph for importance, all columns together
MIN_ROWS = 100


@dataclass(frozen=True)
class Column:
    """An original column and where it sits in the feed."""

    name: str
    tensor: str
    index: int


def columns(inputs: Inputs) -> list[Column]:
    return [Column(n, NUMERIC_INPUT, i) for i, n in enumerate(inputs.numeric)] + [
        Column(n, CATEGORICAL_INPUT, i) for i, n in enumerate(inputs.categorical)
    ]


def rows_to_use(n: int, width: int, repeats: int = REPEATS) -> int:
    """How many rows importance looks at: all up to MAX_ROWS, fewer for wide inputs."""
    budget = ROW_BUDGET // max(1, width * repeats)
    return min(n, MAX_ROWS, max(MIN_ROWS, budget))


def permutation_importance(
    feed: Tensors,
    run: Run,
    score: Score,
    cols: list[Column],
    *,
    higher_is_better: bool,
    repeats: int = REPEATS,
    seed: int = 0,
) -> list[Importance]:
    """The metric's drop when each column is shuffled, most important first.

    A drop is positive when the model gets worse (lower accuracy, higher error). ``score``
    is given the outputs for the rows of ``feed`` in order.
    """
    rng = np.random.default_rng(seed)
    n = len(next(iter(feed.values())))
    base = score(run(feed))
    if not np.isfinite(base):
        return []  # the graph answers NaN or infinity here: no drop can be measured
    stacked = {name: np.tile(tensor, (repeats, 1)) for name, tensor in feed.items()}
    order = np.tile(np.arange(n), (repeats, 1))
    found = []
    for col in cols:
        shuffles = rng.permuted(order, axis=1).ravel()  # a fresh shuffle per repeat
        block = stacked[col.tensor]
        original = feed[col.tensor][:, col.index]
        block[:, col.index] = original[shuffles]
        answers = run(stacked)
        block[:, col.index] = np.tile(original, repeats)
        scores = np.array([score(_part(answers, r * n, n)) for r in range(repeats)])
        drops = base - scores if higher_is_better else scores - base
        if not np.isfinite(drops).all():
            continue
        found.append(
            Importance(
                column=col.name,
                mean=round(float(drops.mean()), 6),
                std=round(float(drops.std()), 6),
                repeats=repeats,
            )
        )
    return sorted(found, key=lambda imp: -imp.mean)


def _part(tensors: Tensors, at: int, n: int) -> Tensors:
    return {name: tensor[at : at + n] for name, tensor in tensors.items()}

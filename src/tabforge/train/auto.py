"""``--model auto``: cross-validate a shortlist within a time budget that covers the whole run.

The budget is checked before every fold, not only between candidates, and time is kept
for the final fit of the best candidate so far: found on real data, the old check (between
candidates only, final fit not counted) overran a 120 s budget by 30 s. A fold's cost is
predicted from the folds already run (the first fold of a candidate from the slowest fold
seen), so the overrun is at most one mispredicted fold.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from tabforge.train import metrics
from tabforge.train.catalog import AUTO_SHORTLIST, SMALL_DATA_ONLY, SMALL_DATA_ROWS, lookup
from tabforge.train.folds import Fold

if TYPE_CHECKING:
    from tabforge.progress import Advance
    from tabforge.train.catalog import CatalogEntry
    from tabforge.train.fit import Trainer

AUTO_FOLDS = 3
# The final fit sees all training rows (a fold sees 2/3 of them) and is then exported and
# verified: reserve this many mean fold times for it. Fully grown forests cost far more to
# convert and verify (a node per row per tree): measured on the real-data sweep (gapminder,
# randhie), everything after their CV took 7.5-8 fold times.
FINAL_FOLDS = 2.0
FINAL_FOLDS_BY_MODEL = {"random_forest": 8.0, "extra_trees": 8.0}
# Candidates are compared on at most this many training rows (a seeded sample); the chosen
# one is then fit on all of them. Found on real data: on flights (327k rows) the first
# candidate's CV alone took half the budget and nothing else was tried.
AUTO_MAX_ROWS = 50_000

Folds = list[tuple[npt.NDArray[Any], npt.NDArray[Any]]]


@dataclass
class Clock:
    deadline: float
    slowest_fold: float = 0.0
    reserve: float = 0.0  # seconds kept for the final fit of the best so far
    skipped: list[str] = field(default_factory=list)
    scale: float = 1.0  # final fit rows / rows the folds were drawn from

    def left(self) -> float:
        return self.deadline - time.monotonic()


def shortlist(trainer: Trainer) -> list[str]:
    n = len(trainer.X_train)
    return [
        name
        for name in AUTO_SHORTLIST[trainer.task]
        if n <= SMALL_DATA_ROWS or name not in SMALL_DATA_ONLY
    ]


def sampled_folds(trainer: Trainer) -> tuple[Folds, float]:
    """The CV folds, drawn from at most AUTO_MAX_ROWS rows, and the final fit's size ratio."""
    folds = trainer.folds(AUTO_FOLDS)
    n = len(trainer.X_train)
    if n <= AUTO_MAX_ROWS:
        return folds, 1.0
    rng = np.random.default_rng(trainer.options.seed)
    share = AUTO_MAX_ROWS / n

    def pick(rows: npt.NDArray[Any]) -> npt.NDArray[Any]:
        return np.sort(rng.choice(rows, size=max(1, round(len(rows) * share)), replace=False))

    trainer.reporter.note(
        f"auto: candidates compared on {AUTO_MAX_ROWS:,} of {n:,} training rows "
        "(the chosen model is fit on all of them)"
    )
    return [(pick(fit), pick(val)) for fit, val in folds], n / AUTO_MAX_ROWS


def _run_candidate(
    trainer: Trainer,
    entry: CatalogEntry,
    clock: Clock,
    folds: Folds,
    first: bool,
    advance: Advance,
) -> tuple[list[metrics.Metrics], float] | None:
    """CV scores and mean fold seconds, or None when the budget cannot take the rest."""
    scores: list[metrics.Metrics] = []
    times: list[float] = []
    for fit_rows, val_rows in folds:
        expected = sum(times) / len(times) if times else clock.slowest_fold
        remaining_folds = AUTO_FOLDS - len(times)
        final = FINAL_FOLDS_BY_MODEL.get(entry.name, FINAL_FOLDS) * clock.scale
        need = expected * remaining_folds + max(clock.reserve, expected * final)
        if not first and need > clock.left():
            advance(remaining_folds)
            return None
        (done,) = trainer.run_folds([Fold(entry.name, {}, fit_rows, val_rows)], advance)
        scores.append(done.scores)
        times.append(done.seconds)
        clock.slowest_fold = max(clock.slowest_fold, times[-1])
    return scores, sum(times) / len(times)


# A candidate that ran: its name, fold scores and seconds.
Ran = tuple[str, list[metrics.Metrics], float]


def choose(trainer: Trainer) -> tuple[CatalogEntry, list[dict[str, Any]]]:
    """The best candidate by the task's primary CV metric, and the leaderboard."""
    budget = trainer.options.time_budget
    clock = Clock(deadline=trainer.started + budget)
    folds, clock.scale = sampled_folds(trainer)
    names = shortlist(trainer)
    with trainer.reporter.step("Comparing models (auto)", total=len(names) * AUTO_FOLDS) as adv:
        if trainer.backend is None:
            ran = _in_turn(trainer, names, clock, folds, adv)
        else:
            ran = _at_once(trainer, names, folds, adv)
    if clock.skipped:
        trainer.reporter.note(
            f"auto: time budget of {budget:g}s (final fit included) left no room for "
            f"{', '.join(clock.skipped)} (--time-budget)"
        )
    board: list[dict[str, Any]] = [
        {"model": name, "score": trainer.primary(scores), "seconds": round(seconds, 2)}
        for name, scores, seconds in ran
    ]
    best = board[0]  # the first candidate always runs
    for row in board[1:]:
        if metrics.is_better(trainer.task, row["score"], best["score"]):
            best = row
    # Best first, then by the score shown (None last); a tie keeps the shortlist's order.
    board.sort(key=lambda r: (r is not best, *metrics.ranking(trainer.task, r["score"])))
    return lookup(best["model"], trainer.task), board


def _fits(trainer: Trainer, entry: CatalogEntry, advance: Advance) -> bool:
    if trainer.memory_fits(entry):
        return True
    trainer.reporter.note(f"auto: skipped {entry.name}: above the memory limit")
    advance(AUTO_FOLDS)
    return False


def _in_turn(
    trainer: Trainer, names: list[str], clock: Clock, folds: Folds, advance: Advance
) -> list[Ran]:
    """Candidates one after another, each fold first checked against the time budget."""
    ran: list[Ran] = []
    best: float | None = None
    for name in names:
        entry = lookup(name, trainer.task)
        if ran and not _fits(trainer, entry, advance):
            continue
        t0 = time.monotonic()
        done = _run_candidate(trainer, entry, clock, folds, first=not ran, advance=advance)
        if done is None:
            clock.skipped.append(name)
            continue
        scores, fold_seconds = done
        ran.append((name, scores, time.monotonic() - t0))
        score = trainer.primary(scores)
        if len(ran) == 1 or metrics.is_better(trainer.task, score, best):
            final = FINAL_FOLDS_BY_MODEL.get(name, FINAL_FOLDS) * clock.scale
            best, clock.reserve = score, fold_seconds * final
    return ran


def _at_once(trainer: Trainer, names: list[str], folds: Folds, advance: Advance) -> list[Ran]:
    """Every candidate's folds in one call, for a backend that runs them side by side (a
    Dask cluster): the time budget cannot stop a fold already sent, so it is not applied."""
    entries = [lookup(name, trainer.task) for name in names]
    entries = entries[:1] + [e for e in entries[1:] if _fits(trainer, e, advance)]
    jobs = [Fold(e.name, {}, fit, val) for e in entries for fit, val in folds]
    done = trainer.run_folds(jobs, advance)
    ran: list[Ran] = []
    for i, entry in enumerate(entries):
        chunk = done[i * len(folds) : (i + 1) * len(folds)]
        ran.append((entry.name, [r.scores for r in chunk], sum(r.seconds for r in chunk)))
    return ran

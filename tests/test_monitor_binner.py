"""The server's side of monitoring: Binner.count and report, on a reference given by hand."""

from __future__ import annotations

import numpy as np
import pytest

from tabforge.contract.reference import Kind, TensorName
from tabforge.monitor import Binner, ColumnReference, Reference, report

SIZES = [100, 1000]


def column(
    name: str,
    kind: Kind,
    tensor: TensorName,
    index: int,
    *,
    edges: tuple[float, ...] = (),
    high: float = 0.0,
    top: tuple[str, ...] = (),
    others: tuple[str, ...] = (),
) -> ColumnReference:
    """Ten training rows in every bin; thresholds 0.5 / 0.3 at 100 rows, 0.1 at 1,000."""
    size = len(edges) if kind == "numeric" else len(top)
    return ColumnReference(
        name=name, kind=kind, tensor=tensor, index=index, counts=[10] * (size + 3),
        psi=[0.5, 0.1], js=[0.3, 0.1], edges=list(edges), high=high, top=list(top),
        others=list(others),
    )  # fmt: skip


REFERENCE = Reference(
    source="training",
    rows=10 * 6,
    threshold_rows=0,
    window_rows=SIZES,
    min_rows=100,
    features=[
        column("x", "numeric", "numeric", 0, edges=(0.0, 1.0, 2.5), high=4.0),
        column("y", "numeric", "numeric", 1, edges=(-1.0,), high=-1.0),
        column("city", "categorical", "categorical", 0, top=("paris", "rome"), others=("oslo",)),
    ],
    outputs=[
        column("label", "categorical", "label", -1, top=("1", "0")),
        column("proba_0", "numeric", "probabilities", 0, edges=(0.0, 0.5), high=1.0),
        column("proba_1", "numeric", "probabilities", 1, edges=(0.0, 0.5), high=1.0),
    ],
)


def batch(n: int, seed: int = 0) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    numeric = rng.normal(1.5, 2.0, size=(n, 2)).astype(np.float32)
    numeric[rng.random((n, 2)) < 0.1] = np.nan
    cities = np.array(["paris", "rome", "oslo", "lima", ""], dtype=object)
    p = rng.random(n).astype(np.float32)
    feed = {"numeric": numeric, "categorical": cities[rng.integers(0, 5, (n, 1))]}
    outputs: dict[str, np.ndarray] = {
        "label": (p > 0.5).astype(np.int64),
        "probabilities": np.stack([1 - p, p], axis=1).astype(np.float32),
    }
    return feed, outputs


@pytest.mark.parametrize("times", [1, 6, 50], ids=["few rows", "many rows", "more rows"])
def test_each_value_lands_in_its_bin(times: int) -> None:
    """Bin edges are inclusive below, the maximum is in range; inf is out of range, NaN
    missing; -0.0 is 0.0. Up to 64 rows are binned one by one, more by sorting; from 500
    rows on integer labels per distinct value."""
    x = np.array([-5, 0, 0.99, 1, 2.5, 4, np.nextafter(np.float32(4), np.float32(9)), np.inf,
                  -np.inf, np.nan, -0.0, np.copysign(np.nan, -1)], dtype=np.float32)  # fmt: skip
    cities = [["paris"], ["rome"], ["oslo"], ["lima"], [""], ["paris"]]
    numeric = np.stack([x, np.full(len(x), -1.0, np.float32)], axis=1)
    feed = {"numeric": np.tile(numeric, (times, 1)),
            "categorical": np.array(cities * 2 * times, dtype=object)}  # fmt: skip
    n = len(x) * times
    outputs = {"label": np.array([1, 0, 7] * 4 * times),
               "probabilities": np.full((n, 2), 0.5, np.float32)}  # fmt: skip
    binner = Binner(REFERENCE)
    counts = binner.count(feed, outputs)
    x_bins, y_bins, city, label, p0, _ = (counts[s] // times for s in binner.slices)
    # below, [0, 1), [1, 2.5), [2.5, 4], above, missing
    assert x_bins.tolist() == [2, 3, 1, 2, 2, 2]  # NaN of either sign is missing
    assert y_bins.tolist() == [0, 12, 0, 0]  # a constant column: the one value is in range
    assert city.tolist() == [4, 2, 2, 2, 2]  # paris, rome, other (oslo), unseen (lima), missing
    assert label.tolist() == [4, 4, 0, 4, 0]  # INT64 labels match the text categories
    assert p0.tolist() == [0, 0, 12, 0, 0]
    assert binner.size == len(counts) == sum(c.size for c in REFERENCE.columns)


@pytest.mark.parametrize("n", [1, 64, 65, 1000])
def test_batch_size_does_not_change_the_counts(n: int) -> None:
    """Small batches are binned value by value, large ones by sorting: the same bins."""
    feed, outputs = batch(n)
    binner = Binner(REFERENCE)
    whole = binner.count(feed, outputs)
    rows = [
        binner.count(
            {k: v[i : i + 1] for k, v in feed.items()},
            {k: v[i : i + 1] for k, v in outputs.items()},
        )
        for i in range(n)
    ]
    assert (np.sum(rows, axis=0) == whole).all()
    assert all(whole[s].sum() == n for s in binner.slices)


def test_report_statistics() -> None:
    binner = Binner(REFERENCE)
    same = np.array([c for col in REFERENCE.columns for c in col.counts]) * 5
    doc = report(REFERENCE, same, 300)
    assert all(i["psi"] == 0 and i["js"] == 0 and not i["alert"] for i in doc["features"])
    moved = np.zeros(binner.size, np.int64)
    moved[binner.slices[0].start] = 300  # every x below the training minimum
    moved[[s.start for s in binner.slices[1:]]] = 300
    x = report(REFERENCE, moved, 300)["features"][0]
    assert x["out_of_range_rate"] == 1.0
    assert x["alert"]
    # p = 1/6 in each of 6 bins, q = all in one: JS and PSI by their definitions
    p, q = np.full(6, 1 / 6), np.eye(6)[0]
    m = (p + q) / 2

    def kl(a: np.ndarray, b: np.ndarray) -> float:
        return float(sum(x * np.log2(x / y) for x, y in zip(a, b, strict=True) if x > 0))

    assert x["js"] == pytest.approx(np.sqrt((kl(p, m) + kl(q, m)) / 2))
    q_smoothed = np.maximum(q, 1e-4)
    assert x["psi"] == pytest.approx(((q_smoothed - p) * np.log(q_smoothed / p)).sum())
    # 300 rows: thresholds interpolated in log(rows) between 100 (0.5) and 1000 (0.1)
    assert x["threshold"]["psi"] == pytest.approx(0.5 - 0.4 * np.log(3) / np.log(10))
    assert report(REFERENCE, moved, 99)["reason"] == "too_few_rows"
    empty = report(REFERENCE, np.zeros(binner.size, np.int64), 0)
    assert empty["features"][0]["psi"] is None
    assert not empty["alert"]

"""The server's counting (serve/monitoring.py, serve/sampling.py), without a server: batches
observed as the inference threads observe them, reports read as /monitor reads them.

mixed:1 (tests/conftest.py) is LightGBM on mixed.csv; its reference has every feature and
output. Served traffic is unsampled up to WHOLE_ROWS rows a batch, sampled beyond.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import polars as pl
import pytest

import tabforge
from tabforge.contract import encode_strict
from tabforge.monitor import Binner, reference_of
from tabforge.serve.monitoring import (
    FLUSH_ROWS,
    MAX_WAITING,
    SAMPLE_EVERY,
    WHOLE_ROWS,
    Monitor,
    MonitorReport,
    VersionMonitor,
)
from tabforge.serve.sampling import BlockSample
from tabforge.serve.slots import ROWS
from tests.helpers import Cli, mixed_frame

Tensors = dict[str, np.ndarray]


@pytest.fixture(scope="module")
def model(trained_registry: Path) -> tabforge.Model:
    return tabforge.load("mixed:1", registry=trained_registry)


def served(model: tabforge.Model, frame: pl.DataFrame) -> tuple[Tensors, Tensors]:
    """A batch's feed and outputs, as the server has them after inference."""
    feed = encode_strict(frame, model.manifest.inputs)
    return feed, model.predictor.run(feed)


def monitored(model: tabforge.Model, root: Path) -> tuple[Monitor, VersionMonitor]:
    monitor = Monitor(root, enabled=True, pid=1)
    return monitor, monitor.of("mixed", 1, model.predictor)


def by_name(doc: dict[str, Any]) -> dict[str, Any]:
    return {i["name"]: i for i in doc["features"] + doc["outputs"]}


def as_dict(report: MonitorReport) -> dict[str, Any]:
    return msgspec.to_builtins(report)  # type: ignore[no-any-return]


def test_unsampled_rows_count_as_tabforge_drift_counts_them(
    model: tabforge.Model, trained_registry: Path, cli: Cli, tmp_path: Path
) -> None:
    """Batches of up to WHOLE_ROWS rows, some from the cache (binned by the flusher): the
    report's rows and every bin equal the offline command's on the same rows."""
    frame = mixed_frame(2000, seed=7).drop("label", "binary", "value")
    sizes = [1, 7, WHOLE_ROWS, 33, 2, 190, 64, 1, 100]
    monitor, vm = monitored(model, tmp_path / "monitor")
    start = i = 0
    while start < frame.height:
        size = sizes[i % len(sizes)]
        vm.observe(*served(model, frame.slice(start, size)), bin_now=i % 3 != 0)
        start, i = start + size, i + 1
    monitor.stop()
    online = as_dict(vm.report("5m"))
    frame.write_csv(tmp_path / "rows.csv")
    run = cli("drift", "mixed:1", str(tmp_path / "rows.csv"), "--json",
              "--registry", str(trained_registry))  # fmt: skip
    assert run.exit_code == 0, run.stderr
    offline = run.json()
    assert online["rows"] == online["drift_rows"] == offline["rows"] == 2000
    assert online["alert"] is offline["alert"] is False
    for name, item in by_name(offline).items():
        assert by_name(online)[name]["bins"] == item["bins"], name
        assert by_name(online)[name]["psi"] == pytest.approx(item["psi"], rel=1e-9), name


def periodic(model: tabforge.Model, rows: int) -> tuple[Tensors, Tensors]:
    """Rows whose color repeats with the sample's period: red at the first 8 places of each
    block of 64, blue at the next 32, green at the rest. Binning every 64th row from one
    start would see one color only."""
    place = np.arange(rows) % SAMPLE_EVERY
    color = np.where(place < 8, "red", np.where(place < 40, "blue", "green"))
    frame = mixed_frame(rows, seed=9).drop("label", "binary", "value")
    return served(model, frame.with_columns(color=pl.Series(color)))


def test_sampled_large_batches_give_unbiased_proportions(
    model: tabforge.Model, tmp_path: Path
) -> None:
    """1,000 batches of 1,024 periodic rows: 1 row in 64 is binned, each standing for 64;
    every bin's share is within 0.02 of the share over all rows (~5 binomial sd for the
    0.5 share of blue), and the rows are exact."""
    batches, size = 1000, 16 * SAMPLE_EVERY
    feed, outputs = periodic(model, size)
    reference = reference_of(model.manifest)
    assert reference is not None
    binner = Binner(reference)
    truth = binner.count(feed, outputs)  # every row binned
    monitor, vm = monitored(model, tmp_path / "monitor")
    for _ in range(batches):
        vm.observe(feed, outputs)
    monitor.stop()
    report = as_dict(vm.report("5m"))
    rows = batches * size
    assert report["rows"] == rows  # counted exactly, though only 1 in 64 is binned
    # each binned row stands for 64 (16 a batch): the Kish effective n is the rows binned
    assert report["drift_rows"] == rows // SAMPLE_EVERY
    for column, part in zip(reference.columns, binner.slices, strict=True):
        bins = np.array(by_name(report)[column.name]["bins"])
        assert bins.sum() == rows, column.name
        shares, exact = bins / rows, truth[part] / size
        assert np.abs(shares - exact).max() < 0.02, (column.name, shares, exact)


def test_nothing_waits_after_stop(model: tabforge.Model, tmp_path: Path) -> None:
    """Small batches (some from the cache) and large ones, too few to reach FLUSH_ROWS:
    nothing is binned until stop, then every row is counted."""
    monitor, vm = monitored(model, tmp_path / "monitor")
    small = served(model, mixed_frame(3, seed=1).drop("label", "binary", "value"))
    large = served(model, mixed_frame(WHOLE_ROWS + 1, seed=2).drop("label", "binary", "value"))
    for i in range(20):
        vm.observe(*small, bin_now=i % 2 == 0)
    for _ in range(3):
        vm.observe(*large)
    assert FLUSH_ROWS > 20 * 3
    assert FLUSH_ROWS > 3 * (WHOLE_ROWS + 1) // SAMPLE_EVERY
    assert vm.reader.window("total")[ROWS] == 0
    monitor.stop()
    assert vm.reader.window("total")[ROWS] == 20 * 3 + 3 * (WHOLE_ROWS + 1)
    assert vm.report("5m").rows == 20 * 3 + 3 * (WHOLE_ROWS + 1)


def test_rows_from_the_event_loop_wait_for_the_flusher_up_to_a_cap(
    model: tabforge.Model, tmp_path: Path
) -> None:
    _, vm = monitored(model, tmp_path / "monitor")
    one = served(model, mixed_frame(1, seed=3).drop("label", "binary", "value"))
    for _ in range(MAX_WAITING - 1):
        vm.observe(*one, bin_now=False)
    assert vm.reader.window("total")[ROWS] == 0
    vm.observe(*one, bin_now=False)  # the cap: this caller bins
    assert vm.reader.window("total")[ROWS] == MAX_WAITING
    for _ in range(FLUSH_ROWS):  # from the inference threads: binned at FLUSH_ROWS
        vm.observe(*one)
    assert vm.reader.window("total")[ROWS] == MAX_WAITING + FLUSH_ROWS


@pytest.mark.parametrize("rows", [100, 64 * 5, 1000])
def test_block_sample_picks_every_row_with_probability_one_in_every(rows: int) -> None:
    sample = BlockSample(64, seed=1)
    draws = 64 * 500
    times = np.zeros(rows)
    sizes = set()
    for _ in range(draws):
        picked = sample.pick(rows)
        assert (np.diff(picked) > 0).all()
        assert 0 <= picked[0] <= picked[-1] < rows
        times[picked] += 1
        sizes.add(len(picked))
    assert sizes == ({rows // 64} if rows % 64 == 0 else {rows // 64, rows // 64 + 1})
    # each row ~500 times (binomial sd ~22): 5 sd either side
    assert np.abs(times - 500).max() < 110, (times.min(), times.max())

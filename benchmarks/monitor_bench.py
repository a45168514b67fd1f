"""Monitoring benchmark: what counting a served batch costs, and what the reference adds to
training.

Run from the project root:

    .venv/bin/python benchmarks/monitor_bench.py [--rows 100000] [--workdir /tmp/monitorbench]
        [--out benchmarks/RESULTS.md]

1. Data: ``--rows`` rows of the 30 float32 features f00..f29 and target y (common.chunk,
   numpy seed 0) in ``<workdir>/train.parquet``.
2. Model: ``tabforge train`` (LightGBM, 100 trees) as ``monitorbench``; training is timed
   with its steps, the reference step among them.
3. ``Binner.count`` on 1, 16 and 1,000 rows (the feed and the outputs as served): the
   median of many calls, next to ``Predictor.run`` on the same rows; and what the server
   pays per inferred batch of that size (``VersionMonitor.observe``: small batches wait
   and are binned 256 rows at a time; of larger ones 1 row in 64 is sampled, and the
   sampled rows wait and are binned 256 at a time too), in process CPU time.
4. A markdown table, printed and written as the ``## Monitoring`` section of ``--out``.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from pathlib import Path
from typing import Any

import common  # benchmarks/common.py, beside this script

ROWS = (1, 16, 1000)


def _median_us(call: Any, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e6


def _observe_us(observe: Any, flush: Any, repeat: int) -> float:
    """Process CPU time per call of the server's per-batch counting, flushes included."""
    start = time.process_time()
    for _ in range(repeat):
        observe()
    flush()
    return (time.process_time() - start) / repeat * 1e6


def _train(path: Path, registry: Path) -> tuple[str, dict[str, float]]:
    """Train with a reporter that times each step: (ref, step -> seconds)."""
    from tabforge.flow import train
    from tabforge.progress import SilentReporter
    from tabforge.train.fit import TrainOptions

    steps: dict[str, float] = {}

    class Timed(SilentReporter):
        def step(self, description: str, total: int | None = None) -> Any:
            import contextlib

            @contextlib.contextmanager
            def timed() -> Any:
                start = time.perf_counter()
                yield lambda n=1: None
                steps[description] = time.perf_counter() - start

            return timed()

    options = TrainOptions(target=common.TARGET, model="lightgbm", params={"n_estimators": 100})
    start = time.perf_counter()
    outcome = train(path, options, name="monitorbench", registry=registry, reporter=Timed())
    steps["total"] = time.perf_counter() - start
    return outcome.ref, steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/monitorbench"))
    parser.add_argument("--out", type=Path, default=common.ROOT / "benchmarks" / "RESULTS.md")
    args = parser.parse_args()

    import numpy as np
    import polars as pl
    import pyarrow.parquet as pq

    from tabforge.api import load
    from tabforge.contract import encode_strict
    from tabforge.monitor import Binner, reference_of
    from tabforge.serve.monitoring import VersionMonitor

    args.workdir.mkdir(parents=True, exist_ok=True)
    data = args.workdir / "train.parquet"
    pq.write_table(common.chunk(np.random.default_rng(0), args.rows), data)
    ref, steps = _train(data, args.workdir / "models")
    model = load(ref, registry=args.workdir / "models")
    reference = reference_of(model.manifest)
    assert reference is not None
    binner = Binner(reference)
    served = VersionMonitor(args.workdir / "slots", "monitorbench", 1, model.manifest, 1)
    frame = pl.read_parquet(data).head(1000)
    lines = [
        "## Monitoring",
        "",
        f"LightGBM (100 trees), 30 numeric features, 2 classes; {platform.processor() or '-'}; "
        f"trained on {args.rows:,} rows.",
        "",
        "| rows per call | Binner.count (us) | Predictor.run (us) | count / run "
        "| server's counting per batch (us CPU) |",
        "|---:|---:|---:|---:|---:|",
    ]
    for n in ROWS:
        feed = encode_strict(frame.head(n), model.manifest.inputs)
        outputs = model.predictor.run(feed)
        repeat = 20_000 if n < 100 else 2000
        count_us = _median_us(lambda f=feed, o=outputs: binner.count(f, o), repeat)
        run_us = _median_us(lambda f=feed: model.predictor.run(f), repeat)
        observe_us = _observe_us(
            lambda f=feed, o=outputs: served.observe(f, o), served.flush, repeat
        )
        lines.append(
            f"| {n:,} | {count_us:.1f} | {run_us:.1f} | {count_us / run_us:.1%} "
            f"| {observe_us:.1f} |"
        )
    step = steps.get("Recording the monitoring reference", 0.0)
    lines += [
        "",
        f"Training took {steps['total']:.1f} s, of which the monitoring reference "
        f"{step:.2f} s ({step / steps['total']:.1%}).",
    ]
    section = "\n".join(lines) + "\n"
    print(section)
    common.write_section(args.out, "## Monitoring", section)


if __name__ == "__main__":
    main()

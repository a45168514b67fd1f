"""``--dask``: scoring by partition on a real LocalCluster (2 worker processes) equals local
predict row for row and resumes after a lost part; training folds on the cluster give the
local leaderboard and model; bad input is one line and exit 2, with no worker left behind.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import psutil
import pytest
from sklearn import datasets

from tabforge.cluster.connect import local_cluster
from tabforge.data.example import write_example
from tests.helpers import Cli

distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def scheduler() -> Iterator[str]:
    """A 2-worker LocalCluster shared by the tests, as a user's scheduler address."""
    with local_cluster(2) as cluster:
        yield cluster.scheduler_address


@pytest.fixture(scope="module")
def churn(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The demo's churn file and a registry holding churn:1 (LightGBM) trained on it."""
    from click.testing import CliRunner

    from tabforge.cli import main

    folder = tmp_path_factory.mktemp("churn")
    data, registry = write_example(folder / "churn.csv"), folder / "models"
    argv = ["train", str(data), "-t", "churn", "-m", "lightgbm", "-p", "n_estimators=30",
            "--registry", str(registry), "-q"]  # fmt: skip
    done = CliRunner().invoke(main, argv, catch_exceptions=False)
    assert done.exit_code == 0, done.stderr
    return data, registry


def executed(scheduler: str) -> int:
    """Tasks the cluster's workers have run so far: proof the work went there."""
    with distributed.Client(scheduler) as client:
        counts = client.run(lambda dask_worker: dask_worker.state.executed_count)
    return sum(counts.values())


def parts(out: Path) -> pl.DataFrame:
    return pl.concat([pl.read_parquet(p) for p in sorted(out.glob("part-*.parquet"))])


def local(cli: Cli, registry: Path, source: Path, out: Path, *args: str) -> pl.DataFrame:
    done = cli("predict", "churn:1", str(source), "-o", str(out), "--registry", str(registry),
               "-q", *args)  # fmt: skip
    assert done.exit_code == 0, done.stderr
    return pl.read_parquet(out)


def test_a_directory_of_csvs_scores_as_local_predict_row_for_row(
    cli: Cli, tmp_path: Path, churn: tuple[Path, Path], scheduler: str
) -> None:
    data, registry = churn
    rows = pl.read_csv(data)
    folder = tmp_path / "in"
    folder.mkdir()
    for i, start in enumerate((0, 1200, 2500)):  # unequal files, read in name order
        rows.slice(start, {0: 1200, 1: 1300, 2: 500}[i]).write_csv(folder / f"day-{i}.csv")
    (folder / "notes.txt.bak").write_text("not data")
    out = tmp_path / "scored"
    keep = ("--keep", "customer_id,tenure_months,contract")
    tasks = executed(scheduler)
    done = cli("predict", "churn:1", str(folder), "-o", str(out), "--registry", str(registry),
               "--dask", scheduler, *keep)  # fmt: skip
    assert done.exit_code == 0, done.stderr
    assert f"scored 3,000 rows in 3 parts with churn:1 on {scheduler}" in done.stdout
    assert executed(scheduler) == tasks + 3
    expected = local(cli, registry, data, tmp_path / "local.parquet", *keep)
    assert parts(out).equals(expected)
    manifest = json.loads((out / "_manifest.json").read_text())
    assert [p["rows_out"] for p in manifest["parts"]] == [1200, 1300, 500]
    assert [Path(i["path"]).name for i in manifest["inputs"]] == [
        "day-0.csv",
        "day-1.csv",
        "day-2.csv",
    ]
    assert manifest["columns"] == expected.columns
    assert manifest["ref"] == "churn:1"

    # The same files through a glob: the same partitions, so every part is already complete.
    again = cli("predict", "churn:1", str(folder / "day-*.csv"), "-o", str(out),
                "--registry", str(registry), "--dask", scheduler, *keep)  # fmt: skip
    assert again.exit_code == 0, again.stderr
    assert "scored 0 rows in 0 of 3 parts (3 already complete, 3,000 rows in all)" in again.stdout
    assert parts(out).equals(expected)


def test_a_parquet_file_is_cut_at_row_groups_and_a_deleted_part_alone_is_redone(
    cli: Cli, tmp_path: Path, churn: tuple[Path, Path], scheduler: str
) -> None:
    data, registry = churn
    big = tmp_path / "churn.parquet"
    pl.read_csv(data).write_parquet(big, row_group_size=400)  # 8 groups: 7 x 400, 1 x 200
    out = tmp_path / "scored"
    argv = ["predict", "churn:1", str(big), "-o", str(out), "--registry", str(registry),
            "--dask", scheduler, "--partition-rows", "1000", "--keep", "customer_id"]  # fmt: skip
    assert cli(*argv).exit_code == 0
    manifest = json.loads((out / "_manifest.json").read_text())
    assert [p["rows"] for p in manifest["parts"]] == [
        [0, 800],
        [800, 800],
        [1600, 800],
        [2400, 600],
    ]
    expected = local(cli, registry, big, tmp_path / "local.parquet", "--keep", "customer_id")
    assert parts(out).equals(expected)

    before = {p.name: p.stat().st_mtime_ns for p in out.glob("part-*.parquet")}
    (out / "part-00002.parquet").unlink()
    again = cli(*argv)
    assert again.exit_code == 0, again.stderr
    assert "scored 800 rows in 1 of 4 parts (3 already complete, 3,000 rows in all)" in again.stdout
    after = {p.name: p.stat().st_mtime_ns for p in out.glob("part-*.parquet")}
    assert {n: t for n, t in after.items() if n != "part-00002.parquet"} == {
        n: t for n, t in before.items() if n != "part-00002.parquet"
    }
    assert "part-00002.parquet" in after
    assert parts(out).equals(expected)

    # Another model setting (no kept columns) makes every part stale: all redone.
    other = cli(*argv[:-2])
    assert other.exit_code == 0, other.stderr
    assert "already complete" not in other.stdout
    assert parts(out).columns == ["label", "proba_no", "proba_yes"]


def wine(folder: Path) -> Path:
    loaded = datasets.load_wine(as_frame=True)
    frame = pl.from_pandas(loaded.data).rename(lambda c: c.replace("/", "_"))
    names = np.asarray(loaded.target_names)[loaded.target.to_numpy()]
    path = folder / "wine.csv"
    frame.with_columns(cultivar=pl.Series(names)).write_csv(path)
    return path


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(("--model", "auto"), id="auto"),
        pytest.param(
            ("--model", "random_forest", "--search", "3", "--cv", "3", "-p", "n_estimators=20"),
            id="search-cv",
        ),
    ],
)
def test_training_folds_on_the_cluster_give_the_local_results(
    cli: Cli, tmp_path: Path, scheduler: str, args: tuple[str, ...]
) -> None:
    path = wine(tmp_path)
    runs: list[dict[str, Any]] = []
    for extra in ((), ("--dask", scheduler)):
        registry = tmp_path / f"models{len(runs)}"
        tasks = executed(scheduler)
        done = cli("train", str(path), "-t", "cultivar", *args, "--json", *extra, registry=registry)
        assert done.exit_code == 0, done.stderr
        assert (executed(scheduler) > tasks) == bool(extra)
        runs.append(done.json())
    here, there = runs
    board = "leaderboard" if args[1] == "auto" else "search"
    assert here["metrics"][board], "nothing to compare"
    seconds_apart = [
        {k: v for k, v in row.items() if k != "seconds"} for row in here["metrics"][board]
    ]
    assert seconds_apart == [
        {k: v for k, v in row.items() if k != "seconds"} for row in there["metrics"][board]
    ]
    assert (here["model"], here["model_sha256"]) == (there["model"], there["model_sha256"])
    assert here["metrics"].get("cv") == there["metrics"].get("cv")


# predict's arguments after REF ({d}: the test's folder, holding in/a.csv and empty/) -> the error
BAD_INPUT = {
    "no-match": ("{d}/*.feather -o {d}/out", "no files match"),
    "empty-dir": ("{d}/empty -o {d}/out", "no data files"),
    "output-is-a-file": ("{d}/in -o {d}/in/a.csv", "is a file"),
    "output-is-the-input": ("{d}/in -o {d}/in", "must not be the input's"),
    "monitor": ("{d}/in -o {d}/out --monitor", "--monitor is not available with --dask"),
    "partition-rows": (
        "{d}/in -o {d}/out --partition-rows 0",
        "--partition-rows must be at least 1",
    ),
    "local-workers": (
        "{d}/in -o {d}/out --dask local:x",
        "--dask local:N takes a number of workers",
    ),
}


@pytest.mark.parametrize(("args", "message"), BAD_INPUT.values(), ids=BAD_INPUT.keys())
def test_bad_input_is_one_line_and_exit_2(
    cli: Cli, tmp_path: Path, churn: tuple[Path, Path], scheduler: str, args: str, message: str
) -> None:
    data, registry = churn
    (tmp_path / "in").mkdir()
    (tmp_path / "empty").mkdir()
    pl.read_csv(data, n_rows=10).write_csv(tmp_path / "in" / "a.csv")
    argv = args.format(d=tmp_path).split()
    dask = [] if "--dask" in argv else ["--dask", scheduler]
    done = cli("predict", "churn:1", *argv, "--registry", str(registry), *dask)
    assert done.exit_code == 2
    assert message in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert not (tmp_path / "out").exists()


def test_an_unreachable_scheduler_is_one_line_and_exit_2(
    cli: Cli, tmp_path: Path, churn: tuple[Path, Path]
) -> None:
    import socket

    import dask

    data, registry = churn
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        address = f"tcp://127.0.0.1:{s.getsockname()[1]}"
    with dask.config.set({"distributed.comm.timeouts.connect": "2s"}):
        done = cli("predict", "churn:1", str(data), "-o", str(tmp_path / "out"),
                   "--registry", str(registry), "--dask", address)  # fmt: skip
    assert done.exit_code == 2
    assert done.stderr.startswith(f"error: cannot reach the Dask scheduler at {address}")
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert not (tmp_path / "out").exists()


def started(*args: str, mark: str) -> subprocess.Popen[str]:
    """``tabforge ARGS`` in its own process, its environment (inherited by a LocalCluster's
    workers) marked so that whatever it leaves behind can be found."""
    return subprocess.Popen(
        [sys.executable, "-m", "tabforge.cli", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "TABFORGE_TEST_RUN": mark},
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )  # fmt: skip


def left_behind(mark: str) -> list[psutil.Process]:
    """Live processes started by the marked run (zombies are already dead)."""
    deadline = time.monotonic() + 10
    while True:
        found = []
        for process in psutil.process_iter():
            try:
                marked = process.environ().get("TABFORGE_TEST_RUN") == mark
                if marked and process.status() != psutil.STATUS_ZOMBIE:
                    found.append(process)
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
        if not found or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


def test_a_failing_partition_is_one_line_exit_2_no_half_part_and_no_cluster_left(
    tmp_path: Path, churn: tuple[Path, Path]
) -> None:
    data, registry = churn
    folder = tmp_path / "in"
    folder.mkdir()
    rows = pl.read_csv(data, n_rows=600)
    rows.slice(0, 300).write_csv(folder / "a.csv")
    rows.slice(300).drop("contract").write_csv(folder / "b.csv")  # lacks a model input
    out = tmp_path / "out"
    run = started("predict", "churn:1", str(folder), "-o", str(out), "--registry", str(registry),
                  "--dask", "local:2", mark=tmp_path.name)  # fmt: skip
    _, stderr = run.communicate(timeout=120)
    assert run.returncode == 2
    assert stderr == "error: part-00001.parquet (b.csv): b.csv lacks required columns: 'contract'\n"
    assert not (out / "part-00001.parquet").exists()
    assert not (out / "_manifest.json").exists()
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]
    assert not left_behind(tmp_path.name), "the LocalCluster was not closed"


def test_ctrl_c_stops_the_run_and_its_local_cluster(
    tmp_path: Path, churn: tuple[Path, Path]
) -> None:
    data, registry = churn
    big = tmp_path / "churn.parquet"
    pl.read_csv(data).write_parquet(big, row_group_size=10)
    out = tmp_path / "out"
    run = started("predict", "churn:1", str(big), "-o", str(out), "--registry", str(registry),
                  "--dask", "local:2", "--partition-rows", "10", mark=tmp_path.name)  # fmt: skip
    deadline = time.monotonic() + 60
    while not list(out.glob("part-*.parquet")) and time.monotonic() < deadline:
        time.sleep(0.05)  # until the cluster is up and scoring (300 parts to go)
    assert len(psutil.Process(run.pid).children(recursive=True)) >= 2, "no worker seen"
    run.send_signal(signal.SIGINT)
    _, stderr = run.communicate(timeout=60)
    assert run.returncode == 130
    assert stderr == "error: interrupted\n"
    assert not left_behind(tmp_path.name), "worker processes left behind"
    assert not (out / "_manifest.json").exists()
    assert not [p for p in out.iterdir() if not p.name.startswith("part-")]

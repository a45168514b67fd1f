"""``tabforge predict``: score a file with a stored model, streaming."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from tabforge.cli import _split, main
from tabforge.cluster.connect import DASK_HELP
from tabforge.config import REGISTRY_HELP

F = TypeVar("F", bound=Callable[..., Any])


def on_error_option(help: str) -> Callable[[F], F]:
    """--on-error fail|skip: what to do with rows holding text where a number belongs."""
    return click.option(
        "--on-error", type=click.Choice(["fail", "skip"]), default="fail", show_default=True,
        help=help,
    )  # fmt: skip


@main.command()
@click.argument("ref")
@click.argument("input_file", metavar="INPUT")
@click.option(
    "--output",
    "-o",
    required=True,
    help="Output file: .parquet or .csv; with --dask, a directory of Parquet parts.",
)
@click.option("--batch-rows", type=int, default=65_536, show_default=True)
@click.option("--keep", multiple=True, help="Input columns to copy to the output (a,b).")
@on_error_option(
    "skip: rows with bad values go to <stem>.rejects.csv beside OUTPUT (scores.parquet: "
    "scores.rejects.csv; --dask: one per part) instead of failing."
)
@click.option("--monitor", is_flag=True, help="Then print the rows' drift from the training data.")
@click.option("--registry", help=REGISTRY_HELP)
@click.option("--quiet", "-q", is_flag=True, help="Print nothing but --monitor's table.")
@click.option("--dask", metavar="ADDRESS", help=DASK_HELP)
@click.option(
    "--partition-rows",
    type=int,
    default=1_000_000,
    show_default=True,
    help="--dask: rows per partition of a Parquet file (cut at row groups).",
)
def predict(
    ref: str,
    input_file: str,
    output: str,
    batch_rows: int,
    keep: tuple[str, ...],
    on_error: str,
    monitor: bool,
    registry: str | None,
    quiet: bool,
    dask: str | None,
    partition_rows: int,
) -> None:
    """Score INPUT (CSV, Parquet, IPC, NDJSON) with model REF into OUTPUT.

    With --dask, INPUT may also be a directory or a glob, and the partitions are scored on
    the cluster into OUTPUT/part-NNNNN.parquet, then OUTPUT/_manifest.json; a rerun skips
    the parts already complete.
    """
    import time

    if dask is not None:
        if monitor:
            from tabforge.errors import ConfigError

            raise ConfigError("--monitor is not available with --dask (drift needs one process)")
        on_cluster = {"keep": _split(keep), "on_error": on_error, "batch_rows": batch_rows,
                      "partition_rows": partition_rows}  # fmt: skip
        _predict_on_cluster(dask, ref, input_file, output, registry, quiet, **on_cluster)
        return
    from tabforge.api import load
    from tabforge.batch.scoring import score_file
    from tabforge.progress import Reporter

    model = load(ref, registry=registry)
    window = None
    if monitor:
        from tabforge.monitor.profile import require_reference
        from tabforge.monitor.window import Window

        window = Window(require_reference(model.manifest))
    started = time.monotonic()
    summary = score_file(
        model.predictor,
        input_file,
        output,
        batch_rows=batch_rows,
        keep=_split(keep),
        on_error="skip" if on_error == "skip" else "fail",
        reporter=Reporter(quiet=quiet),
        observe=window,
    )
    if not quiet:
        _scored(summary.rows_in, summary.rows_out, f"with {model.ref}", started, summary.output)
        if summary.rejects is not None:
            click.echo(f"rejected {summary.rejected:,} rows -> {summary.rejects}", err=True)
    if window is not None:
        from tabforge.cli.drift import labelled, print_drift

        print_drift(labelled(model.manifest.name, model.manifest.version, window.report()))


def _scored(rows_in: int, rows_out: int, how: str, started: float, output: Any) -> None:
    import time

    seconds = time.monotonic() - started
    rate = rows_in / seconds if seconds > 0 else 0.0
    click.echo(f"scored {rows_out:,} rows {how} in {seconds:.1f}s ({rate:,.0f} rows/s) -> {output}")


def _predict_on_cluster(
    address: str, ref: str, source: str, output: str, registry: str | None, quiet: bool,
    **options: Any,
) -> None:  # fmt: skip
    import time

    from tabforge.cluster.connect import connect
    from tabforge.cluster.scoring import score_on_cluster
    from tabforge.progress import Reporter

    started = time.monotonic()
    with connect(address) as client:
        summary = score_on_cluster(
            client, ref, source, output, registry=registry, reporter=Reporter(quiet=quiet),
            **options,
        )  # fmt: skip
    if not quiet:
        parts = f"{summary.parts} parts"
        if summary.skipped:
            parts = (f"{summary.parts - summary.skipped} of {parts} ({summary.skipped} already "
                     f"complete, {summary.rows_total:,} rows in all)")  # fmt: skip
        how = f"in {parts} with {summary.ref} on {address}"
        _scored(summary.rows_in, summary.rows_out, how, started, summary.output)

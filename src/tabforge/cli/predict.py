"""``tabforge predict``: score a file with a stored model, streaming."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from tabforge.cli import _split, main
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
@click.option("--output", "-o", required=True, help="Output file: .parquet or .csv.")
@click.option("--batch-rows", type=int, default=65_536, show_default=True)
@click.option("--keep", multiple=True, help="Input columns to copy to the output (a,b).")
@on_error_option("skip: rows with bad values go to OUTPUT.rejects.csv instead of failing.")
@click.option("--monitor", is_flag=True, help="Then print the rows' drift from the training data.")
@click.option("--registry", help=REGISTRY_HELP)
@click.option("--quiet", "-q", is_flag=True, help="Print nothing but --monitor's table.")
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
) -> None:
    """Score INPUT (CSV, Parquet, IPC, NDJSON) with model REF into OUTPUT."""
    import time

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
    seconds = time.monotonic() - started
    if not quiet:
        rate = summary.rows_in / seconds if seconds > 0 else 0.0
        click.echo(
            f"scored {summary.rows_out:,} rows with {model.ref} in {seconds:.1f}s "
            f"({rate:,.0f} rows/s) -> {summary.output}"
        )
        if summary.rejects is not None:
            click.echo(f"rejected {summary.rejected:,} rows -> {summary.rejects}", err=True)
    if window is not None:
        from tabforge.cli.drift import labelled, print_drift

        print_drift(labelled(model.manifest.name, model.manifest.version, window.report()))

"""``tabforge predict``: score a file with a stored model, streaming."""

from __future__ import annotations

import click

from tabforge.cli import _split, main
from tabforge.config import REGISTRY_HELP


@main.command()
@click.argument("ref")
@click.argument("input_file", metavar="INPUT")
@click.option("--output", "-o", required=True, help="Output file: .parquet or .csv.")
@click.option("--batch-rows", type=int, default=65_536, show_default=True)
@click.option("--keep", multiple=True, help="Input columns to copy to the output (a,b).")
@click.option(
    "--on-error",
    type=click.Choice(["fail", "skip"]),
    default="fail",
    show_default=True,
    help="skip: rows with bad values go to OUTPUT.rejects.csv instead of failing.",
)
@click.option("--registry", help=REGISTRY_HELP)
@click.option("--quiet", "-q", is_flag=True)
def predict(
    ref: str,
    input_file: str,
    output: str,
    batch_rows: int,
    keep: tuple[str, ...],
    on_error: str,
    registry: str | None,
    quiet: bool,
) -> None:
    """Score INPUT (CSV, Parquet, IPC, NDJSON) with model REF into OUTPUT."""
    import time

    from tabforge.api import load
    from tabforge.batch.scoring import score_file
    from tabforge.progress import Reporter

    model = load(ref, registry=registry)
    started = time.monotonic()
    summary = score_file(
        model.predictor,
        input_file,
        output,
        batch_rows=batch_rows,
        keep=_split(keep),
        on_error="skip" if on_error == "skip" else "fail",
        reporter=Reporter(quiet=quiet),
    )
    seconds = time.monotonic() - started
    if quiet:
        return
    rate = summary.rows_in / seconds if seconds > 0 else 0.0
    click.echo(
        f"scored {summary.rows_out:,} rows with {model.ref} in {seconds:.1f}s "
        f"({rate:,.0f} rows/s) -> {summary.output}"
    )
    if summary.rejects is not None:
        click.echo(f"rejected {summary.rejected:,} rows -> {summary.rejects}", err=True)

"""``tabforge drift``: how far a file's rows are from the model's training data."""

from __future__ import annotations

import json
from typing import Any

import click
from rich.table import Table

from tabforge.cli import main
from tabforge.cli.predict import on_error_option
from tabforge.config import REGISTRY_HELP
from tabforge.progress import output_console


@main.command()
@click.argument("ref")
@click.argument("file")
@click.option(
    "--json", "as_json", is_flag=True, help="Machine-readable: an object; a list per window."
)
@click.option("--window-rows", type=int, help="Statistics per window of N consecutive rows.")
@click.option("--batch-rows", type=int, default=65_536, show_default=True)
@on_error_option("skip: rows with bad values are left out (and counted) instead of failing.")
@click.option("--registry", help=REGISTRY_HELP)
def drift(
    ref: str,
    file: str,
    as_json: bool,
    window_rows: int | None,
    batch_rows: int,
    on_error: str,
    registry: str | None,
) -> None:
    """Drift of FILE from model REF's training data: PSI and JS per feature and output.

    FILE goes through the stored model as `tabforge predict` sends it. A feature or output
    alerts when its PSI or JS is above the threshold learned at training for that many
    rows (none below 100 rows). Finding drift is not an error: the exit code is 0.
    """
    from tabforge.api import load
    from tabforge.monitor.offline import drift_file
    from tabforge.monitor.profile import require_reference

    model = load(ref, registry=registry)
    run = drift_file(
        model.predictor,
        require_reference(model.manifest),
        file,
        window_rows=window_rows,
        batch_rows=batch_rows,
        on_error="skip" if on_error == "skip" else "fail",
    )
    docs = [labelled(model.manifest.name, model.manifest.version, w) for w in run.windows]
    if run.skipped:
        click.echo(f"skipped {run.skipped:,} rows with bad values", err=True)
    if as_json:
        click.echo(json.dumps(docs if window_rows else docs[0], indent=2))
        return
    for doc in docs:
        print_drift(doc, windowed=window_rows is not None)


def labelled(name: str, version: int, window: dict[str, Any]) -> dict[str, Any]:
    """A window's report as a command prints it: the model first."""
    return {"model": name, "version": version, **window}


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def print_drift(doc: dict[str, Any], *, windowed: bool = False) -> None:
    """One table: a line per feature and output, then which alerted."""
    ref = doc["reference"]
    where = f"rows {doc['first_row']:,}-{doc['first_row'] + doc['rows'] - 1:,}" if (
        windowed and doc["rows"]) else f"{doc['rows']:,} rows"  # fmt: skip
    table = Table(
        title=f"drift of {doc['model']}:{doc['version']}, {where} against "
        f"{ref['rows']:,} {ref['source']} rows",
        title_justify="left",
    )
    for col in ("column", "", "psi", "js", "psi limit", "js limit", "alert", "missing",
                "out of range", "unseen"):  # fmt: skip
        table.add_column(col, justify="left" if col in ("column", "", "alert") else "right")
    alerts = []
    for group, items in (("feature", doc["features"]), ("output", doc["outputs"])):
        for item in items:
            limit = item["threshold"] or {}
            flag = "ALERT" if item["alert"] else "-"
            if item["alert"]:
                alerts.append(item["name"])
            table.add_row(item["name"], group, _num(item["psi"]), _num(item["js"]),
                          _num(limit.get("psi")), _num(limit.get("js")), flag,
                          _rate(item["missing_rate"]), _rate(item["out_of_range_rate"]),
                          _rate(item["unseen_rate"]))  # fmt: skip
    console = output_console(wrap=False)
    console.print(table)
    if doc["reason"] == "too_few_rows":
        console.print(f"no alerts: fewer than {doc['min_rows']} rows")
    else:
        console.print(f"drift: {', '.join(alerts)}" if alerts else "no drift")

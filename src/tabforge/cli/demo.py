"""``tabforge demo``: train, verify and store a model on the bundled churn example, then serve it.

What a newcomer runs first, so it checks what it can before the slow part: the port it will
serve on is bound before training (a busy port costs no training and no registry version),
and every line it prints points at something that is still there when it ends.
"""

from __future__ import annotations

import json
import socket
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.table import Table

from tabforge.cli import _fmt, _print_outcome, main
from tabforge.config import REGISTRY_HELP
from tabforge.errors import ConfigError
from tabforge.progress import Reporter, output_console

if TYPE_CHECKING:
    from tabforge.api import Model
    from tabforge.serve.settings import ServeSettings


@main.command()
@click.option("--registry", help=REGISTRY_HELP)
@click.option("--model", "-m", default="lightgbm", show_default=True, help="Catalog name or auto.")
@click.option("--save-data", type=click.Path(dir_okay=False), help="Also keep the example CSV.")
@click.option("--serve/--no-serve", "then_serve", default=True, help="Serve the model at the end.")
@click.option("--port", default=8000, show_default=True, type=int,
              help="Port to serve on (0 picks a free one); checked before training.")  # fmt: skip
@click.option("--quiet", "-q", is_flag=True, help="Print only the model reference; no serving.")
def demo(
    registry: str | None,
    model: str,
    save_data: str | None,
    then_serve: bool,
    port: int,
    quiet: bool,
) -> None:
    """Train, verify and store a model on the bundled churn example, predict, then serve it."""
    from tabforge.data.example import EXAMPLE_ROWS, write_example
    from tabforge.flow import train as run_train
    from tabforge.train.fit import TrainOptions

    serving = _bind(registry, port) if then_serve and not quiet else None
    try:
        with tempfile.TemporaryDirectory(prefix="tabforge-demo-") as tmp:
            path = write_example(Path(save_data) if save_data else Path(tmp) / "churn.csv")
            if not quiet:
                where = (
                    f"{path.absolute()}, "
                    if save_data
                    else "generated in a temporary directory, removed when the demo ends "
                    "(--save-data FILE keeps it); "
                )
                click.echo(f"example data: {where}{EXAMPLE_ROWS} customers, target 'churn'")
            outcome = run_train(
                path,
                TrainOptions(target="churn", model=model),
                name="churn",
                registry=registry,
                reporter=Reporter(quiet=quiet),
            )
            if quiet:
                click.echo(outcome.ref)
                return
            _print_outcome(outcome)
            _say_added(outcome.version, outcome.registry)
            curls = _show_off(registry, outcome.ref, path, serving)
        if serving is not None:
            _serve(serving, curls, outcome.version)
            serving = None  # the server owned the socket and closed it
    finally:
        if serving is not None:
            serving[1].close()


def _bind(registry: str | None, port: int) -> tuple[ServeSettings, socket.socket]:
    """The settings the demo will serve with and their socket, bound now: before training."""
    from tabforge.serve.runner import listen
    from tabforge.serve.settings import ServeSettings

    settings = ServeSettings.from_env(registry=registry, models=("churn",), port=port)
    try:
        return settings, listen(settings.host, settings.port)
    except ConfigError as exc:
        raise ConfigError(
            f"{exc} (nothing was trained: --port 0 picks a free port, --no-serve skips serving)"
        ) from exc


def _say_added(version: int, location: str) -> None:
    if version > 1:
        earlier = ", ".join(f"churn:{v}" for v in range(1, version))
        click.echo(
            f"demo     each run adds a version: churn:{version} joins {earlier} in {location} "
            f"(tabforge models delete churn:N removes one)"
        )


def _show_off(
    registry: str | None, ref: str, path: Path, serving: tuple[ServeSettings, socket.socket] | None
) -> list[str]:
    """Write the report, predict five rows from the stored artifact; the curl commands."""
    import polars as pl

    from tabforge.api import load
    from tabforge.cli.report import write_report

    page = write_report(registry, [ref], None)
    served = "; also served, see below" if serving else ""
    click.echo(f"report   {page.absolute()} (open it in a browser{served})")
    stored = load(ref, registry=registry)
    sample = pl.read_csv(path, n_rows=5)
    predicted = stored.predict(sample)
    shown = pl.concat(
        [sample.select("customer_id", "contract", "churn"), predicted], how="horizontal"
    )
    table = Table(
        title="sample prediction (onnxruntime, from the stored artifact)", title_justify="left"
    )
    for col in shown.columns:
        table.add_column(col)
    for row in shown.iter_rows():
        table.add_row(*[_fmt(v) for v in row])
    output_console().print(table)
    if serving is None:
        return []
    return demo_curls(sample.row(0, named=True), stored, serving[1].getsockname()[1])


def demo_curls(row: dict[str, Any], model: Model, port: int) -> list[str]:
    """A V1 and a V2 curl command for one example row, runnable as printed."""
    base = f"http://127.0.0.1:{port}"
    instance = {c: row[c] for c in model.schema.columns}
    v1 = json.dumps({"instances": [instance]})
    inputs: list[dict[str, Any]] = []
    if model.schema.numeric:
        values = [row[c] for c in model.schema.numeric]
        inputs.append({"name": "numeric", "shape": [1, len(values)], "datatype": "FP32",
                       "data": values})  # fmt: skip
    if model.schema.categorical:
        cats = [None if row[c] is None else str(row[c]).lower() if isinstance(row[c], bool)
                else str(row[c]) for c in model.schema.categorical]  # fmt: skip
        inputs.append({"name": "categorical", "shape": [1, len(cats)], "datatype": "BYTES",
                       "data": cats})  # fmt: skip
    v2 = json.dumps({"inputs": inputs})
    header = "-H 'Content-Type: application/json'"
    return [
        f"curl -s {base}/v1/models/churn:predict {header} -d '{v1}'",
        f"curl -s {base}/v2/models/churn/infer {header} -d '{v2}'",
    ]


def _serve(serving: tuple[ServeSettings, socket.socket], curls: list[str], version: int) -> None:
    from tabforge.serve.runner import serve as run_server

    settings, sock = serving
    port = sock.getsockname()[1]
    picked = f" (--port 0 picked {port})" if settings.port == 0 else ""
    click.echo(f"\nServing churn on http://127.0.0.1:{port}{picked} (Ctrl-C to stop).")
    click.echo(f"dashboard: http://127.0.0.1:{port}/ (what is served, traffic, latency, drift)")
    click.echo(f"report:    http://127.0.0.1:{port}/v2/models/churn/versions/{version}/report")
    click.echo("Try:\n")
    for line in curls:
        click.echo(f"  {line}\n")
    sys.stdout.flush()
    run_server(settings, sock=sock)

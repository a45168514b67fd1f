"""Command line: parse, call the package, print. Errors become one stderr line + exit code."""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NoReturn

import click
from rich.table import Table

from tabforge import __version__
from tabforge.cluster.connect import DASK_HELP
from tabforge.config import REGISTRY_HELP
from tabforge.contract.manifest import TASKS
from tabforge.data.schema import MAX_CATEGORIES
from tabforge.errors import TabforgeError
from tabforge.progress import Reporter, output_console

if TYPE_CHECKING:
    from tabforge.train.fit import TrainOptions

# OpenMP threads (LightGBM, XGBoost, scikit-learn) spin while waiting by default; on a machine
# that is busy with anything else that made one 156-row LightGBM fit take 18 s instead of
# 0.3 s. Set before any of them is imported; a user's own setting wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


class Group(click.Group):
    """The one place where a TabforgeError becomes an exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except TabforgeError as exc:
            _fail(str(exc), exc.exit_code)
        except KeyboardInterrupt:
            _fail("interrupted", 130)
        except MemoryError:
            _fail("out of memory (try a smaller file or fewer rows)", 1)


def _fail(message: str, code: int) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def _split(values: Sequence[str]) -> tuple[str, ...]:
    """--categorical a,b --categorical c -> (a, b, c); --drop '' names the unnamed column."""
    names = [
        v.strip()
        for item in values
        for v in ([""] if item == "" else item.split(","))
        if v.strip() or item == ""
    ]
    return tuple(dict.fromkeys(names))


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="tabforge")
def main() -> None:
    """tabforge: a tabular file to a verified ONNX model, stored and ready to serve."""
    # --time-budget counts from here: the heavy imports (scikit-learn, the converters) that
    # each command makes on first use count as part of the run.
    click.get_current_context().meta["tabforge.started"] = time.monotonic()


@main.command()
@click.argument("file", type=str)
@click.option("--target", "-t", help="Column to predict. Omit for clustering.")
@click.option("--model", "-m", default="auto", show_default=True, help="Catalog name or auto.")
@click.option("--task", type=click.Choice(TASKS), help="Override the inferred task.")
@click.option("--name", help="Model name in the registry (default: the file's stem).")
@click.option("--registry", help=REGISTRY_HELP)
@click.option("--categorical", multiple=True, help="Columns to treat as categorical (a,b).")
@click.option("--numeric", multiple=True, help="Columns to treat as numeric (a,b).")
@click.option("--drop", multiple=True, help="Columns to leave out (a,b).")
@click.option("--param", "-p", "params", multiple=True, help="Hyper-parameter key=value.")
@click.option("--search", type=int, default=0, help="Randomized search over N candidates.")
@click.option("--cv", type=int, default=0, help="Also report K-fold cross-validation.")
@click.option("--test-size", type=float, default=0.2, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True, help="Fixes every random source.")
@click.option("--tolerance", type=float, default=1e-4, show_default=True, help="Parity bound.")
@click.option("--time-budget", type=float, default=120.0, show_default=True,
              help="auto: seconds for the whole choice, final fit included.")  # fmt: skip
@click.option("--max-categories", type=int, default=MAX_CATEGORIES, show_default=True,
              help="One-hot at most this many values per column (most frequent).")  # fmt: skip
@click.option("--memory-limit", metavar="SIZE",
              help="Refuse training estimated above SIZE (8GiB; default: 60% of RAM).")  # fmt: skip
@click.option("--quiet", "-q", is_flag=True, help="Print only the model reference.")
@click.option("--json", "as_json", is_flag=True, help="Print a machine-readable summary.")
@click.option("--dask", metavar="ADDRESS",
              help=f"Run the folds of --cv, --search and auto there. {DASK_HELP}")  # fmt: skip
def train(
    file: str,
    name: str | None,
    registry: str | None,
    quiet: bool,
    as_json: bool,
    dask: str | None,
    **opts: Any,
) -> None:
    """Train a model on FILE, export it to ONNX, verify parity and store it."""
    from tabforge.cluster.connect import connect
    from tabforge.flow import train as run_train

    reporter = Reporter(quiet=quiet or as_json)
    options = _train_options(**opts)
    with connect(dask) if dask else contextlib.nullcontext():
        outcome = run_train(
            file,
            options,
            name=name,
            registry=registry,
            reporter=reporter,
            started=click.get_current_context().meta.get("tabforge.started"),
            backend="dask" if dask else None,
        )
    if as_json:
        click.echo(json.dumps(outcome.summary(), indent=2))
    elif quiet:
        click.echo(outcome.ref)
    else:
        _print_outcome(outcome)


def _train_options(
    *,
    params: Sequence[str],
    categorical: Sequence[str],
    numeric: Sequence[str],
    drop: Sequence[str],
    tolerance: float,
    max_categories: int,
    memory_limit: str | None,
    **rest: Any,
) -> TrainOptions:
    """`train`'s options as TrainOptions, the values click cannot check itself checked."""
    from tabforge.train.catalog import parse_param
    from tabforge.train.fit import TrainOptions
    from tabforge.train.memory import parse_size

    if tolerance <= 0:
        raise click.BadParameter("must be positive", param_hint="--tolerance")
    if max_categories < 1:
        raise click.BadParameter("must be at least 1", param_hint="--max-categories")
    return TrainOptions(
        params=dict(parse_param(p) for p in params),
        categorical=_split(categorical),
        numeric=_split(numeric),
        drop=_split(drop),
        tolerance=tolerance,
        max_categories=max_categories,
        memory_limit=parse_size(memory_limit) if memory_limit else None,
        **rest,
    )


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) < 1e5 else f"{value:.4g}"
    return str(value)


def _print_outcome(outcome: Any) -> None:
    console = output_console()
    fit, parity, manifest = outcome.fit, outcome.parity, outcome.manifest
    if fit.leaderboard:
        board = Table(
            title=f"auto: {manifest.metrics['primary']} (3-fold CV)", title_justify="left"
        )
        for col in ("model", "score", "seconds"):
            board.add_column(col)
        for row in fit.leaderboard:
            board.add_row(row["model"], _fmt(row["score"]), _fmt(row["seconds"]))
        console.print(board)
    if fit.search:
        best = ", ".join(f"{k}={v!r}" for k, v in fit.params.items())
        console.print(f"search   best of {len(fit.search)} candidates (3-fold CV): {best}")
    table = Table(title=f"{outcome.ref}  {fit.entry.name} ({manifest.task})", title_justify="left")
    table.add_column("metric")
    table.add_column("hold-out", justify="right")
    if fit.cv:
        table.add_column(f"cv ({manifest.metrics['cv_folds']} folds)", justify="right")
    for key, value in fit.holdout.items():
        row = [key, _fmt(value)]
        if fit.cv:
            stats = fit.cv.get(key, {})
            row.append(f"{_fmt(stats.get('mean'))} ± {_fmt(stats.get('std'))}")
        table.add_row(*row)
    console.print(table)
    console.print(f"parity   {parity.describe()}")
    console.print(f"stored   {outcome.registry}/{outcome.name}/{outcome.version}")
    console.print(f"sha256   {outcome.model_sha256}")


# Command groups defined in their own modules attach themselves to `main` on import.
from tabforge.cli import demo, drift, models, predict, report  # noqa: E402, F401
from tabforge.cli import serve as _serve_command  # noqa: E402, F401

"""``tabforge serve``: the inference server."""

from __future__ import annotations

from pathlib import Path

import click

from tabforge.cli import REGISTRY_HELP, _split, main


@main.command()
@click.option("--registry", help=REGISTRY_HELP)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", default=8000, show_default=True, type=int,
              help="1-65535; 0 picks a free port (the start-up log says which).")  # fmt: skip
@click.option("--models", multiple=True,
              help="Models to serve (a,b), each one in the registry; default: all.")  # fmt: skip
@click.option("--workers", default=1, show_default=True, type=int, help="Server processes.")
@click.option("--threads", default=0, type=int, help="onnxruntime threads per call (0: 1).")
@click.option("--max-rows", default=100_000, show_default=True, type=int, help="Rows per request.")
@click.option(
    "--max-body-mb", default=64.0, show_default=True, type=float, help="Request body limit."
)
@click.option(
    "--max-batch-rows",
    default=256,
    show_default=True,
    type=int,
    help="Dynamic batching: most rows per onnxruntime call; 0 turns it off.",
)
@click.option(
    "--max-delay-us",
    default=0,
    show_default=True,
    type=int,
    help="Dynamic batching: longest wait for a batch to fill.",
)
@click.option(
    "--model-batching",
    multiple=True,
    metavar="NAME=ROWS[:DELAY_US]",
    help="Batching for one model, overriding the two options above.",
)
@click.option("--no-watch", is_flag=True, help="Do not follow registry changes while serving.")
@click.option("--cache-entries", default=0, show_default=True, type=int,
              help="Response cache entries per model version (0: off).")  # fmt: skip
@click.option("--header-timeout", default=10.0, show_default=True, type=float,
              help="Seconds a client has to send a request's headers.")  # fmt: skip
@click.option("--body-timeout", default=60.0, show_default=True, type=float,
              help="Seconds a client has to send a request's body (408 after).")  # fmt: skip
def serve(
    registry: str | None,
    host: str,
    port: int,
    models: tuple[str, ...],
    workers: int,
    threads: int,
    max_rows: int,
    max_body_mb: float,
    max_batch_rows: int,
    max_delay_us: int,
    model_batching: tuple[str, ...],
    no_watch: bool,
    cache_entries: int,
    header_timeout: float,
    body_timeout: float,
) -> None:
    """Serve registry models over Open Inference Protocol V2 and KServe V1."""
    from tabforge.config import registry_root
    from tabforge.errors import ConfigError
    from tabforge.serve.runner import serve as run
    from tabforge.serve.settings import ServeSettings

    for entry in model_batching:
        name, eq, spec = entry.partition("=")
        rows, _, delay = spec.partition(":")
        if not (name and eq and rows.isdigit() and (not delay or delay.isdigit())):
            raise ConfigError(f"--model-batching {entry!r}: expected NAME=ROWS[:DELAY_US]")
    if max_batch_rows < 0 or max_delay_us < 0:
        raise ConfigError("--max-batch-rows and --max-delay-us must be at least 0")
    if (
        workers < 1
        or threads < 0
        or max_rows < 1
        or max_body_mb <= 0
        or min(header_timeout, body_timeout) <= 0
    ):
        raise ConfigError(
            "--workers and --max-rows must be at least 1, --threads at least 0, "
            "--max-body-mb, --header-timeout and --body-timeout above 0"
        )
    settings = ServeSettings(
        registry=Path(registry_root(registry)).absolute(),
        models=_split(models),
        host=host,
        port=port,
        workers=workers,
        threads=threads,
        max_rows=max_rows,
        max_body_bytes=int(max_body_mb * 1024 * 1024),
        max_batch_rows=max_batch_rows,
        max_delay_us=max_delay_us,
        model_batching=model_batching,
        watch=not no_watch,
        cache_entries=max(0, cache_entries),
        header_timeout=header_timeout,
        body_timeout=body_timeout,
    )
    run(settings)

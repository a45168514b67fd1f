"""``--dask ADDRESS``: a client of a running scheduler, or a LocalCluster started for the run.

Dask is an optional extra (``tabforge[dask]``), imported only here and only when asked for.
A LocalCluster started here is closed in ``finally``, so Ctrl-C or a failed task never
leaves worker processes behind.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from tabforge.errors import ClusterError, ConfigError

if TYPE_CHECKING:
    from distributed import Client, LocalCluster

LOCAL = "local"
DEFAULT_LOCAL_WORKERS = 2
DASK_HELP = (
    "Run on a Dask cluster: a scheduler address (tcp://host:8786), or local[:N] for a "
    f"LocalCluster of N worker processes (default {DEFAULT_LOCAL_WORKERS}) on this machine."
)


def local_workers(address: str) -> int | None:
    """N for ``local`` / ``local:N``; None for a scheduler address."""
    name, _, count = address.partition(":")
    if name != LOCAL:
        return None
    if not count:
        return DEFAULT_LOCAL_WORKERS
    if not count.isdigit() or int(count) < 1:
        raise ConfigError(f"--dask local:N takes a number of workers (1 or more), got {address!r}")
    return int(count)


def local_cluster(workers: int) -> LocalCluster:
    """N single-threaded worker processes on loopback, no dashboard."""
    from distributed import LocalCluster

    return LocalCluster(
        n_workers=workers,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
        # The scheduler's small HTTP server (health, metrics) would otherwise try port 8787
        # and warn when another cluster has it.
        scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
        # A failed task is reported once, by the client, as one line; not by the worker too.
        silence_logs=logging.CRITICAL,
    )


@contextmanager
def connect(address: str) -> Iterator[Client]:
    """A distributed Client, the current one while the block runs."""
    workers = local_workers(address)
    try:
        from distributed import Client
    except ImportError as exc:
        raise ConfigError(
            "--dask needs Dask's distributed scheduler: pip install 'tabforge[dask]'"
        ) from exc
    cluster = None
    try:
        if workers is not None:
            cluster = local_cluster(workers)
            client = Client(cluster)
        else:
            client = _client(Client, address)
        with client:
            yield client
    finally:
        if cluster is not None:
            cluster.close()


def _client(client_type: type[Client], address: str) -> Client:
    try:
        return client_type(address)
    except (OSError, TimeoutError, ValueError) as exc:
        why = str(exc).splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ClusterError(f"cannot reach the Dask scheduler at {address}: {why}") from exc

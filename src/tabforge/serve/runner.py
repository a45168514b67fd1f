"""Run the app under uvicorn (uvloop + httptools), one or more workers on one port."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import logging
import os
import shutil
import socket
import sys
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tabforge.errors import ConfigError
from tabforge.registry.backends import open_registry
from tabforge.registry.layout import ELSEWHERE
from tabforge.serve.settings import ServeSettings
from tabforge.serve.state import PREFIX as STATE_PREFIX
from tabforge.serve.state import alive

if TYPE_CHECKING:
    from tabforge.serve.app import App


BACKLOG = 2048  # uvicorn's default


def listen(host: str, port: int) -> socket.socket:
    """The listening socket, bound here once and handed to uvicorn.

    Binding it ourselves turns every refusal (an unknown host, a port in use, an address
    not on this machine) into one line and exit 2, and leaves no gap between a check and
    uvicorn's own bind in which another process could take the port.
    """
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (socket.gaierror, UnicodeError) as exc:
        raise ConfigError(
            f"--host {host!r} is not an IP address or a known host name "
            "(e.g. 127.0.0.1, ::1, 0.0.0.0 or localhost)"
        ) from exc
    family, kind, proto, _, address = found[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    # Listening from here on: a client that connects while the workers still start waits
    # in the backlog instead of being refused (uvicorn says "running" before they accept).
    sock.listen(BACKLOG)
    sock.set_inheritable(True)  # the workers of --workers N share it
    return sock


def check_registry(settings: ServeSettings) -> list[str]:
    """Refuse to start on a registry that cannot serve what was asked; warnings to show.

    Every model named in --models must be there (a typo should not leave a server running
    with nothing behind it). An empty registry is served while watched, so a server may
    start before the first model is trained; without watching it could never serve.
    """
    store = open_registry(settings.registry)
    if settings.models:
        store.require(settings.models)
        return []
    if store.names():
        return []
    empty = f"registry {store.location} holds no models"
    if not settings.watch:
        raise ConfigError(f"{empty}: nothing to serve with --no-watch ({ELSEWHERE})")
    return [f"{empty} yet: serving none until one is trained there ({ELSEWHERE})"]


def _graceful_server() -> type:
    import uvicorn

    class GracefulServer(uvicorn.Server):
        """uvicorn's server, except that a SIGTERM/SIGINT ends in exit 0.

        uvicorn finishes in-flight requests on SIGTERM, then re-raises the signal, so the
        process dies of it (exit 143). A graceful stop is a success: don't re-raise.
        """

        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            with super().capture_signals():
                yield
                self._captured_signals.clear()

    return GracefulServer


def worker_app(handed: Mapping[str, str]) -> App:
    """The app of one server worker, from the settings its parent handed it.

    The settings travel in their text form inside uvicorn's config (pickled to each worker
    process) and are parsed and validated here once, the same way as the environment is:
    nothing passes through ``os.environ``.
    """
    from tabforge.serve.app import configure_logging, create_app

    configure_logging()  # each worker process logs its own loads and swaps
    return create_app(ServeSettings.from_env(handed))


def serve(settings: ServeSettings, *, sock: socket.socket | None = None) -> None:
    """Serve until stopped; the workers share a state directory that lives as long.

    ``sock``: a socket already listening (from :func:`listen`), for a caller that must
    know the port is its own before doing slow work (the demo trains only after binding).
    """
    for warning in check_registry(settings):
        print(f"warning: {warning}", file=sys.stderr, flush=True)
    if sock is None:
        sock = listen(settings.host, settings.port)
    if settings.engine == "rust":
        from tabforge.serve import rust

        rust.run(settings, sock)  # replaces this process
        return
    sweep_state_dirs()
    shared = Path(tempfile.mkdtemp(prefix=f"{STATE_PREFIX}{os.getpid()}-"))
    try:
        _run(dataclasses.replace(settings, state_dir=shared), sock)
    finally:
        shutil.rmtree(shared, ignore_errors=True)


def sweep_state_dirs() -> None:
    """Remove the state directories of servers that were killed (SIGKILL leaves them)."""
    for path in Path(tempfile.gettempdir()).glob(f"{STATE_PREFIX}*-*"):
        owner = path.name.removeprefix(STATE_PREFIX).split("-", 1)[0]
        if owner.isdigit() and not alive(int(owner)):
            shutil.rmtree(path, ignore_errors=True)


def _run(settings: ServeSettings, sock: socket.socket) -> None:
    import uvicorn

    from tabforge.serve.fastlane import FastProtocol

    # Partials of module-level callables pickle, so they reach spawned workers as they are.
    protocol: Any = functools.partial(
        FastProtocol,
        header_timeout=settings.header_timeout,
        body_timeout=settings.body_timeout,
    )
    config = uvicorn.Config(
        functools.partial(worker_app, settings.to_env()),
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        loop="uvloop",
        http=protocol,
        access_log=False,
        log_level="info",
        timeout_keep_alive=5,
        timeout_graceful_shutdown=int(settings.shutdown_timeout),
        server_header=False,
    )
    _log_running(settings.host, sock)
    if settings.workers > 1:
        # The supervisor handles SIGTERM itself: it stops the workers (each finishes its
        # in-flight requests) and returns, so the process exits 0.
        from uvicorn.supervisors import Multiprocess

        Multiprocess(config, sockets=[sock]).run()
    else:
        _graceful_server()(config).run(sockets=[sock])


def _log_running(host: str, sock: socket.socket) -> None:
    """uvicorn's own start-up line, which it logs only for sockets it binds itself."""
    port = sock.getsockname()[1]  # the real one when --port 0 picked it
    shown = f"[{host}]" if ":" in host else host
    logging.getLogger("uvicorn.error").info(
        "Uvicorn running on http://%s:%d (Press CTRL+C to quit)", shown, port
    )

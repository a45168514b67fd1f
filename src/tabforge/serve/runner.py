"""Run the app under uvicorn (uvloop + httptools), one or more workers on one port."""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Iterator

from tabforge.errors import ConfigError
from tabforge.serve.settings import ServeSettings


def check_port(host: str, port: int) -> None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror}") from exc


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


def serve(settings: ServeSettings) -> None:
    import uvicorn

    from tabforge.serve.protocol import DeadlineProtocol

    if not settings.registry.is_dir():
        raise ConfigError(f"registry directory {settings.registry} does not exist")
    check_port(settings.host, settings.port)
    os.environ.update(settings.to_env())  # workers build the app from these
    config = uvicorn.Config(
        "tabforge.serve.app:app_from_env",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        loop="uvloop",
        http=DeadlineProtocol,
        access_log=False,
        log_level="info",
        timeout_keep_alive=5,
        timeout_graceful_shutdown=int(settings.shutdown_timeout),
        server_header=False,
    )
    if settings.workers > 1:
        # The supervisor handles SIGTERM itself: it stops the workers (each finishes its
        # in-flight requests) and returns, so the process exits 0.
        from uvicorn.supervisors import Multiprocess

        Multiprocess(config, sockets=[config.bind_socket()]).run()
    else:
        _graceful_server()(config).run()

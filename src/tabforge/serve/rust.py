"""``tabforge serve --engine rust``: the same registry served by ``tabforge-server``.

The Rust server (``rust/tabforge-server``, built by ``make install``) answers the same V2
and V1 protocols from the same artifacts, with the same ONNX Runtime build: it loads the
``libonnxruntime.so`` inside this environment's onnxruntime wheel. Python does what it
does for its own engine first (the registry and ``--models`` checks, binding the port, so
every refusal reads the same), then hands the bound socket and the settings, as their
``TABFORGE_*`` variables, to the Rust process, which replaces this one: signals and the
exit code are the server's own.
"""

from __future__ import annotations

import os
import shutil
import socket
import sys
from pathlib import Path

from tabforge.errors import ConfigError
from tabforge.serve.settings import ServeSettings

BINARY = "tabforge-server"
# Settings the Rust engine does not have; a value other than the default is named at start.
PYTHON_ONLY = (
    "workers", "inline_rows", "fast_lane", "cache_entries", "monitor", "admin_token",
    "header_timeout", "body_timeout",
)  # fmt: skip


def binary() -> Path:
    """The Rust server: $TABFORGE_RUST_SERVER, else this checkout's release build, else PATH."""
    given = os.environ.get("TABFORGE_RUST_SERVER")
    if given:
        return Path(given)
    checkout = Path(__file__).resolve().parents[3] / "rust" / "target" / "release" / BINARY
    if checkout.is_file():
        return checkout
    found = shutil.which(BINARY)
    if found:
        return Path(found)
    raise ConfigError(
        f"the Rust engine is not built: no {checkout} (run `make install`, which runs cargo "
        "build --release in rust/) and no tabforge-server on PATH; or set TABFORGE_RUST_SERVER"
    )


def onnxruntime_library() -> str:
    """The ONNX Runtime library of this environment's wheel: one engine for both languages."""
    import onnxruntime

    capi = Path(onnxruntime.__file__).parent / "capi"
    found = sorted(capi.glob("libonnxruntime.so*")) or sorted(capi.glob("libonnxruntime*.dylib"))
    if not found:
        raise ConfigError(f"no libonnxruntime shared library in {capi}; set ORT_DYLIB_PATH")
    return str(found[-1])


def unsupported(settings: ServeSettings) -> list[str]:
    """Options set that only the Python engine has, for one warning line each."""
    defaults = ServeSettings(registry=settings.registry)
    return [
        f"--{name.replace('_', '-')} applies to --engine python only; ignored"
        for name in PYTHON_ONLY
        if getattr(settings, name) != getattr(defaults, name)
    ]


def run(settings: ServeSettings, sock: socket.socket) -> None:
    """Replace this process with the Rust server, listening on ``sock``."""
    exe = binary()
    for warning in unsupported(settings):
        print(f"warning: {warning}", file=sys.stderr, flush=True)
    env = dict(os.environ) | settings.to_env()
    env.setdefault("ORT_DYLIB_PATH", onnxruntime_library())
    fd = sock.fileno()
    os.set_inheritable(fd, True)
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.execve(exe, [str(exe), "--listen-fd", str(fd)], env)
    except OSError as exc:
        raise ConfigError(f"cannot start the Rust engine {exe}: {exc.strerror or exc}") from exc

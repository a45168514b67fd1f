"""Server settings: one validated type, the source of ``tabforge serve``'s options.

Each field is declared once with its help, environment variable, option and bounds
(:func:`tabforge.config.setting`). The CLI builds its options and shows its defaults from
these declarations; a value is validated on construction, so the CLI, the demo and
``create_app()`` refuse alike. Workers receive the settings in their text form and parse
and validate them again (``to_env`` / ``from_env``), never through ``os.environ``; the
hand-off also carries the server's shared state directory, which is no option.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from tabforge.config import (
    DEFAULT_REGISTRY,
    PREFIX,
    REGISTRY_HELP,
    check_bounds,
    environment,
    parse,
    setting,
    settings_of,
    text,
)
from tabforge.errors import ConfigError
from tabforge.registry.backends import normalized

ENGINES = ("python", "rust")
STATE_DIR = "SERVE_STATE_DIR"  # the shared directory's variable in a worker's hand-off


@dataclass(frozen=True)
class ServeSettings:
    # Variables are TABFORGE_SERVE_<FIELD> unless a field says otherwise; options --field-name.
    ENV_GROUP: ClassVar[str] = "SERVE_"

    # fmt: off
    registry: str = setting(DEFAULT_REGISTRY, REGISTRY_HELP, env="REGISTRY")
    models: tuple[str, ...] = setting((), "Models to serve (a,b), each one in the registry; "
                                          "default: all.")
    engine: str = setting("python", "Server engine: python (uvicorn), or rust (tabforge-server, "
                                    "the Rust build of the same protocols).")
    host: str = setting("127.0.0.1", "Address to bind (loopback unless told otherwise).")
    port: int = setting(8000, "TCP port, 1-65535; 0 picks a free port (the start-up log "
                              "says which).", low=0, high=65535,
                        hint="use 1-65535 (0 picks a free port)")
    workers: int = setting(1, "Server processes sharing the port.", low=1)
    threads: int = setting(0, "onnxruntime intra-op threads per call (0: 1; parallelism comes "
                              "from concurrent calls).", low=0)
    max_rows: int = setting(100_000, "Most rows in one request (413 above it).", low=1)
    max_body_mb: float = setting(64.0, "Largest request body in MiB (413 above it).", above=0)
    max_batch_rows: int = setting(256, "Dynamic batching: most rows in one onnxruntime call; "
                                       "0 turns batching off.", low=0)
    max_delay_us: int = setting(0, "Dynamic batching: how long (microseconds) a batch that is "
                                   "not full may wait.", low=0)
    model_batching: tuple[str, ...] = setting((), "Batching for one model, NAME=ROWS[:DELAY_US], "
                                                  "overriding the two options above.")
    inline_rows: int = setting(64, "Batches up to this many rows of a model whose calls take "
                                   "under 1 ms run on the event loop; 0: always on a thread.",
                               low=0)
    fast_lane: bool = setting(True, "Answer plain V2 infer requests (up to 64 KiB) from the "
                                    "HTTP protocol, without an ASGI task each.")
    watch: bool = setting(True, "Follow the registry: new versions, moved aliases and deletions "
                                "apply while serving.")
    watch_interval: float = setting(1.0, "Seconds between two looks at the registry.", above=0)
    cache_entries: int = setting(0, "Response cache entries per model version (0: off).", low=0)
    header_timeout: float = setting(10.0, "Seconds a client has to send a request's line and "
                                          "headers (then it is cut off).", above=0)
    body_timeout: float = setting(60.0, "Seconds a client has to send a request's body once its "
                                        "headers are in (408 after).", above=0)
    shutdown_timeout: float = setting(30.0, "Seconds a shutdown waits for in-flight requests.",
                                      low=0)
    admin_token: str = setting("", "Bearer token of the admin API; empty turns the API off.",
                               env="ADMIN_TOKEN", secret=True)
    api_keys: tuple[str, ...] = setting((), "Keys required on model and inference endpoints; "
                                            "none: open.", env="API_KEYS", secret=True)
    monitor: bool = setting(True, "Count drift against each version's reference and live "
                                  "quality from feedback (/monitor, /metrics).")
    # fmt: on
    # Not a setting (no option): the directory the workers of one server share (metrics,
    # monitoring counts, readiness). ``tabforge serve`` creates one and hands it to its
    # workers; None: each app makes a private one and counts as the only worker.
    state_dir: Path | None = None

    def __post_init__(self) -> None:
        # Absolute, so every worker and every message means the same directory.
        object.__setattr__(self, "registry", normalized(self.registry))
        if not self.host.strip():
            raise ConfigError("--host is empty: give an address such as 127.0.0.1 or 0.0.0.0")
        check_bounds(self)
        if self.engine not in ENGINES:
            raise ConfigError(f"--engine {self.engine!r}: use one of {', '.join(ENGINES)}")
        for entry in self.model_batching:
            name, eq, rows_delay = entry.partition("=")
            rows, _, delay = rows_delay.partition(":")
            if not (name and eq and rows.isdigit() and (not delay or delay.isdigit())):
                raise ConfigError(f"--model-batching {entry!r}: expected NAME=ROWS[:DELAY_US]")

    @property
    def max_body_bytes(self) -> int:
        """--max-body-mb in bytes."""
        return int(self.max_body_mb * 1024 * 1024)

    def batch_policy(self, model: str) -> tuple[int, int]:
        """(max_batch_rows, max_delay_us) for a model: its own entry, else the defaults."""
        for entry in self.model_batching:
            name, _, rows_delay = entry.partition("=")
            if name == model:
                rows, _, delay = rows_delay.partition(":")
                return int(rows), int(delay or self.max_delay_us)
        return self.max_batch_rows, self.max_delay_us

    def session_threads(self) -> int:
        """Intra-op threads per onnxruntime call."""
        return self.threads if self.threads > 0 else 1

    def concurrent_calls(self) -> int:
        """onnxruntime calls in flight per worker: workers x calls x threads = cores."""
        cores = os.cpu_count() or 1
        return max(1, cores // (max(1, self.workers) * self.session_threads()))

    def to_env(self) -> dict[str, str]:
        """The settings as TABFORGE_* variables: what a worker is handed, read by from_env."""
        env = {s.variable: text(getattr(self, s.name)) for s in settings_of(type(self))}
        if self.state_dir is not None:
            env[PREFIX + STATE_DIR] = str(self.state_dir)
        return env

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **given: Any) -> ServeSettings:
        """Settings from TABFORGE_* variables (``os.environ`` unless ``env``), then ``given``.

        ``given`` holds typed values (the command line's); a None there means "not given".
        """
        found = environment(env)
        values: dict[str, Any] = {
            s.name: parse(s, found[s.env]) for s in settings_of(cls) if s.env in found
        }
        if found.get(STATE_DIR):
            values["state_dir"] = Path(found[STATE_DIR])
        values |= {key: value for key, value in given.items() if value is not None}
        return cls(**values)

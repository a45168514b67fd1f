"""Server settings: one dataclass, read from TABFORGE_* environment variables by workers."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from tabforge.errors import ConfigError

ENV_PREFIX = "TABFORGE_SERVE_"


@dataclass(frozen=True)
class ServeSettings:
    registry: Path = Path("models")
    #: Model names to serve; empty serves every model in the registry.
    models: tuple[str, ...] = ()
    #: Bind address; loopback unless told otherwise.
    host: str = "127.0.0.1"
    #: TCP port, 1-65535; 0 picks a free one (the start-up log says which).
    port: int = 8000
    #: Server processes sharing the port.
    workers: int = 1
    #: onnxruntime intra-op threads per call; 0 = 1 (parallelism comes from concurrent calls).
    threads: int = 0
    #: Largest request body accepted (413 above it).
    max_body_bytes: int = 64 * 1024 * 1024
    #: Most rows in one request (413 above it).
    max_rows: int = 100_000
    #: Seconds a client has to send a request's line and headers; slower ones are cut off.
    header_timeout: float = 10.0
    #: Seconds a client has to send a request's body once its headers are in (408, closed).
    body_timeout: float = 60.0
    #: Seconds a shutdown waits for in-flight requests.
    shutdown_timeout: float = 30.0
    #: Follow the registry: new versions, moved aliases and deletions apply while serving.
    watch: bool = True
    #: Seconds between two looks at the registry.
    watch_interval: float = 1.0
    #: Response cache entries per model version (0: no cache).
    cache_entries: int = 0
    #: Dynamic batching: most rows in one onnxruntime call (0 turns batching off).
    max_batch_rows: int = 256
    #: Dynamic batching: how long a batch that is not full may wait for more rows.
    max_delay_us: int = 0
    #: Per-model batching, "name=max_batch_rows[:max_delay_us]" entries.
    model_batching: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # Validated where defined, so the CLI, the demo and create_app() all refuse alike.
        if not 0 <= self.port <= 65535:
            raise ConfigError(
                f"--port {self.port} is out of range: use 1-65535 (0 picks a free port)"
            )
        if not self.host.strip():
            raise ConfigError("--host is empty: give an address such as 127.0.0.1 or 0.0.0.0")

    def batch_policy(self, model: str) -> tuple[int, int]:
        """(max_batch_rows, max_delay_us) for a model: its own entry, else the defaults."""
        for entry in self.model_batching:
            name, _, spec = entry.partition("=")
            if name == model:
                rows, _, delay = spec.partition(":")
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
        out = {}
        for key, value in asdict(self).items():
            text = ",".join(value) if isinstance(value, tuple) else str(value)
            out[ENV_PREFIX + key.upper()] = text
        return out

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> ServeSettings:
        env = dict(os.environ if env is None else env)
        values: dict[str, object] = {}
        for f in fields(cls):
            raw = env.get(ENV_PREFIX + f.name.upper())
            if raw is None:
                continue
            default = f.default
            if isinstance(default, tuple):
                values[f.name] = tuple(v for v in raw.split(",") if v)
            elif isinstance(default, Path):
                values[f.name] = Path(raw)
            elif isinstance(default, bool):
                values[f.name] = raw.lower() in ("1", "true", "yes")
            elif isinstance(default, int):
                values[f.name] = int(raw)
            elif isinstance(default, float):
                values[f.name] = float(raw)
            else:
                values[f.name] = raw
        return cls(**values)  # type: ignore[arg-type]

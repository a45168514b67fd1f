"""What the benchmark scripts (and the tests) share: synthetic data, free ports, process memory,
and the section writer for RESULTS.md and RELIABILITY.md."""

from __future__ import annotations

import contextlib
import os
import socket
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import polars as pl

ROOT = Path(__file__).resolve().parent.parent


def default_tabforge() -> str:
    """The tabforge beside this Python, else the project's .venv."""
    sibling = Path(sys.executable).with_name("tabforge")
    return str(sibling) if sibling.exists() else str(ROOT / ".venv" / "bin" / "tabforge")


FEATURES = [f"f{i:02d}" for i in range(30)]
TARGET = "y"
CLASSES = ("no", "yes")
POSITIVE = "yes"


def chunk(rng: Any, n: int) -> Any:
    """``n`` rows as a pyarrow table; consumes exactly 31 normals per row, row-major.

    So a file generated in chunks from one seeded stream is the same whatever the chunk
    size, and a smaller file is always the start of a larger one.
    """
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    z = rng.standard_normal((n, 31), dtype=np.float32)
    x = np.empty((n, 30), dtype=np.float32)
    x[:, :10] = z[:, :10]  # standard normal
    scale = np.arange(1, 11, dtype=np.float32)
    x[:, 10:20] = z[:, 10:20] * 10 * scale + 100 * scale  # other scales and offsets
    x[:, 20:30] = np.exp(z[:, 20:30] / 2)  # skewed, positive
    logit = (
        1.2 * x[:, 0]
        - 0.8 * x[:, 1]
        + 0.6 * x[:, 2] * x[:, 3]
        + np.sin(2 * x[:, 4])
        + 0.4 * (x[:, 5] ** 2 - 1)
        + 0.5 * (x[:, 11] - 200) / 20
        - 0.7 * np.log(x[:, 20])
        + 0.8 * z[:, 30]  # noise
    )
    label = pc.take(pa.array(CLASSES), pa.array((logit > 0).astype(np.int8)))
    arrays = [pa.array(x[:, j]) for j in range(30)]
    return pa.Table.from_arrays([*arrays, label], names=[*FEATURES, TARGET])


def write_section(out: Path, heading: str, section: str) -> None:
    """Replace the section that starts with ``heading`` (or append it); keep the rest.

    A section runs from its ``## `` heading to the next ``## `` heading outside code fences.
    The file is replaced atomically.
    """
    text = out.read_text() if out.is_file() else "# Benchmarks\n"
    lines = text.splitlines()
    start = end = None
    fenced = False
    for i, line in enumerate(lines):
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        if fenced:
            continue
        if start is None and line.rstrip() == heading:
            start = i
        elif start is not None and line.startswith("## "):
            end = i
            break
    body = section.rstrip("\n").splitlines()
    if start is None:
        while lines and not lines[-1].strip():
            lines.pop()
        new = [*lines, "", *body] if lines else body
    else:
        after = lines[end:] if end is not None else []
        new = [*lines[:start], *body, *([""] if after else []), *after]
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text("\n".join(new).rstrip("\n") + "\n")
    os.replace(tmp, out)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def process_tree(pid: int) -> list[int]:
    """``pid`` and its live descendants, from /proc/<pid>/task/*/children."""
    out: list[int] = []
    todo = [pid]
    while todo:
        p = todo.pop()
        if p in out:
            continue
        out.append(p)
        for children in Path(f"/proc/{p}/task").glob("*/children"):
            with contextlib.suppress(OSError, ValueError):
                todo += [int(c) for c in children.read_text().split()]
    return out


def tree_rss_mib(pid: int) -> float | None:
    """VmRSS summed over ``pid`` and its descendants."""
    total_kib = 0
    for p in process_tree(pid):
        with contextlib.suppress(OSError, ValueError, IndexError):
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total_kib += int(line.split()[1])
                    break
    return total_kib / 1024 if total_kib else None


def mixed_frame(n: int = 300, seed: int = 1) -> pl.DataFrame:
    """Numeric and categorical features with missing values; string and numeric targets.

    The tests' data too (tests/helpers.py); the soak run trains on it.
    """
    import numpy as np
    import polars as pl

    rng = np.random.default_rng(seed)
    a = rng.normal(size=n)
    b = rng.uniform(0, 100, n).round(1)
    c = rng.integers(0, 5, n).astype(float)
    color = rng.choice(["red", "green", "blue"], n).astype(object)
    shape = rng.choice(["sq", "tri", "circ", "hex"], n).astype(object)
    score = a + (color == "red") * 1.0 + b / 50 + rng.normal(0, 0.5, n)
    a[rng.random(n) < 0.08] = np.nan
    b[rng.random(n) < 0.08] = np.nan
    color[rng.random(n) < 0.08] = None
    shape[rng.random(n) < 0.05] = None
    return pl.DataFrame(
        {
            "a": a,
            "b": b,
            "c": c,
            "color": color.tolist(),
            "shape": shape.tolist(),
            "label": np.where(score > 2.2, "high", np.where(score > 1.0, "mid", "low")),
            "binary": np.where(score > 1.5, "yes", "no"),
            "value": score * 10,
        }
    ).with_columns(pl.col("a").fill_nan(None), pl.col("b").fill_nan(None))

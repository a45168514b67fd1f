"""``predict --dask``: score a directory, glob or large Parquet file partition by partition.

Each partition is one task. The task carries strings and numbers only (the partition, the
registry, the resolved reference and its sha256); on the worker it scores its rows with the
very function local ``predict`` uses (``batch.scoring.score_file``), so a part holds exactly
the rows local ``predict`` would have written for them.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tabforge.batch.scoring import DEFAULT_BATCH_ROWS, OnError, score_file
from tabforge.cluster import models, output
from tabforge.cluster.plan import DEFAULT_PARTITION_ROWS, Partition, partitions
from tabforge.errors import ClusterError, TabforgeError
from tabforge.progress import Reporter, SilentReporter

if TYPE_CHECKING:
    from distributed import Client


@dataclass(frozen=True)
class PartTask:
    """One partition's work, as sent to a worker."""

    partition: Partition
    out_dir: str
    registry: str
    ref: str  # name:version, resolved once by the client: every part uses the same version
    sha256: str
    keep: tuple[str, ...]
    on_error: OnError
    batch_rows: int
    tag: str


@dataclass(frozen=True)
class PartDone:
    index: int
    rows_in: int
    rows_out: int
    rejected: int


@dataclass
class ClusterSummary:
    ref: str
    parts: int
    skipped: int  # complete from an earlier run
    rows_in: int  # read by this run
    rows_out: int  # written by this run
    rows_total: int  # in every part
    output: Path
    manifest: Path


def score_part(task: PartTask) -> PartDone:
    """Runs on a worker: load the model (once per process), score, rename the part in place."""
    predictor = models.predictor(task.registry, task.ref, task.sha256)
    part = task.partition
    # An earlier run's rejects for this part: this run writes its own, or none.
    (Path(task.out_dir) / part.rejects).unlink(missing_ok=True)
    summary = score_file(
        predictor,
        part.source,
        Path(task.out_dir) / part.name,
        batch_rows=task.batch_rows,
        keep=task.keep,
        on_error=task.on_error,
        rows=part.rows,
        metadata={output.TAG_KEY: task.tag},
    )
    return PartDone(part.index, summary.rows_in, summary.rows_out, summary.rejected)


def score_on_cluster(
    client: Client,
    ref: str,
    source: str,
    directory: str | os.PathLike[str],
    *,
    registry: str | None = None,
    keep: tuple[str, ...] = (),
    on_error: OnError = "fail",
    batch_rows: int = DEFAULT_BATCH_ROWS,
    partition_rows: int = DEFAULT_PARTITION_ROWS,
    reporter: Reporter | None = None,
) -> ClusterSummary:
    """Score every partition of ``source`` not already complete in ``directory``, then write
    the directory's manifest."""
    reporter = reporter or SilentReporter()
    if batch_rows < 1:
        raise ClusterError(f"--batch-rows must be at least 1, got {batch_rows}")
    spec = models.registry_spec(registry)
    resolved, _, manifest = models.fetch(spec, ref)
    version = f"{resolved.name}:{resolved.version}"
    parts = partitions(source, partition_rows=partition_rows)
    if any(Path(p.source).parent == Path(directory).resolve() for p in parts):
        raise ClusterError("the output directory must not be the input's")
    out = output.prepare(directory, {p.name for p in parts})
    run = {"model_sha256": manifest.model_sha256, "keep": list(keep), "on_error": on_error}
    tasks = [
        PartTask(p, str(out), spec, version, manifest.model_sha256, keep, on_error, batch_rows,
                 p.tag(**run))
        for p in parts
    ]  # fmt: skip
    todo = [t for t in tasks if not output.done(out / t.partition.name, t.tag)]
    finished = _run(client, todo, reporter, total=len(tasks))
    rows = [
        finished[p.index].rows_out if p.index in finished else output.part_rows(out / p.name)
        for p in parts
    ]
    content = _manifest(version, manifest.model_sha256, source, parts, rows, out, run)
    written = output.write_manifest(out, content)
    rows_in = sum(d.rows_in for d in finished.values())
    rows_out = sum(d.rows_out for d in finished.values())
    skipped = len(tasks) - len(todo)
    return ClusterSummary(version, len(parts), skipped, rows_in, rows_out, sum(rows), out, written)


def _run(
    client: Client, todo: list[PartTask], reporter: Reporter, total: int
) -> dict[int, PartDone]:
    from distributed import as_completed

    futures = client.map(score_part, todo, pure=False)
    task_of = {f.key: t for f, t in zip(futures, todo, strict=True)}
    finished: dict[int, PartDone] = {}
    try:
        with reporter.step(f"Scoring {total} parts on the cluster", total=total) as advance:
            advance(total - len(todo))
            for future in as_completed(futures):
                part = task_of[future.key].partition
                try:
                    done = future.result()
                except Exception as exc:  # whatever a worker raised, or the worker's loss
                    raise _failed(part, exc) from exc
                finished[done.index] = done
                advance()
    finally:
        client.cancel([f for f in futures if not f.done()])
    return finished


def _failed(part: Partition, exc: BaseException) -> ClusterError:
    if isinstance(exc, TabforgeError):
        return ClusterError(f"{part.describe()}: {exc}")
    why = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return ClusterError(f"{part.describe()} failed on the cluster: {type(exc).__name__} {why}")


def _manifest(
    ref: str,
    sha256: str,
    source: str,
    parts: list[Partition],
    rows: list[int],
    out: Path,
    run: dict[str, Any],
) -> dict[str, Any]:
    inputs: dict[str, list[str]] = {}
    for p in parts:
        inputs.setdefault(p.source, []).append(p.name)
    return {
        "ref": ref,
        "model_sha256": sha256,
        "input": source,
        "inputs": [{"path": path, "parts": names} for path, names in inputs.items()],
        "parts": [
            {
                "file": p.name,
                "source": p.source,
                "rows": None if p.rows is None else list(p.rows),
                "rows_out": n,
                "rejects": _rejects(out, p),
            }
            for p, n in zip(parts, rows, strict=True)
        ],
        "rows": sum(rows),
        "columns": output.part_columns(out / parts[0].name),
        "keep": run["keep"],
        "on_error": run["on_error"],
        "written": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def _rejects(out: Path, part: Partition) -> str | None:
    return part.rejects if (out / part.rejects).is_file() else None

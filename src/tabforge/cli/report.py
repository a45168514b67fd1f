"""``tabforge report``: a version's page (or two versions compared) as one HTML file."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

import click

from tabforge.cli import main
from tabforge.config import REGISTRY_HELP


@main.command()
@click.argument("ref")
@click.argument("other", required=False)
@click.option("--output", "-o", help="Where to write the page (default: NAME-VERSION.html here).")
@click.option("--data", help="A labelled file: metrics, figures and drift recomputed on it.")
@click.option("--json", "as_json", is_flag=True, help="Print the page's data as JSON instead.")
@click.option("--registry", help=REGISTRY_HELP)
def report(
    ref: str,
    other: str | None,
    output: str | None,
    data: str | None,
    as_json: bool,
    registry: str | None,
) -> None:
    """A self-contained HTML report of model REF, or comparing REF with OTHER.

    Summary, metrics with their CV spread, the task's figures (computed through the stored
    ONNX model), importance, data profile, parity and portability; opens offline. With
    OTHER: both side by side, curves overlaid, metric deltas and the schema diff. With
    --data FILE (labelled): everything recomputed on FILE, plus its drift.
    """
    if as_json:
        import msgspec

        from tabforge.report.page import to_json

        _, doc, _ = _page(registry, [r for r in (ref, other) if r is not None], data)
        click.echo(msgspec.json.format(to_json(doc), indent=2).decode())
        return
    path = write_report(registry, [r for r in (ref, other) if r is not None], output, data=data)
    click.echo(f"wrote {path} ({_size(path.stat().st_size)})")


def write_report(
    registry: str | None, refs: list[str], output: str | None, *, data: str | None = None
) -> Path:
    """Write the page of one version (or two compared) and return where; the default name
    is NAME-VERSION.html (or A-VERSION-vs-B.html) in the current directory."""
    target = None if output is None else _writable(Path(output))
    html, _, name = _page(registry, refs, data)
    path = target or _writable(Path(name))
    _write(path, html.encode("utf-8"))
    return path


def _page(
    registry: str | None, refs: list[str], data: str | None
) -> tuple[str, dict[str, Any], str]:
    """The page for ``refs``: its HTML, its data, and its default file name."""
    from tabforge.registry.backends import open_registry
    from tabforge.report import comparison_doc, version_doc
    from tabforge.report.load import load_subject

    store = open_registry(registry)
    subjects = [load_subject(store, r, data=data) for r in refs]
    for subject in subjects:
        if subject.unreadable:  # the page goes on without the stored figures, and says so
            click.echo(f"warning: {subject.unreadable}; the page leaves its figures out", err=True)
    a = subjects[0].manifest
    if len(subjects) == 1:
        html, doc = version_doc(subjects[0])
        name = f"{a.name}-{a.version}.html"
    else:
        html, doc = comparison_doc(subjects[0], subjects[1])
        b = subjects[1].manifest
        name = f"{a.name}-{a.version}-vs-{'' if b.name == a.name else b.name + '-'}{b.version}.html"
    return html, doc, name


def _writable(path: Path) -> Path:
    """The output path, refused before any work when it cannot be written."""
    from tabforge.errors import DataError

    if path.is_dir():
        raise DataError(f"cannot write {path}: it is a directory")
    if not path.parent.is_dir():
        raise DataError(f"cannot write {path}: directory {path.parent} does not exist")
    if not os.access(path.parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise DataError(f"cannot write {path}: permission denied")
    return path


def _write(path: Path, data: bytes) -> None:
    """Write beside the target, then rename: a reader sees the old file or the whole new one."""
    from tabforge.errors import DataError
    from tabforge.registry.atomic import write_file

    tmp = path.parent / f".{path.name}.{uuid.uuid4().hex[:8]}.tmp"
    try:
        write_file(tmp, data)
        os.replace(tmp, path)
    except OSError as exc:
        raise DataError(f"cannot write {path}: {exc.strerror or exc}") from exc
    finally:
        tmp.unlink(missing_ok=True)


def _size(n: int) -> str:
    return f"{n / 1024:.0f} KB" if n < 1024 * 1024 else f"{n / 1024 / 1024:.1f} MB"

"""``tabforge models ...``: list, show, promote, rollback, delete, diff."""

from __future__ import annotations

import json
from typing import Any

import click
import msgspec
from rich.console import Console
from rich.table import Table

from tabforge.cli import main
from tabforge.config import REGISTRY_HELP
from tabforge.contract import Manifest
from tabforge.errors import NotFoundError, RegistryError, StorageError
from tabforge.progress import output_console
from tabforge.registry.backends import open_registry
from tabforge.registry.base import Registry
from tabforge.registry.compat import incompatibilities
from tabforge.registry.policy import ServingPolicy
from tabforge.registry.refs import DEFAULT_ALIAS, ModelRef

registry_option = click.option("--registry", help=REGISTRY_HELP)
quiet_option = click.option("--quiet", "-q", is_flag=True, help="Print nothing on success.")


def _store(registry: str | None) -> Registry:
    return open_registry(registry)


def _console() -> Console:
    return output_console(wrap=False)


def _primary(manifest: Manifest) -> tuple[str, Any]:
    name = manifest.metrics.get("primary", "")
    return name, manifest.metrics.get("holdout", {}).get(name)


@main.group()
def models() -> None:
    """Inspect and manage the model registry."""


@models.command("list")
@registry_option
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def list_models(registry: str | None, as_json: bool) -> None:
    """Every model: versions, aliases, task and primary metric of the latest version.

    A damaged version (its manifest unreadable) is marked and the model described by its
    latest readable version; every other model is listed as usual. With --json, each
    damage is an entry of the model's "errors".
    """
    store = _store(registry)
    rows = [_listing(store, name) for name in store.names()]
    for row in rows:
        for error in row["errors"]:
            click.echo(f"warning: {error['error']}", err=True)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo(f"registry {store.location} holds no models (tabforge train FILE stores one)")
        return
    table = Table()
    for col in ("name", "versions", "aliases", "task", "latest model", "metric"):
        table.add_column(col)
    for r in rows:
        aliases = ", ".join(f"{a}={v}" for a, v in sorted(r["aliases"].items()))
        value = "-" if r["value"] is None else f"{r['value']:.4f}"
        damaged = {e["version"] for e in r["errors"]}
        listed = ", ".join(f"{v} (damaged)" if v in damaged else str(v) for v in r["versions"])
        model = r["model"] or "-"
        if r["shown_version"] not in (None, r["versions"][-1]):
            model += f" (version {r['shown_version']})"
        metric = f"{r['metric']} {value}" if r["metric"] else "-"
        table.add_row(r["name"], listed, aliases or "-", r["task"] or "-", model, metric)
    _console().print(table)


def _listing(store: Registry, name: str) -> dict[str, Any]:
    """One model's row: its latest readable version described, every damage found named."""
    versions = store.versions(name)
    errors: list[dict[str, Any]] = []
    try:
        aliases = store.aliases(name)
    except (StorageError, NotFoundError):
        raise  # the store failing is no damage of this model's: the listing fails
    except RegistryError as exc:
        aliases = {}
        errors.append({"version": None, "error": str(exc)})
    row: dict[str, Any] = {"name": name, "versions": versions, "aliases": aliases}
    row |= dict.fromkeys(("task", "model", "metric", "value", "shown_version"))
    for version in reversed(versions):
        try:
            latest = store.manifest(ModelRef(name, version))
        except (StorageError, NotFoundError):
            raise
        except RegistryError as exc:
            errors.append({"version": version, "error": f"{name}:{version} is damaged: {exc}"})
            continue
        metric, value = _primary(latest)
        row |= {"task": latest.task, "model": latest.estimator.name, "metric": metric,
                "value": value, "shown_version": version}  # fmt: skip
        break
    return row | {"errors": errors}


@models.command()
@click.argument("ref")
@registry_option
@click.option("--json", "as_json", is_flag=True, help="The whole manifest, plus aliases.")
def show(ref: str, registry: str | None, as_json: bool) -> None:
    """One version: manifest, metrics, parity report and aliases."""
    store = _store(registry)
    resolved = store.resolve(ref)
    manifest = store.manifest(resolved)
    aliases = {a: v for a, v in store.aliases(resolved.name).items()}
    policy = ServingPolicy(store)
    route, shadow_doc = policy.route(resolved.name), policy.shadow(resolved.name)
    if as_json:
        extra = {"aliases": aliases, "route": route, "shadow": shadow_doc}
        doc = msgspec.to_builtins(manifest) | extra
        click.echo(json.dumps(doc, indent=2))
        return
    console = _console()
    pointing = sorted(a for a, v in aliases.items() if v == resolved.version)
    console.print(f"{manifest.name}:{manifest.version}  {manifest.estimator.name} "
                  f"({manifest.task})  created {manifest.created_at}")  # fmt: skip
    console.print(f"aliases   {', '.join(pointing) or '-'}")
    if route:
        console.print("route     " + ", ".join(f"{t}={w}" for t, w in route.items()))
    if shadow_doc:
        console.print(f"shadow    {shadow_doc['target']} ({shadow_doc['sample']:.0%} of traffic)")
    console.print(f"numeric   {', '.join(manifest.inputs.numeric) or '-'}")
    console.print(f"categorical {', '.join(manifest.inputs.categorical) or '-'}")
    outs = ", ".join(f"{t.name} {t.datatype} {t.shape}" for t in manifest.outputs.tensors)
    console.print(f"outputs   {outs}")
    if manifest.outputs.classes is not None:
        console.print(f"classes   {manifest.outputs.classes}")
    holdout = manifest.metrics.get("holdout", {})
    console.print("metrics   " + ", ".join(f"{k} {_num(v)}" for k, v in holdout.items()))
    p = manifest.parity
    console.print(
        f"parity    {p['rows_checked']} rows ({p['adversarial_rows']} adversarial), label "
        f"agreement {_num(p['label_agreement'])}, max abs diff "
        + ", ".join(f"{k} {v:.2g}" for k, v in p["max_abs_diff"].items())
    )
    console.print(f"data      {manifest.data.source}, {manifest.data.rows} rows, "
                  f"fingerprint {manifest.data.fingerprint[:16]}")  # fmt: skip
    console.print(f"sha256    {manifest.model_sha256}")


def _num(value: Any) -> str:
    return "-" if value is None else f"{value:.4f}" if isinstance(value, float) else str(value)


@models.command()
@click.argument("ref")
@click.argument("alias")
@click.option("--force", is_flag=True, help="Promote even if incompatible with production.")
@registry_option
@quiet_option
def promote(ref: str, alias: str, force: bool, registry: str | None, quiet: bool) -> None:
    """Point ALIAS (production, staging, ...) at the version REF resolves to."""
    done = _store(registry).promote(ref, alias, force=force)
    if not quiet:
        click.echo(f"{done.name}@{alias} -> {done.name}:{done.version}")


@models.command()
@click.argument("name")
@click.argument("alias")
@registry_option
@quiet_option
def rollback(name: str, alias: str, registry: str | None, quiet: bool) -> None:
    """Return ALIAS of NAME to the version it pointed at before its latest promotion."""
    done = _store(registry).rollback(name, alias)
    if not quiet:
        click.echo(f"{done.name}@{alias} -> {done.name}:{done.version}")


@models.command()
@click.argument("ref")
@click.option("--force", is_flag=True, help="Delete even if an alias points at it.")
@registry_option
@quiet_option
def delete(ref: str, force: bool, registry: str | None, quiet: bool) -> None:
    """Delete one version, given as NAME:VERSION."""
    done = _store(registry).delete(ref, force=force)
    if not quiet:
        click.echo(f"deleted {done}")


@models.command()
@click.argument("name")
@click.argument("weights", nargs=-1)
@click.option(
    "--clear", is_flag=True, help="Remove the route: unversioned traffic goes to the default."
)
@registry_option
@quiet_option
def route(
    name: str, weights: tuple[str, ...], clear: bool, registry: str | None, quiet: bool
) -> None:
    """Split NAME's unversioned traffic: TARGET=WEIGHT ... (aliases or version numbers).

    Example: tabforge models route churn production=90 canary=10
    """
    from tabforge.errors import ConfigError

    if clear == bool(weights):
        raise ConfigError("give TARGET=WEIGHT pairs, or --clear")
    parsed: dict[str, int] = {}
    for item in weights:
        target, eq, weight = item.partition("=")
        if not eq or not target or not weight.strip().isdigit():
            raise ConfigError(f"route {item!r}: expected TARGET=WEIGHT, e.g. production=90")
        parsed[target] = int(weight)
    ServingPolicy(_store(registry)).set_route(name, parsed)
    if not quiet:
        shown = ", ".join(f"{t}={w}" for t, w in parsed.items()) or "cleared"
        click.echo(f"{name} route: {shown}")


@models.command()
@click.argument("name")
@click.argument("ref", required=False)
@click.option("--sample", default=0.1, show_default=True, type=float, help="Fraction mirrored.")
@click.option("--clear", is_flag=True, help="Stop shadowing.")
@registry_option
@quiet_option
def shadow(
    name: str, ref: str | None, sample: float, clear: bool, registry: str | None, quiet: bool
) -> None:
    """Mirror a sample of NAME's traffic to REF (NAME:VERSION or NAME@ALIAS); it never answers."""
    from tabforge.errors import ConfigError

    if clear == (ref is not None):
        raise ConfigError("give the shadow REF, or --clear")
    doc = ServingPolicy(_store(registry)).set_shadow(name, None if clear else ref, sample)
    if not quiet:
        click.echo(
            f"{name} shadow: {doc['target']} ({doc['sample']:.0%})"
            if doc
            else f"{name} shadow: cleared"
        )


@models.command()
@click.argument("ref_a")
@click.argument("ref_b")
@registry_option
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def diff(ref_a: str, ref_b: str, registry: str | None, as_json: bool) -> None:
    """Schema, outputs and metrics of two versions side by side, and B's compatibility."""
    store = _store(registry)
    a, b = store.resolve(ref_a), store.resolve(ref_b)
    ma, mb = store.manifest(a), store.manifest(b)
    problems = incompatibilities(ma, mb)
    rows = _diff_rows(ma, mb)
    if as_json:
        doc = {"a": str(a), "b": str(b), "rows": rows}
        click.echo(json.dumps(doc | {"compatible": not problems, "problems": problems}, indent=2))
        return
    table = Table()
    table.add_column("")
    table.add_column(f"{a.name}:{a.version}")
    table.add_column(f"{b.name}:{b.version}")
    for row in rows:
        style = None if row["a"] == row["b"] else "bold"
        table.add_row(row["field"], str(row["a"]), str(row["b"]), style=style)
    console = _console()
    console.print(table)
    if problems:
        console.print(f"incompatible: {'; '.join(problems)}")
    else:
        console.print(f"compatible: {b.name}:{b.version} can replace {a.name}:{a.version}")


def _diff_rows(ma: Manifest, mb: Manifest) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = [
        {"field": "task", "a": ma.task, "b": mb.task},
        {"field": "model", "a": ma.estimator.name, "b": mb.estimator.name},
    ]
    kinds_a, kinds_b = ma.inputs.kinds(), mb.inputs.kinds()
    for column in [*kinds_a, *(c for c in kinds_b if c not in kinds_a)]:
        rows.append(
            {
                "field": f"column {column}",
                "a": kinds_a.get(column, "-"),
                "b": kinds_b.get(column, "-"),
            }
        )
    for ta, tb in zip(ma.outputs.tensors, mb.outputs.tensors, strict=False):
        rows.append(
            {
                "field": f"output {ta.name}",
                "a": f"{ta.datatype} {ta.shape}",
                "b": f"{tb.datatype} {tb.shape}",
            }
        )
    rows.append({"field": "classes", "a": ma.outputs.classes, "b": mb.outputs.classes})
    ha, hb = ma.metrics.get("holdout", {}), mb.metrics.get("holdout", {})
    for key in [*ha, *(k for k in hb if k not in ha)]:
        rows.append({"field": key, "a": _num(ha.get(key)), "b": _num(hb.get(key))})
    return rows


__all__ = ["DEFAULT_ALIAS", "models"]

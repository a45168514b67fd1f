"""The models a soak serves: trained here with the CLI, or read from a given registry."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import common  # benchmarks/common.py, beside the entry script
import polars as pl

COLUMNS = ("a", "b", "c", "color", "shape")
TRAIN_TIMEOUT = 600.0


class SetupError(Exception):
    """The soak could not start: training, the registry or the server."""


@dataclass(frozen=True)
class ModelSpec:
    name: str
    target: str
    drop: str
    model: str
    params: tuple[str, ...] = ()


# Two chains trained side by side; within a chain in order, so mixed:1 is LightGBM.
TRAINING: tuple[tuple[ModelSpec, ...], ...] = (
    (
        ModelSpec("mixed", "label", "binary,value", "lightgbm", ("n_estimators=20",)),
        ModelSpec("mixed", "label", "binary,value", "logistic"),
    ),
    (
        ModelSpec("value", "value", "label,binary", "xgboost", ("n_estimators=20",)),
        ModelSpec("binary", "binary", "label,value", "random_forest", ("n_estimators=10",)),
    ),
)


def train_models(registry: Path, workdir: Path, tabforge: str) -> None:
    """Train the soak's models into ``registry`` with the CLI (two at a time)."""
    data = workdir / "train.csv"
    common.mixed_frame(300, seed=1).write_csv(data)

    def chain(specs: tuple[ModelSpec, ...]) -> None:
        for spec in specs:
            params = [arg for p in spec.params for arg in ("--param", p)]
            argv = [tabforge, "train", str(data), "--name", spec.name, "--model", spec.model]
            argv += ["--target", spec.target, "--drop", spec.drop, *params]
            argv += ["--registry", str(registry), "-q"]
            result = subprocess.run(
                argv, capture_output=True, text=True, timeout=TRAIN_TIMEOUT, check=False
            )
            if result.returncode != 0:
                raise SetupError(
                    f"training {spec.name} ({spec.model}) failed:\n{result.stderr.strip()}"
                )

    with ThreadPoolExecutor(len(TRAINING)) as pool:
        for future in [pool.submit(chain, specs) for specs in TRAINING]:
            future.result()


@dataclass(frozen=True)
class ServedVersion:
    name: str
    version: int
    task: str
    estimator: str
    numeric: tuple[str, ...]
    categorical: tuple[str, ...]
    classes: tuple[str, ...]
    missing_text: str
    predict: Callable[[pl.DataFrame], pl.DataFrame]


def load_versions(
    registry: Path,
) -> tuple[dict[str, list[ServedVersion]], dict[str, set[int]], list[str]]:
    """Every usable version by name, the versions unversioned requests may get, and notes."""
    from tabforge.api import load
    from tabforge.registry.policy import ServingPolicy
    from tabforge.registry.store import FilesystemRegistry

    store = FilesystemRegistry(registry)
    by_name: dict[str, list[ServedVersion]] = {}
    default: dict[str, set[int]] = {}
    notes: list[str] = []
    for name in store.names():
        for version in store.versions(name):
            model = load(f"{name}:{version}", registry=registry)
            schema = model.schema
            missing = [c for c in schema.columns if c not in COLUMNS]
            if missing:
                notes.append(f"{name}:{version} skipped: needs columns {', '.join(missing)}")
                continue
            by_name.setdefault(name, []).append(
                ServedVersion(
                    name=name,
                    version=version,
                    task=schema.task,
                    estimator=model.manifest.estimator.name,
                    numeric=schema.numeric,
                    categorical=schema.categorical,
                    classes=tuple(str(c) for c in schema.classes or ()),
                    missing_text=model.manifest.inputs.missing_text,
                    predict=model.predict,
                )
            )
        if name not in by_name:
            continue
        usable = {v.version for v in by_name[name]}
        if ServingPolicy(store).route(name):  # a split route: any version may answer
            default[name] = usable
        else:
            default[name] = {store.resolve(name).version or 0} & usable
    if not by_name:
        raise SetupError(f"no model in {registry} takes the soak's columns ({', '.join(COLUMNS)})")
    return by_name, default, notes

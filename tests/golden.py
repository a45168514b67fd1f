"""Golden vectors: rows as a client sends them, the feed Python makes of them, and the outputs.

Every catalog model is trained (through the CLI, as a user would) on public datasets that
installed packages ship, into ``DIR/registry``. For each one, ``DIR/golden/<name>.json``
holds the V1 records sent (held-out rows of the real data plus adversarial ones), the
tensors the production encoder made of them and the raw ONNX outputs of tabforge's own
runtime, so another implementation (the Rust crate under rust/) can prove it encodes and
predicts exactly as Python does.

    .venv/bin/python -m tests.golden --out DIR [--quick]
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

import tabforge
from tabforge.contract import CATEGORICAL_INPUT, NUMERIC_INPUT, Inputs, encode_strict, to_frame

HELD_OUT = 40  # real rows per dataset kept out of training and sent as records
SEED = 0
WORKERS = 2  # trainings at once
EXTRA_COLUMN = "not_a_model_column"
# Numbers sent as text: the encoder strips spaces and parses them; "" is missing.
NUMBER_TEXTS = ("3.5", " 7.25 ", "1e2", "-0", "")

# Hyper-parameters that keep every fit to a second or two.
FAST: dict[str, tuple[str, ...]] = {
    "random_forest": ("n_estimators=15",),
    "extra_trees": ("n_estimators=15",),
    "xgboost": ("n_estimators=15", "max_depth=4"),
    "lightgbm": ("n_estimators=15", "num_leaves=15"),
    "hist_gradient_boosting": ("max_iter=15",),
    "mlp": ("hidden_layer_sizes=(16,)", "max_iter=300"),
    "kmeans": ("n_clusters=3",),
    "minibatch_kmeans": ("n_clusters=3",),
    "gaussian_mixture": ("n_components=3",),
}


@dataclass(frozen=True)
class Dataset:
    name: str
    source: str  # where the rows come from, for index.json
    task: str
    target: str | None  # None: clustering
    load: Callable[[], pl.DataFrame]
    leave_out: str | None = None  # a column dropped first (iris' target, to cluster)


@dataclass(frozen=True)
class Case:
    dataset: Dataset
    estimator: str

    @property
    def name(self) -> str:
        return f"{self.dataset.name}-{self.estimator}"


def penguins() -> pl.DataFrame:
    """palmerpenguins' CSV: species/island/sex text, NA in numbers and text alike."""
    raw = (files("palmerpenguins") / "data" / "penguins.csv").read_bytes()
    return pl.read_csv(io.BytesIO(raw), null_values="NA")


def sklearn_frame(loader: str) -> Callable[[], pl.DataFrame]:
    def load() -> pl.DataFrame:
        from sklearn import datasets

        return pl.from_pandas(getattr(datasets, loader)(as_frame=True).frame)

    return load


PENGUINS = "palmerpenguins penguins.csv"
DATASETS = {
    d.name: d
    for d in (
        Dataset("penguins_species", PENGUINS, "classification", "species", penguins),
        Dataset("penguins_mass", PENGUINS, "regression", "body_mass_g", penguins),
        Dataset("penguins", PENGUINS, "clustering", None, penguins),
        Dataset("cancer", "sklearn load_breast_cancer", "classification", "target",
                sklearn_frame("load_breast_cancer")),
        Dataset("iris", "sklearn load_iris", "classification", "target", sklearn_frame("load_iris")),
        Dataset("iris_features", "sklearn load_iris", "clustering", None,
                sklearn_frame("load_iris"), leave_out="target"),
        Dataset("diabetes", "sklearn load_diabetes", "regression", "target",
                sklearn_frame("load_diabetes")),
    )
}  # fmt: skip

# Every catalog model at least once; penguins (text, NA, string labels) gets every model of
# its task, the integer-labelled and all-numeric sets a spread of model families.
PLAN: dict[str, tuple[str, ...]] = {
    "penguins_species": ("logistic", "linear_svm", "svm", "decision_tree", "random_forest",
                         "extra_trees", "hist_gradient_boosting", "xgboost", "lightgbm", "knn",
                         "mlp"),
    "cancer": ("logistic", "linear_svm", "decision_tree", "hist_gradient_boosting", "xgboost",
               "lightgbm"),
    "iris": ("svm", "random_forest", "extra_trees", "xgboost", "knn", "mlp"),
    "penguins_mass": ("linear", "ridge", "lasso", "elastic_net", "svr", "decision_tree",
                      "random_forest", "extra_trees", "hist_gradient_boosting", "xgboost",
                      "lightgbm", "knn", "mlp"),
    "diabetes": ("linear", "lasso", "svr", "hist_gradient_boosting", "xgboost", "lightgbm"),
    "penguins": ("kmeans", "minibatch_kmeans", "gaussian_mixture"),
    "iris_features": ("kmeans", "minibatch_kmeans", "gaussian_mixture"),
}  # fmt: skip
QUICK = (("penguins_species", "lightgbm"), ("penguins_mass", "ridge"), ("penguins", "kmeans"))


def cases(quick: bool) -> list[Case]:
    pairs = QUICK if quick else [(d, e) for d, names in PLAN.items() for e in names]
    return [Case(DATASETS[d], e) for d, e in pairs]


@dataclass
class Split:
    train_file: Path
    held_out: pl.DataFrame  # the feature columns of the rows never trained on


def split(dataset: Dataset, work: Path) -> Split:
    """A seeded hold-out; the rest written to Parquet for ``tabforge train``."""
    df = dataset.load()
    if dataset.leave_out:
        df = df.drop(dataset.leave_out)
    features = df.drop(dataset.target) if dataset.target else df
    incomplete = features.select(pl.any_horizontal(pl.all().is_null())).to_series().to_numpy()
    rng = np.random.default_rng(SEED)
    # Real rows with gaps first (up to a tenth of the hold-out), then complete ones.
    gaps = rng.permutation(np.flatnonzero(incomplete))[: HELD_OUT // 10]
    full = rng.permutation(np.flatnonzero(~incomplete))[: HELD_OUT - len(gaps)]
    held = np.sort(np.concatenate([gaps, full]))
    path = work / f"{dataset.name}.parquet"
    df[np.setdiff1d(np.arange(df.height), held)].write_parquet(path)
    return Split(path, features[held])


def train_command(case: Case, data: Path, registry: Path) -> list[str]:
    argv = [sys.executable, "-m", "tabforge.cli", "train", str(data), "--model", case.estimator,
            "--name", case.name, "--registry", str(registry), "-q"]  # fmt: skip
    if case.dataset.target:
        argv += ["--target", case.dataset.target, "--task", case.dataset.task]
    for param in FAST.get(case.estimator, ()):
        argv += ["--param", param]
    return argv


@dataclass
class Trained:
    case: Case
    seconds: float
    error: str | None  # the end of stderr when training failed


def train(case: Case, data: Path, registry: Path) -> Trained:
    start = time.monotonic()
    done = subprocess.run(
        train_command(case, data, registry), capture_output=True, text=True, timeout=600,
        check=False,
    )  # fmt: skip
    seconds = time.monotonic() - start
    if done.returncode != 0 or done.stdout.strip() != f"{case.name}:1":
        tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-5:])
        return Trained(case, seconds, f"exit {done.returncode}: {tail}")
    return Trained(case, seconds, None)


def adversarial(base: dict[str, Any], inputs: Inputs) -> list[dict[str, Any]]:
    """Rows built on a complete real row: what clients send that training never saw."""
    numeric, categorical = list(inputs.numeric), list(inputs.categorical)
    columns = numeric + categorical
    rows = [base | {c: None} for c in columns]  # each column missing in turn
    rows.append(dict.fromkeys(columns))  # all missing
    rows += [base | {c: f"unseen-{c}"} for c in categorical]
    if numeric:
        # Text in one numeric column (the last): parsed as a number, "" is missing.
        rows += [base | {numeric[-1]: text} for text in NUMBER_TEXTS]
        rows.append(base | {c: round(base[c]) for c in numeric})  # integers in number columns
        rows.append({k: v for k, v in base.items() if k != numeric[0]})  # key absent: missing
    if len(numeric) > 2:  # not the last column, which holds text
        rows.append(base | {numeric[0]: True, numeric[1]: False})  # booleans read as 1 and 0
    if categorical:
        rows.append(base | {categorical[0]: False})  # a boolean as category: "false"
        rows.append(base | {categorical[0]: 7})  # a number as category: "7", unseen
    rows.append(base | {EXTRA_COLUMN: "ignored"})  # columns the model lacks are ignored
    rows.append(dict(reversed(base.items())))  # key order does not matter
    return rows


def records_for(held: pl.DataFrame, inputs: Inputs) -> list[dict[str, Any]]:
    """The held-out rows, then adversarial rows, as the JSON a client sends (no NaN)."""
    real = held.to_dicts()
    columns = [*inputs.numeric, *inputs.categorical]
    base = next(r for r in real if all(r[c] is not None for c in columns))
    rows = real + adversarial(base, inputs)
    text = json.dumps(rows, allow_nan=False)
    loaded: list[dict[str, Any]] = json.loads(text)
    return loaded


def exact(array: npt.NDArray[Any]) -> Any:
    """A tensor as JSON values: float32 widened exactly to float, NaN as null."""
    if array.dtype.kind == "f":
        return nan_to_none(array.astype(np.float64).tolist())
    if array.dtype.kind in "iub":
        return array.tolist()
    return np.vectorize(str, otypes=[object])(array).tolist() if array.size else array.tolist()


def nan_to_none(value: Any) -> Any:
    if isinstance(value, list):
        return [nan_to_none(v) for v in value]
    return None if isinstance(value, float) and math.isnan(value) else value


def golden_case(case: Case, held: pl.DataFrame, registry: Path) -> dict[str, Any]:
    """One model's records, the feed the production encoder made and the raw outputs."""
    ref = f"{case.name}:1"
    model = tabforge.load(ref, registry=registry)
    inputs = model.manifest.inputs
    records = records_for(held, inputs)
    feed = encode_strict(to_frame(records), inputs)
    outputs = model.predictor.run(feed)
    numeric, categorical = feed.get(NUMERIC_INPUT), feed.get(CATEGORICAL_INPUT)
    found = {
        "ref": ref,
        "task": model.manifest.task,
        "records": records,
        "numeric": None if numeric is None else exact(numeric),
        "categorical": None if categorical is None else exact(categorical),
        "outputs": {name: exact(outputs[name]) for name in model.predictor.output_names},
    }
    assert found["task"] == case.dataset.task, f"{ref}: task {found['task']}"
    return found


def train_all(
    todo: list[Case], work: Path, registry: Path
) -> tuple[list[Trained], dict[str, Split]]:
    splits = {c.dataset.name: split(c.dataset, work) for c in todo}
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        runs = list(pool.map(lambda c: train(c, splits[c.dataset.name].train_file, registry), todo))
    return runs, splits


def write(out: Path, *, quick: bool = False, log: Callable[[str], None] = print) -> list[Trained]:
    """Train into ``out/registry`` and write ``out/golden``; raises if any model failed."""
    golden, registry = out / "golden", out / "registry"
    if (golden / "index.json").exists():  # this writer's earlier output: replaced whole
        shutil.rmtree(golden)
        shutil.rmtree(registry, ignore_errors=True)
    if registry.exists() and any(registry.iterdir()):
        raise RuntimeError(f"{registry} is not empty: remove it or choose another --out")
    golden.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="tabforge-golden-") as work:
        runs, splits = train_all(cases(quick), Path(work), registry)
    index = []
    for run in runs:
        case = run.case
        log(f"{case.name:45} {run.seconds:5.1f} s  {run.error or 'ok'}")
        if run.error:
            continue
        found = golden_case(case, splits[case.dataset.name].held_out, registry)
        (golden / f"{case.name}.json").write_text(json.dumps(found, allow_nan=False) + "\n")
        index.append({"name": case.name, "ref": found["ref"], "estimator": case.estimator,
                      "dataset": case.dataset.source, "task": case.dataset.task,
                      "rows": len(found["records"])})  # fmt: skip
    (golden / "index.json").write_text(json.dumps({"cases": index}, indent=1) + "\n")
    log(f"{len(index)} cases in {golden} ({time.monotonic() - start:.1f} s)")
    failed = [f"{r.case.name}: {r.error}" for r in runs if r.error]
    if failed:
        raise RuntimeError("models failed to train:\n" + "\n".join(failed))
    return runs


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.golden", description=__doc__)
    parser.add_argument("--out", required=True, type=Path, help="writes OUT/golden, OUT/registry")
    parser.add_argument("--quick", action="store_true", help="one model per task")
    args = parser.parse_args(argv)
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    try:
        write(args.out, quick=args.quick)
    except RuntimeError as exc:
        print(exc, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

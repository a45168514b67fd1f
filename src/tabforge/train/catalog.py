"""The estimator catalog: short name -> estimator per task, scaling need and search space.

Everything here is data. Each entry builds a fresh, seeded estimator; every entry must
export to ONNX (tests check each one), so nothing without a ``predict`` for new rows
(DBSCAN, agglomerative, ...) can be listed.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import lightgbm
import xgboost
from scipy.stats import loguniform, uniform
from sklearn import calibration, cluster, ensemble, linear_model, mixture, neighbors, svm, tree
from sklearn import neural_network as nn
from sklearn.base import BaseEstimator
from sklearn.utils._param_validation import InvalidParameterError

from tabforge.contract.manifest import Task
from tabforge.errors import ConfigError

Factory = Callable[[int], Any]  # seed -> unfitted estimator


@dataclass(frozen=True)
class CatalogEntry:
    name: str
    builders: Mapping[Task, Factory]
    scale: bool  # needs standardised inputs (distance, gradient or kernel based)
    space: Mapping[str, Any] = field(default_factory=dict)
    # Parameters the user sets live on an inner estimator for wrapped models.
    param_prefix: str = ""

    @property
    def tasks(self) -> tuple[Task, ...]:
        return tuple(self.builders)

    def build(self, task: Task, *, seed: int, params: Mapping[str, Any] | None = None) -> Any:
        est = self.builders[task](seed)
        if params:
            set_params(est, self, params)
        return est


def _calibrated(base: Any) -> Any:
    # Probabilities for SVMs: Platt scaling on out-of-fold scores, one final base model
    # (SVC(probability=True) is deprecated in scikit-learn 1.9; this is its replacement).
    return calibration.CalibratedClassifierCV(base, ensemble=False, cv=3)


def _lgbm_args(seed: int) -> dict[str, Any]:
    # deterministic + col-wise: same model bytes on every run and thread count.
    return {"random_state": seed, "verbose": -1, "deterministic": True, "force_col_wise": True}


_C = loguniform(1e-3, 1e2)
_TREES = {"max_depth": [None, 4, 8, 16], "min_samples_leaf": [1, 2, 5, 10, 20]}
_FOREST = {**_TREES, "n_estimators": [50, 100, 200], "max_features": ["sqrt", 0.5, 1.0]}
_LR = loguniform(0.01, 0.3)

ENTRIES: tuple[CatalogEntry, ...] = (
    CatalogEntry(
        "logistic",
        {"classification": lambda s: linear_model.LogisticRegression(max_iter=2000)},
        scale=True,
        space={"C": _C},
    ),
    CatalogEntry(
        "linear_svm",
        {"classification": lambda s: _calibrated(svm.LinearSVC(random_state=s))},
        scale=True,
        space={"C": _C},
        param_prefix="estimator__",
    ),
    CatalogEntry(
        "svm",
        {"classification": lambda s: _calibrated(svm.SVC(random_state=s))},
        scale=True,
        space={"C": loguniform(1e-2, 1e2), "gamma": loguniform(1e-4, 1.0)},
        param_prefix="estimator__",
    ),
    CatalogEntry("linear", {"regression": lambda s: linear_model.LinearRegression()}, scale=True),
    CatalogEntry(
        "ridge",
        {"regression": lambda s: linear_model.Ridge(random_state=s)},
        scale=True,
        space={"alpha": loguniform(1e-3, 1e2)},
    ),
    CatalogEntry(
        "lasso",
        {"regression": lambda s: linear_model.Lasso(random_state=s)},
        scale=True,
        space={"alpha": loguniform(1e-4, 1e1)},
    ),
    CatalogEntry(
        "elastic_net",
        {"regression": lambda s: linear_model.ElasticNet(random_state=s)},
        scale=True,
        space={"alpha": loguniform(1e-4, 1e1), "l1_ratio": uniform(0.05, 0.9)},
    ),
    CatalogEntry(
        "svr",
        {"regression": lambda s: svm.SVR()},
        scale=True,
        space={"C": loguniform(1e-2, 1e2), "epsilon": [0.01, 0.1, 0.5], "gamma": ["scale", 0.01]},
    ),
    CatalogEntry(
        "decision_tree",
        {
            "classification": lambda s: tree.DecisionTreeClassifier(random_state=s),
            "regression": lambda s: tree.DecisionTreeRegressor(random_state=s),
        },
        scale=False,
        space=_TREES,
    ),
    CatalogEntry(
        "random_forest",
        {
            "classification": lambda s: ensemble.RandomForestClassifier(random_state=s),
            "regression": lambda s: ensemble.RandomForestRegressor(random_state=s),
        },
        scale=False,
        space=_FOREST,
    ),
    CatalogEntry(
        "extra_trees",
        {
            "classification": lambda s: ensemble.ExtraTreesClassifier(random_state=s),
            "regression": lambda s: ensemble.ExtraTreesRegressor(random_state=s),
        },
        scale=False,
        space=_FOREST,
    ),
    CatalogEntry(
        "hist_gradient_boosting",
        {
            "classification": lambda s: ensemble.HistGradientBoostingClassifier(random_state=s),
            "regression": lambda s: ensemble.HistGradientBoostingRegressor(random_state=s),
        },
        scale=False,
        space={
            "learning_rate": _LR,
            "max_leaf_nodes": [15, 31, 63],
            "min_samples_leaf": [5, 10, 20, 50],
            "l2_regularization": [0.0, 0.1, 1.0],
        },
    ),
    CatalogEntry(
        "xgboost",
        {
            "classification": lambda s: xgboost.XGBClassifier(random_state=s, tree_method="hist"),
            "regression": lambda s: xgboost.XGBRegressor(random_state=s, tree_method="hist"),
        },
        scale=False,
        space={
            "n_estimators": [50, 100, 200],
            "max_depth": [3, 4, 6, 8],
            "learning_rate": _LR,
            "subsample": [0.7, 0.85, 1.0],
            "colsample_bytree": [0.7, 0.85, 1.0],
        },
    ),
    CatalogEntry(
        "lightgbm",
        {
            "classification": lambda s: lightgbm.LGBMClassifier(**_lgbm_args(s)),
            "regression": lambda s: lightgbm.LGBMRegressor(**_lgbm_args(s)),
        },
        scale=False,
        space={
            "n_estimators": [50, 100, 200],
            "num_leaves": [15, 31, 63],
            "learning_rate": _LR,
            "min_child_samples": [5, 10, 20, 50],
            "colsample_bytree": [0.7, 0.85, 1.0],
            "reg_lambda": [0.0, 0.1, 1.0],
        },
    ),
    CatalogEntry(
        "knn",
        {
            "classification": lambda s: neighbors.KNeighborsClassifier(),
            "regression": lambda s: neighbors.KNeighborsRegressor(),
        },
        scale=True,
        space={"n_neighbors": [3, 5, 10, 20, 40], "weights": ["uniform", "distance"]},
    ),
    CatalogEntry(
        "mlp",
        {
            "classification": lambda s: nn.MLPClassifier(random_state=s, max_iter=500),
            "regression": lambda s: nn.MLPRegressor(random_state=s, max_iter=500),
        },
        scale=True,
        space={
            "hidden_layer_sizes": [(50,), (100,), (50, 50)],
            "alpha": loguniform(1e-5, 1e-1),
            "learning_rate_init": loguniform(1e-4, 1e-2),
        },
    ),
    CatalogEntry(
        "kmeans",
        {"clustering": lambda s: cluster.KMeans(random_state=s, n_init="auto")},
        scale=True,
        space={"n_clusters": [2, 3, 4, 5, 6, 8, 10]},
    ),
    CatalogEntry(
        "minibatch_kmeans",
        {"clustering": lambda s: cluster.MiniBatchKMeans(random_state=s, n_init="auto")},
        scale=True,
        space={"n_clusters": [2, 3, 4, 5, 6, 8, 10]},
    ),
    CatalogEntry(
        "gaussian_mixture",
        {"clustering": lambda s: mixture.GaussianMixture(n_components=3, random_state=s)},
        scale=True,
        space={"n_components": [2, 3, 4, 5, 6, 8], "covariance_type": ["full", "diag"]},
    ),
)

CATALOG: dict[str, CatalogEntry] = {e.name: e for e in ENTRIES}

# Names users reach for that cannot be served: say why, and what to use instead.
NOT_EXPORTABLE: dict[str, str] = {
    "dbscan": "DBSCAN has no predict for new rows",
    "optics": "OPTICS has no predict for new rows",
    "agglomerative": "agglomerative clustering has no predict for new rows",
    "spectral": "spectral clustering has no predict for new rows",
    "hdbscan": "HDBSCAN has no predict for new rows",
    "catboost": "CatBoost is not in the exportable catalog",
}

# `--model auto` shortlists, cheapest first; models that scale badly are left out on big data.
AUTO_SHORTLIST: dict[Task, tuple[str, ...]] = {
    "classification": (
        "logistic",
        "hist_gradient_boosting",
        "lightgbm",
        "random_forest",
        "xgboost",
    ),
    "regression": ("ridge", "hist_gradient_boosting", "lightgbm", "random_forest", "xgboost"),
    "clustering": ("kmeans", "gaussian_mixture"),
}
SMALL_DATA_ONLY = frozenset({"random_forest", "svm", "knn"})
SMALL_DATA_ROWS = 20_000


def names_for(task: Task) -> list[str]:
    return [e.name for e in ENTRIES if task in e.builders]


def lookup(name: str, task: Task | None) -> CatalogEntry:
    """The entry for ``name``; errors name the alternatives that would work."""
    key = name.strip().lower()
    if key in NOT_EXPORTABLE:
        choices = names_for(task or "clustering")
        raise ConfigError(
            f"--model {name}: {NOT_EXPORTABLE[key]}, so it cannot be exported for serving; "
            f"exportable {task or 'clustering'} models: {', '.join(choices)}"
        )
    entry = CATALOG.get(key)
    if entry is None:
        known = ", ".join(sorted(CATALOG))
        raise ConfigError(f"unknown --model {name!r}; choose auto or one of: {known}")
    if task is not None and task not in entry.builders:
        raise ConfigError(
            f"--model {name} does not do {task}; {task} models: {', '.join(names_for(task))}"
        )
    return entry


def parse_param(text: str) -> tuple[str, Any]:
    """``key=value`` with the value read as a Python literal (1, 0.5, None, (50, 50)) or text."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ConfigError(f"--param {text!r}: expected key=value")
    raw = raw.strip()
    lowered = raw.lower()
    if lowered in ("true", "false", "none", "null"):
        return key, {"true": True, "false": False}.get(lowered)
    try:
        return key, ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        return key, raw


def set_params(est: Any, entry: CatalogEntry, params: Mapping[str, Any]) -> None:
    """Set user parameters, refusing unknown names and (where declared) bad values."""
    target = est.get_params()["estimator"] if entry.param_prefix else est
    valid = target.get_params(deep=False)
    for key, value in params.items():
        if key not in valid:
            raise ConfigError(
                f"unknown --param {key!r} for {entry.name}; valid: {', '.join(sorted(valid))}"
            )
        default = valid[key]
        numeric_default = isinstance(default, (int, float)) and not isinstance(default, bool)
        if numeric_default and isinstance(value, str):
            raise ConfigError(f"bad --param {key}={value} for {entry.name}: expected a number")
    try:
        target.set_params(**params)
        if isinstance(target, BaseEstimator) and hasattr(target, "_parameter_constraints"):
            target._validate_params()
    except (InvalidParameterError, ValueError, TypeError) as exc:
        message = str(exc).splitlines()[0]
        raise ConfigError(f"bad --param for {entry.name}: {message}") from exc


def sample_space(entry: CatalogEntry, n: int, *, seed: int) -> list[dict[str, Any]]:
    """``n`` seeded candidates from the entry's space (fewer if the space is a small grid)."""
    from sklearn.model_selection import ParameterGrid, ParameterSampler

    if not entry.space:
        raise ConfigError(f"--search: {entry.name} has no hyper-parameters to search")
    if all(isinstance(v, Sequence) and not isinstance(v, str) for v in entry.space.values()):
        n = min(n, len(ParameterGrid(dict(entry.space))))
    sampled = ParameterSampler(dict(entry.space), n_iter=n, random_state=seed)
    # Plain Python numbers, so parameters print, and serialise, as the user would write them.
    return [{k: v.item() if hasattr(v, "item") else v for k, v in c.items()} for c in sampled]

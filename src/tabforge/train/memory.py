"""Training memory: estimate before fitting, refuse what would exhaust the machine.

The estimate is deliberately simple (rows x encoded width x bytes x copies, plus the
trees a forest grows) and errs high: a refusal costs the user one flag, an out-of-memory
kill costs the machine. Found on real data: a 59k-row file whose 56k-distinct title
column was one-hot encoded used 24 GB before the kernel killed it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

from tabforge.errors import ConfigError, TrainingError

# Share of this machine's memory training may plan to use when --memory-limit is not set.
DEFAULT_SHARE = 0.6
_UNITS = {"": 1, "b": 1, "k": 1e3, "m": 1e6, "g": 1e9, "t": 1e12,
          "ki": 2**10, "mi": 2**20, "gi": 2**30, "ti": 2**40}  # fmt: skip
_SIZE = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*([kmgt]?i?)b?\s*$", re.IGNORECASE)

# Copies of the encoded matrix (float64) a fit holds at its peak, per model: the
# transformed matrix, the estimator's own copy (float32 for trees, its input format for
# SVMs), and a cross-validation fold.
_COPIES = {"knn": 4.0, "svm": 5.0, "svr": 5.0, "linear_svm": 4.0, "mlp": 4.0}
_DEFAULT_COPIES = 3.0
# Forests grow trees to purity: about 1.3 nodes per training row per tree, each costing
# its node record and, while converting to ONNX, a few hundred bytes of attribute lists.
_FOREST = frozenset({"random_forest", "extra_trees", "decision_tree"})
_BYTES_PER_NODE = 600


def machine_memory() -> int:
    """Physical memory of this machine in bytes (0 if unknown)."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return 0


def default_limit() -> int | None:
    total = machine_memory()
    return int(total * DEFAULT_SHARE) if total else None


def parse_size(text: str) -> int:
    """'2GiB', '500MB', '1.5g', '123456' -> bytes (powers of 1000 unless 'i' is given)."""
    match = _SIZE.match(text)
    if not match:
        raise ConfigError(f"--memory-limit {text!r}: expected a size such as 4GiB or 500MB")
    number, unit = float(match.group(1)), match.group(2).lower()
    size = int(number * _UNITS[unit])
    if size <= 0:
        raise ConfigError(f"--memory-limit {text!r} must be above zero")
    return size


def show(size: float) -> str:
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size:.0f} B"


def estimate(model: str, *, rows: int, width: int, outputs: int, params: Mapping[str, Any]) -> int:
    """Bytes a fit of ``model`` on rows x width encoded columns may need at its peak."""
    matrix = rows * max(width, 1) * 8
    total = matrix * _COPIES.get(model, _DEFAULT_COPIES)
    if model in _FOREST:
        trees = 1 if model == "decision_tree" else int(params.get("n_estimators", 100) or 100)
        total += trees * rows * 1.3 * (_BYTES_PER_NODE + 8 * max(outputs, 1))
    return int(total)


def check(
    model: str,
    *,
    rows: int,
    width: int,
    outputs: int,
    params: Mapping[str, Any],
    limit: int | None,
) -> None:
    """Refuse, in one line, a fit whose estimate is above the limit."""
    if limit is None:
        return
    need = estimate(model, rows=rows, width=width, outputs=outputs, params=params)
    if need <= limit:
        return
    raise TrainingError(
        f"training {model} on {rows:,} rows x {width:,} encoded columns needs about "
        f"{show(need)}, above the memory limit of {show(limit)}; use fewer rows or columns, "
        "a lower --max-categories, or raise --memory-limit"
    )


def fits(model: str, *, rows: int, width: int, outputs: int, limit: int | None) -> bool:
    if limit is None:
        return True
    return estimate(model, rows=rows, width=width, outputs=outputs, params={}) <= limit

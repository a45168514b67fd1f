"""The request pool, built before the load: every (reference, kind, size, variant) request
with the answers it may get."""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

import common  # benchmarks/common.py, beside the entry script
import polars as pl

from .answers import KINDS, SIZES, SoakRequest, answer_from_frame
from .bodies import v1_json, v2_binary, v2_columns_json, v2_tensors_json
from .models import COLUMNS, ServedVersion

VARIANTS = 4  # requests per (reference, kind, size); variants differ in rows and encoding


# Rows every pool mixes in: all missing, unseen categories, non-ASCII and empty strings,
# whitespace, values far outside the training range.
SPECIAL_ROWS: list[dict[str, Any]] = [
    {"a": None, "b": None, "c": None, "color": None, "shape": None},
    {"a": 0.5, "b": 50.0, "c": 2.0, "color": "purple", "shape": "star"},
    {"a": None, "b": 10.0, "c": None, "color": "teal", "shape": None},
    {"a": -1.0, "b": 99.9, "c": 4.0, "color": "grün", "shape": "ñandú"},
    {"a": 1.0, "b": 0.0, "c": 0.0, "color": "", "shape": ""},
    {"a": 0.25, "b": 33.3, "c": 1.0, "color": " red", "shape": "sq "},
    {"a": 1e6, "b": -1e4, "c": 1e3, "color": "red", "shape": "sq"},
    {"a": -3.5, "b": None, "c": 3.0, "color": None, "shape": "hex"},
]


OUTPUTS = {
    "classification": ("label", "probabilities"),
    "regression": ("prediction",),
    "clustering": ("label", "scores"),
}


def pool_rows(seed: int) -> pl.DataFrame:
    """The rows requests draw from: random rows, then the special rows at the end."""
    base = common.mixed_frame(2000, seed=seed + 1000).select(COLUMNS)
    special = pl.DataFrame(SPECIAL_ROWS, schema=base.schema)
    return pl.concat([base, special])


def choose_rows(rng: random.Random, frame: pl.DataFrame, n: int, variant: int) -> pl.DataFrame:
    n_special = len(SPECIAL_ROWS)
    n_base = frame.height - n_special
    if n == 1:
        # Every other single-row request is a special row; the rest are random rows.
        index = [n_base + rng.randrange(n_special)] if variant % 2 == 0 else [rng.randrange(n_base)]
    else:
        index = rng.sample(range(n_base), n)
        for pos in rng.sample(range(n), min(n, 2)):
            index[pos] = n_base + rng.randrange(n_special)
    return frame[index]


def build_pool(
    by_name: Mapping[str, list[ServedVersion]], default: Mapping[str, set[int]], seed: int
) -> list[SoakRequest]:
    """Every (reference, kind, size, variant) request with its expected answers."""
    rng = random.Random(seed)
    frame = pool_rows(seed)
    pool: list[SoakRequest] = []
    for name, versions in by_name.items():
        by_number = {v.version: v for v in versions}
        targets: list[tuple[str, ServedVersion, list[ServedVersion]]] = [
            (f"{name}:{v.version}", v, [v]) for v in versions
        ]
        answering = [by_number[n] for n in sorted(default[name])]
        if answering:
            targets.append((name, answering[-1], answering))
        for ref, sv, expect_from in targets:
            versioned = ":" in ref
            prefix = f"/v2/models/{name}" + (f"/versions/{sv.version}" if versioned else "")
            for kind in KINDS:
                if kind == "v1-json" and versioned:
                    continue  # V1 addresses a model by name only
                for size in SIZES:
                    for variant in range(VARIANTS):
                        rows = choose_rows(rng, frame, size, variant)
                        rid = f"soak-{len(pool)}"
                        headers = {"Content-Type": "application/json"}
                        path, request_id = prefix + "/infer", None
                        if kind == "v2-json":
                            body, request_id = v2_tensors_json(rows, sv, variant, rid), rid
                        elif kind == "v2-json-columns":
                            body = v2_columns_json(rows, sv, variant)
                        elif kind == "v2-binary":
                            body, headers = v2_binary(rows, sv, variant, rid, OUTPUTS[sv.task])
                            request_id = rid
                        else:
                            body, path = v1_json(rows, sv), f"/v1/models/{name}:predict"
                        expected = {
                            str(e.version): answer_from_frame(
                                str(e.version), e.task, e.classes, e.predict(rows)
                            )
                            for e in expect_from
                        }
                        pool.append(
                            SoakRequest(
                                kind=kind,
                                name=name,
                                ref=ref,
                                rows=size,
                                path=path,
                                body=body,
                                headers=headers,
                                task=sv.task,
                                classes=sv.classes,
                                expected=expected,
                                request_id=request_id,
                            )
                        )
    return pool

"""What changed between two versions' inputs and outputs: the schema half of a comparison.

``registry.compat`` says whether B can replace A in production; this lists every
difference a reader wants to see before deciding, compatible or not: columns added,
removed or retyped, categories gained or lost, the target, the classes.
"""

from __future__ import annotations

from typing import Any

from tabforge.contract.manifest import Manifest

SHOWN_CATEGORIES = 10


def _listed(values: list[str]) -> str:
    shown = ", ".join(values[:SHOWN_CATEGORIES])
    more = len(values) - SHOWN_CATEGORIES
    return shown + (f" and {more} more" if more > 0 else "")


def schema_changes(a: Manifest, b: Manifest) -> list[dict[str, Any]]:
    """Each difference as ``{"what", "column", "a", "b"}``, in A's column order."""
    ka, kb = a.inputs.kinds(), b.inputs.kinds()
    out: list[dict[str, Any]] = []
    for column in [*ka, *(c for c in kb if c not in ka)]:
        old, new = ka.get(column), kb.get(column)
        if old != new:
            what = "added" if old is None else "removed" if new is None else "kind changed"
            out.append({"what": what, "column": column, "a": old or "-", "b": new or "-"})
        elif old == "categorical":
            out.extend(_categories(column, a, b))
    for field, va, vb in (
        ("task", a.task, b.task),
        ("target", a.data.target, b.data.target),
        ("classes", a.outputs.classes, b.outputs.classes),
    ):
        if va != vb:
            out.append({"what": f"{field} changed", "column": "", "a": va, "b": vb})
    return out


def _categories(column: str, a: Manifest, b: Manifest) -> list[dict[str, Any]]:
    ca, cb = a.inputs.categories.get(column, []), b.inputs.categories.get(column, [])
    gained = [c for c in cb if c not in set(ca)]
    lost = [c for c in ca if c not in set(cb)]
    out = []
    if gained:
        out.append({"what": "categories added", "column": column, "a": "", "b": _listed(gained)})
    if lost:
        out.append({"what": "categories removed", "column": column, "a": _listed(lost), "b": ""})
    return out

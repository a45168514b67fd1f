"""Is a version a safe replacement for another? (``models diff`` and ``promote production``)

A candidate is incompatible with the current version when a client of the current one
would break: a column it takes is dropped, retyped (numeric <-> categorical) or moved to
another position in its tensor, a new column is required that those clients do not send,
the task changes, or the class labels differ.
"""

from __future__ import annotations

from tabforge.contract import Manifest


def incompatibilities(current: Manifest, candidate: Manifest) -> list[str]:
    problems: list[str] = []
    if current.task != candidate.task:
        problems.append(f"task changes from {current.task} to {candidate.task}")
    old = {c: ("numeric", i) for i, c in enumerate(current.inputs.numeric)}
    old |= {c: ("categorical", i) for i, c in enumerate(current.inputs.categorical)}
    new = {c: ("numeric", i) for i, c in enumerate(candidate.inputs.numeric)}
    new |= {c: ("categorical", i) for i, c in enumerate(candidate.inputs.categorical)}
    for column, (kind, pos) in old.items():
        if column not in new:
            problems.append(f"drops column {column!r}")
        elif new[column][0] != kind:
            problems.append(f"retypes column {column!r} from {kind} to {new[column][0]}")
        elif new[column][1] != pos:
            problems.append(f"moves column {column!r} from position {pos} to {new[column][1]}")
    for column in new.keys() - old.keys():
        problems.append(f"requires new column {column!r}")
    if current.outputs.classes != candidate.outputs.classes:
        problems.append(
            f"class labels differ: {current.outputs.classes} -> {candidate.outputs.classes}"
        )
    return problems

"""benchmarks/RESULTS.md holds one section per benchmark; each script rewrites only its own."""

from __future__ import annotations

import os
from pathlib import Path


def write_section(out: Path, heading: str, section: str) -> None:
    """Replace the section that starts with ``heading`` (or append it); keep the rest.

    A section runs from its ``## `` heading to the next ``## `` heading outside code fences.
    The file is replaced atomically.
    """
    text = out.read_text() if out.is_file() else "# Benchmarks\n"
    lines = text.splitlines()
    start = end = None
    fenced = False
    for i, line in enumerate(lines):
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        if fenced:
            continue
        if start is None and line.rstrip() == heading:
            start = i
        elif start is not None and line.startswith("## "):
            end = i
            break
    body = section.rstrip("\n").splitlines()
    if start is None:
        while lines and not lines[-1].strip():
            lines.pop()
        new = [*lines, "", *body] if lines else body
    else:
        after = lines[end:] if end is not None else []
        new = [*lines[:start], *body, *([""] if after else []), *after]
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text("\n".join(new).rstrip("\n") + "\n")
    os.replace(tmp, out)

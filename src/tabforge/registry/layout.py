"""What counts as a model and a version in a registry directory; everything else is ignored.

A registry root is often shared with things the registry did not write: ``lost+found`` on
a mounted volume, ``.DS_Store``, a README, a folder copied in by hand, the registry's own
``.tmp-*`` directories while a version is being written. None of them is a model, and
none of them is an error: listing and serving skip what they cannot use.

A model is a folder with a valid model name holding at least one complete version. A
version is a folder named ``1``, ``2``, ... holding a manifest: the registry renames a
version into place only once both files are written, so a numbered folder without a
manifest is something else (a copy still in progress, a hand-made folder).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from tabforge.errors import RegistryError
from tabforge.registry.refs import NAME_PATTERN

MODEL_FILE = "model.onnx"
MANIFEST_FILE = "manifest.json"
# Canonical positive integers only: "01" or "1.bak" would alias or shadow version 1.
VERSION_PATTERN = re.compile(r"[1-9][0-9]{0,17}")
# How a user points a command elsewhere; every "not found" message ends with it.
ELSEWHERE = "set --registry or TABFORGE_REGISTRY to use another"


def version_numbers(model_dir: Path) -> list[int]:
    """The complete versions in a model folder, ascending; [] if there is no such folder."""
    try:
        with os.scandir(model_dir) as listing:
            entries = list(listing)
    except (FileNotFoundError, NotADirectoryError):
        return []
    except OSError as exc:
        raise RegistryError(f"cannot read {model_dir}: {exc.strerror or exc}") from exc
    return sorted(
        int(entry.name)
        for entry in entries
        if VERSION_PATTERN.fullmatch(entry.name)
        and os.path.isfile(os.path.join(entry.path, MANIFEST_FILE))
    )


def model_names(root: Path) -> list[str]:
    """The models in a registry root, sorted; foreign entries are skipped, never reported."""
    try:
        with os.scandir(root) as listing:
            entries = list(listing)
    except OSError as exc:
        raise RegistryError(f"cannot read registry directory {root}: {exc.strerror}") from exc
    names = []
    for entry in entries:
        if not NAME_PATTERN.fullmatch(entry.name):
            continue
        try:
            if version_numbers(Path(entry.path)):
                names.append(entry.name)
        except RegistryError:
            continue  # an unreadable folder cannot be told apart from a foreign one
    return sorted(names)


def holdings(names: list[str], *, shown: int = 10) -> str:
    """What a registry holds, for a message: 'models there: a, b' or 'it holds no models'."""
    if not names:
        return "it holds no models"
    more = f", ... ({len(names)} in all)" if len(names) > shown else ""
    return f"models there: {', '.join(names[:shown])}{more}"

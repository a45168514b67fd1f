"""The Python API step, run in its own process: read the file the way a user would (pandas),
``tabforge.load(ref, registry=...).predict(frame)``, and compare with ``tabforge predict``'s
Parquet output of the same file. Prints one JSON line; exit 2 for a refusal (TabforgeError,
one ``error:`` line), a traceback for anything else.

    python api_step.py '{"file": ..., "ref": ..., "registry": ..., "cli_output": ...}'
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

TOLERANCE = 1e-5  # the same session on the same values gives the same floats


def read_like_a_user(path: Path) -> Any:
    """pandas' reader for the file's extension, with its defaults."""
    import pandas as pd

    suffix = path.suffix.lower()
    if suffix == ".parquet":
        return pd.read_parquet(path)
    if suffix in (".ndjson", ".jsonl"):
        return pd.read_json(path, lines=True)
    return pd.read_csv(path, sep="\t" if suffix == ".tsv" else ",")


def _matrix(series: Any) -> Any:
    """A column as a numpy array; a list column (clustering scores) as a 2-D one."""
    import numpy as np
    import polars as pl

    if isinstance(series.dtype, pl.List | pl.Array):
        return np.array(series.to_list(), dtype=float)
    return series.to_numpy()


def _cli_matrix(name: str, cli: Any) -> tuple[Any, list[str]]:
    """The CLI's columns for the API's list column ``name``: ``scores`` -> score_0, score_1..."""
    import numpy as np

    stem = name.removesuffix("s")
    columns = [c for c in cli.columns if re.fullmatch(rf"{re.escape(stem)}_\d+", c)]
    columns.sort(key=lambda c: int(c.rsplit("_", 1)[1]))
    return np.column_stack([cli[c].to_numpy() for c in columns]), columns


def _difference(a: Any, b: Any) -> float:
    """Largest absolute difference; both missing counts as equal, one missing as infinite."""
    import numpy as np

    a, b = a.astype(float), b.astype(float)
    if a.shape != b.shape or (np.isnan(a) ^ np.isnan(b)).any():
        return float("inf")
    return float(np.abs(np.nan_to_num(a - b, nan=0.0)).max(initial=0.0))


def compare(api: Any, cli: Any) -> dict[str, Any]:
    """Rows, mismatching labels, the largest float difference and any difference of layout
    between the API's output and the CLI's."""
    found: dict[str, Any] = {"cli_rows": cli.height, "label_mismatches": 0, "max_diff": 0.0}
    if api.height != cli.height:
        found["mismatch"] = f"{api.height} rows from the API, {cli.height} from the CLI"
        return found
    for name in api.columns:
        a = _matrix(api[name])
        if name in cli.columns:
            b = cli[name].to_numpy()
        elif a.ndim == 2:
            b, columns = _cli_matrix(name, cli)
            found["layout"] = (
                f"API {name!r} is a list column, the CLI writes {', '.join(columns[:2])}, ..."
                if columns else f"API column {name!r} missing from the CLI output"
            )  # fmt: skip
        else:
            found["mismatch"] = f"API column {name!r} missing from the CLI output"
            continue
        if a.dtype.kind == "f" and b.dtype.kind == "f":
            found["max_diff"] = max(found["max_diff"], _difference(a, b))
        else:
            found["label_mismatches"] += int((a.astype(str) != b.astype(str)).sum())
    found["agrees"] = (
        "mismatch" not in found
        and found["label_mismatches"] == 0
        and found["max_diff"] <= TOLERANCE
    )
    return found


def main(spec: dict[str, Any]) -> int:
    import polars as pl

    import tabforge
    from tabforge.errors import TabforgeError

    frame = read_like_a_user(Path(spec["file"]))
    try:
        model = tabforge.load(spec["ref"], registry=spec["registry"])
        out = model.predict(frame)
    except TabforgeError as exc:  # a refusal: what the user reads, like the CLI's error line
        print(f"error: {exc}", file=sys.stderr)
        return 2
    result: dict[str, Any] = {"rows_in": len(frame), "rows_out": out.height}
    cli_output = spec.get("cli_output")
    if cli_output and Path(cli_output).is_file():
        result |= compare(out, pl.read_parquet(cli_output))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(json.loads(sys.argv[1])))

"""The training rows and the models every peer serves (stored versions and files are reused)."""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import common  # benchmarks/common.py, beside the entry script
from common import CLASSES, FEATURES, TARGET

from .config import N_ESTIMATORS, ROWS


def _chunk(rng: Any, n: int) -> Any:
    return common.chunk(rng, n)


def ensure_data(workdir: Path) -> None:
    import numpy as np
    import pyarrow.parquet as pq

    path = workdir / "train.parquet"
    with contextlib.suppress(Exception):  # missing, truncated or foreign: write it anew
        meta = pq.ParquetFile(path).metadata
        names = [meta.schema.column(i).name for i in range(meta.num_columns)]
        if meta.num_rows == ROWS and names == [*FEATURES, TARGET]:
            print(f"data: reusing {path}")
            return
    tmp = path.with_name(path.name + ".tmp")
    pq.write_table(_chunk(np.random.default_rng(0), ROWS), tmp)
    os.replace(tmp, path)
    print(f"data: wrote {path} ({ROWS:,} rows)")


def features(workdir: Path) -> Any:
    """The training rows as a C-ordered float32 [N, 30] array."""
    import numpy as np
    import pyarrow.parquet as pq

    table = pq.read_table(workdir / "train.parquet", columns=FEATURES)
    return np.ascontiguousarray(
        np.column_stack([table.column(c).to_numpy() for c in FEATURES]), dtype=np.float32
    )


def ensure_tabforge_model(workdir: Path, tabforge: str, name: str, model: list[str]) -> int:
    root = workdir / "models" / name
    versions = sorted(
        int(p.name)
        for p in (root.iterdir() if root.is_dir() else [])
        if p.name.isdigit() and (p / "model.onnx").is_file() and (p / "manifest.json").is_file()
    )
    if versions:
        print(f"model: reusing {name}:{versions[-1]}")
        return versions[-1]
    cmd = [
        tabforge, "train", str(workdir / "train.parquet"), "--target", TARGET, *model,
        "--name", name, "--registry", str(workdir / "models"), "-q",
    ]  # fmt: skip
    print(f"model: {shlex.join(cmd)}", flush=True)
    proc = subprocess.run(
        cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=1800
    )
    found = re.findall(rf"^{name}:(\d+)\s*$", proc.stdout, flags=re.MULTILINE)
    if proc.returncode != 0 or not found:
        sys.exit(f"tabforge train failed (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return int(found[-1])


def ensure_native_model(workdir: Path) -> Path:
    path = workdir / "native" / "model.txt"
    if path.is_file():
        print(f"model: reusing {path}")
        return path
    import lightgbm
    import pandas as pd

    train = pd.read_parquet(workdir / "train.parquet")
    model = lightgbm.LGBMClassifier(n_estimators=N_ESTIMATORS, random_state=0, verbose=-1)
    model.fit(train[FEATURES], train[TARGET])
    if list(model.classes_) != list(CLASSES):  # the booster's output is P(classes_[1])
        sys.exit(f"native model classes {list(model.classes_)}, expected {list(CLASSES)}")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name("model.tmp.txt")
    model.booster_.save_model(str(tmp))
    os.replace(tmp, path)
    print(f"model: wrote native LightGBM text model {path}")
    return path

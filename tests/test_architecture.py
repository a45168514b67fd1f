"""docs/ARCHITECTURE.md stays true: the import table, the size limits, no sklearn when serving."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "tabforge"
DOC = ROOT / "docs" / "ARCHITECTURE.md"
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60


def allowed_imports() -> dict[str, set[str]]:
    """The "What may import what" table of docs/ARCHITECTURE.md."""
    section = DOC.read_text().split("## What may import what", 1)[1].split("\n## ", 1)[0]
    table: dict[str, set[str]] = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 2 and cells[0].startswith("`"):
            table[cells[0].strip("`")] = set(re.findall(r"`([a-z_]+)`", cells[1]))
    return table


def package_of(path: Path) -> str:
    rel = path.relative_to(SRC)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def imported_packages(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names: list[str] = []
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module]
            if node.module == "tabforge":
                names = [f"tabforge.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "tabforge" and len(parts) > 1 and parts[1] != "__version__":
                found.add(parts[1])
    return found


def modules() -> list[Path]:
    return sorted(p for p in SRC.rglob("*.py") if p.name != "__init__.py" or p.parent != SRC)


def test_the_import_table_lists_every_package_but_cli() -> None:
    table = allowed_imports()
    packages = {package_of(p) for p in modules()} - {"cli", "__main__"}
    assert packages == set(table), "docs/ARCHITECTURE.md's import table is out of date"


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(SRC)))
def test_each_module_imports_only_what_the_table_allows(path: Path) -> None:
    table = allowed_imports()
    package = package_of(path)
    if package == "cli":
        return
    extra = imported_packages(path) - table[package] - {package}
    assert not extra, f"{path.relative_to(SRC)} imports {sorted(extra)} (docs/ARCHITECTURE.md)"


def test_modules_and_functions_stay_small() -> None:
    too_big = []
    for path in modules():
        text = path.read_text()
        if len(text.splitlines()) > MAX_MODULE_LINES:
            too_big.append(f"{path.relative_to(SRC)}: {len(text.splitlines())} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    too_big.append(f"{path.relative_to(SRC)}: {node.name}() {length} lines")
    assert not too_big


def test_serving_and_prediction_never_load_scikit_learn() -> None:
    """No sklearn (so no unpickling machinery of a fitted model) on any serving path."""
    code = (
        "import sys\n"
        "import tabforge, tabforge.api, tabforge.client, tabforge.batch.scoring\n"
        "import tabforge.serve.app, tabforge.serve.runner\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('sklearn', 'skl2onnx', 'joblib', 'lightgbm', 'xgboost')))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"

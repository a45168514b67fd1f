"""Progress bars only appear on a terminal: run real commands under a pseudo-terminal."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from pathlib import Path


def run_in_pty(argv: list[str], timeout: float = 300) -> tuple[int, str]:
    master, slave = pty.openpty()
    env = dict(os.environ, COLUMNS="120", TERM="xterm")
    proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env, close_fds=True)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO once the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    return proc.wait(timeout=timeout), b"".join(chunks).decode(errors="replace")


def test_progress_bars_render_on_a_terminal(data_dir: Path, tmp_path: Path) -> None:
    exe = str(Path(sys.executable).parent / "tabforge")
    registry = str(tmp_path / "models")
    code, text = run_in_pty([
        exe, "train", str(data_dir / "mixed.csv"), "--target", "label", "--model", "lightgbm",
        "-p", "n_estimators=10", "--search", "2", "--cv", "2", "--registry", registry,
    ])  # fmt: skip
    assert code == 0, text
    assert "Searching lightgbm" in text
    assert "Traceback" not in text
    code, text = run_in_pty([
        exe, "predict", "mixed:1", str(data_dir / "mixed.csv"), "-o", str(tmp_path / "o.csv"),
        "--batch-rows", "50", "--registry", registry,
    ])  # fmt: skip
    assert code == 0, text
    assert "Scoring mixed.csv" in text
    assert "scored 300 rows" in text
    assert "Traceback" not in text

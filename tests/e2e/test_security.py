"""The server never imports a pickle-based model loader, and unpickles nothing of its own."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import httpx

from tests.e2e.server import running, wait_for_log
from tests.e2e.wire import grouped_json
from tests.helpers import mixed_frame

TRAPS = textwrap.dedent("""
    # Loaded by every Python process started with this directory on PYTHONPATH.
    import os, pickle, sys

    def guard(original):
        def load(*args, **kwargs):
            # multiprocessing hands each spawned worker the parent's own config this way;
            # anything else unpickling in the server is what this test is here to catch.
            if sys._getframe(1).f_globals.get("__name__", "").startswith("multiprocessing."):
                return original(*args, **kwargs)
            raise AssertionError("something unpickled in the server")
        return load

    pickle.load, pickle.loads = guard(pickle.load), guard(pickle.loads)
    pickle.Unpickler = guard(pickle.Unpickler)

    FORBIDDEN = {"joblib", "sklearn", "lightgbm", "xgboost", "pandas", "skl2onnx",
                 "cloudpickle", "dill"}
    OUT = os.environ["TRAP_OUT"]
    open(os.path.join(OUT, f"{os.getpid()}.started"), "w").close()

    def audit(event, args):
        if event == "import" and args[0].split(".")[0] in FORBIDDEN:
            open(os.path.join(OUT, f"{os.getpid()}.imported.{args[0]}"), "w").close()

    sys.addaudithook(audit)
""")


def test_serving_imports_no_pickle_loader(trained_registry: Path, tmp_path: Path) -> None:
    traps, out = tmp_path / "traps", tmp_path / "out"
    traps.mkdir()
    out.mkdir()
    (traps / "sitecustomize.py").write_text(TRAPS)
    env = {"PYTHONPATH": os.pathsep.join([str(traps), os.environ.get("PYTHONPATH", "")]),
           "TRAP_OUT": str(out)}  # fmt: skip
    rows = mixed_frame(20, seed=3).drop("label", "binary", "value")
    with running(trained_registry, tmp_path, "--workers", "2", env=env) as server:
        wait_for_log(server, "ready: ", 2)  # both workers
        for _ in range(10):
            r = httpx.post(server.url + "/v2/models/mixed/infer", json=grouped_json(rows))
            assert r.status_code == 200, r.text
            r = httpx.post(
                server.url + "/v1/models/mixed:predict", json={"instances": rows.to_dicts()}
            )
            assert r.status_code == 200, r.text
        assert server.stop() == 0
    started = list(out.glob("*.started"))
    assert len(started) >= 3  # the supervisor and both workers ran the traps
    assert sorted(p.name for p in out.glob("*.imported.*")) == []

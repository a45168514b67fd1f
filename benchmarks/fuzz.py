"""Fuzz a real `tabforge serve` with schemathesis, driven by the server's own /openapi.json.

    .venv/bin/python benchmarks/fuzz.py --max-examples 1000           # a long run
    .venv/bin/python benchmarks/fuzz.py --registry models --seed 1    # your models, fixed seed

Without --registry it trains two small versions of the bundled example (`tabforge demo`)
into a temporary registry. Path parameters are drawn mostly from the served model names and
versions, so requests reach the inference code rather than stopping at 404. The admin
endpoints are enabled with a throwaway token, against a copy of the registry.

Checks: every schemathesis check except positive_data_acceptance (a request can match the
schema and still be wrong for the model: an input name the model lacks, a shape that
disagrees with its data; the server must refuse those, with 400). So: no 5xx, every status
and body as the schema declares, schema-invalid requests refused, 405 with Allow, and no
traceback in the server log. Exit 0 only if all of that held.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from common import default_tabforge, free_port  # benchmarks/common.py, beside this script


def train(registry: Path, tabforge: str) -> None:
    for model in ("lightgbm", "logistic"):
        subprocess.run(
            [tabforge, "demo", "--no-serve", "--registry", str(registry), "-m", model, "-q"],
            check=True,
            stdout=subprocess.DEVNULL,
        )


def stored(registry: Path) -> tuple[list[str], list[str]]:
    """Model names and version numbers in the registry (what the server will answer for)."""
    names: set[str] = set()
    versions: set[str] = set()
    for path in sorted(registry.iterdir()):
        if path.is_dir() and not path.name.startswith("."):
            names.add(path.name)
            versions |= {v.name for v in path.iterdir() if v.name.isdigit()}
    return sorted(names), sorted(versions, key=int)


def wait_ready(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited early:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(url + "/v2/health/ready", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"server not ready:\n{log.read_text()}")


def config(names: list[str], versions: list[str]) -> str:
    """schemathesis.toml: real names and versions 80% of the time, anything else otherwise."""
    return "\n".join(
        [
            "[dictionaries.names]",
            f"values = {json.dumps(names)}",
            "[dictionaries.versions]",
            f"values = {json.dumps([*versions, 'production', 'latest'])}",
            "[parameters]",
            '"path.name" = { dictionary = "names", probability = 0.8 }',
            '"path.version" = { dictionary = "versions", probability = 0.8 }',
            "",
        ]
    )


def fuzz(
    registry: Path,
    *,
    max_examples: int,
    seed: int | None,
    workdir: Path,
    tabforge: str,
) -> dict[str, Any]:
    copy = workdir / "registry"
    shutil.copytree(registry, copy)
    names, versions = stored(copy)
    (workdir / "schemathesis.toml").write_text(config(names, versions))
    token = secrets.token_hex(16)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = workdir / "server.log"
    env = dict(os.environ, TABFORGE_ADMIN_TOKEN=token)
    argv = [tabforge, "serve", "--registry", str(copy), "--port", str(port)]
    with open(log, "wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env)
    runs = []
    try:
        wait_ready(url, proc, log)
        # Unloading a model starves every later request of it: fuzz unload last, alone.
        for selection in (["--exclude-path-regex", "unload$"], ["--include-path-regex", "unload$"]):
            runs.append(_schemathesis(url, token, workdir, max_examples, seed, selection))
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    server_log = log.read_text(errors="replace")
    return {
        "exit_code": max(r["exit_code"] for r in runs),
        "generated": sum(r["generated"] for r in runs),
        "failures": sum(r["failures"] for r in runs),
        "operations": sum(r["operations"] for r in runs),
        "seeds": [r["seed"] for r in runs],
        "seconds": round(sum(r["seconds"] for r in runs), 1),
        "tracebacks_in_server_log": server_log.count("Traceback"),
        "server_exit_code": proc.returncode,
        "output_tail": "\n\n".join(r["output_tail"] for r in runs),
    }


def _schemathesis(
    url: str, token: str, workdir: Path, max_examples: int, seed: int | None, selection: list[str]
) -> dict[str, Any]:
    cmd = [
        str(Path(sys.executable).with_name("schemathesis")),
        "--config-file",
        str(workdir / "schemathesis.toml"),
        "run",
        url + "/openapi.json",
        *selection,
        "--max-examples",
        str(max_examples),
        "--exclude-checks",
        "positive_data_acceptance",
        "--header",
        f"Authorization: Bearer {token}",
        "--request-timeout",
        "30",
        "--no-color",
    ]
    if seed is not None:
        cmd += ["--seed", str(seed)]
    started = time.monotonic()
    run = subprocess.run(cmd, capture_output=True, text=True, cwd=workdir, check=False)
    output = run.stdout + run.stderr
    cases = re.search(r"(\d+) generated, (?:(\d+) found \d+ unique failures|(\d+) passed)", output)
    tested = re.search(r"Tested: (\d+)", output)
    used_seed = re.search(r"Seed: (\d+)", output)
    return {
        "exit_code": run.returncode,
        "generated": int(cases.group(1)) if cases else 0,
        "failures": int(cases.group(2)) if cases and cases.group(2) else 0,
        "operations": int(tested.group(1)) if tested else 0,
        "seed": used_seed.group(1) if used_seed else None,
        "seconds": time.monotonic() - started,
        "output_tail": "\n".join(output.splitlines()[-60:]),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--registry", type=Path, help="models to serve (default: train two)")
    parser.add_argument("--max-examples", type=int, default=300, help="per API operation")
    parser.add_argument("--seed", type=int, help="fixed seed (default: a random one, printed)")
    parser.add_argument("--json", type=Path, help="write the summary here as JSON")
    args = parser.parse_args()
    tabforge = default_tabforge()
    with tempfile.TemporaryDirectory(prefix="tabforge-fuzz-") as tmp:
        workdir = Path(tmp)
        registry = args.registry
        if registry is None:
            registry = workdir / "trained"
            print("training two versions of the example model ...", flush=True)
            train(registry, tabforge)
        summary = fuzz(
            registry,
            max_examples=args.max_examples,
            seed=args.seed,
            workdir=workdir,
            tabforge=tabforge,
        )
    ok = (
        summary["exit_code"] == 0
        and summary["generated"] > 0
        and summary["tracebacks_in_server_log"] == 0
        and summary["server_exit_code"] == 0
    )
    summary["ok"] = ok
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2) + "\n")
    print(summary["output_tail"] if not ok else "")
    print(
        f"schemathesis: {summary['operations']} operations, {summary['generated']} requests, "
        f"{summary['failures']} failing, "
        f"seeds {summary['seeds']}, {summary['seconds']} s; server tracebacks: "
        f"{summary['tracebacks_in_server_log']}, server exit {summary['server_exit_code']}: "
        f"{'OK' if ok else 'FAILED'}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

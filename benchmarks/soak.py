"""Soak test for `tabforge serve`: mixed load at fixed concurrency, every answer checked.

Run from the project root (a fresh clone after ``make install`` is enough):

    .venv/bin/python benchmarks/soak.py --minutes 10 [--concurrency 8] [--workers 1]
        [--registry DIR] [--seed 0] [--json PATH] [--write-doc [--doc docs/RELIABILITY.md]]

``make test-slow`` runs a 30-second version of it (tests/e2e/test_soak.py).

Steps:

1. Models. Without ``--registry``, ``tabforge train`` stores four small models in a temporary
   registry, trained on 300 rows with numeric and categorical features and missing values
   (the tests' data, ``mixed_frame`` in benchmarks/common.py): ``mixed:1`` (LightGBM, 20 trees) and
   ``mixed:2`` (logistic), three-class classifiers of one name; ``value:1`` (XGBoost, 20 trees,
   regression); ``binary:1`` (random forest, 10 trees, two classes). With ``--registry`` every
   model there whose input columns are among a, b, c, color, shape is used.
2. Server: ``tabforge serve --workers W`` on a free 127.0.0.1 port, logging to a file; it is
   stopped with SIGTERM at the end, also on errors and Ctrl-C.
3. Request pool, built before the load: for every model version (addressed explicitly) and
   every model name (unversioned: production alias, else latest), requests of 1, 10 and 200
   rows in four kinds: ``v2-json`` (the model's tensors), ``v2-json-columns`` (one input per
   column), ``v2-binary`` (binary tensor extension in, binary or JSON tensors out) and
   ``v1-json`` (KServe V1 records; unversioned only, V1 has no version in its URL). Rows include
   missing values, unseen categories, non-ASCII and empty strings. Each request's expected
   answer is computed once, in process, by ``tabforge.load(...).predict`` (onnxruntime) on the
   same rows.
4. Load: ``--concurrency`` threads, each with its own keep-alive connection, pick a kind at
   random and then a request of that kind, for ``--minutes``. Every response is checked: status
   200, the answering version, labels exactly equal, probabilities / predictions / scores
   within rtol 1e-5 + atol 1e-6 (the server batches rows of concurrent requests into one
   onnxruntime call, so floats need not be bit-equal).
5. Memory: the server's RSS (summed over its child processes with ``--workers`` > 1) is read
   from /proc every second. Warm-up is the first 20% of the run, at least 10 s; growth is
   (max RSS after warm-up - RSS at the end of warm-up) / RSS at the end of warm-up.

Pass (exit 0): zero 5xx, zero other non-200 responses, zero transport errors, zero wrong
answers and RSS growth under 10% after warm-up. Otherwise exit 1 with the reasons; the working
directory (server log, the failing requests' bodies) is then kept and its path printed.
Traffic stays on loopback and is bounded by ``--minutes`` (and ``--max-requests`` if given).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shlex
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import common  # benchmarks/common.py, beside this script
from soakbench.answers import SoakRequest
from soakbench.criteria import MIN_SECONDS
from soakbench.load import run_load
from soakbench.models import SetupError, load_versions, train_models
from soakbench.pool import build_pool
from soakbench.report import SECTION_HEADING, Outcome, human, summarize, write_doc
from soakbench.server import RssSampler, Server

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "RELIABILITY.md"


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Soak `tabforge serve` with mixed, checked load (see the module docstring)."
    )
    parser.add_argument("--minutes", type=float, required=True, help="length of the load")
    parser.add_argument("--concurrency", type=int, default=8, help="client threads (8)")
    parser.add_argument("--workers", type=int, default=1, help="tabforge serve --workers (1)")
    parser.add_argument("--registry", type=Path, help="serve this registry instead of training")
    parser.add_argument("--seed", type=int, default=0, help="fixes the pool and the request order")
    parser.add_argument("--max-requests", type=int, help="stop after this many requests too")
    parser.add_argument("--json", type=Path, help="write the summary as JSON here")
    parser.add_argument("--write-doc", action="store_true", help="write the ## Soak section")
    parser.add_argument(
        "--doc", type=Path, default=DOC, help=f"for --write-doc ({DOC.relative_to(ROOT)})"
    )
    parser.add_argument("--tabforge", default=None, help="the tabforge executable")
    args = parser.parse_args(argv)
    if args.minutes * 60 < MIN_SECONDS:
        parser.error(f"--minutes must be at least {MIN_SECONDS / 60:g} (warm-up needs time)")
    if args.concurrency < 1 or args.workers < 1:
        parser.error("--concurrency and --workers must be at least 1")
    if args.max_requests is not None and args.max_requests < 1:
        parser.error("--max-requests must be at least 1")
    return args


@contextlib.contextmanager
def workdir() -> Iterator[tuple[Path, list[bool]]]:
    """A temporary directory, removed unless the run failed (``keep[0]`` set)."""
    path = Path(tempfile.mkdtemp(prefix="tabforge-soak-"))
    keep = [False]
    try:
        yield path, keep
    finally:
        if keep[0]:
            print(f"kept {path} (server log, failing requests)", file=sys.stderr)
        else:
            shutil.rmtree(path, ignore_errors=True)


def reproduce(args: argparse.Namespace) -> str:
    python, script = Path(sys.executable), Path(__file__).resolve()
    argv = [_short(python), _short(script), "--minutes", f"{args.minutes:g}"]
    argv += ["--concurrency", str(args.concurrency), "--workers", str(args.workers)]
    argv += ["--seed", str(args.seed)]
    if args.registry:
        argv += ["--registry", str(args.registry)]
    if args.max_requests:
        argv += ["--max-requests", str(args.max_requests)]
    return shlex.join(argv)


def _short(path: Path) -> str:
    """``path`` relative to the project root when it is inside it."""
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def soak(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    tabforge = args.tabforge or common.default_tabforge()
    registry = _registry(args, work, tabforge)
    by_name, default, notes = load_versions(registry)
    pool = build_pool(by_name, default, args.seed)
    models = [f"{v.name}:{v.version} ({v.estimator})" for vs in by_name.values() for v in vs]
    outcome = _serve(args, registry, pool, work, tabforge)
    return summarize(args, outcome, command=reproduce(args), models=models, notes=notes)


def _registry(args: argparse.Namespace, work: Path, tabforge: str) -> Path:
    """The registry to serve: ``--registry``, else the soak's models trained into ``work``."""
    if args.registry is not None:
        registry: Path = args.registry.resolve()
        if not registry.is_dir():
            raise SetupError(f"registry directory {registry} does not exist")
        return registry
    registry = work / "models"
    t0 = time.monotonic()
    print("training the soak's models ...", file=sys.stderr, flush=True)
    train_models(registry, work, tabforge)
    print(f"  trained in {time.monotonic() - t0:.1f} s", file=sys.stderr, flush=True)
    return registry


def _serve(
    args: argparse.Namespace, registry: Path, pool: list[SoakRequest], work: Path, tabforge: str
) -> Outcome:
    """Start the server, load it for ``--minutes`` while its RSS is sampled, stop it."""
    seconds = args.minutes * 60
    port = common.free_port()
    argv = [tabforge, "serve", "--registry", str(registry), "--port", str(port)]
    argv += ["--workers", str(args.workers)]
    server = Server(argv, work / "server.log", port)
    died = False
    try:
        server.wait_ready()
        print(
            f"serving on 127.0.0.1:{port}; {len(pool)} requests in the pool; "
            f"load for {seconds:.0f} s at concurrency {args.concurrency} ...",
            file=sys.stderr,
            flush=True,
        )
        sampler = RssSampler(server.proc.pid)
        sampler.start()
        try:
            stats, elapsed = run_load(
                server, pool, seconds, args.concurrency, args.seed, args.max_requests, work
            )
        finally:
            sampler.halt.set()
            sampler.join()
            sampler.sample()  # the final value, after the last response
        died = not server.alive()
    finally:
        exit_code = server.stop()
    log_text = server.log.read_text(errors="replace") if server.log.is_file() else ""
    log_errors = sum(
        1 for line in log_text.splitlines() if line.startswith(("ERROR", "Traceback", "CRITICAL"))
    )
    return Outcome(stats, elapsed, len(pool), sampler.samples, exit_code, died, log_errors)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _raise_interrupt)
    with workdir() as (work, keep):
        try:
            summary = soak(args, work)
        except SetupError as exc:
            keep[0] = True
            print(f"soak could not run: {exc}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            print("soak interrupted; the server was stopped", file=sys.stderr)
            return 130
        keep[0] = not summary["passed"]
        print(human(summary))
        if args.json is not None:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps(summary, indent=2) + "\n")
        if args.write_doc:
            write_doc(args.doc, summary)
            print(f"wrote the {SECTION_HEADING} section of {args.doc}", file=sys.stderr)
    return 0 if summary["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())

"""Registry: atomic writes, aliases under concurrency, integrity, references, compatibility."""

from __future__ import annotations

import itertools
import json
import multiprocessing
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import polars as pl
import pytest

from tabforge.errors import NotFoundError, RegistryError
from tabforge.registry import FilesystemRegistry, ModelRef
from tests.helpers import Cli, read_only, snapshot


def test_a_writer_killed_mid_write_leaves_no_version(tmp_path: Path) -> None:
    root = tmp_path / "models"
    marker = tmp_path / "model-written"
    script = textwrap.dedent(f"""
        import time
        from pathlib import Path
        from tabforge.registry import FilesystemRegistry
        def manifest_for(version):
            # Called after model.onnx is on disk, before the rename: stall here.
            Path({str(marker)!r}).write_text("x")
            time.sleep(60)
            return b"{{}}"
        FilesystemRegistry({str(root)!r}).put("churn", b"onnx bytes", manifest_for)
    """)
    child = subprocess.Popen([sys.executable, "-c", script])
    deadline = time.monotonic() + 60
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert marker.exists()
    os.kill(child.pid, signal.SIGKILL)
    child.wait(timeout=30)

    store = FilesystemRegistry(root)
    assert store.versions("churn") == []
    assert store.names() == []
    with pytest.raises(NotFoundError):
        store.resolve("churn")
    leftovers = [p.name for p in (root / "churn").iterdir()]
    assert all(name.startswith(".") for name in leftovers)  # only temp and lock files
    # The registry still works: the next write gets version 1.
    assert store.put("churn", b"next", lambda v: b"{}") == 1


def _promote_many(root: str, versions: list[int], rounds: int) -> None:
    store = FilesystemRegistry(root)
    for i in range(rounds):
        store.promote(ModelRef("mixed", versions[i % len(versions)]), "staging")


def test_concurrent_promotes_lose_no_update(registry: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_promote_many, args=(str(registry), [1, 2], 15)) for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
        assert p.exitcode == 0
    store = FilesystemRegistry(registry)
    history = store.history("mixed")
    assert len(history) == 60
    assert all(e.action == "promote" and e.alias == "staging" for e in history)
    # Each event saw the previous event's target: no writer worked from a stale file.
    for before, after in itertools.pairwise(history):
        assert after.previous == before.version
    assert store.aliases("mixed")["staging"] == history[-1].version


def test_references_resolve(registry: Path, cli: Cli) -> None:
    store = FilesystemRegistry(registry)
    assert store.resolve("mixed") == ModelRef("mixed", 2)  # latest without production
    assert store.resolve("mixed:1") == ModelRef("mixed", 1)
    store.promote("mixed:1", "production")
    assert store.resolve("mixed") == ModelRef("mixed", 1, "production")
    store.promote("mixed:2", "staging")
    assert store.resolve("mixed@staging") == ModelRef("mixed", 2, "staging")
    for bad in ("mixed:0", "mixed:x", "Mixed", "../x", "mixed@Prod", ""):
        with pytest.raises(RegistryError):
            store.resolve(bad)
    with pytest.raises(NotFoundError):
        store.resolve("mixed@canary")


def test_promote_and_rollback_through_the_cli(registry: Path, cli: Cli) -> None:
    r = ["--registry", str(registry)]
    assert (
        cli("models", "promote", "mixed:1", "production", *r).stdout
        == "mixed@production -> mixed:1\n"
    )
    assert cli("models", "promote", "mixed:2", "production", *r).exit_code == 0
    run = cli("models", "rollback", "mixed", "production", *r)
    assert run.stdout == "mixed@production -> mixed:1\n"
    shown = cli("models", "show", "mixed", "--json", *r).json()
    assert shown["version"] == 1
    assert shown["aliases"] == {"production": 1}
    history = FilesystemRegistry(registry).history("mixed")
    assert [(e.action, e.version, e.previous) for e in history] == [
        ("promote", 1, None), ("promote", 2, 1), ("rollback", 1, 2),
    ]  # fmt: skip
    assert all(e.by and e.at.endswith("Z") for e in history)


def test_list_and_show(registry: Path, cli: Cli) -> None:
    listed = cli("models", "list", "--json", "--registry", str(registry)).json()
    assert listed == [
        {
            "name": "mixed", "versions": [1, 2], "aliases": {}, "task": "classification",
            "model": "logistic", "metric": "balanced_accuracy", "value": listed[0]["value"],
            "shown_version": 2, "errors": [],
        }
    ]  # fmt: skip
    assert 0 < listed[0]["value"] <= 1
    shown = cli("models", "show", "mixed:1", "--registry", str(registry))
    assert shown.exit_code == 0
    assert "lightgbm (classification)" in shown.stdout
    assert "parity" in shown.stdout


def test_delete_is_refused_while_an_alias_points_at_it(registry: Path, cli: Cli) -> None:
    r = ["--registry", str(registry)]
    cli("models", "promote", "mixed:1", "production", *r)
    refused = cli("models", "delete", "mixed:1", *r)
    assert refused.exit_code == 2
    assert "target of alias production" in refused.stderr
    assert cli("models", "delete", "mixed:2", *r).stdout == "deleted mixed:2\n"
    assert cli("models", "delete", "mixed:1", "--force", *r).exit_code == 0
    store = FilesystemRegistry(registry)
    assert store.versions("mixed") == []
    assert store.aliases("mixed") == {}


def test_integrity_failure_names_the_file(registry: Path, cli: Cli) -> None:
    model = registry / "mixed" / "1" / "model.onnx"
    data = bytearray(model.read_bytes())
    data[len(data) // 2] ^= 0xFF
    model.write_bytes(bytes(data))
    with pytest.raises(RegistryError, match=r"mixed/1/model.onnx is corrupt"):
        FilesystemRegistry(registry).load("mixed:1")
    run = cli("predict", "mixed:1", "x.csv", "-o", "y.csv", "--registry", str(registry))
    assert run.exit_code == 2
    assert "model.onnx is corrupt" in run.stderr


def _train(cli: Cli, path: Path, registry: Path, *extra: str) -> str:
    run = cli("train", str(path), "--target", "label", "--model", "logistic", "--name", "m",
              "--registry", str(registry), "-q", *extra)  # fmt: skip
    assert run.exit_code == 0, run.stderr
    return run.stdout.strip()


def test_diff_and_production_compatibility_rules(cli: Cli, tmp_path: Path, data_dir: Path) -> None:
    registry = tmp_path / "models"
    df = pl.read_csv(data_dir / "mixed.csv").drop("binary", "value")
    base = tmp_path / "base.csv"
    df.write_csv(base)
    reordered = tmp_path / "reordered.csv"
    df.select("b", "a", "c", "color", "shape", "label").write_csv(reordered)
    relabelled = tmp_path / "relabelled.csv"
    df.with_columns(pl.col("label").replace({"mid": "medium"})).write_csv(relabelled)

    ref = _train(cli, base, registry)
    r = ["--registry", str(registry)]
    assert cli("models", "promote", ref, "production", *r).exit_code == 0
    cases = {
        _train(cli, base, registry, "--drop", "c"): "drops column 'c'",
        _train(cli, base, registry, "--categorical", "c"): "retypes column 'c'",
        _train(cli, reordered, registry): "moves column 'a'",
        _train(cli, relabelled, registry): "class labels differ",
    }
    same = _train(cli, base, registry, "--seed", "5")
    for candidate, problem in cases.items():
        diff = cli("models", "diff", "m@production", candidate, "--json", *r).json()
        assert not diff["compatible"]
        assert any(problem in p for p in diff["problems"]), diff["problems"]
        refused = cli("models", "promote", candidate, "production", *r)
        assert refused.exit_code == 2
        assert problem in refused.stderr
        assert cli("models", "promote", candidate, "staging", *r).exit_code == 0  # not production
    assert cli("models", "diff", "m@production", same, "--json", *r).json()["compatible"]
    assert cli("models", "promote", same, "production", *r).exit_code == 0
    forced = cli("models", "promote", next(iter(cases)), "production", "--force", *r)
    assert forced.exit_code == 0
    human = cli("models", "diff", "m:1", "m:2", *r)
    assert "incompatible: drops column 'c'" in human.stdout


BAD = [
    ("unknown model", ["models", "show", "nope"], "unknown model 'nope'"),
    ("unknown version", ["models", "show", "mixed:9"], "no version 9"),
    ("unknown alias", ["models", "show", "mixed@canary"], "no alias 'canary'"),
    ("malformed ref", ["models", "show", "mixed:two"], "malformed reference"),
    ("bad name", ["models", "show", "../etc"], "malformed reference"),
    ("promote missing version", ["models", "promote", "mixed:7", "production"], "no version 7"),
    ("bad alias", ["models", "promote", "mixed:1", "Prod!"], "invalid alias"),
    ("rollback, no history", ["models", "rollback", "mixed", "production"], "no earlier target"),
    ("delete without version", ["models", "delete", "mixed"], "explicit version"),
    ("predict unknown model", ["predict", "nope", "in.csv", "-o", "out.csv"], "unknown model"),
]  # fmt: skip


@pytest.mark.parametrize(("args", "words"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_registry_input_leaves_it_unchanged(
    registry: Path, cli: Cli, args: list[str], words: str
) -> None:
    before = snapshot(registry)
    run = cli(*args, "--registry", str(registry))
    assert run.exit_code == 2
    assert run.stderr.count("\n") == 1
    assert run.stderr.startswith("error: ")
    assert words in run.stderr
    assert snapshot(registry) == before


def test_corrupt_manifest_and_missing_registry(registry: Path, cli: Cli, tmp_path: Path) -> None:
    (registry / "mixed" / "2" / "manifest.json").write_text('{"name": 3')
    run = cli("models", "show", "mixed:2", "--registry", str(registry))
    assert run.exit_code == 2
    assert "manifest.json is unreadable" in run.stderr
    missing = cli("models", "list", "--registry", str(tmp_path / "nowhere"))
    assert missing.exit_code == 2
    assert "does not exist" in missing.stderr


def test_read_only_registry_refuses_writes_and_stays_unchanged(
    registry: Path, data_dir: Path
) -> None:
    before = snapshot(registry)
    exe = str(Path(sys.executable).parent / "tabforge")
    promote = read_only(registry, [exe, "models", "promote", "mixed:1", "production",
                                   "--registry", str(registry)])  # fmt: skip
    if "mount" in promote.stderr and promote.returncode != 3:
        pytest.skip(f"cannot make a read-only mount here: {promote.stderr.strip()}")
    assert promote.returncode == 3, promote.stderr  # a storage failure, not bad input
    assert promote.stderr.strip() == f"error: registry directory {registry} is not writable"
    argv = [exe, "train", str(data_dir / "mixed.csv"), "--target", "label", "--model", "logistic"]
    train = read_only(registry, [*argv, "--registry", str(registry), "-q"])
    assert train.returncode == 3
    assert "not writable" in train.stderr
    assert snapshot(registry) == before


FULL_DISK = """
set -u
mnt=$1 src=$2 out=$3 free_kb=$4; shift 4
mount -t tmpfs -o size=4m tmpfs "$mnt" || exit 99
cp -a "$src"/. "$mnt"/
dd if=/dev/zero of="$mnt/.filler" bs=4k 2>/dev/null     # fill it up ...
truncate -s -"$free_kb"K "$mnt/.filler"                  # ... then free a few pages
"$@" models promote mixed:1 production --registry "$mnt" >/dev/null 2>"$out/promote.err"
echo $? >"$out/promote.rc"
"$@" train "$DATA" --target label --drop binary,value --model logistic --registry "$mnt" -q \
    >/dev/null 2>"$out/train.err"
echo $? >"$out/train.rc"
rm "$mnt/.filler"
cp -a "$mnt"/. "$out/after"
"""


@pytest.mark.parametrize("free_kb", [0, 4, 8])
def test_a_full_disk_fails_train_and_promote_cleanly(
    registry: Path, data_dir: Path, tmp_path: Path, free_kb: int
) -> None:
    """A small tmpfs filled up: writes fail with ENOSPC part-way, the registry is unchanged."""
    if shutil.which("unshare") is None:
        pytest.skip("unshare is not available")
    out, mnt = tmp_path / "out", tmp_path / "mnt"
    out.mkdir()
    mnt.mkdir()
    exe = str(Path(sys.executable).parent / "tabforge")
    run = subprocess.run(
        ["unshare", "-m", "sh", "-c", FULL_DISK, "sh", str(mnt), str(registry), str(out),
         str(free_kb), exe],
        capture_output=True, text=True, timeout=300, check=False,
        env=dict(os.environ, DATA=str(data_dir / "mixed.csv")),
    )  # fmt: skip
    if run.returncode == 99:
        pytest.skip(f"cannot mount a tmpfs here: {run.stderr.strip()}")
    assert run.returncode == 0, run.stderr
    # A logistic model takes 3 pages (model + manifest): it never fits; the alias file
    # (1 page) fits once a page is free, and then the promote must have happened in full.
    train_err = (out / "train.err").read_text()
    assert (out / "train.rc").read_text().strip() == "3"  # a storage failure, not bad input
    assert train_err.startswith("error: cannot write mixed to registry")
    assert "No space left on device" in train_err
    assert "Traceback" not in train_err
    promoted = (out / "promote.rc").read_text().strip() == "0"
    if free_kb == 0:
        assert not promoted
        assert "No space left on device" in (out / "promote.err").read_text()
        assert snapshot(out / "after") == snapshot(registry)
    else:
        assert promoted, (out / "promote.err").read_text()
        changed = {k for k, v in snapshot(out / "after").items() if snapshot(registry).get(k) != v}
        assert changed == {"mixed/aliases.json"}  # the promote, nothing of the failed train
    assert FilesystemRegistry(out / "after").versions("mixed") == [1, 2]


def test_manifest_is_strictly_decoded(registry: Path) -> None:
    path = registry / "mixed" / "1" / "manifest.json"
    doc = json.loads(path.read_text())
    doc["inputs"]["numeric"] = "a,b,c"  # wrong type
    path.write_text(json.dumps(doc))
    with pytest.raises(RegistryError, match=r"inputs.numeric"):
        FilesystemRegistry(registry).manifest("mixed:1")

"""The CLI on real-world registries and pipes: foreign folders, unknown models, long names."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

import tabforge
from tabforge.cli import main
from tabforge.errors import NotFoundError
from tests.helpers import Cli

ELSEWHERE = "set --registry or TABFORGE_REGISTRY"


def add_foreign_entries(registry: Path) -> None:
    """What a registry on a real volume holds besides models (see tests/e2e/test_startup.py)."""
    (registry / "lost+found").mkdir()
    (registry / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    (registry / "Foo Bar" / "1").mkdir(parents=True)
    shutil.copy(registry / "mixed" / "1" / "manifest.json", registry / "Foo Bar" / "1")
    (registry / "notes" / "drafts").mkdir(parents=True)  # a valid name, no version folders
    (registry / "README.md").write_text("models live here\n")
    (registry / "mixed" / "7").mkdir()  # numbered, but no manifest: not a version
    shutil.copy(registry / "mixed" / "1" / "model.onnx", registry / "mixed" / "7")
    shutil.copytree(registry / "mixed" / "2", registry / "mixed" / "03")  # not canonical
    shutil.copytree(registry / "mixed" / "2", registry / "mixed" / ".tmp-interrupted")
    (registry / "mixed" / ".DS_Store").write_bytes(b"")


def test_models_list_ignores_foreign_entries(registry: Path, cli: Cli) -> None:
    add_foreign_entries(registry)
    listed = cli("models", "list", "--json", "--registry", str(registry))
    assert listed.exit_code == 0, listed.stderr
    assert [(row["name"], row["versions"]) for row in listed.json()] == [("mixed", [1, 2])]
    human = cli("models", "list", "--registry", str(registry))
    assert human.exit_code == 0, human.stderr
    assert "Foo Bar" not in human.stdout
    assert "notes" not in human.stdout
    shown = cli("models", "show", "mixed:7", "--registry", str(registry))
    assert shown.exit_code == 2
    assert shown.stderr == "error: model mixed has no version 7 (versions: 1, 2)\n"
    assert cli("models", "show", "mixed", "--registry", str(registry)).exit_code == 0


def test_a_damaged_manifest_is_marked_and_every_other_model_is_listed(
    registry: Path, tmp_path: Path, cli: Cli
) -> None:
    from sklearn.datasets import load_iris, load_wine

    for name, load in (("wine", load_wine), ("iris", load_iris)):
        load(as_frame=True).frame.to_csv(tmp_path / f"{name}.csv", index=False)
        trained = cli("train", str(tmp_path / f"{name}.csv"), "--target", "target", "--model",
                      "logistic", "-q", registry=registry)  # fmt: skip
        assert trained.exit_code == 0, trained.stderr
    (registry / "wine" / "1" / "manifest.json").write_text('{"name": "wine", "vers')
    (registry / "mixed" / "2" / "manifest.json").write_bytes(b"\x00\xff not json")

    listed = cli("models", "list", "--json", "--registry", str(registry))
    assert listed.exit_code == 0, listed.stderr
    rows = {row["name"]: row for row in listed.json()}
    assert sorted(rows) == ["iris", "mixed", "wine"]
    assert (rows["iris"]["model"], rows["iris"]["errors"]) == ("logistic", [])
    mixed = rows["mixed"]  # its latest version is damaged: described by version 1
    assert (mixed["versions"], mixed["shown_version"], mixed["model"]) == ([1, 2], 1, "lightgbm")
    assert [e["version"] for e in mixed["errors"]] == [2]
    assert (
        f"{registry / 'mixed' / '2' / 'manifest.json'} is unreadable" in mixed["errors"][0]["error"]
    )
    wine = rows["wine"]  # no readable version at all
    assert (wine["versions"], wine["shown_version"], wine["task"]) == ([1], None, None)
    assert [e["version"] for e in wine["errors"]] == [1]
    assert listed.stderr.count("warning: ") == 2

    human = cli("models", "list", "--registry", str(registry))
    assert human.exit_code == 0, human.stderr
    lines = {line.split("│")[1].strip(): line for line in human.stdout.splitlines() if "│" in line}
    assert "1, 2 (damaged)" in lines["mixed"]
    assert "lightgbm (version 1)" in lines["mixed"]
    assert "1 (damaged)" in lines["wine"]
    assert "logistic" in lines["iris"]
    assert "warning: mixed:2 is damaged:" in human.stderr
    assert cli("models", "show", "mixed:1", "--registry", str(registry)).exit_code == 0


def test_an_empty_registry_says_so(tmp_path: Path, cli: Cli) -> None:
    (tmp_path / "models").mkdir()
    run = cli("models", "list", "--registry", str(tmp_path / "models"))
    assert run.exit_code == 0
    expected = f"registry {tmp_path / 'models'} holds no models (tabforge train FILE stores one)"
    assert run.stdout == expected + "\n"


@pytest.mark.parametrize(
    "args",
    [["models", "show", "chrun"], ["predict", "chrun", "in.csv", "-o", "out.csv"]],
    ids=["models show", "predict"],
)
def test_an_unknown_model_names_the_registry_searched(
    registry: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch, args: list[str]
) -> None:
    monkeypatch.chdir(registry.parent)
    run = cli(*args, "--registry", registry.name)  # relative: the message shows it absolute
    assert run.exit_code == 2
    assert run.stderr == (
        f"error: unknown model 'chrun' in registry {registry} "
        f"(models there: mixed; {ELSEWHERE} to use another)\n"
    )


def test_the_python_api_and_the_environment_variable_get_the_same_message(
    registry: Path, tmp_path: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(NotFoundError, match=f"in registry {registry} .*{ELSEWHERE}"):
        tabforge.load("chrun", registry=registry)
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("TABFORGE_REGISTRY", str(empty))
    run = cli("models", "show", "mixed")
    assert run.stderr == (
        f"error: unknown model 'mixed' in registry {empty} (it holds no models; "
        f"{ELSEWHERE} to use another)\n"
    )
    monkeypatch.setenv("TABFORGE_REGISTRY", str(tmp_path / "nowhere"))
    for args in (["models", "show", "mixed"], ["models", "list"]):
        run = cli(*args)
        assert run.exit_code == 2
        assert run.stderr == (
            f"error: registry directory {tmp_path / 'nowhere'} does not exist "
            f"({ELSEWHERE} to use another)\n"
        )
    with pytest.raises(NotFoundError, match=f"{tmp_path / 'nowhere'} does not exist"):
        tabforge.load("mixed")


# -- output through a pipe is never wrapped ------------------------------------------------

LONG = "_measured_in_the_laboratory_by_spectrometry"


@pytest.fixture(scope="module")
def wine(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The wine data with long column names, trained into a registry with a long path."""
    from sklearn.datasets import load_wine

    tmp = tmp_path_factory.mktemp("wine")
    frame = load_wine(as_frame=True).frame
    frame = frame.rename(columns={c: c + LONG for c in frame.columns if c != "target"})
    data = tmp / "wine_with_rather_long_column_names_for_wrapping.csv"
    frame.to_csv(data, index=False)
    registry = tmp / ("a_registry_directory_with_a_long_name_" * 2) / "models"
    argv = ["train", str(data), "--target", "target", "--model", "logistic",
            "--registry", str(registry)]  # fmt: skip
    result = CliRunner().invoke(main, argv, catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    return registry, result.stdout


def test_train_output_keeps_whole_lines_when_piped(wine: tuple[Path, str]) -> None:
    registry, stdout = wine
    name = "wine_with_rather_long_column_names_for_wrapping"
    assert f"stored   {registry / name / '1'}\n" in stdout
    assert f"{name}:1  logistic (classification)\n" in stdout
    assert "max abs diff probabilities" in stdout  # the parity line is not broken either


def test_models_list_and_show_keep_whole_names_when_piped(wine: tuple[Path, str], cli: Cli) -> None:
    registry, _ = wine
    name = "wine_with_rather_long_column_names_for_wrapping"
    listed = cli("models", "list", "--registry", str(registry))
    assert f"│ {name} │" in listed.stdout
    assert "…" not in listed.stdout  # no cell cut short
    shown = cli("models", "show", name, "--registry", str(registry))
    numeric = next(line for line in shown.stdout.splitlines() if line.startswith("numeric"))
    assert numeric.endswith(f"proline{LONG}")
    assert numeric.count(LONG) == 13

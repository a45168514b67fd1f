"""Server settings: one declared type, from which the CLI, the environment and the docs come."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tabforge.cli import main
from tabforge.config import settings_of
from tabforge.errors import ConfigError
from tabforge.serve.settings import ServeSettings

EXE = str(Path(sys.executable).parent / "tabforge")
README = Path(__file__).resolve().parent.parent / "README.md"


def serve(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """A `tabforge serve` that must refuse before it listens, with only ``env`` as TABFORGE_*."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("TABFORGE_")}
    return subprocess.run([EXE, "serve", *args], capture_output=True, text=True, timeout=60,
                          check=False, env=base | (env or {}))  # fmt: skip


def test_every_setting_is_an_option_and_a_variable_in_the_help_and_the_readme() -> None:
    # Wide enough for one line per option.
    shown = (
        CliRunner()
        .invoke(main, ["serve", "--help"], terminal_width=300, max_content_width=300)
        .stdout
    )
    readme = README.read_text()
    for declared in settings_of(ServeSettings):
        variable = declared.variable
        assert f"`{variable}`" in readme, variable
        if declared.option is None:
            assert declared.secret  # only secrets stay off the command line
            continue
        assert declared.option in shown
        assert f"| `{declared.option}" in readme, declared.option
        assert variable in shown
        if not isinstance(declared.default, bool | tuple) and declared.name != "registry":
            assert f"default: {declared.default};" in shown


def test_serve_help_gives_the_range_of_every_bounded_option() -> None:
    shown = CliRunner().invoke(main, ["serve", "--help"], terminal_width=300, max_content_width=300)
    lines = {line.split()[0]: line for line in shown.stdout.splitlines() if line.startswith("  --")}
    bounded = [s for s in settings_of(ServeSettings) if {s.low, s.above, s.high} != {None}]
    assert len(bounded) >= 10
    for declared in bounded:
        assert declared.option is not None
        if declared.low is not None and declared.high is not None:
            expected = f"range: {declared.low:g}-{declared.high:g};"
        else:
            expected = f"range: >={declared.low:g};" if declared.low is not None else ""
            expected = expected or f"range: >{declared.above:g};"
        assert expected in lines[declared.option], (declared.option, lines[declared.option])
    assert "range: 0-65535;" in lines["--port"]
    assert "range:" not in lines["--host"]


def test_the_environment_and_the_command_line_share_a_handoff_form() -> None:
    custom = ServeSettings(
        registry="/srv/models", models=("a", "b"), port=0, workers=3, max_body_mb=0.5,
        model_batching=("a=8:100",), watch=False, header_timeout=2.5, api_keys=("k1", "k2"),
        admin_token="secret",
    )  # fmt: skip
    assert ServeSettings.from_env(custom.to_env()) == custom
    assert ServeSettings.from_env({}) == ServeSettings()
    assert "secret" not in repr(custom)
    assert "k1" not in repr(custom)


def test_given_values_win_over_the_environment_and_none_means_not_given() -> None:
    env = {"TABFORGE_SERVE_PORT": "9000", "TABFORGE_SERVE_WORKERS": "2"}
    settings = ServeSettings.from_env(env, port=9100, workers=None)
    assert (settings.port, settings.workers) == (9100, 2)


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"port": 70000}, "--port 70000 is out of range: use 1-65535 (0 picks a free port)"),
        ({"workers": 0}, "--workers 0 is out of range: must be at least 1"),
        ({"max_body_mb": 0.0}, "--max-body-mb 0 is out of range: must be above 0"),
        ({"cache_entries": -1}, "--cache-entries -1 is out of range: must be at least 0"),
        ({"host": " "}, "--host is empty: give an address such as 127.0.0.1 or 0.0.0.0"),
        ({"model_batching": ("a=x",)}, "--model-batching 'a=x': expected NAME=ROWS[:DELAY_US]"),
    ],
    ids=["port", "workers", "body", "cache", "host", "model batching"],
)
def test_settings_are_validated_where_they_are_defined(given: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        ServeSettings(**given)
    assert str(raised.value) == message


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"TABFORGE_SERVE_PORT": "eighty"}, "TABFORGE_SERVE_PORT='eighty': expected an integer"),
        ({"TABFORGE_SERVE_BODY_TIMEOUT": "1m"}, "TABFORGE_SERVE_BODY_TIMEOUT='1m': expected a number"),
        ({"TABFORGE_SERVE_WATCH": "maybe"}, "TABFORGE_SERVE_WATCH='maybe': expected true or false"),
    ],
    ids=["int", "float", "bool"],
)  # fmt: skip
def test_a_bad_variable_is_refused_by_name(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        ServeSettings.from_env(env)
    assert str(raised.value) == message


def test_the_old_registry_variable_is_read_with_a_warning_while_the_new_one_is_unset(
    tmp_path: Path,
) -> None:
    old, new = tmp_path / "old", tmp_path / "new"
    with pytest.warns(FutureWarning, match="TABFORGE_SERVE_REGISTRY is deprecated"):
        assert ServeSettings.from_env({"TABFORGE_SERVE_REGISTRY": str(old)}).registry == str(old)
    both = {"TABFORGE_SERVE_REGISTRY": str(old), "TABFORGE_REGISTRY": str(new)}
    with pytest.warns(FutureWarning):
        assert ServeSettings.from_env(both).registry == str(new)


def test_serve_reads_its_variables_and_the_command_line_wins(tmp_path: Path) -> None:
    bad_port = {"TABFORGE_SERVE_PORT": "99999"}
    refused = serve("--registry", str(tmp_path), env=bad_port)
    assert refused.returncode == 2
    assert (
        refused.stderr == "error: --port 99999 is out of range: use 1-65535 (0 picks a free port)\n"
    )
    # The option replaces the variable, so start-up gets as far as the (missing) registry.
    missing = tmp_path / "nowhere"
    overridden = serve("--registry", str(missing), "--port", "8000", env=bad_port)
    assert overridden.returncode == 2
    assert overridden.stderr.startswith(f"error: registry directory {missing} does not exist")

"""``tabforge serve``: the inference server.

Its options are not written here: each comes from a field of ``ServeSettings`` (name, type,
help, default, environment variable), so the command line cannot drift from the settings.
An option left out falls back to its environment variable, then to the field's default.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from tabforge.cli import _split, main
from tabforge.config import Setting, settings_of
from tabforge.serve.settings import ServeSettings

Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]


def _option(declared: Setting, option: str) -> Decorator:
    """The click option for a setting; its default None means "not given"."""
    default, name = declared.default, declared.name
    shown = "" if default in ((), "") or name == "registry" else f"default: {default}; "
    shown = _range(declared) + shown
    if isinstance(default, bool):
        flag = option.removeprefix("--")
        shown = f"default: --{flag if default else 'no-' + flag}; "
    help_text = f"{declared.help} [{shown}env {declared.variable}]"
    if isinstance(default, bool):
        return click.option(f"--{flag}/--no-{flag}", name, default=None, help=help_text)
    if isinstance(default, tuple):
        return click.option(option, name, multiple=True, help=help_text)
    kind = type(default) if isinstance(default, int | float) else str
    return click.option(option, name, type=kind, default=None, help=help_text)


def _range(declared: Setting) -> str:
    """'range: 0-65535; ', 'range: >=1; ', 'range: >0; ' from the declared bounds."""
    low, above, high = declared.low, declared.above, declared.high
    if low is not None and high is not None:
        return f"range: {low:g}-{high:g}; "
    parts = [f">={low:g}"] if low is not None else []
    parts += [f">{above:g}"] if above is not None else []
    parts += [f"<={high:g}"] if high is not None else []
    return f"range: {', '.join(parts)}; " if parts else ""


def settings_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Every ServeSettings field with an option, as click options, in declaration order."""
    for declared in reversed(settings_of(ServeSettings)):
        if declared.option is not None:
            command = _option(declared, declared.option)(command)
    return command


@main.command()
@settings_options
def serve(**given: Any) -> None:
    """Serve registry models over Open Inference Protocol V2 and KServe V1."""
    from tabforge.serve.runner import serve as run

    for name, value in given.items():
        if isinstance(value, tuple):
            given[name] = _split(value) or None  # (): not given, the environment may say
    run(ServeSettings.from_env(**given))

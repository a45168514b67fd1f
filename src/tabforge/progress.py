"""Terminal output: progress bars and notes for long steps, and the console commands print to.

Progress is silent when quiet or not on a terminal. Piped output is never wrapped: a
script or a log reads whole lines (a path or a column name cut at column 80 is useless).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager as ContextManager
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
)
from rich.text import Text

Advance = Callable[..., None]  # advance(n=1)

# Width given to rich when the output is not a terminal: wide enough that nothing wraps or
# is cut, while tables still render at their natural width.
UNWRAPPED_WIDTH = 100_000


def output_console(*, stderr: bool = False, wrap: bool = True) -> Console:
    """A console for a command's output: rich's layout on a terminal, whole lines when piped.

    ``wrap=False`` leaves long lines to the terminal there too (tables still fit it). The
    decision follows the stream itself, not FORCE_COLOR: colours in a CI log are wanted,
    lines wrapped at rich's default of 80 columns are not.
    """
    stream = sys.stderr if stderr else sys.stdout
    try:
        terminal = stream.isatty()
    except (AttributeError, ValueError):  # a closed or unusual stream
        terminal = False
    if terminal:
        return Console(highlight=False, stderr=stderr, soft_wrap=not wrap)
    return Console(highlight=False, stderr=stderr, soft_wrap=True, width=UNWRAPPED_WIDTH)


class RowsColumn(ProgressColumn):
    """Rows done and rows per second (no speed until rich has two samples)."""

    def render(self, task: Task) -> Text:
        speed = task.speed
        rate = f"  {speed:,.0f} rows/s" if speed else ""
        return Text(f"{task.completed:,.0f} rows{rate}")


class Reporter:
    """Notes go to stderr (unless quiet); progress only when stderr is a terminal."""

    def __init__(self, *, quiet: bool = False, console: Console | None = None) -> None:
        self.quiet = quiet
        self.console = console or Console(stderr=True)
        self.show_progress = not quiet and sys.stderr.isatty()
        self.notes: list[str] = []

    def note(self, text: str) -> None:
        self.notes.append(text)
        if not self.quiet:
            self.console.print(f"note: {text}", highlight=False, markup=False, soft_wrap=True)

    def step(self, description: str, total: int | None = None) -> ContextManager[Advance]:
        """A step: spinner, and a bar with done/total when the total is known."""
        counted: list[ProgressColumn] = [BarColumn(), MofNCompleteColumn()] if total else []
        return self._bar(description, total, counted)

    def rows(self, description: str, total: int | None = None) -> ContextManager[Advance]:
        """A bar counting rows, with rows/s."""
        bar: list[ProgressColumn] = [BarColumn()] if total else []
        return self._bar(description, total, [*bar, RowsColumn()])

    @contextmanager
    def _bar(
        self, description: str, total: int | None, middle: list[ProgressColumn]
    ) -> Iterator[Advance]:
        if not self.show_progress:
            yield lambda n=1: None
            return
        columns = [SpinnerColumn(), TextColumn("{task.description}"), *middle, TimeElapsedColumn()]
        with Progress(*columns, console=self.console, transient=True) as progress:
            task = progress.add_task(description, total=total)
            yield lambda n=1: progress.advance(task, n)


class SilentReporter(Reporter):
    def __init__(self) -> None:
        super().__init__(quiet=True)

"""Progress for long work: a rich bar on a terminal, a plain line now and then otherwise.

Logs and CI output stay readable (no carriage-return animations) because the bar only appears
when stderr is a terminal.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn
from rich.progress import TimeElapsedColumn

from connector.cli.terminal import shown

console = Console(stderr=True, highlight=False)
PLAIN_EVERY_S = 10.0


class Tracker:
    """Counts work done on one task and shows it (bar or occasional plain lines)."""

    def __init__(self, description: str, progress: Progress | None) -> None:
        self.description, self.progress, self.done = description, progress, 0
        self._task = progress.add_task(shown(description), total=None) if progress else None
        self._last_line = time.monotonic()

    def advance(self, amount: int = 1) -> None:
        """Add ``amount`` to the work done."""
        self.update(self.done + amount)

    def update(self, done: int) -> None:
        """Set the work done so far."""
        self.done = done
        if self.progress is not None:
            self.progress.update(self._task, completed=done)
        elif time.monotonic() - self._last_line >= PLAIN_EVERY_S:
            console.print(f"{shown(self.description)}: {done:,}")
            self._last_line = time.monotonic()


@contextmanager
def tracking(description: str) -> Iterator[Tracker]:
    """A :class:`Tracker` for the duration of the block; a final plain line when not a TTY."""
    if console.is_terminal:
        columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                   MofNCompleteColumn(), TimeElapsedColumn())
        with Progress(*columns, console=console, transient=True) as progress:
            yield Tracker(description, progress)
        return
    tracker = Tracker(description, None)
    yield tracker
    console.print(f"{shown(description)}: {tracker.done:,} done")


def counted(items: Iterable, tracker: Tracker) -> Iterator:
    """Yield ``items`` unchanged, advancing ``tracker`` by one for each."""
    for item in items:
        tracker.advance()
        yield item

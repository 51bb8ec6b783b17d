"""A progress bar for the long steps that are not epochs: reading a large text or CSV file (its
vocabulary, its encoding, its rows) and decoding many sentences with beam search.

Lightning draws the bars of training, validation and testing; these steps happen before it
starts or outside it. A bar is drawn on standard error, only where a person watches (standard
error is a terminal) and only for work large enough to take a while, and it is erased when the
step ends; a log file, a pipe or a test sees nothing.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
)


@contextlib.contextmanager
def progress(
    description: str, total: int, shown_from: int, in_bytes: bool = False
) -> Iterator[Callable[[int], None]]:
    """Yield ``update(completed)``, which moves a bar named ``description`` to ``completed``
    of ``total`` (counted in bytes, and shown so, with ``in_bytes``); the bar is drawn only when
    ``total`` is at least ``shown_from`` and standard error is a terminal (otherwise ``update``
    does nothing)."""
    console = Console(stderr=True)
    if total < shown_from or not console.is_terminal:
        yield lambda completed: None
        return
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        DownloadColumn() if in_bytes else MofNCompleteColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task(description, total=total)
        yield lambda completed: bar.update(task, completed=completed)

"""Progress bars for long CLI work (stderr, so --json output stays clean)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID


@contextmanager
def file_progress(label: str) -> Iterator[Callable[[int, int], None]]:
    """A ``progress(done, total)`` callback drawing one bar.

    The bar (and rich) start at the first report, so work that never reports, such as a
    check of a few identifiers, draws nothing and loads nothing."""
    with ExitStack() as stack:
        shown: list[tuple[Progress, TaskID]] = []

        def report(done: int, total: int) -> None:
            if not shown:
                from rich.console import Console
                from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

                bar = stack.enter_context(
                    Progress(
                        TextColumn("{task.description}"),
                        BarColumn(),
                        TextColumn("{task.percentage:>3.0f}%"),
                        TimeRemainingColumn(),
                        console=Console(stderr=True),
                        transient=True,
                    )
                )
                shown.append((bar, bar.add_task(label, total=None)))
            bar, task = shown[0]
            bar.update(task, completed=done, total=total or None)

        yield report

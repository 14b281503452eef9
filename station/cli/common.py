"""What every `station` command shares: options, settings, error handling, JSON output."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from station.errors import StationError
from station.settings import StationSettings, load_settings

if TYPE_CHECKING:
    from rich.console import Console

    from station.context import StationContext

T = TypeVar("T")


class Stderr:
    """Rich output on standard error, made on first use: a `--json` command that succeeds
    prints nothing there and so never imports rich."""

    def __init__(self) -> None:
        self._console: Console | None = None

    def print(self, *objects: Any, **kwargs: Any) -> None:
        if self._console is None:
            from rich.console import Console

            self._console = Console(stderr=True)
        self._console.print(*objects, **kwargs)


err = Stderr()

ConfigOpt = Annotated[
    Path | None, typer.Option("--config", help="TOML settings file", envvar="STATION_CONFIG")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="print one JSON document")]
SimOpt = Annotated[bool, typer.Option("--sim", help="use the built-in hardware simulator")]
DbOpt = Annotated[str | None, typer.Option("--db", help="database URL (overrides STATION_DB_URL)")]


def settings_for(config: Path | None, **overrides: Any) -> StationSettings:
    """The one settings object: flags over env over the TOML file."""
    return load_settings(config, **overrides)


def guarded(fn: Callable[[], T]) -> T:
    """Turn domain errors into a clear message, what to do, and the error's exit status."""
    try:
        return fn()
    except StationError as exc:
        err.print(f"[bold red]error:[/] {exc}", highlight=False)
        problems = getattr(exc, "problems", None)
        if problems:
            for line, reason in problems[:50]:
                err.print(f"  line {line}: {reason}", highlight=False)
            if len(problems) > 50:
                err.print(f"  … and {len(problems) - 50} more", highlight=False)
        err.print(f"[bold]what to do:[/] {exc.fix}", highlight=False)
        raise typer.Exit(exc.exit_code) from None


@contextmanager
def opened(settings: StationSettings) -> Iterator[StationContext]:
    """The station's long-lived objects for one command, closed however the command ends."""
    from station.context import StationContext

    ctx = StationContext(settings)
    try:
        yield ctx
    finally:
        ctx.close()


def print_json(doc: Any) -> None:
    sys.stdout.write(json.dumps(doc, indent=2, default=str) + "\n")


def current_officer() -> str:
    """Who runs a command: STATION_OFFICER, else the login name."""
    return os.environ.get("STATION_OFFICER") or os.environ.get("USER") or "cli"

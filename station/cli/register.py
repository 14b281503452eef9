"""`station register import|stats`: the stolen-property and marked-property registers."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from station.cli.app import register_app
from station.cli.common import (
    ConfigOpt,
    DbOpt,
    JsonOpt,
    current_officer,
    err,
    guarded,
    opened,
    print_json,
    settings_for,
)


@register_app.command("import")
def register_import(
    file: Annotated[Path, typer.Argument(help="CSV, JSON Lines or XLSX register file")],
    source: Annotated[str | None, typer.Option(help="register name, e.g. 'NMPR'")] = None,
    json_out: JsonOpt = False,
    db: DbOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Import a register file (all rows or nothing; bad rows are listed with line numbers)."""

    def go() -> dict[str, Any]:

        with opened(settings_for(config, db_url=db)) as ctx:
            summary = ctx.matcher.import_file(
                file, source=source, actor=current_officer(), progress=True
            )
            # the index built (or caught up) and saved now: the next check loads it
            ctx.matcher.index()
            return summary

    summary = guarded(go)
    if json_out:
        print_json(summary)
    else:
        err.print(
            f"register version {summary['version']}: {summary['added']} added, "
            f"{summary['updated']} updated, {summary['withdrawn']} withdrawn "
            f"from {summary['rows']} rows of {file}",
            highlight=False,
        )


@register_app.command("stats")
def register_stats(json_out: JsonOpt = False, db: DbOpt = None, config: ConfigOpt = None) -> None:
    """Entries per register, kind and status; the current register version."""

    def go() -> dict[str, Any]:

        with opened(settings_for(config, db_url=db)) as ctx:
            return ctx.matcher.stats()

    stats = guarded(go)
    if json_out:
        print_json(stats)
    else:
        from station.cli.report import print_stats

        print_stats(stats)

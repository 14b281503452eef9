"""`station batch`: many items at once, with a progress bar and a report of every hit."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from station.cli.app import app
from station.cli.common import (
    ConfigOpt,
    DbOpt,
    JsonOpt,
    current_officer,
    guarded,
    opened,
    print_json,
    settings_for,
)


@app.command()
def batch(
    path: Annotated[Path, typer.Argument(help="CSV/XLSX of serials, or a folder of captures")],
    report: Annotated[Path | None, typer.Option("--report", help="write an HTML report")] = None,
    csv_out: Annotated[Path | None, typer.Option("--csv", help="write a CSV of every hit")] = None,
    json_out: JsonOpt = False,
    db: DbOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Check many items at once with a progress bar, and report every hit."""

    def go() -> dict[str, Any]:
        from station.batches.runner import run_batch

        with opened(settings_for(config, db_url=db)) as ctx:
            return run_batch(ctx, path, report, csv_out, officer=current_officer(), quiet=json_out)

    summary = guarded(go)
    if json_out:
        print_json(summary)

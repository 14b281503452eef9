"""`station read` and `station check`: identifiers from photographs or from the keyboard."""

from __future__ import annotations

import sys
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
    print_json,
    settings_for,
)


@app.command()
def read(
    white: Annotated[list[Path], typer.Argument(help="white-light image(s)", show_default=False)],
    uv: Annotated[Path | None, typer.Option("--uv", help="UV image of the same item")] = None,
    dark: Annotated[Path | None, typer.Option("--dark", help="lamps-off image")] = None,
    json_out: JsonOpt = False,
    config: ConfigOpt = None,
) -> None:
    """Run the vision pipeline on image files and print every identifier and mark found."""

    def go() -> list[Any]:
        from station.vision.io import read_files

        settings = settings_for(config)
        if uv is not None and len(white) > 1:
            from station.errors import InputError

            raise InputError("--uv pairs with exactly one white image; give one file")
        return read_files(list(white), uv=uv, dark=dark, settings=settings.vision)

    results = guarded(go)
    docs = [r.model_dump(mode="json", by_alias=True) for r in results]
    if json_out:
        print_json(docs[0] if len(docs) == 1 else {"results": docs})
    else:
        from station.cli.report import print_read

        for d in docs:
            print_read(d)


@app.command()
def check(
    identifiers: Annotated[
        list[str], typer.Argument(help="identifiers to check; '-' reads them from stdin")
    ],
    json_out: JsonOpt = False,
    purpose: Annotated[str, typer.Option(help="why the item is checked")] = "property_office",
    officer: Annotated[str | None, typer.Option(help="who runs the check")] = None,
    db: DbOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Match typed or pasted identifiers against the registers (recorded as a manual check)."""
    values: list[str] = []
    for item in identifiers:
        if item == "-":
            values.extend(line.strip() for line in sys.stdin if line.strip())
        else:
            values.append(item)

    def go() -> list[dict[str, Any]]:
        from station.checks.service import MAX_MANUAL_IDENTIFIERS, CheckRequest
        from station.context import StationContext
        from station.errors import InputError

        if not values:
            raise InputError("no identifiers given")
        ctx = StationContext(settings_for(config, db_url=db))
        try:
            service = ctx.check_service()
            # a long list is recorded as one manual check per chunk of identifiers
            return [
                service.manual(
                    CheckRequest(
                        purpose=purpose,  # type: ignore[arg-type]
                        officer=officer or current_officer(),
                        identifiers=values[start : start + MAX_MANUAL_IDENTIFIERS],
                    )
                ).document()
                for start in range(0, len(values), MAX_MANUAL_IDENTIFIERS)
            ]
        finally:
            ctx.close()

    docs = guarded(go)
    matches = [m for doc in docs for m in doc["matches"]]
    if json_out:
        print_json(
            {
                "record_id": docs[0]["id"],
                "record_ids": [doc["id"] for doc in docs],
                "register_version": docs[-1]["register_version"],
                "results": matches,
            }
        )
    else:
        from station.cli.report import print_matches

        print_matches(matches)

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
    err,
    guarded,
    opened,
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
    if uv is None and dark is None and len(white) > 1:
        _read_photographs(white, json_out, config)
        return

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


def _read_photographs(paths: list[Path], json_out: bool, config: Path | None) -> None:
    """Several independent photographs: a result or an error for each, then a count."""
    from station.cli.report import print_read
    from station.vision.io import read_each

    settings = guarded(lambda: settings_for(config))
    docs: list[dict[str, Any]] = []
    failed = 0
    for item in read_each(paths, settings.vision):
        if item.result is None:
            failed += 1
            doc: dict[str, Any] = {"file": item.file, "error": item.error}
            if not json_out:
                err.print(f"[bold red]error:[/] {item.error}", highlight=False)
        else:
            doc = item.result.model_dump(mode="json", by_alias=True)
            if not json_out:
                print_read(doc)
        docs.append(doc)
    if json_out:
        print_json({"results": docs, "failed": failed})
    if failed:
        err.print(f"{failed} of {len(paths)} files could not be read", highlight=False)
        raise typer.Exit(2)


@app.command()
def check(
    identifiers: Annotated[
        list[str], typer.Argument(help="identifiers to check; '-' reads them from stdin")
    ],
    json_out: JsonOpt = False,
    jsonl: Annotated[
        bool, typer.Option("--jsonl", help="print one JSON line per identifier as it is checked")
    ] = False,
    purpose: Annotated[str, typer.Option(help="why the item is checked")] = "property_office",
    officer: Annotated[str | None, typer.Option(help="who runs the check")] = None,
    db: DbOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Match typed or pasted identifiers against the registers.

    Up to 500 identifiers are one manual check record; a longer list (any length, read from
    stdin in chunks) is one bulk look-up record, like a batch (see docs/bulk.md).
    """
    from station.cli.check import Outcome, Source, jsonl_writer, run_check, stdin_bytes

    source = Source(list(identifiers), stdin_bytes() if "-" in identifiers else None)

    def emit_text(answers: list[dict[str, Any]]) -> None:
        from station.cli.report import print_matches

        print_matches([a for a in answers if "error" not in a])

    def go() -> Outcome:
        from station.cli.progress import file_progress

        with opened(settings_for(config, db_url=db)) as ctx:
            emit = jsonl_writer(sys.stdout) if jsonl else (lambda _a: None)
            if not json_out and not jsonl:
                emit = emit_text
            with file_progress("checking") as bar:
                return run_check(
                    ctx,
                    source,
                    purpose,
                    officer or current_officer(),
                    emit,
                    keep=json_out,
                    progress=lambda done, total: bar(done, total or 0),
                )

    try:
        outcome = guarded(go)
    except BrokenPipeError:  # the reader went away (e.g. `| head`): what was checked is stored
        sys.stderr.close()
        raise typer.Exit(1) from None
    if json_out:
        print_json(
            {
                "record_id": outcome.record_id,
                "record_kind": outcome.record_kind,
                "register_version": outcome.register_version,
                "results": outcome.answers,
            }
        )
    for bad in outcome.rejected[:50]:
        err.print(f"[bold red]error:[/] {bad['error']}", highlight=False)
    if outcome.rejected:
        err.print(
            f"{len(outcome.rejected)} identifier(s) could not be checked; the others were "
            f"checked and recorded in {outcome.record_kind} {outcome.record_id}",
            highlight=False,
        )
        err.print("[bold]what to do:[/] correct those lines and check them again", highlight=False)
        raise typer.Exit(2)

"""The `station` command line. Every command reads StationSettings (env + optional TOML)."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

from station.errors import StationError
from station.settings import StationSettings, load_settings

app = typer.Typer(
    help="Check Station: UV property-marking, code and serial checks against registers.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
register_app = typer.Typer(
    help="Stolen-property and marked-property registers.", no_args_is_help=True
)
audit_app = typer.Typer(help="The hash-chained audit log.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
eval_app = typer.Typer(help="Measure the pipeline against ground truth.", no_args_is_help=True)
app.add_typer(register_app, name="register")
app.add_typer(audit_app, name="audit")
app.add_typer(db_app, name="db")
app.add_typer(eval_app, name="eval")

err = Console(stderr=True)
T = TypeVar("T")

ConfigOpt = Annotated[
    Path | None, typer.Option("--config", help="TOML settings file", envvar="STATION_CONFIG")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="print one JSON document")]
SimOpt = Annotated[bool, typer.Option("--sim", help="use the built-in hardware simulator")]
DbOpt = Annotated[str | None, typer.Option("--db", help="database URL (overrides STATION_DB_URL)")]


def _settings(config: Path | None, **overrides: Any) -> StationSettings:
    return load_settings(config, **overrides)


def _run(fn: Callable[[], T]) -> T:
    """Turn domain errors into a clear message and the error's exit status."""
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
        raise typer.Exit(exc.exit_code) from None


def _print_json(doc: Any) -> None:
    sys.stdout.write(json.dumps(doc, indent=2, default=str) + "\n")


def _officer() -> str:
    return os.environ.get("STATION_OFFICER") or os.environ.get("USER") or "cli"


# --- serve / sim ------------------------------------------------------------------------------


@app.command()
def serve(
    sim: SimOpt = False,
    host: Annotated[str | None, typer.Option(help="bind address")] = None,
    port: Annotated[int | None, typer.Option(help="TCP port")] = None,
    db: DbOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Run the API and the desk web UI (applies database migrations first)."""

    def go() -> None:
        import uvicorn

        from station.api.app import create_app

        settings = _settings(config, db_url=db, sim=sim or None)
        if host:
            settings.api.host = host
        if port:
            settings.api.port = port
        application = create_app(settings)
        err.print(
            f"Check Station on http://{settings.api.host}:{settings.api.port}"
            f"{'  (simulator)' if settings.sim else ''}  database: {settings.database_url}",
            highlight=False,
        )
        uvicorn.run(application, host=settings.api.host, port=settings.api.port, log_level="info")

    _run(go)


@app.command()
def sim(
    scenario: Annotated[str, typer.Option(help="scenario name or JSON file")] = "demo",
    fault: Annotated[
        list[str] | None, typer.Option("--fault", help="fault to inject, e.g. corrupt:rate=0.05")
    ] = None,
    seed: Annotated[int, typer.Option(help="random seed")] = 0,
) -> None:
    """Run the hardware simulator on its own; prints the serial port and camera source."""

    def go() -> None:
        from hw_sim.runner import serve_forever

        def ready(port: str, camera_source: str) -> None:
            print(f"serial port:   {port}", flush=True)
            print(f"camera source: {camera_source}", flush=True)
            print(
                f"connect with:  STATION_DEVICES__LAMP_PORT={port} "
                f"STATION_DEVICES__CAMERA_SOURCE={camera_source} station scan",
                flush=True,
            )

        serve_forever(scenario, faults=list(fault or []), seed=seed, on_ready=ready)

    _run(go)


# --- one item ---------------------------------------------------------------------------------


@app.command()
def scan(
    sim: SimOpt = False,
    json_out: JsonOpt = False,
    purpose: Annotated[str, typer.Option(help="why the item is checked")] = "property_office",
    officer: Annotated[str | None, typer.Option(help="who runs the check")] = None,
    db: DbOpt = None,
    config: ConfigOpt = None,
) -> None:
    """One full check of the item on the tray: capture, read, match, record."""

    def go() -> dict[str, Any]:
        from station.checks import CheckRequest
        from station.context import StationContext, hardware

        settings = _settings(config, db_url=db, sim=sim or None)
        ctx = StationContext(settings)
        try:
            if settings.sim:
                ctx.matcher.seed_demo_if_empty()
            with hardware(ctx, settings.sim):
                request = CheckRequest(purpose=purpose, officer=officer or _officer())  # type: ignore[arg-type]
                return ctx.check_service().scan(request)
        finally:
            ctx.close()

    doc = _run(go)
    if json_out:
        _print_json(doc)
    else:
        from station.report import print_check

        print_check(doc)
    if doc.get("state") != "complete":
        raise typer.Exit(1)


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

        settings = _settings(config)
        if uv is not None and len(white) > 1:
            from station.errors import InputError

            raise InputError("--uv pairs with exactly one white image; give one file")
        return read_files(list(white), uv=uv, dark=dark, settings=settings.vision)

    results = _run(go)
    docs = [r.model_dump(mode="json", by_alias=True) for r in results]
    if json_out:
        _print_json(docs[0] if len(docs) == 1 else {"results": docs})
    else:
        from station.report import print_read

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
        from station.checks import MAX_MANUAL_IDENTIFIERS, CheckRequest
        from station.context import StationContext
        from station.errors import InputError

        if not values:
            raise InputError("no identifiers given")
        ctx = StationContext(_settings(config, db_url=db))
        try:
            service = ctx.check_service()
            # a long list is recorded as one manual check per chunk of identifiers
            return [
                service.manual(
                    CheckRequest(
                        purpose=purpose,  # type: ignore[arg-type]
                        officer=officer or _officer(),
                        identifiers=values[start : start + MAX_MANUAL_IDENTIFIERS],
                    )
                )
                for start in range(0, len(values), MAX_MANUAL_IDENTIFIERS)
            ]
        finally:
            ctx.close()

    docs = _run(go)
    matches = [m for doc in docs for m in doc["matches"]]
    if json_out:
        _print_json(
            {
                "record_id": docs[0]["id"],
                "record_ids": [doc["id"] for doc in docs],
                "register_version": docs[-1]["register_version"],
                "results": matches,
            }
        )
    else:
        from station.report import print_matches

        print_matches(matches)


# --- bulk ------------------------------------------------------------------------------------


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
        from station.batchrun import run_batch
        from station.context import StationContext

        ctx = StationContext(_settings(config, db_url=db))
        try:
            return run_batch(ctx, path, report, csv_out, officer=_officer(), quiet=json_out)
        finally:
            ctx.close()

    summary = _run(go)
    if json_out:
        _print_json(summary)


# --- registers -------------------------------------------------------------------------------


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
        from station.context import StationContext

        ctx = StationContext(_settings(config, db_url=db))
        try:
            return ctx.matcher.import_file(file, source=source, actor=_officer(), progress=True)
        finally:
            ctx.close()

    summary = _run(go)
    if json_out:
        _print_json(summary)
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
        from station.context import StationContext

        ctx = StationContext(_settings(config, db_url=db))
        try:
            return ctx.matcher.stats()
        finally:
            ctx.close()

    stats = _run(go)
    if json_out:
        _print_json(stats)
    else:
        from station.report import print_stats

        print_stats(stats)


# --- engineering -----------------------------------------------------------------------------


@app.command()
def doctor(
    sim: SimOpt = False, json_out: JsonOpt = False, db: DbOpt = None, config: ConfigOpt = None
) -> None:
    """Hardware self-test: link, handshake, interlock, watchdog, lamps, camera, focus, UV."""

    def go() -> dict[str, Any]:
        from station.context import StationContext
        from station.doctor import doctor_configured

        settings = _settings(config, db_url=db, sim=sim or None)
        ctx = StationContext(settings)
        try:
            # a dead link or camera still gives a report (parts failed, with the reason)
            report = doctor_configured(settings, use_sim=settings.sim)
            ctx.record_self_test(report.as_dict())
            return report.as_dict()
        finally:
            ctx.close()

    result = _run(go)
    if json_out:
        _print_json(result)
    else:
        from station.report import print_doctor

        print_doctor(result)
    if not result.get("passed"):
        raise typer.Exit(1)


@audit_app.command("verify")
def audit_verify(json_out: JsonOpt = False, db: DbOpt = None, config: ConfigOpt = None) -> None:
    """Recompute the audit hash chain and say where it breaks, if it does."""

    def go() -> dict[str, Any]:
        from station.context import StationContext
        from station.records import audit

        ctx = StationContext(_settings(config, db_url=db))
        try:
            with ctx.db.session() as s:
                return audit.verify(s).as_dict()
        finally:
            ctx.close()

    report = _run(go)
    if json_out:
        _print_json(report)
    elif report["ok"]:
        print(f"audit chain intact: {report['entries']} entries verified")
    else:
        print(f"audit chain BROKEN at entry {report['first_broken_id']}: {report['reason']}")
    if not report["ok"]:
        raise typer.Exit(5)


@eval_app.command("vision")
def eval_vision(
    photos: Annotated[
        list[Path] | None,
        typer.Argument(
            help="photo suites: a folder with one <symbology>-<n> subfolder per set, each "
            "image beside its expected text (N.txt), e.g. ../shared/testdata/barcodes"
        ),
    ] = None,
    scenes: Annotated[int, typer.Option(help="generated scenes to score (0 = none)")] = 0,
    seed: Annotated[int, typer.Option(help="first scene seed")] = 1000,
) -> None:
    """Precision/recall of the vision pipeline: real photographs (this pipeline, zbar alone and
    zxing-cpp alone, side by side) and generated scenes with ground truth."""

    def go() -> None:
        from station.errors import InputError
        from station.vision.photo_eval import format_table, score
        from station.vision.scene_eval import evaluate_scenes, format_report

        if not photos and scenes <= 0:
            raise InputError("give a folder of photographs and/or --scenes N")
        for folder in photos or []:
            if not folder.is_dir():
                raise InputError(f"{folder} is not a folder of photographs")
            table, unreadable = score(folder)
            print(format_table(table, f"real photographs in {folder}"))
            for problem in unreadable:
                print(f"  unreadable: {problem}")
        if scenes > 0:
            print(format_report(evaluate_scenes(scenes, seed=seed)))

    _run(go)


@db_app.command("upgrade")
def db_upgrade(db: DbOpt = None, config: ConfigOpt = None) -> None:
    """Apply database migrations up to the newest schema."""

    def go() -> str:
        from station.db.engine import Database
        from station.db.migrate import current_revision, upgrade

        settings = _settings(config, db_url=db)
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        database = Database(settings.database_url)
        try:
            upgrade(database)
            return current_revision(database) or "none"
        finally:
            database.dispose()

    print(f"database at revision {_run(go)}")


# service-side tools (users, evidence bundles) live in their own module
from station.cli_service import evidence_app, user_app  # noqa: E402

app.add_typer(user_app, name="user")
app.add_typer(evidence_app, name="evidence")

from station.appliance.cli import install_command  # noqa: E402

app.command("install")(install_command)


def main() -> None:  # pragma: no cover - console entry point alias
    app()

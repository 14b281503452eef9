"""`station audit`, `station db` and `station eval`: engineering and assurance tools."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from station.cli.app import audit_app, db_app, eval_app
from station.cli.common import ConfigOpt, DbOpt, JsonOpt, guarded, print_json, settings_for


@audit_app.command("verify")
def audit_verify(json_out: JsonOpt = False, db: DbOpt = None, config: ConfigOpt = None) -> None:
    """Recompute the audit hash chain and say where it breaks, if it does."""

    def go() -> dict[str, Any]:
        from station.context import StationContext
        from station.records import audit

        ctx = StationContext(settings_for(config, db_url=db))
        try:
            with ctx.db.session() as s:
                return audit.verify(s).as_dict()
        finally:
            ctx.close()

    report = guarded(go)
    if json_out:
        print_json(report)
    elif report["ok"]:
        print(f"audit chain intact: {report['entries']} entries verified")
    if not report["ok"]:
        from station.errors import AuditChainBroken

        def broken() -> None:
            raise AuditChainBroken(
                f"audit chain BROKEN at entry {report['first_broken_id']}: {report['reason']}"
            )

        guarded(broken)


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

    guarded(go)


@db_app.command("upgrade")
def db_upgrade(db: DbOpt = None, config: ConfigOpt = None) -> None:
    """Apply database migrations up to the newest schema."""

    def go() -> str:
        from station.db.engine import Database
        from station.db.migrate import current_revision, upgrade

        settings = settings_for(config, db_url=db)
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        database = Database(settings.database_url)
        try:
            upgrade(database)
            return current_revision(database) or "none"
        finally:
            database.dispose()

    print(f"database at revision {guarded(go)}")

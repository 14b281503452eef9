"""`station audit`, `station db` and `station eval`: engineering and assurance tools."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from station.cli.app import audit_app, db_app, eval_app
from station.cli.common import ConfigOpt, DbOpt, JsonOpt, guarded, opened, print_json, settings_for

CheckpointOpt = Annotated[
    list[Path] | None,
    typer.Option(
        "--checkpoint",
        help="a signed checkpoint kept off the station (JSON from `station audit checkpoint`)",
    ),
]
KeyOpt = Annotated[
    str | None,
    typer.Option("--key", help="the station's public key (default: this station's own key)"),
]


@audit_app.command("verify")
def audit_verify(
    checkpoint: CheckpointOpt = None,
    key: KeyOpt = None,
    json_out: JsonOpt = False,
    db: DbOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Recompute the audit hash chain, check it against every signed checkpoint (stored and
    given) and every check record against its hash; say where it breaks, if it does."""

    def go() -> dict[str, Any]:
        import json

        from station.errors import InputError
        from station.records import audit
        from station.records.signing import public_key_from_text

        given = []
        for path in checkpoint or []:
            try:
                given.append(audit.SignedCheckpoint.from_dict(json.loads(path.read_text())))
            except (OSError, ValueError) as exc:
                raise InputError(f"checkpoint {path.name}: cannot read it ({exc})") from exc
        with opened(settings_for(config, db_url=db)) as ctx:
            public = public_key_from_text(key) if key else ctx.station_key.public_bytes
            with ctx.db.session() as s:
                return audit.verify(s, public_key=public, checkpoints=given).as_dict()

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


@audit_app.command("checkpoint")
def audit_checkpoint(db: DbOpt = None, config: ConfigOpt = None) -> None:
    """Sign the chain's head now and print the checkpoint; keep a copy off the station."""

    def go() -> dict[str, Any]:
        from station.records import audit

        with opened(settings_for(config, db_url=db)) as ctx, ctx.db.writer() as s:
            return audit.checkpoint(s, ctx.station_key, ctx.settings.station_id).as_dict()

    print_json(guarded(go))


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
        from station_tools.vision_eval import eval_command  # dev tool: loaded only here

        eval_command(photos or [], scenes=scenes, seed=seed)

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
